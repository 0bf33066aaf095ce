"""The hardening findings replayed as an attacker would, against a real
gunicorn with the shipped configuration, on SQLite and PostgreSQL: numbers no
column can hold, digits of other scripts, a FLAC with no audio, a file named
like a path, and a Host header of someone else's."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests import hostile
from tests.helpers import PASSWORD, drop_pg_schema, new_pg_schema
from tests.servers import flask, server_env
from tests.test_serving import request as http


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
    yield server.port, _login(server.port)
    server.process.terminate()
    server.process.wait(timeout=10)
    if schema:
        drop_pg_schema(schema)


def _login(port: int) -> str:
    _, headers, page = http(port, "/auth/login", headers={"Host": "127.0.0.1"})
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
    form = f"username=alice&password={PASSWORD.replace(' ', '+')}&csrf_token={token}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Host": "127.0.0.1"}
    status, headers, _ = http(port, "/auth/login", "POST", headers, form)
    assert status == 302
    return headers["set-cookie"].split(";")[0]


def _upload(port: int, cookie: str, name: str, content: bytes) -> dict:
    _, got, page = http(port, "/library/upload", headers={"Cookie": cookie, "Host": "127.0.0.1"})
    cookie = got["set-cookie"].split(";")[0] if "set-cookie" in got else cookie
    token = re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1).decode()
    boundary = secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Cookie": cookie,
        "Host": "127.0.0.1",
        "Accept": "application/json",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    status, _, answer = http(port, "/library/upload", "POST", headers, body)
    assert status == 200, answer[:300]
    return json.loads(answer)["results"][0]


def test_an_attackers_tour(live):
    port, cookie = live
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    track = _upload(port, cookie, "../../../../tmp/pwn.mp3", hostile.sample("tagged.mp3"))["track"]

    # 1. Numbers in URLs: no 500, and no other script's digits reach track 1.
    for hostile_id in ("99999999999999999999", str(2**31), "%EF%BC%91", "%D9%A1"):
        for path in ("/library/tracks/{}", "/stream/{}", "/stream/{}/download", "/api/tracks/{}", "/playlists/{}"):
            status, _, _ = http(port, path.format(hostile_id), headers=headers)
            assert status == 404, (path, hostile_id, status)
    for path in ("/library/albums", "/library/artists", "/admin/users", "/library"):
        assert http(port, f"{path}?page=99999999999999999999", headers=headers)[0] == 200

    # 2. A FLAC with no audio frame is refused.
    result = _upload(port, cookie, "silent.flac", hostile.flac_without_frames())
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
