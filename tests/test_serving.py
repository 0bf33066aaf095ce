"""Range semantics end to end through the production servers: gunicorn (the app
streams, with sendfile) and nginx in front of the app, as deploy/nginx.conf
ships ("nginx": seeks under a grant nginx keeps, the rest X-Accel-Redirect)
and without its grants ("x-accel": every request asks the app)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Track
from app.services.storage import get_storage
from config import TestConfig
from tests.helpers import DATA, free_port, wait_for_port
from tests.servers import flask, log_in, request, server_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The app's settings for these tests: no rate limit on the many requests, and a
# client that stops reading is dropped after 2 s (60 s by default).
SETTINGS = {"RATELIMIT_ENABLED": "false", "SEND_TIMEOUT": "2"}


def login(port: int, username: str) -> str:
    return log_in(port, username, "serving password")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> Iterator[dict]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    tmp = tmp_path_factory.mktemp("serving")
    database, uploads = tmp / "serve.db", tmp / "uploads"
    database_url = f"sqlite:///{database}"
    env = server_env(database_url, uploads, **SETTINGS)
    flask(env, "db", "upgrade")
    for name in ("owner", "other"):
        flask(env, "create-admin", name, stdin="serving password\n" * 2)
    flask(env, "import", str(DATA / "cover.flac"), "--user", "owner")
    flask(env, "import", str(DATA / "plain.wav"), "--user", "owner")
    # The stored files, reached through the app's storage as the servers reach them.
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, UPLOAD_FOLDER=str(uploads))
    with app.app_context():
        store = get_storage()
        flac, wav = (db.session.scalars(select(Track).where(Track.format == kind)).one() for kind in ("flac", "wav"))
        with store.open(flac.storage_path) as fh:
            file = fh.read()
        # Track 2 grows to 64 MB (sparse): more than any socket buffer holds.
        os.truncate(store.local_path(wav.storage_path), BIG)
        db.engine.dispose()
    python = start_gunicorn(database_url, uploads, **SETTINGS)
    accel = start_gunicorn(database_url, uploads, **SETTINGS, SEND_FILE_MODE="x-accel", TRUSTED_PROXIES="1")
    nginx_port, accel_port = free_port(), free_port()
    # deploy/nginx.conf itself, on loopback, in front of the X-Accel-Redirect gunicorn;
    # and the same without its grants.
    (tmp / "x-accel").mkdir()
    confs = [
        nginx_local.render(tmp, accel.port, nginx_port, uploads),
        nginx_local.render(tmp / "x-accel", accel.port, accel_port, uploads, grants=False),
    ]
    nginxes = [
        subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for conf in confs
    ]
    try:
        for port in (nginx_port, accel_port):
            assert wait_for_port(port), f"nothing listens on {port}"
        cookie = login(python.port, "owner")
        yield {
            "python": python.port,
            "nginx": nginx_port,
            "x-accel": accel_port,
            "cookie": cookie,
            "other": login(python.port, "other"),
            "file": file,
            "database": database,
            "gunicorns": [python, accel],
            "nginx_log": tmp / "musiccloud.access.log",
        }
    finally:
        for nginx in nginxes:
            nginx.terminate()
            nginx.wait(timeout=10)


SIZE = (DATA / "cover.flac").stat().st_size
BIG = 64 * 1024 * 1024
VIAS = ["python", "x-accel", "nginx"]

CASES = [
    ("bytes=0-0", 206, (0, 0)),
    ("bytes=0-1", 206, (0, 1)),
    ("bytes=2-", 206, (2, SIZE - 1)),
    ("bytes=-500", 206, (SIZE - 500, SIZE - 1)),
    ("bytes=1000-1999", 206, (1000, 1999)),
    ("bytes=30000-999999", 206, (30000, SIZE - 1)),
    (None, 200, (0, SIZE - 1)),
    (f"bytes={SIZE}-", 416, None),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(("header", "status", "span"), CASES)
def test_ranges_end_to_end(servers, via, header, status, span):
    headers = {"Cookie": servers["cookie"]}
    if header:
        headers["Range"] = header
    got, response_headers, body = request(servers[via], "/stream/1", headers=headers)
    assert got == status, response_headers
    if span:
        first, last = span
        assert body == servers["file"][first : last + 1]
        assert response_headers["content-length"] == str(last - first + 1)
        assert response_headers["content-type"] == "audio/flac"
    if status == 206:
        assert response_headers["content-range"] == f"bytes {span[0]}-{span[1]}/{SIZE}"
    if status == 416:
        assert response_headers["content-range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("via", VIAS)
def test_access_is_checked_by_the_app_in_every_mode(servers, via):
    assert request(servers[via], "/stream/1")[0] == 401
    assert request(servers[via], "/stream/1", headers={"Cookie": servers["other"]})[0] == 404
    assert request(servers[via], "/_media/1/anything.flac", headers={"Cookie": servers["cookie"]})[0] == 404


def test_downloads_through_nginx_keep_the_apps_headers(servers):
    status, headers, body = request(servers["nginx"], "/stream/1/download", headers={"Cookie": servers["cookie"]})
    assert status == 200
    assert headers["content-disposition"] == "attachment; filename=cover.flac"
    assert headers["cache-control"].startswith("private")
    assert body == servers["file"]


def test_range_requests_write_nothing(servers):
    db = servers["database"]
    files = [db, db.with_name(db.name + "-wal")]

    def state() -> list[tuple[int, float]]:
        return [(f.stat().st_size, f.stat().st_mtime) if f.exists() else (0, 0.0) for f in files]

    before = state()
    for start in range(0, 30000, 3000):
        for via in VIAS:
            request(servers[via], "/stream/1", headers={"Cookie": servers["cookie"], "Range": f"bytes={start}-"})
    assert state() == before


def test_seeks_reuse_the_connection(servers):
    # A player seeks on one kept-alive connection; closing it after every
    # response would cost a new connection per seek.
    conn = http.client.HTTPConnection("127.0.0.1", servers["python"], timeout=30)
    conn.connect()
    first_socket = conn.sock
    for start in (0, 5000, 20000, 100):
        conn.request("GET", "/stream/1", headers={"Cookie": servers["cookie"], "Range": f"bytes={start}-{start + 99}"})
        response = conn.getresponse()
        assert response.status == 206
        assert response.read() == servers["file"][start : start + 100]
        assert response.getheader("Connection", "").lower() != "close"
        assert conn.sock is first_socket
    conn.close()


def test_answers_without_a_body_keep_the_connection_usable(servers):
    # HEAD, a 304 and a 416 carry no file bytes: the connection goes straight on
    # to the next request, which gets exactly its own bytes.
    conn = http.client.HTTPConnection("127.0.0.1", servers["python"], timeout=30)
    cookie = {"Cookie": servers["cookie"]}
    conn.request("HEAD", "/stream/1", headers=cookie)
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert head.getheader("Content-Length") == str(SIZE)
    conn.request("GET", "/stream/1", headers={**cookie, "If-None-Match": head.getheader("ETag")})
    not_modified = conn.getresponse()
    assert not_modified.status == 304 and not_modified.read() == b""
    conn.request("GET", "/stream/1", headers={**cookie, "Range": f"bytes={SIZE}-"})
    unsatisfiable = conn.getresponse()
    assert unsatisfiable.status == 416
    unsatisfiable.read()
    conn.request("GET", "/stream/1", headers={**cookie, "Range": "bytes=10-19"})
    ranged = conn.getresponse()
    assert ranged.status == 206 and ranged.read() == servers["file"][10:20]
    conn.close()


def test_nginx_serves_static_files_itself_and_caches_fingerprinted_ones_a_year(servers):
    status, _, page = request(servers["nginx"], "/auth/login")
    assert status == 200
    url = re.search(rb'href="(/static/css/app\.css\?v=[0-9a-f]+)"', page).group(1).decode()
    status, headers, body = request(servers["nginx"], url)
    assert status == 200
    assert body == (ROOT / "static" / "css" / "app.css").read_bytes()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', headers["etag"])  # nginx's own, not the app's
    assert "content-security-policy" not in headers  # the app was not asked
    # Without a fingerprint (the player's modules import each other so): revalidated each time.
    status, headers, _ = request(servers["nginx"], "/static/js/player/queue.js")
    assert status == 200
    assert headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("via", ["x-accel", "nginx"])
def test_audio_through_nginx_keeps_the_apps_security_headers(servers, via):
    headers = {"Cookie": servers["cookie"], "Range": "bytes=0-9"}
    _, direct, _ = request(servers["python"], "/stream/1", headers=headers)
    headers["Cookie"] = login(servers["python"], "owner")  # a new session: nginx holds no grant for it yet
    for _ in range(2):  # the grant's first answer, then the grant nginx kept
        _, proxied, _ = request(servers[via], "/stream/1", headers=headers)
        for name in ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options", "vary"):
            assert proxied[name] == direct[name], name
        assert "x-accel-redirect" not in proxied  # the internal address stays internal
        assert not [name for name in proxied if name.startswith("x-musiccloud")]  # so does the grant


# Requests a player (or a cache) makes, with and without validators.
HANDOFF_REQUESTS = [
    ("GET", {"Range": "bytes=100-"}),
    ("GET", {"Range": "bytes=-500"}),
    ("GET", {}),
    ("HEAD", {}),
    ("HEAD", {"Range": "bytes=0-1"}),
    ("GET", {"Range": "bytes=0-10,5-20"}),
    ("GET", {"Range": f"bytes={SIZE}-"}),
    ("GET", {"Range": "bytes=100-", "If-Range": "ETAG"}),
    ("GET", {"Range": "bytes=100-", "If-Range": '"stale"'}),
    ("GET", {"If-None-Match": "ETAG"}),
    ("GET", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
    ("GET", {"If-Match": '"other"'}),
    ("GET", {"Range": "items=0-5"}),
]


@pytest.mark.parametrize(("method", "headers"), HANDOFF_REQUESTS)
def test_a_seek_under_a_grant_is_answered_as_the_app_hands_it_off(servers, method, headers):
    """Status, headers and bytes through the grant are those of the X-Accel-Redirect path."""
    cookie = {"Cookie": login(servers["python"], "owner")}  # a new session: nginx holds no grant for it yet
    etag = request(servers["x-accel"], "/stream/1", "HEAD", cookie)[1]["etag"]
    headers = {**cookie, **{name: etag if value == "ETAG" else value for name, value in headers.items()}}
    status, expected, body = comparable(request(servers["x-accel"], "/stream/1", method, headers))
    if status == 416:
        expected["accept-ranges"] = "bytes"  # as the app says on its own 416 (nginx says it on a 200 only)
    for _ in range(2):  # the grant's first answer, then the one nginx kept
        got = comparable(request(servers["nginx"], "/stream/1", method, headers))
        assert got[:2] == (status, expected)
        assert got[2] == body


def comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], bytes]:
    """An answer without what differs between two servers: the date, a multipart boundary."""
    status, headers, body = answer
    headers.pop("date")
    boundary = re.search(r"boundary=(\S+)", headers.get("content-type", ""))
    if boundary:
        headers["content-type"] = headers["content-type"].replace(boundary.group(1), "BOUNDARY")
        body = body.replace(boundary.group(1).encode(), b"BOUNDARY")
    return status, headers, body


def test_a_client_that_stops_reading_is_dropped_not_waited_for(servers):
    # A paused player that keeps its connection would hold a server thread
    # for ever. SEND_TIMEOUT is 2 s here (60 s by default).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(20)
    sock.connect(("127.0.0.1", servers["python"]))
    sock.sendall(f"GET /stream/2 HTTP/1.1\r\nHost: x\r\nCookie: {servers['cookie']}\r\n\r\n".encode())
    time.sleep(4)
    received = 0
    while chunk := sock.recv(1 << 16):
        received += len(chunk)
    sock.close()
    assert 0 < received < BIG  # what the buffers held, then the server hung up
    status, _, body = request(
        servers["python"], "/stream/1", headers={"Cookie": servers["cookie"], "Range": "bytes=0-9"}
    )
    assert status == 206 and body == servers["file"][:10]
    log = "".join(g.log.read_text() for g in servers["gunicorns"])
    assert "Dropped a client that stopped reading" in log
    assert "Traceback" not in log


def test_a_listener_closing_after_its_track_blocks_no_one(servers):
    # Players that change track close the connection; the server then closes
    # its side and waits (up to 2 s) for the client's close. That wait must not
    # hold up the worker: here six listeners that have their track and close
    # late, while another client seeks (with gthread's own close, each of the
    # six held the worker for 2 s, one after the other).
    listeners = []
    for _ in range(6):
        sock = socket.create_connection(("127.0.0.1", servers["python"]), timeout=20)
        sock.sendall(
            f"GET /stream/1 HTTP/1.1\r\nHost: x\r\nCookie: {servers['cookie']}\r\n"
            "Range: bytes=0-9999\r\nConnection: close\r\n\r\n".encode()
        )
        listeners.append(sock)
    time.sleep(0.3)  # the answers are sent; each socket is half-closed by the server
    waits = []
    conn = http.client.HTTPConnection("127.0.0.1", servers["python"], timeout=30)
    for start in (0, 5000, 20000):
        began = time.monotonic()
        conn.request("GET", "/stream/1", headers={"Cookie": servers["cookie"], "Range": f"bytes={start}-{start + 99}"})
        response = conn.getresponse()
        assert response.status == 206 and response.read() == servers["file"][start : start + 100]
        waits.append(time.monotonic() - began)
    conn.close()
    for sock in listeners:
        head = sock.recv(1 << 16)
        assert head.startswith(b"HTTP/1.1 206")
        sock.close()
    assert max(waits) < 1.0, waits


def test_nginx_logs_no_credentials(servers):
    token, signature, password = "ShareTokenAbc123_xyz", "5ab0c7e2f1d4", "hunter2-app-password"
    request(servers["nginx"], "/stream/1", headers={"Cookie": servers["cookie"], "Range": "bytes=0-1"})
    request(servers["nginx"], f"/s/{token}/stream/1?exp=99999999999&sig={signature}")
    request(servers["nginx"], f"/rest/ping.view?u=owner&p={password}&v=1.16.1&c=test")
    request(servers["nginx"], f"/s/{token}")
    deadline = time.monotonic() + 5
    while "/rest/ping.view" not in servers["nginx_log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = servers["nginx_log"].read_text()
    assert "/s/[redacted]/stream/1" in log and "/rest/ping.view" in log
    for secret in (token, signature, password):
        assert secret not in log
    # The path the client asked for, not where nginx found the file (a stored name).
    ranges = [line for line in log.splitlines() if '" 206 ' in line]
    assert ranges and all(re.search(r'"(GET|HEAD) /stream/[0-9]+ HTTP/1.1" 206 ', line) for line in ranges)
