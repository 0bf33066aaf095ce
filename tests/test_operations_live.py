"""Operations against real servers, as production runs them (deploy/gunicorn.conf.py,
two forked workers; deploy/nginx.conf in front where said): the probes during a
database outage and with the storage folder gone, Prometheus metrics summed over
the workers (requests and latency by endpoint, active streams during slow
streams, the job queue's depth), /metrics refused through a proxy without the
token, and JSON log lines that carry the request's id and no secret."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from app.services import accounts, jobs
from config import TestConfig
from tests.audio import synthesize
from tests.helpers import PASSWORD, PG_BASE_URL, add_track, free_port, require_postgres, wait_for_port
from tests.servers import Gunicorn, flask, log_in, request, server_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Every probe checks afresh: the checks are the subject here (test_operations.py tests
# the answer kept for READY_CACHE_SECONDS).
TWO_WORKERS = {"WEB_WORKERS": "2", "WEB_THREADS": "4", "READY_CACHE_SECONDS": "0"}


def _instance(url: str, uploads: Path) -> dict[str, str]:
    env = server_env(url, uploads)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    return env


def _get_json(port: int, path: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, headers, body = request(port, path)
    assert headers["content-type"] == "application/json"
    return status, json.loads(body), time.monotonic() - started


def _metric(page: str, name: str, **labels: str) -> float:
    """The value of one series on a /metrics page (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}" + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search(pattern, page, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _metrics(port: int, **headers: str) -> str:
    status, _, body = request(port, "/metrics", headers=headers)
    assert status == 200, status
    return body.decode()


# --- /healthz and /readyz ---------------------------------------------------------------


def test_readyz_during_a_postgresql_outage(start_gunicorn, tmp_path):
    require_postgres()
    name = f"mc_ready_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_BASE_URL.rsplit("/", 1)[0] + "/" + name
    try:
        _instance(url, tmp_path / "uploads")
        server = start_gunicorn(url, tmp_path / "uploads", **TWO_WORKERS)
        assert _get_json(server.port, "/healthz")[:2] == (200, {"status": "ok"})
        status, body, _ = _get_json(server.port, "/readyz")
        assert (status, body["checks"]) == (200, {"database": "ok", "storage": "ok"})

        with admin.connect() as conn:  # the outage: no new connections, the open ones dropped
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        for _ in range(2):  # whichever worker answers
            status, body, seconds = _get_json(server.port, "/readyz")
            assert status == 503
            assert body == {
                "status": "unavailable",
                "checks": {"database": "failed", "storage": "ok"},
                "failed": ["database"],
            }
            assert seconds < 4.5, f"took {seconds:.1f} s"
            health = _get_json(server.port, "/healthz")
            assert health[:2] == (200, {"status": "ok"}) and health[2] < 1  # the process is up: no restart wanted
        raw = request(server.port, "/readyz")[2].decode()
        assert name not in raw and "5432" not in raw and str(tmp_path) not in raw

        with admin.connect() as conn:  # back: ready again, without a restart
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert _get_json(server.port, "/readyz")[0] == 200
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_readyz_when_the_storage_folder_cannot_be_written(start_gunicorn, tmp_path):
    url, uploads = f"sqlite:///{tmp_path / 'ready.db'}", tmp_path / "uploads"
    _instance(url, uploads)
    server = start_gunicorn(url, uploads, LOG_FORMAT="json", TRUSTED_PROXIES="1", **TWO_WORKERS)
    assert _get_json(server.port, "/readyz")[0] == 200
    # Tests run as root, whom file modes do not stop: the folder is taken away instead
    # (a disk that was not mounted), then a plain file stands where it was.
    uploads.rename(tmp_path / "elsewhere")
    try:
        status, body, _ = _get_json(server.port, "/readyz")
        assert (status, body["failed"], body["checks"]["database"]) == (503, ["storage"], "ok")
        uploads.write_bytes(b"not a folder")
        status, headers, raw = request(server.port, "/readyz", headers={"X-Request-ID": "probe-request-0001"})
        assert status == 503 and json.loads(raw)["failed"] == ["storage"]
        assert headers["x-request-id"] == "probe-request-0001"
        assert str(uploads) not in raw.decode()
        uploads.unlink()
    finally:
        (tmp_path / "elsewhere").rename(uploads)
    assert _get_json(server.port, "/readyz")[0] == 200
    # The failure is in the log, as JSON, with the request's id and without the folder's name.
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    failure = [line for line in lines if line["message"].startswith("readiness: storage failed")]
    assert any(line["request_id"] == "probe-request-0001" for line in failure)
    assert str(uploads) not in server.log.read_text()


# --- /metrics ---------------------------------------------------------------------------


def _long_track(url: str, uploads: Path, tmp_path: Path) -> int:
    """alice's 60-second WAV (10 MB: more than the sockets' buffers hold); its id."""
    wav = tmp_path / "long.wav"
    synthesize("sine=frequency=440:duration=60", wav, "-ac", "2", "-ar", "44100")
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(uploads))
    with app.app_context():
        track = add_track(accounts.get_by_username("alice"), "long.wav", content=wav.read_bytes())
        db.session.commit()
        track_id = track.id
        db.engine.dispose()
    return track_id


def _slow_listener(port: int, path: str, cookie: str) -> socket.socket:
    """A client that asks for `path`, reads the first bytes of the answer and then stops reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    head = sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return sock


def _wait_for(port: int, name: str, value: float, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while True:
        page = _metrics(port)
        if _metric(page, name) == value or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def _queue_jobs(url: str, uploads: Path, count: int) -> None:
    """Submit `count` jobs as the app does (recorded, then sent to the queue on commit);
    no job worker runs, so they wait."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(uploads), JOBS_IMMEDIATE=False)
    with app.app_context():
        for _ in range(count):
            jobs.submit("rebuild_search_words")
        db.session.commit()
        db.engine.dispose()


def test_metrics_summed_over_the_workers(start_gunicorn, tmp_path):
    url, uploads = f"sqlite:///{tmp_path / 'metrics.db'}", tmp_path / "uploads"
    _instance(url, uploads)
    track_id = _long_track(url, uploads, tmp_path)
    server = start_gunicorn(url, uploads, LOG_FORMAT="json", **TWO_WORKERS)
    cookie = log_in(server.port, "alice", PASSWORD)

    def served() -> set[int]:
        """The processes that answered /library (the JSON access log names them)."""
        lines = map(json.loads, filter(None, server.log.read_text().splitlines()))
        return {line["pid"] for line in lines if line.get("path") == "/library" and line.get("status") == 200}

    # Pages on a new connection each, until both workers have answered some.
    pages, seeks = 0, 8
    while pages < 12 or (len(served()) < 2 and pages < 200):
        assert request(server.port, "/library", headers={"Cookie": cookie})[0] == 200
        pages += 1
    assert len(served()) == 2
    for i in range(seeks):  # seeks answered by the stream fast path, before Flask
        answer = request(server.port, f"/stream/{track_id}", headers={"Cookie": cookie, "Range": f"bytes={i}-{i + 9}"})
        assert answer[0] == 206

    # Whichever worker answers /metrics counts every request.
    for _ in range(4):
        page = _metrics(server.port)
        library = {"endpoint": "library.index", "method": "GET", "status": "200"}
        assert _metric(page, "musiccloud_http_requests_total", **library) == pages
        assert _metric(page, "musiccloud_http_request_duration_seconds_count", endpoint="library.index") == pages
        assert _metric(page, "musiccloud_http_request_duration_seconds_sum", endpoint="library.index") > 0
        assert (
            _metric(page, "musiccloud_http_requests_total", endpoint="streaming.fast_path", method="GET", status="206")
            == seeks
        )
        assert _metric(page, "musiccloud_http_request_duration_seconds_count", endpoint="streaming.fast_path") == seeks
        assert _metric(page, "musiccloud_active_streams") == 0

    # Two listeners that stop reading: one answered by the fast path, one by Flask
    # (a query string the fast path leaves alone). Their files are sent by the
    # workers' event loops after the app has returned: still active streams.
    listeners = [
        _slow_listener(server.port, f"/stream/{track_id}", cookie),
        _slow_listener(server.port, f"/stream/{track_id}?from=test", cookie),
    ]
    try:
        time.sleep(0.5)
        for _ in range(4):
            assert _metric(_metrics(server.port), "musiccloud_active_streams") == 2
    finally:
        for listener in listeners:
            listener.close()  # unread data: the server's next send fails at once
    assert _metric(_wait_for(server.port, "musiccloud_active_streams", 0), "musiccloud_active_streams") == 0

    depth = _metric(_metrics(server.port), "musiccloud_job_queue_depth")
    _queue_jobs(url, uploads, 3)
    assert _metric(_metrics(server.port), "musiccloud_job_queue_depth") == depth + 3


def _pid_that_answered(server: Gunicorn, path: str) -> int:
    """The worker whose JSON access line names `path` (the line is written just after the
    answer goes out, so it is waited for)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in map(json.loads, filter(None, server.log.read_text().splitlines())):
            if line.get("path") == path:
                return line["pid"]
        time.sleep(0.1)
    pytest.fail(f"no access line for {path}:\n{server.log.read_text()[-3000:]}")


def test_metrics_after_a_worker_dies(start_gunicorn, tmp_path):
    """A worker killed in the middle of a stream leaves no phantom listener behind;
    its requests stay counted."""
    url, uploads = f"sqlite:///{tmp_path / 'dies.db'}", tmp_path / "uploads"
    _instance(url, uploads)
    track_id = _long_track(url, uploads, tmp_path)
    server = start_gunicorn(url, uploads, LOG_FORMAT="json", WEB_WORKERS="1", WEB_THREADS="4")
    cookie = log_in(server.port, "alice", PASSWORD)
    listener = _slow_listener(server.port, f"/stream/{track_id}", cookie)
    try:
        page = _metrics(server.port)
        assert _metric(page, "musiccloud_active_streams") == 1
        pid = _pid_that_answered(server, "/metrics")
        subprocess.run(["kill", "-9", str(pid)], check=True)
        page = _wait_for(server.port, "musiccloud_active_streams", 0)
        assert _metric(page, "musiccloud_active_streams") == 0
        assert _metric(page, "musiccloud_http_requests_total", endpoint="ops.metrics", method="GET", status="200") >= 1
    finally:
        listener.close()


# --- behind nginx: the request id and /metrics ------------------------------------------


def test_behind_nginx_request_ids_and_metrics(start_gunicorn, tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    url, uploads = f"sqlite:///{tmp_path / 'nginx.db'}", tmp_path / "uploads"
    _instance(url, uploads)
    token = "scrape-" + uuid.uuid4().hex
    app = start_gunicorn(url, uploads, LOG_FORMAT="json", TRUSTED_PROXIES="1", METRICS_TOKEN=token)
    port = free_port()
    conf = nginx_local.render(tmp_path, app.port, port, uploads)
    nginx = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port), f"nothing listens on {port}"
        secret = "hunter2-app-password"
        status, headers, _ = request(
            port,
            f"/rest/ping.view?u=alice&p={secret}&v=1.16.1&c=test",
            headers={"X-Request-ID": "chosen-by-the-client"},
        )
        assert status == 200
        given = headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", given)  # nginx's $request_id, not the client's
        assert _get_json(port, "/healthz")[:2] == (200, {"status": "ok"})
        assert _get_json(port, "/readyz")[0] == 200

        # Through nginx a request is not this machine's: the token, or the app's 404.
        assert request(port, "/metrics")[0] == 404
        assert request(port, "/metrics", headers={"Authorization": "Bearer wrong"})[0] == 404
        assert "musiccloud_http_requests_total" in _metrics(port, Authorization=f"Bearer {token}")
        assert "musiccloud_http_requests_total" in _metrics(app.port)  # straight from this machine
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)

    log = app.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    ping = [line for line in lines if line.get("request_id") == given]
    assert [line["path"] for line in ping] == ["/rest/ping.view?u=alice&p=[redacted]&v=1.16.1&c=test"]
    assert ping[0]["status"] == 200 and ping[0]["logger"] == "gunicorn.access"
    assert "chosen-by-the-client" not in log
    assert secret not in log and token not in log
    assert given in (tmp_path / "musiccloud.access.log").read_text()  # nginx's own line carries the same id
