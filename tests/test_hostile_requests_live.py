"""The hardening findings replayed as an attacker would, against a real
gunicorn with the shipped configuration, on SQLite and PostgreSQL: numbers no
column can hold, digits of other scripts, a FLAC with no audio, a file named
like a path, and a Host header of someone else's."""

from __future__ import annotations

import pytest

from tests import hostile
from tests.helpers import PASSWORD, drop_pg_schema, new_pg_schema
from tests.servers import flask, log_in, server_env, upload
from tests.servers import request as http


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request, tmp_path, start_gunicorn):
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'live.db'}"
    else:
        schema, url = new_pg_schema()
    uploads = tmp_path / "uploads"
    settings = {"TRUSTED_HOSTS": "127.0.0.1", "RATELIMIT_ENABLED": "false"}
    env = server_env(url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    server = start_gunicorn(url, uploads, **settings)
    yield server.port, log_in(server.port, "alice", PASSWORD, host="127.0.0.1")
    server.process.terminate()
    server.process.wait(timeout=10)
    if schema:
        drop_pg_schema(schema)


def test_an_attackers_tour(live):
    port, cookie = live
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    track = upload(port, cookie, "../../../../tmp/pwn.mp3", hostile.sample("tagged.mp3"), host="127.0.0.1")["track"]

    # 1. Numbers in URLs: no 500, and no other script's digits reach track 1.
    for hostile_id in ("99999999999999999999", str(2**31), "%EF%BC%91", "%D9%A1"):
        for path in ("/library/tracks/{}", "/stream/{}", "/stream/{}/download", "/api/tracks/{}", "/playlists/{}"):
            status, _, _ = http(port, path.format(hostile_id), headers=headers)
            assert status == 404, (path, hostile_id, status)
    for path in ("/library/albums", "/library/artists", "/admin/users", "/library"):
        assert http(port, f"{path}?page=99999999999999999999", headers=headers)[0] == 200

    # 2. A FLAC with no audio frame is refused.
    result = upload(port, cookie, "silent.flac", hostile.flac_without_frames(), host="127.0.0.1")
    assert (result["status"], result["code"]) == ("rejected", "NO_AUDIO")

    # 3. A file name in a header is a basename.
    status, got, _ = http(port, f"/stream/{track['id']}/download", headers=headers)
    assert status == 200
    assert got["content-disposition"] == "attachment; filename=pwn.mp3"

    # 4. Someone else's Host is refused, seeks included.
    for path in ("/library", f"/stream/{track['id']}", "/auth/login"):
        status, got, _ = http(port, path, headers={"Cookie": cookie, "Host": "evil.example", "Range": "bytes=0-1"})
        assert status == 400, path
        assert got["x-content-type-options"] == "nosniff"
