"""Real Subsonic client libraries against a real server process (gunicorn, as
production runs it): the first-run flow of a typical app with py-opensonic
(typed decoding: a response that lacks a required field fails) and py-sonic
(form POST by default), and a stream with a Range."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import libopensonic
import libsonic
import pytest

from tests.helpers import DATA
from tests.servers import Gunicorn, flask, log_in, new_credential, request, server_env

OWNER, PASSWORD = "owner", "serving password"


@pytest.fixture(scope="module")
def served(tmp_path_factory, start_gunicorn) -> Iterator[tuple[Gunicorn, str, str]]:
    """A server with three tracks of the owner's: (server, app password, API key)."""
    root = tmp_path_factory.mktemp("subsonic")
    url, uploads = f"sqlite:///{root / 'serve.db'}", root / "uploads"
    env = server_env(url, uploads, LOG_LEVEL="info")
    flask(env, "db", "upgrade")
    flask(env, "create-admin", OWNER, stdin=f"{PASSWORD}\n" * 2)
    music = root / "music"
    music.mkdir()
    for name in ("tagged.mp3", "tagged.flac", "cover.mp3"):
        (music / name).write_bytes((DATA / name).read_bytes())
    flask(env, "import", str(music), "--user", OWNER)
    server = start_gunicorn(url, uploads, LOG_LEVEL="info")
    cookie = log_in(server.port, OWNER, PASSWORD)
    password = new_credential(server.port, cookie, "/account/app-passwords", "app", "Phone")
    api_key = new_credential(server.port, cookie, "/account/api-keys", "key", "Desk")
    return server, password, api_key


@contextmanager
def opensonic(server: Gunicorn, **credentials: str) -> Iterator[libopensonic.Connection]:
    """py-opensonic's synchronous client, closed completely afterwards: its cleanup()
    stops the private event loop but leaves it (and its self-pipe) open."""
    conn = libopensonic.Connection("http://127.0.0.1", port=server.port, **credentials)
    try:
        yield conn
    finally:
        conn.cleanup()
        conn._loop.close()


def _run(connection: libopensonic.Connection, coroutine):
    return asyncio.run_coroutine_threadsafe(coroutine, connection._loop).result(timeout=30)


def _sync_like_an_app(conn: libopensonic.Connection, ids: list[str]) -> None:
    """search3 with an empty query paged to the end (as Symfonium syncs), and the home screen's lists."""
    seen, offset = [], 0
    while True:
        page = conn.search3("", artist_count=0, album_count=0, song_count=2, song_offset=offset).song or []
        if not page:
            break
        seen += [s.id for s in page]
        offset += len(page)
    assert sorted(seen) == sorted(ids) and len(ids) == 3
    for kind in ("newest", "random", "alphabeticalByName", "frequent", "recent"):
        assert isinstance(conn.get_album_list2(kind, size=10), list)
    assert conn.get_genres() is not None
    assert conn.get_random_songs(size=2)


def test_first_run_with_py_opensonic(served):
    server, password, _key = served
    with opensonic(server, username=OWNER, password=password) as conn:
        assert conn.ping()
        assert conn.get_license()
        extensions = {e.name for e in conn.get_open_subsonic_extensions()}
        assert "apiKeyAuthentication" in extensions
        user = conn.get_user(OWNER)
        assert user.username == OWNER and user.admin_role and user.stream_role
        # get_music_folders is left to py-sonic: py-opensonic 10.4.1 iterates the
        # musicFolders object itself instead of its musicFolder list, so it fails on
        # the answer the spec gives ({"musicFolders": {"musicFolder": [...]}}).

        artists = conn.get_artists()
        found = [a for index in artists.index for a in index.artist]
        assert found
        artist = conn.get_artist(found[0].id)
        album = conn.get_album(artist.album[0].id)
        assert album.song and album.song_count == len(album.song)
        song = conn.get_song(album.song[0].id)
        assert song.title == album.song[0].title

        cover = conn.get_cover_art(song.cover_art, size=100000)
        assert cover.status == 200 and cover.headers["Content-Type"].startswith("image/")
        _run(conn, cover.read())

        whole = conn.stream(song.id)
        body = _run(conn, whole.read())
        assert whole.status == 200 and len(body) == song.size
        part = conn.stream(song.id, byte_range="bytes=100-199")
        assert part.status == 206 and part.headers["Content-Range"] == f"bytes 100-199/{song.size}"
        assert _run(conn, part.read()) == body[100:200]

        assert conn.scrobble(song.id, submission=False)
        assert conn.scrobble(song.id)
        assert conn.star(sids=[song.id])
        assert [s.id for s in conn.get_starred2().song] == [song.id]
        assert conn.unstar(sids=[song.id])

        ids = [s.id for s in conn.search3("", song_count=500).song]
        assert conn.create_playlist(name="Road trip", song_ids=ids)
        playlist = next(p for p in conn.get_playlists() if p.name == "Road trip")
        assert conn.update_playlist(
            playlist.id, name="Trip", comment="Summer", song_ids_to_add=[ids[0]], song_indices_to_remove=[0]
        )
        changed = conn.get_playlist(playlist.id)
        assert changed.name == "Trip" and [e.id for e in changed.entry] == [*ids[1:], ids[0]]
        assert conn.delete_playlist(playlist.id)
        assert all(p.name != "Trip" for p in conn.get_playlists())

        _sync_like_an_app(conn, ids)


def test_api_key_with_py_opensonic(served):
    server, _password, key = served
    with opensonic(server, api_key=key) as conn:
        assert conn.ping()
        assert conn.token_info().username == OWNER


def test_first_run_with_py_sonic_by_form_post(served):
    server, password, _key = served
    conn = libsonic.Connection("http://127.0.0.1", OWNER, password, port=server.port)
    assert conn.ping()
    assert conn.getLicense()["license"]["valid"] is True
    assert conn.getUser(OWNER)["user"]["username"] == OWNER
    assert conn.getMusicFolders()["musicFolders"]["musicFolder"]
    artists = conn.getArtists()["artists"]["index"]
    artist = conn.getArtist(artists[0]["artist"][0]["id"])["artist"]
    album = conn.getAlbum(artist["album"][0]["id"])["album"]
    song_id = album["song"][0]["id"]
    assert conn.getSong(song_id)["song"]["id"] == song_id
    assert conn.getCoverArt(song_id).read()
    assert len(conn.stream(song_id).read()) == album["song"][0]["size"]
    assert conn.scrobble(song_id)["status"] == "ok"
    assert conn.star(sids=[song_id])["status"] == "ok"
    assert conn.unstar(sids=[song_id])["status"] == "ok"
    created = conn.createPlaylist(name="Py-sonic", songIds=[song_id])
    assert created["status"] == "ok"
    playlist_id = created["playlist"]["id"]
    assert conn.updatePlaylist(playlist_id, name="Renamed")["status"] == "ok"
    assert conn.getPlaylist(playlist_id)["playlist"]["name"] == "Renamed"
    assert conn.deletePlaylist(playlist_id)["status"] == "ok"
    result = conn.search3("", songCount=500)["searchResult3"]
    assert len(result["song"]) == 3
    for probe in (conn.getPodcasts, conn.getInternetRadioStations, conn.getBookmarks, conn.getChatMessages):
        assert probe()["status"] == "ok"


def test_the_server_log_holds_no_credential(served):
    server, password, key = served
    salt = "f00d"
    token = hashlib.md5((password + salt).encode(), usedforsecurity=False).hexdigest()
    for query in (f"u={OWNER}&p={password}", f"u={OWNER}&t={token}&s={salt}", f"apiKey={key}"):
        status, _, _ = request(server.port, f"/rest/ping.view?{query}&c=test&v=1.16.1&f=json")
        assert status == 200
    log = server.log.read_text()
    assert "/rest/ping" in log
    for secret in (password, token, key, "enc:" + password.encode().hex()):
        assert secret not in log
