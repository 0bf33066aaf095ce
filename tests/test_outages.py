"""The database going away, against a real gunicorn: pages, login and upload
answer 503 with Retry-After and the friendly page within 5 seconds (never a
500, never "wrong password"), and the app recovers by itself when the database
is back. Only databases these tests create are stopped: a PostgreSQL database
whose connections are refused, a SQLite file another process locks."""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.helpers import DATA, PASSWORD, PG_BASE_URL, require_postgres
from tests.servers import flask, server_env, upload_form


class Browser:
    """A cookie-keeping HTTP client that reports status, headers, body and time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, data: bytes | None = None, headers: dict | None = None):
        # The base is the test server's http://127.0.0.1 address.
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})  # noqa: S310
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=30) as response:
                return (
                    response.status,
                    response.headers,
                    response.read().decode(errors="replace"),
                    time.monotonic() - started,
                )
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode(errors="replace"), time.monotonic() - started

    def csrf(self, path: str) -> str:
        _, _, page, _ = self.open(path)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def post(self, page: str, action: str, fields: dict[str, str]):
        body = urllib.parse.urlencode({**fields, "csrf_token": self.csrf(page)}).encode()
        return self.open(action, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def upload(self, name: str, content: bytes, token: str | None = None):
        body, headers = upload_form(token or self.csrf("/library/upload"), name, content)
        return self.open("/library/upload", body, headers)


def _assert_unavailable(answer, *, json: bool = False) -> None:
    status, headers, body, seconds = answer
    assert status == 503, (status, body[:300])
    assert headers["Retry-After"] == "5"
    assert seconds < 5.5, f"took {seconds:.1f} s"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"]
    if json:
        assert '"code":"DATABASE_UNAVAILABLE"' in body.replace(" ", "")
    else:
        assert "cannot reach its database" in body
    assert "Wrong username or password" not in body


def _instance(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = server_env(database_url, tmp_path / "uploads")
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    return env


def test_postgresql_refusing_connections(start_gunicorn, tmp_path):
    require_postgres()
    name = f"mc_outage_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_BASE_URL.rsplit("/", 1)[0] + "/" + name
    try:
        _instance(url, tmp_path)
        server = start_gunicorn(url, tmp_path / "uploads")
        browser = Browser(server.url)
        assert browser.post("/auth/login", "/auth/login", {"username": "alice", "password": PASSWORD})[0] == 200
        assert browser.open("/library")[0] == 200
        anonymous = Browser(server.url)
        login_page_token = anonymous.csrf("/auth/login")
        upload_token = browser.csrf("/library/upload")  # the form was open before the outage

        with admin.connect() as conn:  # the outage: no new connections, the open ones dropped
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})

        _assert_unavailable(browser.open("/library"))
        _assert_unavailable(browser.open("/api/tracks/1", headers={"Accept": "application/json"}), json=True)
        fields = {"username": "alice", "password": "not the password", "csrf_token": login_page_token}
        body = urllib.parse.urlencode(fields).encode()
        _assert_unavailable(anonymous.open("/auth/login", body, {"Content-Type": "application/x-www-form-urlencoded"}))
        _assert_unavailable(browser.upload("a.mp3", (DATA / "tagged.mp3").read_bytes(), upload_token), json=True)

        with admin.connect() as conn:  # back: the next request works, no restart
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        status, _, page, _ = browser.open("/library")
        assert status == 200 and "Library" in page
        assert browser.upload("a.mp3", (DATA / "tagged.mp3").read_bytes())[0] == 200
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_sqlite_locked_by_another_process(start_gunicorn, tmp_path):
    database = tmp_path / "locked.db"
    url = f"sqlite:///{database}"
    _instance(url, tmp_path)
    server = start_gunicorn(url, tmp_path / "uploads")
    browser = Browser(server.url)
    login_token = browser.csrf("/auth/login")
    blocker = sqlite3.connect(database, isolation_level=None, timeout=0)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, as a stuck writer would
        fields = {"username": "alice", "password": PASSWORD, "csrf_token": login_token}
        body = urllib.parse.urlencode(fields).encode()
        _assert_unavailable(browser.open("/auth/login", body, {"Content-Type": "application/x-www-form-urlencoded"}))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert browser.post("/auth/login", "/auth/login", {"username": "alice", "password": PASSWORD})[0] == 200
    answer = browser.upload("a.mp3", (DATA / "tagged.mp3").read_bytes())
    assert answer[0] == 200 and '"status":"added"' in answer[2].replace(" ", "")
    blocker = sqlite3.connect(database, isolation_level=None, timeout=0)
    try:
        token = browser.csrf("/library/upload")
        blocker.execute("BEGIN IMMEDIATE")
        _assert_unavailable(browser.upload("b.flac", (DATA / "tagged.flac").read_bytes(), token), json=True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    leftovers = [p for p in (tmp_path / "uploads").rglob("*") if p.is_file() and p.suffix == ".flac"]
    assert leftovers == []  # the refused upload left no file
