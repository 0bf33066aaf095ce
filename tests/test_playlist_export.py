"""The M3U8 export for plain players: its URLs stream through the Subsonic API
with an app password's token, a fresh salt each, and stop once it is revoked."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from app.services import credentials, playlists
from app.services.storage import get_storage
from app.unit_of_work import commit
from tests.helpers import add_track, post_form


def _playlist(user, *names: str):
    tracks = [add_track(user, name) for name in names]
    row = playlists.create(user.id, "Road trip")
    playlists.add_tracks(user.id, row.id, [t.id for t in tracks])
    commit()
    return row, tracks


def _urls(body: str) -> list[str]:
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def test_the_players_file_streams_until_the_app_password_is_revoked(app, alice, user, db):
    row, tracks = _playlist(user, "tagged.mp3", "tagged.flac")
    device, _plain = credentials.create_app_password(user.id, "VLC")
    commit()
    page = f"/playlists/{row.id}"
    assert "Export M3U8 for players" in alice.get(page).get_data(as_text=True)
    response = post_form(alice, page, f"/playlists/{row.id}/export-for-players", {"app_password": device.id})
    assert response.status_code == 200 and response.mimetype == "audio/x-mpegurl"
    assert 'filename="Road trip.m3u8"' in response.headers["Content-Disposition"]
    urls = _urls(response.get_data(as_text=True))
    assert len(urls) == 2
    salts = set()
    anonymous = app.test_client()  # a player: no session, no cookie
    for url, track in zip(urls, tracks, strict=True):
        parts = urlsplit(url)
        assert url.startswith("http://localhost/rest/stream.view?")
        query = parse_qs(parts.query)
        assert query["u"] == ["alice"] and query["id"] == [str(track.id)] and "p" not in query
        assert re.fullmatch(r"[0-9a-f]{32}", query["t"][0])
        salts.add(query["s"][0])
        content = get_storage().local_path(track.storage_path).read_bytes()
        played = anonymous.get(f"{parts.path}?{parts.query}")
        assert played.status_code == 200 and played.data == content
        ranged = anonymous.get(f"{parts.path}?{parts.query}", headers={"Range": "bytes=10-99"})
        assert ranged.status_code == 206 and ranged.data == content[10:100]
    assert len(salts) == 2  # a fresh salt for every URL
    # Imported again, the file's addresses find the same tracks (even without #EXTINF lines).
    found = playlists.match_entries(user.id, [(url, None) for url in urls])
    assert [track.id for _, track in found.matched] == [t.id for t in tracks]

    credentials.revoke_app_password(user.id, device.id)
    commit()
    parts = urlsplit(urls[0])
    refused = anonymous.get(f"{parts.path}?{parts.query}")
    assert refused.status_code == 200 and b'code="40"' in refused.data and refused.mimetype == "text/xml"


def test_only_your_own_app_password_signs_the_file(app, alice, user, make_user):
    row, _tracks = _playlist(user, "tagged.mp3")
    bob = make_user("bob")
    bobs, _plain = credentials.create_app_password(bob.id, "Phone")
    commit()
    page = f"/playlists/{row.id}"
    # Without an app password, the page says where to make one.
    assert "Create an app password on your account page first" in alice.get(page).get_data(as_text=True)
    response = post_form(alice, page, f"/playlists/{row.id}/export-for-players", {"app_password": bobs.id})
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    # Without the CSRF token: no file.
    refused = alice.post(f"/playlists/{row.id}/export-for-players", data={"app_password": bobs.id})
    assert refused.status_code in (302, 400) and refused.mimetype != "audio/x-mpegurl"
    # Bob's private playlist is not there for alice.
    hidden = playlists.create(bob.id, "Bob's")
    commit()
    assert post_form(alice, page, f"/playlists/{hidden.id}/export-for-players", {"app_password": 1}).status_code == 404
    # The plain export is unchanged: the web player's URLs.
    plain = alice.get(f"/playlists/{row.id}.m3u8").get_data(as_text=True)
    assert _urls(plain)[0].startswith("http://localhost/stream/")
