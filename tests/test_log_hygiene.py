"""No credential reaches the server's logs, and gunicorn's own error answers
carry the security headers. Against a real gunicorn with the shipped
configuration: a share link is used (page, signed stream, cover), credentials
are sent the ways the Subsonic and REST clients send them, then the log is
searched for every secret."""

from __future__ import annotations

import re
import socket

from app import create_app
from app.extensions import db
from app.models import PlaylistVisibility
from app.services import accounts, playlists
from config import TestConfig
from tests.helpers import PASSWORD, add_track
from tests.servers import flask, request, server_env


def _shared_playlist(url: str, uploads) -> str:
    """alice's playlist with one track, shared by link; its token."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(uploads))
    with app.app_context():
        owner = accounts.get_by_username("alice")
        track = add_track(owner, "cover.flac")
        playlist = playlists.create(owner.id, "Party")
        playlists.add_tracks(owner.id, playlist.id, [track.id])
        playlists.set_visibility(playlist, PlaylistVisibility.LINK)
        db.session.commit()
        token = playlist.share_token
        db.engine.dispose()
    return token


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_credentials_never_reach_the_logs(tmp_path, start_gunicorn):
    url, uploads = f"sqlite:///{tmp_path / 'logs.db'}", tmp_path / "uploads"
    env = server_env(url, uploads)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    token = _shared_playlist(url, uploads)
    server = start_gunicorn(url, uploads, LOG_LEVEL="info")

    status, _, page = request(server.port, f"/s/{token}")
    assert status == 200
    stream = re.search(rb'data-src="([^"]+/stream/[^"]+)"|src="(/s/[^"]+/stream/[^"]+)"', page)
    stream_url = (stream.group(1) or stream.group(2)).decode().replace("&amp;", "&")
    signature = re.search(r"sig=([0-9a-f]+)", stream_url).group(1)
    assert request(server.port, stream_url, headers={"Range": "bytes=0-9"})[0] == 206
    cover = re.search(rb'src="(/s/[^"]+/cover/\d+)"', page).group(1).decode()
    assert request(server.port, cover)[0] == 200

    secrets = {
        "share token": token,
        "share signature": signature,
        "subsonic password": "hunter2-app-password",
        "subsonic token": "26719a1196d2a940705a59634eb18eab",
        "subsonic salt": "c19b2d",
        "api key": "mc_apikey_Z9y8X7w6",
        "bearer token": "mc_pat_Q1w2E3r4T5y6",
    }
    request(server.port, f"/rest/ping.view?u=alice&p={secrets['subsonic password']}&v=1.16.1&c=test&f=json")
    request(
        server.port,
        f"/rest/ping.view?u=alice&t={secrets['subsonic token']}&s={secrets['subsonic salt']}&v=1.16.1&c=test",
    )
    request(server.port, f"/rest/ping.view?apiKey={secrets['api key']}&v=1.16.1&c=test")
    request(server.port, "/api/v1/tracks", headers={"Authorization": f"Bearer {secrets['bearer token']}"})
    request(server.port, f"/library?token={secrets['bearer token']}", headers={"Referer": f"http://x/s/{token}"})
    # A request line gunicorn refuses (too long) is logged too: with its secrets redacted.
    _raw(server.port, f"GET /s/{token}/{'x' * 5000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    server.process.terminate()
    server.process.wait(timeout=10)
    log = server.log.read_text()
    assert "/s/[redacted]" in log  # the requests were logged, without their secrets
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} is in the log"


def test_gunicorns_own_error_answers_carry_the_security_headers(tmp_path, start_gunicorn):
    url, uploads = f"sqlite:///{tmp_path / 'errors.db'}", tmp_path / "uploads"
    flask(server_env(url, uploads), "db", "upgrade")
    server = start_gunicorn(url, uploads)
    too_long_line = f"GET /{'a' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    too_many_headers = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(f"X-Filler-{i}: {'b' * 100}\r\n".encode() for i in range(120))
        + b"\r\n"
    )
    for raw, status in ((too_long_line, b"414"), (too_many_headers, b"431")):
        answer = _raw(server.port, raw)
        head = answer.split(b"\r\n\r\n", 1)[0]
        assert head.split(b" ")[1] == status, head[:80]
        assert b"X-Content-Type-Options: nosniff" in head
        assert b"Content-Security-Policy: default-src 'self'" in head
        assert b"X-Frame-Options: DENY" in head
