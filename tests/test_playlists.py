"""Playlists, favourites and share links."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from app.models import Playlist, PlaylistEntry, Track, Visibility
from app.services import playlists
from app.services.storage import get_storage
from app.unit_of_work import retrying
from tests import hostile
from tests.helpers import add_track, csrf_from, post_form


@pytest.fixture
def tracks(user, tmp_path):
    made = []
    for i, title in enumerate(["Ünus", "Duo", "Tres"]):
        content = hostile.mp3_with_tags(
            tmp_path / f"{i}.mp3", title=title, artist="Numbers", album="Counting", track=str(i + 1)
        )
        made.append(add_track(user, f"{i}.mp3", content=content))
    return made


def positions(playlist_id: int) -> list[tuple[int, int]]:
    rows = _db.session.execute(
        select(PlaylistEntry.position, PlaylistEntry.track_id)
        .where(PlaylistEntry.playlist_id == playlist_id)
        .order_by(PlaylistEntry.position)
    )
    return [tuple(r) for r in rows]


def create(client, name: str = "Road trip", description: str = "", **extra) -> int:
    response = post_form(client, "/playlists", "/playlists", {"name": name, "description": description, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def add(client, playlist_id: int, track_id: int | None = None, album_id: int | None = None):
    query = f"track={track_id}" if track_id else f"album={album_id}"
    return post_form(client, f"/playlists/add?{query}", f"/playlists/add?{query}", {"playlist": str(playlist_id)})


def titles_on(page: str) -> list[str]:
    return re.findall(r'class="title-cell" data-label="Title">\s*<a href="[^"]+"><bdi>([^<]+)</bdi>', page)


# --- building a playlist ---------------------------------------------------------------------


def test_create_add_and_show(alice, tracks):
    pid = create(alice, "Road trip", "For the drive\nnorth")
    for track in (tracks[0], tracks[1], tracks[0]):  # the same track twice
        assert add(alice, pid, track.id).status_code == 302
    page = alice.get(f"/playlists/{pid}").get_data(as_text=True)
    assert titles_on(page) == ["Ünus", "Duo", "Ünus"]
    assert "3 tracks · 0:09" in page
    assert "For the drive\nnorth" in page
    assert positions(pid) == [(1, tracks[0].id), (2, tracks[1].id), (3, tracks[0].id)]
    listing = alice.get("/playlists").get_data(as_text=True)
    assert "Road trip" in listing and "3 tracks · 0:09" in listing


def test_add_a_whole_album_and_to_a_new_playlist(alice, tracks):
    token = csrf_from(alice, f"/playlists/add?album={tracks[0].album_id}")
    response = alice.post(
        f"/playlists/add?album={tracks[0].album_id}",
        data={"csrf_token": token, "new_name": "Fresh", "next": "/library"},
    )
    assert response.headers["Location"] == "/library"
    playlist = _db.session.scalar(select(Playlist).where(Playlist.name == "Fresh"))
    assert [t for _, t in positions(playlist.id)] == [t.id for t in tracks]  # album order


def test_remove_and_reorder_keep_positions_dense(alice, tracks):
    pid = create(alice)
    for track in tracks:
        add(alice, pid, track.id)
    entries = {
        t: e
        for e, t in _db.session.execute(
            select(PlaylistEntry.id, PlaylistEntry.track_id).where(PlaylistEntry.playlist_id == pid)
        )
    }
    page = f"/playlists/{pid}"
    # Move the last one up to the top, without JavaScript (the arrow's form).
    post_form(alice, page, f"/playlists/{pid}/move", {"entry": entries[tracks[2].id], "position": 1})
    assert [t for _, t in positions(pid)] == [tracks[2].id, tracks[0].id, tracks[1].id]
    # And down again, as drag and drop does (JSON).
    token = csrf_from(alice, page)
    response = alice.post(
        f"/playlists/{pid}/move",
        data={"csrf_token": token, "entry": entries[tracks[2].id], "position": 99},
        headers={"Accept": "application/json"},
    )
    assert response.get_json() == {"moved": True}
    assert [t for _, t in positions(pid)] == [tracks[0].id, tracks[1].id, tracks[2].id]
    post_form(alice, page, f"/playlists/{pid}/remove", {"entry": entries[tracks[0].id]})
    assert positions(pid) == [(1, tracks[1].id), (2, tracks[2].id)]


def test_rename_describe_and_delete(alice, tracks):
    pid = create(alice)
    add(alice, pid, tracks[0].id)
    post_form(
        alice,
        f"/playlists/{pid}/edit",
        f"/playlists/{pid}/edit",
        {"name": "<b>Renamed</b>", "description": "<script>x</script>", "owner_id": "999"},
    )
    page = alice.get(f"/playlists/{pid}").get_data(as_text=True)
    assert "&lt;b&gt;Renamed&lt;/b&gt;" in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    playlist = _db.session.get(Playlist, pid)
    assert playlist.owner_id != 999
    assert "Delete" in alice.get(f"/playlists/{pid}/delete").get_data(as_text=True)
    post_form(alice, f"/playlists/{pid}/delete", f"/playlists/{pid}/delete")
    assert _db.session.get(Playlist, pid) is None
    assert _db.session.get(Track, tracks[0].id) is not None  # tracks stay


def test_validation(alice):
    response = post_form(alice, "/playlists", "/playlists", {"name": "   "})
    assert response.status_code == 400
    assert "A playlist needs a name." in response.get_data(as_text=True)


def test_deleted_tracks_leave_playlists(alice, tracks):
    pid = create(alice)
    for track in tracks:
        add(alice, pid, track.id)
    post_form(alice, f"/library/tracks/{tracks[1].id}", f"/library/tracks/{tracks[1].id}/delete")
    assert [t for _, t in positions(pid)] == [tracks[0].id, tracks[2].id]
    assert titles_on(alice.get(f"/playlists/{pid}").get_data(as_text=True)) == ["Ünus", "Tres"]


# --- favourites ---------------------------------------------------------------------------------


def test_favourites(alice, tracks):
    response = post_form(alice, "/library", f"/favourites/{tracks[1].id}", {"next": "/library?sort=title"})
    assert response.headers["Location"] == "/library?sort=title"
    page = alice.get("/playlists/favourites").get_data(as_text=True)
    assert titles_on(page) == ["Duo"]
    assert 'aria-pressed="true"' in alice.get(f"/library/tracks/{tracks[1].id}").get_data(as_text=True)
    token = csrf_from(alice, "/library")
    response = alice.post(
        f"/favourites/{tracks[1].id}", data={"csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert response.get_json() == {"favourite": False}
    assert "No favourites yet." in alice.get("/playlists/favourites").get_data(as_text=True)


# --- two users and anonymous ---------------------------------------------------------------------


def every_url(pid: int, entry: int) -> list[tuple[str, str, dict]]:
    return [
        ("GET", f"/playlists/{pid}", {}),
        ("GET", f"/playlists/{pid}/edit", {}),
        ("POST", f"/playlists/{pid}/edit", {"name": "hijacked"}),
        ("POST", f"/playlists/{pid}/sharing", {"visibility": "link"}),
        ("POST", f"/playlists/{pid}/revoke", {}),
        ("GET", f"/playlists/{pid}/delete", {}),
        ("POST", f"/playlists/{pid}/delete", {}),
        ("POST", f"/playlists/{pid}/remove", {"entry": entry}),
        ("POST", f"/playlists/{pid}/move", {"entry": entry, "position": 1}),
        ("GET", f"/playlists/{pid}.m3u8", {}),
        ("GET", f"/api/playlists/{pid}", {}),
    ]


def _call(client, method: str, url: str, data: dict, token: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token, **data})


def test_private_playlists_are_404_for_others(alice, bob, tracks):
    pid = create(alice, "Secret")
    add(alice, pid, tracks[0].id)
    entry = positions(pid)
    entry_id = _db.session.scalar(select(PlaylistEntry.id).where(PlaylistEntry.playlist_id == pid))
    token = csrf_from(bob, "/playlists")
    for method, url, data in every_url(pid, entry_id):
        assert _call(bob, method, url, data, token).status_code == 404, (method, url)
    own = create(bob, "Bob's")
    response = bob.post(f"/playlists/add?track={tracks[0].id}", data={"csrf_token": token, "playlist": str(own)})
    assert response.status_code == 404  # alice's private track cannot be added
    response = bob.post(f"/playlists/add?track={tracks[0].id}", data={"csrf_token": token, "playlist": str(pid)})
    assert response.status_code == 404
    assert "Secret" not in bob.get("/playlists").get_data(as_text=True)
    assert positions(pid) == entry and _db.session.get(Playlist, pid).name == "Secret"


def test_public_playlists_are_read_only_for_others(alice, bob, tracks, db):
    for track in tracks:
        track.visibility = Visibility.PUBLIC
    db.session.commit()
    pid = create(alice, "Shared mix")
    add(alice, pid, tracks[0].id)
    add(alice, pid, tracks[1].id)
    post_form(alice, f"/playlists/{pid}/edit", f"/playlists/{pid}/sharing", {"visibility": "public"})
    entry_id = _db.session.scalar(select(PlaylistEntry.id).where(PlaylistEntry.playlist_id == pid))
    token = csrf_from(bob, "/playlists")
    for method, url, data in every_url(pid, entry_id):
        status = _call(bob, method, url, data, token).status_code
        assert status == (200 if method == "GET" and ("/edit" not in url and "/delete" not in url) else 403), url
    assert "Shared mix" in bob.get("/playlists").get_data(as_text=True)
    page = bob.get(f"/playlists/{pid}").get_data(as_text=True)
    assert titles_on(page) == ["Ünus", "Duo"] and "Edit and share" not in page
    # A track made private again disappears from bob's view, not from alice's.
    tracks[1].visibility = Visibility.PRIVATE
    db.session.commit()
    assert titles_on(bob.get(f"/playlists/{pid}").get_data(as_text=True)) == ["Ünus"]
    assert [t["title"] for t in bob.get(f"/api/playlists/{pid}").get_json()["tracks"]] == ["Ünus"]
    assert titles_on(alice.get(f"/playlists/{pid}").get_data(as_text=True)) == ["Ünus", "Duo"]


def test_anonymous_is_sent_to_login(client, user):
    for url in ("/playlists", "/playlists/1", "/playlists/1.m3u8", "/playlists/favourites", "/playlists/add?track=1"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], url
    assert client.get("/api/playlists/1").status_code == 401


# --- share links ---------------------------------------------------------------------------------


def share(client, pid: int, expires: str = "") -> str:
    post_form(client, f"/playlists/{pid}/edit", f"/playlists/{pid}/sharing", {"visibility": "link", "expires": expires})
    page = client.get(f"/playlists/{pid}/edit").get_data(as_text=True)
    return re.search(r'id="share-url" type="text" readonly value="http://localhost(/s/[^"]+)"', page).group(1)


def test_share_link_plays_without_an_account(app, alice, tracks):
    pid = create(alice, "Party")
    add(alice, pid, tracks[0].id)
    add(alice, pid, tracks[2].id)
    link = share(alice, pid)
    assert len(link.rsplit("/", 1)[1]) >= 43  # 256 random bits
    visitor = app.test_client()
    response = visitor.get(link)
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = response.get_data(as_text=True)
    assert "Ünus" in page and "Tres" in page and "Duo" not in page
    # The page links to nothing of the owner's: its only link is the stylesheet.
    assert [h.split("?")[0] for h in re.findall(r'href="([^"]+)"', page)] == ["/static/css/app.css"]
    urls = re.findall(r'data-src="([^"]+)"', page)
    assert len(urls) == 2
    audio = visitor.get(urls[0].replace("&amp;", "&"), headers={"Range": "bytes=0-9"})
    assert audio.status_code == 206 and len(audio.data) == 10
    # The signature is for that track only.
    other = urls[0].replace("&amp;", "&").replace(f"/stream/{tracks[0].id}?", f"/stream/{tracks[1].id}?")
    assert visitor.get(other).status_code == 404
    assert visitor.get(f"/stream/{tracks[0].id}").status_code == 401  # nothing else opens


def test_share_links_can_be_revoked_altered_or_expire(app, alice, tracks, db):
    pid = create(alice, "Party")
    add(alice, pid, tracks[0].id)
    link = share(alice, pid)
    visitor = app.test_client()
    url = re.findall(r'data-src="([^"]+)"', visitor.get(link).get_data(as_text=True))[0].replace("&amp;", "&")
    assert visitor.get(link[:-1] + ("A" if link[-1] != "A" else "B")).status_code == 404  # altered
    tampered = re.sub(r"exp=\d+", "exp=9999999999", url)
    assert visitor.get(tampered).status_code == 404
    post_form(alice, f"/playlists/{pid}/edit", f"/playlists/{pid}/revoke")
    assert visitor.get(link).status_code == 404
    assert visitor.get(url).status_code == 404  # signed URLs die with the link
    # A new link with an expiry in the past never works.
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    new_link = share(alice, pid, past)
    assert new_link != link
    assert visitor.get(new_link).status_code == 404


def test_share_page_shows_covers_of_its_tracks_only(app, alice, user, tracks, db):
    with_art = add_track(user, "cover.flac")  # has embedded art
    pid = create(alice, "Party")
    add(alice, pid, with_art.id)
    add(alice, pid, tracks[0].id)
    link = share(alice, pid)
    visitor = app.test_client()
    page = visitor.get(link).get_data(as_text=True)
    covers = re.findall(r'<img class="cover" src="([^"]+)"', page)
    assert covers == [f"{link}/cover/{with_art.id}", f"{link}/cover/{tracks[0].id}"]
    art = visitor.get(covers[0])
    assert art.status_code == 200 and art.mimetype == "image/jpeg"
    stored = get_storage().local_path(with_art.cover_path)
    assert art.data == stored.read_bytes()
    assert art.headers["Cache-Control"] == "private, no-store"  # a revoked link shows nothing more
    placeholder = visitor.get(covers[1])
    assert placeholder.status_code == 200 and placeholder.mimetype == "image/svg+xml"
    assert visitor.get(f"{link}/cover/{tracks[1].id}").status_code == 404  # not in this playlist
    post_form(alice, f"/playlists/{pid}/edit", f"/playlists/{pid}/revoke")
    assert visitor.get(covers[0]).status_code == 404


def test_share_page_player_gets_the_waveforms_and_gains_of_its_tracks_only(app, alice, tracks, db):
    pid = create(alice, "Party")
    add(alice, pid, tracks[0].id)
    add(alice, pid, tracks[2].id)
    link = share(alice, pid)
    visitor = app.test_client()
    page = visitor.get(link).get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="share-player">(.*?)</script>', page, re.S).group(1)
    player = json.loads(block)
    assert [t["id"] for t in player] == [tracks[0].id, tracks[2].id]
    db.session.refresh(tracks[0])
    # Measured after upload (the job runs at once in tests): a gain and the link's own waveform address.
    assert player[0]["gain"]["track"] == pytest.approx(-18 - tracks[0].loudness, abs=0.01)
    version = int(tracks[0].analysed_at.timestamp())
    assert player[0]["waveform"] == f"{link}/waveform/{tracks[0].id}.json?v={version}"
    answer = visitor.get(player[0]["waveform"])
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    stored = get_storage().local_path(tracks[0].waveform_path).read_bytes()
    assert answer.data == stored
    assert answer.json["version"] == 2 and answer.json["length"] > 0
    # The main waveform address's caching: for a year, with an ETag that answers 304.
    owners = alice.get(f"/library/tracks/{tracks[0].id}/waveform.json?v={version}")
    assert answer.headers["Cache-Control"] == owners.headers["Cache-Control"] == "private, max-age=31536000"
    assert answer.headers["ETag"] == owners.headers["ETag"]
    again = visitor.get(player[0]["waveform"], headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    # A track of the owner's that is not in the link, an altered or revoked link: 404.
    assert visitor.get(f"{link}/waveform/{tracks[1].id}.json").status_code == 404
    assert visitor.get(f"{link[:-2]}xy/waveform/{tracks[0].id}.json").status_code == 404
    post_form(alice, f"/playlists/{pid}/edit", f"/playlists/{pid}/revoke")
    assert visitor.get(player[0]["waveform"]).status_code == 404


def test_share_link_guessing_is_throttled(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SHARE_LIMIT_PER_IP="5 per minute")
    with app.app_context():
        visitor = app.test_client()
        statuses = [visitor.get(f"/s/guess{i}").status_code for i in range(7)]
        assert statuses == [404] * 5 + [429] * 2


# --- M3U8 --------------------------------------------------------------------------------------------


def test_m3u8_export_and_import_round_trip(alice, tracks, db):
    tracks[1].title = "Dúo, with a\u200f mark"
    db.session.commit()
    pid = create(alice, "Línea\nNueva")  # a line break in a name cannot reach the file
    for track in (tracks[1], tracks[0]):
        add(alice, pid, track.id)
    response = alice.get(f"/playlists/{pid}.m3u8")
    assert response.headers["Content-Type"] == "audio/x-mpegurl; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True)
    lines = body.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[1] == "#EXTINF:3,Numbers - Dúo, with a\u200f mark"
    assert lines[2] == f"http://localhost/stream/{tracks[1].id}"
    assert lines[3] == "#EXTINF:3,Numbers - Ünus" and len(lines) == 5

    extra = "#EXTINF:200,Nobody - Missing\n/music/missing.mp3\n#EXTINF:3,Numbers - Tres\nD:\\Music\\elsewhere.mp3\n"
    token = csrf_from(alice, "/playlists/import")
    response = alice.post(
        "/playlists/import",
        data={
            "csrf_token": token,
            "name": "Imported",
            "file": (io.BytesIO((body + extra).encode("utf-8")), "list.m3u8"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert "3 of 4 entries matched." in page and "Nobody - Missing" in page
    imported = db.session.scalar(select(Playlist).where(Playlist.name == "Imported"))
    assert [t for _, t in positions(imported.id)] == [tracks[1].id, tracks[0].id, tracks[2].id]


def test_import_matches_by_file_name(alice, tracks):
    token = csrf_from(alice, "/playlists/import")
    text = "/home/me/Music/1.mp3\r\nC:\\Music\\0.MP3\r\n"
    alice.post(
        "/playlists/import",
        data={"csrf_token": token, "name": "By name", "file": (io.BytesIO(text.encode("latin-1")), "x.m3u")},
        content_type="multipart/form-data",
    )
    imported = _db.session.scalar(select(Playlist).where(Playlist.name == "By name"))
    assert [t for _, t in positions(imported.id)] == [tracks[1].id, tracks[0].id]


# --- concurrency ------------------------------------------------------------------------------------


def test_parallel_adds_and_moves_keep_positions_dense(app, user, tracks):
    with app.app_context():
        playlist = playlists.create(user.id, "Busy")
        _db.session.commit()
        pid, uid, track_id = playlist.id, user.id, tracks[0].id
    errors: list[BaseException] = []

    def worker(action) -> None:
        try:
            with app.app_context():
                retrying(action)
                _db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    adders = [
        threading.Thread(target=worker, args=(lambda: playlists.add_tracks(uid, pid, [track_id]),)) for _ in range(20)
    ]
    for t in adders:
        t.start()
    for t in adders:
        t.join()
    assert errors == []
    assert [p for p, _ in positions(pid)] == list(range(1, 21))

    entry_ids = list(_db.session.scalars(select(PlaylistEntry.id).where(PlaylistEntry.playlist_id == pid)))
    movers = [
        threading.Thread(target=worker, args=(lambda e=e, i=i: playlists.move_entry(uid, pid, e, (i * 7) % 20 + 1),))
        for i, e in enumerate(entry_ids[5:])
    ]
    removers = [
        threading.Thread(target=worker, args=(lambda e=e: playlists.remove_entry(uid, pid, e),)) for e in entry_ids[:5]
    ]
    started = time.monotonic()
    for t in movers + removers:
        t.start()
    for t in movers + removers:
        t.join()
    assert time.monotonic() - started < 60
    assert errors == []
    _db.session.expire_all()
    assert [p for p, _ in positions(pid)] == list(range(1, 16))
