"""Your listening history, yours to keep: export (CSV, JSON), import (ours, ListenBrainz),
deleting a period; and the per-track statistics on the track page."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CoListen, Favourite, Job, PlayEvent, Track, TrackLike, Visibility
from app.models.discovery import DISLIKE, LIKE
from app.models.types import utcnow
from app.services import accounts, jobs, playlists, recommend
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track, login, post_form

HISTORY = "/account/history"


def _tracks(owner, tmp_path, specs, visibility=Visibility.PRIVATE):
    made = []
    for title, artist, album in specs:
        name = f"{owner.username}-{title}.mp3"
        content = hostile.mp3_with_tags(tmp_path / name, title=title, artist=artist, album=album)
        made.append(add_track(owner, name, visibility=visibility, content=content))
    return made


def _plays(user_id: int) -> list[tuple[int, datetime]]:
    return list(
        db.session.execute(
            select(PlayEvent.track_id, PlayEvent.played_at)
            .where(PlayEvent.user_id == user_id)
            .order_by(PlayEvent.played_at, PlayEvent.track_id)
        ).tuples()
    )


def _import(client, kind: str, name: str, content: bytes):
    return post_form(
        client,
        HISTORY,
        f"{HISTORY}/import",
        {"imp-kind": kind, "imp-file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def _delete(client, first: str, last: str):
    """Both steps of the period deletion, as a person clicks them; returns the confirmation page."""
    asked = post_form(client, HISTORY, f"{HISTORY}/delete", {"del-first": first, "del-last": last})
    page = asked.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post(
        f"{HISTORY}/delete",
        data={"csrf_token": token, "del-first": first, "del-last": last, "del-confirmed": "yes"},
        follow_redirects=True,
    )
    return page, done


@pytest.fixture
def history(alice, user, tmp_path):
    """Alice in Paris with three tracks and a hand-built history (winter, so Paris is UTC+1)."""
    accounts.set_time_zone(user, "Europe/Paris")
    one, two, odd = _tracks(
        user, tmp_path, [("One", "Ann", "Alpha"), ("Two", "Ann", "Alpha"), ("=Sum", "Bo, Jr.", 'Say "hi"')]
    )
    year = utcnow().year - 1
    base = datetime(year, 12, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris on 10 December
    rows = [
        (one, base),
        (two, base + timedelta(hours=1)),  # 00:30 in Paris on 11 December
        (odd, base + timedelta(days=1, microseconds=250)),
        (one, base + timedelta(days=5)),
    ]
    for track, at in rows:
        db.session.add(PlayEvent(user_id=user.id, track_id=track.id, played_at=at))
    commit()
    return {"tracks": (one, two, odd), "base": base, "year": year}


def test_export_csv_and_json_match_the_history(alice, user, history, make_user, tmp_path):
    one, two, odd = history["tracks"]
    base = history["base"]
    # Another account's private track Alice once heard is not hers to export.
    bob = make_user("bob")
    (secret,) = _tracks(bob, tmp_path, [("Bob secret", "Bob", "B")])
    db.session.add(PlayEvent(user_id=user.id, track_id=secret.id, played_at=base))
    commit()
    page = alice.get(HISTORY).get_data(as_text=True)
    assert 'data-export="csv"' in page and 'data-export="json"' in page
    assert 'data-link="history"' in alice.get("/account/stats").get_data(as_text=True)

    response = alice.get(f"{HISTORY}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    today = utcnow().astimezone(UTC).date()
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="listening-history-(\d{4}-\d\d-\d\d)\.csv"', disposition)
    assert abs(datetime.fromisoformat(disposition[-15:-5]).date() - today) <= timedelta(days=1)
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    y = history["year"]
    assert rows == [
        ["played_at", "track_id", "title", "artist", "album"],
        [f"{y}-12-10T22:30:00Z", str(one.id), "One", "Ann", "Alpha"],
        [f"{y}-12-10T23:30:00Z", str(two.id), "Two", "Ann", "Alpha"],
        # A title a spreadsheet would run as a formula is kept as text.
        [f"{y}-12-11T22:30:00.000250Z", str(odd.id), "'=Sum", "Bo, Jr.", 'Say "hi"'],
        [f"{y}-12-15T22:30:00Z", str(one.id), "One", "Ann", "Alpha"],
    ]

    response = alice.get(f"{HISTORY}/export.json")
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].endswith('.json"')
    doc = json.loads(response.get_data(as_text=True))
    assert doc["format"] == "music-cloud-listens" and doc["version"] == 1
    assert [(x["played_at"], x["track_id"], x["title"], x["artist"], x["album"]) for x in doc["listens"]] == [
        (f"{y}-12-10T22:30:00Z", one.id, "One", "Ann", "Alpha"),
        (f"{y}-12-10T23:30:00Z", two.id, "Two", "Ann", "Alpha"),
        (f"{y}-12-11T22:30:00.000250Z", odd.id, "=Sum", "Bo, Jr.", 'Say "hi"'),
        (f"{y}-12-15T22:30:00Z", one.id, "One", "Ann", "Alpha"),
    ]
    assert "Bob secret" not in response.get_data(as_text=True)


def test_export_is_read_in_batches(alice, user, history, monkeypatch):
    """More listens than one batch: every one comes out once, in order."""
    from app.services import history as service

    monkeypatch.setattr(service, "BATCH", 2)
    one = history["tracks"][0]
    # Two listens at the same instant straddle a batch boundary.
    same = history["base"] + timedelta(days=5)
    db.session.add(PlayEvent(user_id=user.id, track_id=history["tracks"][1].id, played_at=same))
    commit()
    rows = list(csv.reader(io.StringIO(alice.get(f"{HISTORY}/export.csv").get_data(as_text=True))))[1:]
    assert len(rows) == 5 and rows == sorted(rows, key=lambda r: r[0])
    assert sum(1 for r in rows if r[1] == str(one.id)) == 2


def test_json_round_trips_exactly(alice, user, history):
    first = alice.get(f"{HISTORY}/export.json").get_data()
    y = history["year"]
    page, done = _delete(alice, f"{y - 1}-01-01", f"{y}-12-31")
    assert 'data-confirm-count="4"' in page and "Delete 4 listens" in page
    assert "4 listens deleted." in done.get_data(as_text=True)
    assert _plays(user.id) == []
    done = _import(alice, "own", "mine.json", first)
    assert done.status_code == 200
    assert "Import done: 4 added, 0 already in your history, 0 matched no track" in done.get_data(as_text=True)
    assert alice.get(f"{HISTORY}/export.json").get_data() == first
    # Again: everything is already there, nothing is doubled.
    done = _import(alice, "own", "mine.json", first)
    assert "Import done: 0 added, 4 already in your history" in done.get_data(as_text=True)
    assert len(_plays(user.id)) == 4


def test_listenbrainz_import_matches_by_artist_and_title(alice, user, history, make_user, tmp_path):
    one, two, _odd = history["tracks"]
    bob = make_user("bob")
    (hidden,) = _tracks(bob, tmp_path, [("Hidden", "Bob", "B")])
    (shared,) = _tracks(bob, tmp_path, [("Shared Song", "Bob", "B")], visibility=Visibility.PUBLIC)
    tracks_before = db.session.scalar(select(func.count()).select_from(Track))
    t = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp())

    def listen(at, artist, title, album="X"):
        return {
            "listened_at": at,
            "recording_msid": "00000000-0000-0000-0000-000000000000",
            "track_metadata": {"artist_name": artist, "track_name": title, "release_name": album},
        }

    listens = [
        listen(t, "ANN", "one"),  # folded: Ann / One
        listen(t + 300, "Ánn", "  Two "),
        listen(t + 600, "bob", "shared song"),  # a public track of another account
        listen(t + 900, "Bob", "Hidden"),  # another account's private track: not seen, not matched
        listen(t + 1200, "Nobody", "Nothing"),
        listen(t, "Ann", "One", "Alpha"),  # twice in the file: once in the history
    ]
    done = _import(alice, "listenbrainz", "listens.json", json.dumps(listens).encode())
    assert "Import done: 3 added, 1 already in your history, 2 matched no track you can see" in done.get_data(
        as_text=True
    )
    added = [p for p in _plays(user.id) if p[1].year == 2024]
    assert added == [
        (one.id, datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (two.id, datetime(2024, 3, 1, 12, 5, tzinfo=UTC)),
        (shared.id, datetime(2024, 3, 1, 12, 10, tzinfo=UTC)),
    ]
    assert hidden.id not in {track_id for track_id, _ in _plays(user.id)}
    assert db.session.scalar(select(func.count()).select_from(Track)) == tracks_before
    # A public track's plays changed: the co-listening rebuild was queued.
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.name == jobs.REBUILD_RECOMMENDATIONS))
    # The same listens as JSON lines (ListenBrainz's newer export): all already there.
    lines = "\n".join(json.dumps(x) for x in listens) + "\n"
    done = _import(alice, "listenbrainz", "listens.jsonl", lines.encode())
    assert "Import done: 0 added, 4 already in your history, 2 matched no track" in done.get_data(as_text=True)


@pytest.mark.parametrize(
    ("kind", "content", "error"),
    [
        (
            "own",
            b'{"format": "music-cloud-listens", "version": 1, "listens": [',
            "The file is not valid JSON (line 1).",
        ),
        ("listenbrainz", b"\xff\xfe not text", "The file is not valid JSON (line 1)."),
        ("own", b"[]", "The file is JSON, but not a listening history of the kind chosen."),
        ("listenbrainz", b"[" * 100_000, "The file is not valid JSON (line 1)."),
        ("listenbrainz", b'[{"listened_at": ' + b"9" * 5000 + b"}]", "The file is not valid JSON (line 1)."),
        ("listenbrainz", b"", "The file is not valid JSON (line 1)."),
        ("listenbrainz", b'{"format": "music-cloud-listens", "version": 1, "listens": []}', "not a listening history"),
        # The first listen is good, the second has no time: nothing at all is imported.
        (
            "listenbrainz",
            b'[{"listened_at": 1700000000, "track_metadata": {"artist_name": "Ann", "track_name": "Two"}},'
            b' {"track_metadata": {"artist_name": "Ann", "track_name": "One"}}]',
            "Listen number 2 in the file lacks a valid time, artist or title.",
        ),
        (
            "own",
            b'{"format": "music-cloud-listens", "version": 1, "listens": ['
            b'{"played_at": "2024-01-01T10:00:00Z", "track_id": 1, "title": "One", "artist": "Ann", "album": ""},'
            b'{"played_at": "2024-01-01 10:00", "title": "One", "artist": "Ann"}]}',
            "Listen number 2",
        ),
        (
            "own",
            b'{"format": "music-cloud-listens", "version": 1, "listens": ['
            b'{"played_at": "2024-01-01T10:00:00Z", "track_id": 100000000000000000000, "title": "A", "artist": "B"}]}',
            "Listen number 1",
        ),
    ],
)
def test_a_bad_file_gives_a_clear_error_and_changes_nothing(alice, user, history, kind, content, error):
    before = _plays(user.id)
    response = _import(alice, kind, "bad.json", content)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert error in page and "Nothing was imported." in page
    assert _plays(user.id) == before


def test_too_large_and_missing_files(make_app, make_user, history, user):
    small = make_app(HISTORY_IMPORT_MAX_MB=1)
    client = small.test_client()
    login(client, "alice")
    response = _import(client, "own", "big.json", b" " * 1_000_001)
    assert response.status_code == 400
    assert "The file is larger than 1 MB. Nothing was imported." in response.get_data(as_text=True)
    response = post_form(client, HISTORY, f"{HISTORY}/import", {"imp-kind": "own"})
    assert response.status_code == 400 and "Choose a file." in response.get_data(as_text=True)


def test_delete_a_period_in_local_days(alice, user, history):
    one, two, odd = history["tracks"]
    y = history["year"]
    # 10 December in Paris: the 23:30 listen (22:30 UTC) only; 00:30 on the 11th stays.
    page, done = _delete(alice, f"{y}-12-10", f"{y}-12-10")
    assert "Delete 1 listen from" in page
    assert "1 listen deleted." in done.get_data(as_text=True)
    assert [track_id for track_id, _ in _plays(user.id)] == [two.id, odd.id, one.id]
    # A period with no listens says so and offers no button.
    asked = post_form(alice, HISTORY, f"{HISTORY}/delete", {"del-first": f"{y}-12-20", "del-last": f"{y}-12-21"})
    assert "nothing to delete" in asked.get_data(as_text=True) and 'name="del-confirmed"' not in asked.get_data(
        as_text=True
    )
    # Days the wrong way round, or missing, are a form error.
    wrong = post_form(alice, HISTORY, f"{HISTORY}/delete", {"del-first": f"{y}-12-12", "del-last": f"{y}-12-11"})
    assert wrong.status_code == 400 and "The last day comes before the first." in wrong.get_data(as_text=True)
    assert post_form(alice, HISTORY, f"{HISTORY}/delete", {"del-first": "soon"}).status_code == 400
    far = post_form(alice, HISTORY, f"{HISTORY}/delete", {"del-first": "0001-01-01", "del-last": "9999-12-31"})
    assert far.status_code == 400 and "Choose a day between the years 1900 and 2999." in far.get_data(as_text=True)
    assert len(_plays(user.id)) == 3


def test_track_statistics_for_the_owner_and_counts_only_for_others(alice, bob, user, make_user, tmp_path):
    accounts.set_time_zone(user, "Europe/Paris")
    (song,) = _tracks(user, tmp_path, [("Song", "Ann", "Alpha")], visibility=Visibility.PUBLIC)
    (private,) = _tracks(user, tmp_path, [("Mine", "Ann", "Alpha")])
    carol = make_user("carol")
    bob_user = db.session.scalar(select(type(user)).where(type(user).username == "bob"))
    now = utcnow()
    paris = ZoneInfo("Europe/Paris")
    local_today = now.astimezone(paris).date()
    played = [
        (carol, now),
        (carol, now - timedelta(seconds=1)),
        (user, now - timedelta(days=40)),
        (bob_user, now - timedelta(days=3)),
        # 23:30 in Paris yesterday: yesterday's, whatever the UTC date.
        (carol, datetime.combine(local_today - timedelta(days=1), time(23, 30)).replace(tzinfo=paris)),
    ]
    for who, at in played:
        db.session.add(PlayEvent(user_id=who.id, track_id=song.id, played_at=at))
    db.session.add(TrackLike(user_id=carol.id, track_id=song.id, value=LIKE))
    db.session.add(TrackLike(user_id=user.id, track_id=song.id, value=LIKE))
    db.session.add(TrackLike(user_id=bob_user.id, track_id=song.id, value=DISLIKE))
    db.session.add(Favourite(user_id=carol.id, track_id=song.id))
    commit()
    listed = playlists.create(carol.id, "Carol's")
    playlists.add_tracks(carol.id, listed.id, [song.id, song.id])
    commit()

    page = alice.get(f"/library/tracks/{song.id}").get_data(as_text=True)
    figures = dict(re.findall(r'<dd data-stat="(\w+)">(\d+)</dd>', page))
    days = [at.astimezone(paris).date() for _, at in played]
    week_start = local_today - timedelta(days=local_today.weekday())
    today = sum(day == local_today for day in days)
    in_week = sum(week_start <= day for day in days)
    in_month = sum(day >= local_today.replace(day=1) for day in days)
    assert today >= 1
    assert figures == {
        "plays": "5",
        "listeners": "3",
        "likes": "2",
        "dislikes": "1",
        "favourites": "1",
        "playlists": "2",
        "today": str(today),
        "week": str(in_week),
        "month": str(in_month),
    }
    assert "<svg data-sparkline" in page and "<polyline" in page
    table = re.search(r'<table class="visually-hidden" data-table="plays-per-day">(.*?)</table>', page, re.S).group(1)
    assert "Listens per day, last 30 days" in table
    rows = re.findall(r'<tr data-day="([\d-]+)"><th scope="row">\1</th><td>(\d+)</td></tr>', table)
    first = local_today - timedelta(days=29)
    assert rows == [
        ((first + timedelta(days=i)).isoformat(), str(days.count(first + timedelta(days=i)))) for i in range(30)
    ]
    assert rows[-2] == ((local_today - timedelta(days=1)).isoformat(), "1")
    assert (
        f'<tr data-day="{local_today.isoformat()}"><th scope="row">{local_today.isoformat()}</th><td>{today}</td>'
        in table
    )
    assert "carol" not in page

    # Bob sees the public track's totals, no daily figures, no plot, nobody's name.
    page = bob.get(f"/library/tracks/{song.id}").get_data(as_text=True)
    figures = dict(re.findall(r'<dd data-stat="(\w+)">(\d+)</dd>', page))
    assert figures == {
        "plays": "5",
        "listeners": "3",
        "likes": "2",
        "dislikes": "1",
        "favourites": "1",
        "playlists": "2",
    }
    assert "data-sparkline" not in page and "plays-per-day" not in page and "carol" not in page
    assert bob.get(f"/library/tracks/{private.id}").status_code == 404
    # A track nobody played: zeros, and a flat plot.
    page = alice.get(f"/library/tracks/{private.id}").get_data(as_text=True)
    assert '<dd data-stat="plays">0</dd>' in page and "<svg data-sparkline" in page


def test_import_and_delete_keep_the_co_listening_table_consistent(alice, user, make_user, tmp_path):
    """Co-listening needs three people: deleting one person's listens removes the pair,
    importing them back brings it back (through the rebuild job the change queues)."""
    a, b = _tracks(user, tmp_path, [("Alpha", "Ann", "A"), ("Beta", "Ben", "B")], visibility=Visibility.PUBLIC)
    start = datetime(2024, 5, 1, 20, tzinfo=UTC)
    for person in (user, make_user("carol"), make_user("dave")):
        db.session.add(PlayEvent(user_id=person.id, track_id=a.id, played_at=start))
        db.session.add(PlayEvent(user_id=person.id, track_id=b.id, played_at=start + timedelta(minutes=5)))
    recommend.rebuild_all()
    commit()

    def pairs() -> set[tuple[int, int]]:
        return set(db.session.execute(select(CoListen.track_id, CoListen.other_id)).tuples())

    assert pairs() == {(a.id, b.id), (b.id, a.id)}
    mine = alice.get(f"{HISTORY}/export.json").get_data()
    _page, done = _delete(alice, "2024-05-01", "2024-05-01")
    assert "2 listens deleted." in done.get_data(as_text=True)
    assert pairs() == set()
    done = _import(alice, "own", "mine.json", mine)
    assert "Import done: 2 added" in done.get_data(as_text=True)
    assert pairs() == {(a.id, b.id), (b.id, a.id)}


def test_streaks_count_local_days(alice, user, tmp_path):
    """Days in Los Angeles, not in UTC: 00:30 and 23:30 local fall on other UTC days."""
    accounts.set_time_zone(user, "America/Los_Angeles")
    (song,) = _tracks(user, tmp_path, [("Song", "Ann", "A")])
    zone = ZoneInfo("America/Los_Angeles")
    today = utcnow().astimezone(zone).date()
    local = [
        datetime.combine(today - timedelta(days=10), time(12)),  # an earlier run of one day
        datetime.combine(today - timedelta(days=3), time(0, 30)),
        datetime.combine(today - timedelta(days=2), time(23, 30)),
        datetime.combine(today - timedelta(days=1), time(23, 30)),
    ]
    for at in [*(t.replace(tzinfo=zone) for t in local), utcnow()]:
        db.session.add(PlayEvent(user_id=user.id, track_id=song.id, played_at=at))
    commit()
    page = alice.get("/account/stats?period=all").get_data(as_text=True)
    assert re.search(r'data-stat="longest">4 days<', page)
    assert re.search(r'data-stat="current">4 days<', page)
