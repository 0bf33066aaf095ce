"""The admin's dashboard: renders on an empty instance and at 50,000 tracks, counts right,
names only public music, and every chart has its table."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import insert, update

from app.extensions import db
from app.models import Album, Artist, DashboardFigures, Job, JobState, PlayEvent, Track, Visibility
from app.models.types import utcnow
from app.services import dashboard, jobs
from app.services.storage import get_storage
from app.unit_of_work import commit
from app.web.formatting import format_size
from tests import hostile
from tests.helpers import add_track, login, table_rows

CHARTS = ("plays", "uploads", "storage", "formats", "bitrates", "genres")


def _charts_have_tables(page: str) -> None:
    names = re.findall(r'data-chart="([a-z-]+)"', page)
    assert sorted(names) == sorted(CHARTS)
    for name in names:
        figure = page.split(f'data-chart="{name}"')[1].split("</figure>", maxsplit=1)[0]
        assert f'data-table="{name}"' in figure and "<caption" in figure
        assert 'aria-hidden="true"' in figure or "<svg" not in figure  # the drawing is hidden, the table read


def test_dashboard_on_an_empty_instance(client, admin):
    login(client, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">0<' in page and "No listens yet." in page and "No failed jobs." in page
    assert re.search(r'data-figure="free">[^<]+ of [^<]+<', page)
    assert re.search(r'data-figure="cache">0 bytes of [^<]+<', page)
    plays = table_rows(page, "plays")
    assert len(plays) == 30 and {r[1] for r in plays} == {"0"}
    assert len(table_rows(client.get("/admin/?by=week").get_data(as_text=True), "plays")) == 26
    assert len(table_rows(client.get("/admin/?by=month").get_data(as_text=True), "uploads")) == 12
    _charts_have_tables(page)


def test_the_figures_are_stored_and_counted_again_in_the_background(app, client, admin, user):
    """A view shows the stored figures and says since when; once they are older than
    DASHBOARD_CACHE_SECONDS a view queues one count (a job) and the next view has it."""
    login(client, "admin")
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">0<' in page
    assert "counted again in the background once they are 60 seconds old." in page
    add_track(user, "tagged.mp3")
    # Stored a moment ago: shown as they are, nothing queued.
    assert 'data-figure="tracks">0<' in client.get("/admin/").get_data(as_text=True)
    assert db.session.query(Job).filter_by(name=jobs.REFRESH_DASHBOARD).count() == 0
    # Another scale is counted on its own, with the track.
    assert 'data-figure="tracks">1<' in client.get("/admin/?by=week").get_data(as_text=True)
    # An hour later the stored figures are still shown at once, and one count is queued;
    # the job runs (at once in tests) and the next view shows its figures.
    db.session.execute(
        update(DashboardFigures).values(counted_at=utcnow() - timedelta(hours=1)).where(DashboardFigures.scale == "day")
    )
    commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">0<' in page
    assert [job.state for job in db.session.query(Job).filter_by(name=jobs.REFRESH_DASHBOARD)] == [JobState.DONE]
    assert 'data-figure="tracks">1<' in client.get("/admin/").get_data(as_text=True)
    assert db.session.query(Job).filter_by(name=jobs.REFRESH_DASHBOARD).count() == 1
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">1<' in page and "data-counted" not in page


def test_stored_figures_read_back_as_counted(app, user, tmp_path):
    """What the page shows from the stored row is what the count gave: every field."""
    content = hostile.mp3_with_tags(tmp_path / "a.mp3", title="Open", artist="Pub", album="A", genre="Folk")
    track = add_track(user, "a.mp3", visibility=Visibility.PUBLIC, content=content)
    db.session.add(PlayEvent(user_id=user.id, track_id=track.id, played_at=utcnow()))
    db.session.add(Job(name=jobs.ANALYSE_TRACK, args=[track.id], state=JobState.FAILED, attempts=3))
    commit()
    counted = dashboard.refresh("week")
    commit()
    db.session.expire_all()
    shown = dashboard.current("week", 60)
    assert shown == counted
    assert shown.top_tracks == [("Open", "Pub", 1)] and shown.failed_total == 1


def test_dashboard_counts_and_only_counts_private_music(app, client, admin, user, tmp_path):
    login(client, "admin")
    specs = [("Open song", "Pub", "Folk", Visibility.PUBLIC), ("Hidden song", "Secret", "Noise", Visibility.PRIVATE)]
    made = []
    for i, (title, artist, genre, visibility) in enumerate(specs):
        content = hostile.mp3_with_tags(tmp_path / f"{i}.mp3", title=title, artist=artist, album="A", genre=genre)
        made.append(add_track(user, f"{i}.mp3", visibility=visibility, content=content))
    now = utcnow()
    for track, at in [(made[0], now), (made[1], now), (made[1], now - timedelta(days=3))]:
        db.session.add(PlayEvent(user_id=user.id, track_id=track.id, played_at=at))
    db.session.add(Job(name=jobs.ANALYSE_TRACK, args=[made[1].id], state=JobState.FAILED, attempts=3))
    commit()
    get_storage().variant_path("0" * 64 + "-opus-128.opus").write_bytes(b"x" * 5000)  # a cached transcode

    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-figure="tracks">2<' in page and 'data-figure="listeners">1<' in page
    assert re.search(r'data-figure="failed"><a [^>]+>1</a>', page)
    assert re.search(r'data-figure="cache">5 kB of ', page)
    plays = table_rows(page, "plays")
    assert len(plays) == 30 and plays[-1][1] == "2" and plays[-4][1] == "1"
    assert sum(int(r[1]) for r in plays) == 3
    assert table_rows(page, "uploads")[-1][1] == "2"
    size = sum(t.size_bytes for t in made)
    assert table_rows(page, "formats") == [["MP3", "2", format_size(size)]]
    assert sum(int(r[1]) for r in table_rows(page, "bitrates")) == 2
    storage = table_rows(page, "storage")
    assert storage[0] == ["alice", "2", format_size(size)] and storage[-1][0] == "Free disk space"
    assert table_rows(page, "genres") == [["Folk", "1"]]
    assert table_rows(page, "failed") == [["Loudness and waveform", "1"]]
    assert "<bdi>Open song</bdi> — <bdi>Pub</bdi> (1)" in page
    assert "Hidden song" not in page and "Secret" not in page and "Noise" not in page
    _charts_have_tables(page)

    page = client.get("/admin/?by=week").get_data(as_text=True)
    weeks = table_rows(page, "plays")
    assert len(weeks) == 26 and sum(int(r[1]) for r in weeks) == 3 and weeks[-1][0].startswith("Week of ")
    assert 'aria-current="page">By week<' in page
    page = client.get("/admin/?by=month").get_data(as_text=True)
    months = table_rows(page, "plays")
    in_month = 2 + ((now - timedelta(days=3)).month == now.month)
    assert len(months) == 12 and months[-1] == [f"{now:%B %Y}", str(in_month)]
    assert sum(int(r[1]) for r in months) == 3
    assert len(table_rows(client.get("/admin/?by=bogus").get_data(as_text=True), "plays")) == 30

    alice = app.test_client()
    login(alice, "alice")
    assert alice.get("/admin/").status_code in {403, 404}


def test_dashboard_at_50000_tracks(client, admin, user):
    """The dashboard renders with a large library (its speed is bench/dashboard_bench.py's job)."""
    login(client, "admin")
    start = utcnow() - timedelta(days=400)
    artist = Artist(name="Many", name_key="many")
    db.session.add(artist)
    db.session.flush()
    album = Album(title="Many", title_key="many", artist_id=artist.id)
    db.session.add(album)
    db.session.flush()
    for first in range(0, 50_000, 5_000):
        db.session.execute(
            insert(Track),
            [
                {
                    "owner_id": user.id if i % 2 else admin.id,
                    "visibility": Visibility.PUBLIC if i % 3 == 0 else Visibility.PRIVATE,
                    "storage_path": f"{i % 2}/{uuid.uuid4().hex}.mp3",
                    "original_filename": f"t{i}.mp3",
                    "size_bytes": 1_000_000,
                    "sha256": uuid.uuid4().hex * 2,
                    "mime_type": "audio/mpeg",
                    "format": "flac" if i % 5 == 0 else "mp3",
                    "codec": "MP3",
                    "duration": 200.0,
                    "bitrate": 900_000 if i % 5 == 0 else 320_000,
                    "title": f"Song {i}",
                    "artist": f"Artist {i % 300}",
                    "album": f"Album {i % 2000}",
                    "genre": f"Genre {i % 40}",
                    "title_key": f"song {i}",
                    "artist_key": f"artist {i % 300}",
                    "album_key": f"album {i % 2000}",
                    "genre_key": f"genre {i % 40}",
                    "search_text": f"song {i}",
                    "artist_id": artist.id,
                    "album_id": album.id,
                    "album_artist_id": artist.id,
                    "uploaded_at": start + timedelta(minutes=12 * i),
                }
                for i in range(first, first + 5_000)
            ],
        )
    commit()
    page = client.get("/admin/?by=month").get_data(as_text=True)
    assert 'data-figure="tracks">50000<' in page
    assert table_rows(page, "formats") == [["MP3", "40000", "40 GB"], ["FLAC", "10000", "10 GB"]]
    assert table_rows(page, "bitrates") == [["320\u2013499 kbit/s", "40000"], ["500\u2013999 kbit/s", "10000"]]
    assert [r[:2] for r in table_rows(page, "storage")[:2]] == [["admin", "25000"], ["alice", "25000"]]
    assert len(table_rows(page, "genres")) == 20
    assert sum(int(r[1]) for r in table_rows(page, "uploads")) > 0
    _charts_have_tables(page)
