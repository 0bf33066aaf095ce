"""Several machines, on this one: two gunicorn app servers on their own ports sharing
PostgreSQL, Redis and the object store (SeaweedFS), behind deploy/nginx.conf's
upstream of both. What one server does, the other sees."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.helpers import DATA, IN_CI, drop_pg_schema, free_port, new_pg_schema, redis_test_url, wait_for_port
from tests.seaweed import TEST_BUCKET, Seaweed, new_prefix
from tests.servers import Gunicorn, csrf_token, flask, log_in, request, server_env, try_login, upload

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = redis_test_url("TEST_SCALE_REDIS_URL", 8)
PASSWORD = "several servers password"
WRONG_TRIES = 3


@dataclass
class Cluster:
    nginx: int
    a: Gunicorn
    b: Gunicorn


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, start_gunicorn, seaweedfs: Seaweed) -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    require_redis()
    schema, database_url = new_pg_schema()
    tmp = tmp_path_factory.mktemp("cluster")
    settings = {
        **seaweedfs.settings(TEST_BUCKET, new_prefix()),
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"mc-scale-{secrets.token_hex(4)}",
        "LOGIN_LIMIT_PER_USERNAME": f"{WRONG_TRIES} per 15 minutes",
        "SEND_FILE_MODE": "x-accel",
        "TRUSTED_PROXIES": "1",
    }
    try:
        # Each server has a folder of its own (only uploads being received live there).
        env = server_env(database_url, tmp / "a" / "uploads", **settings)
        flask(env, "db", "upgrade")
        flask(env, "create-admin", "owner", stdin=f"{PASSWORD}\n" * 2)
        flask(env, "create-admin", "victim", stdin=f"{PASSWORD}\n" * 2)
        a = start_gunicorn(database_url, tmp / "a" / "uploads", **settings)
        b = start_gunicorn(database_url, tmp / "b" / "uploads", **settings)
        port = free_port()
        conf = nginx_local.render(tmp, [a.port, b.port], port, tmp / "a" / "uploads", s3_endpoint=seaweedfs.endpoint)
        nginx = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for_port(port), f"nothing listens on {port}"
            yield Cluster(port, a, b)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    finally:
        drop_pg_schema(schema)


def seek(port: int, cookie: str, track: int, first: int, last: int) -> tuple[int, bytes]:
    status, _, body = request(port, f"/stream/{track}", headers={"Cookie": cookie, "Range": f"bytes={first}-{last}"})
    return status, body


def test_uploaded_on_one_server_streamed_from_the_other_and_through_nginx(cluster):
    data = (DATA / "tagged.flac").read_bytes()
    cookie = log_in(cluster.a.port, "owner", PASSWORD)
    result = upload(cluster.a.port, cookie, "song.flac", data)
    assert result["status"] == "added", result
    track = result["track"]["id"]
    # Server B knows the track and the session: it hands nginx the store's address.
    status, headers, _ = request(cluster.b.port, f"/stream/{track}", headers={"Cookie": cookie, "Range": "bytes=0-9"})
    assert status == 200 and headers["x-accel-redirect"].startswith("/_s3/")
    # Through nginx, whichever server answers, the bytes are the file's.
    for first in range(0, 20000, 2500):
        assert seek(cluster.nginx, cookie, track, first, first + 999) == (206, data[first : first + 1000])


def test_a_logout_on_one_server_ends_the_session_on_the_other(cluster):
    data = (DATA / "tagged.mp3").read_bytes()
    cookie = log_in(cluster.b.port, "owner", PASSWORD)
    track = upload(cluster.b.port, cookie, "song.mp3", data)["track"]["id"]
    assert seek(cluster.a.port, cookie, track, 0, 9)[0] == 200  # a hand-off: A says yes
    _, headers, page = request(cluster.a.port, "/library", headers={"Cookie": cookie})
    token_cookie = headers.get("set-cookie", cookie).split(";")[0]
    status, _, _ = request(
        cluster.a.port,
        "/auth/logout",
        "POST",
        {"Cookie": token_cookie, "Content-Type": "application/x-www-form-urlencoded"},
        f"csrf_token={csrf_token(page)}",
    )
    assert status == 302
    assert seek(cluster.b.port, cookie, track, 0, 9)[0] == 401
    assert seek(cluster.nginx, cookie, track, 0, 9)[0] == 401


def test_login_limits_are_counted_across_servers(cluster):
    statuses = [
        try_login(port, "victim", "wrong password")[0]
        for port in [cluster.a.port, cluster.b.port, cluster.a.port][:WRONG_TRIES]
    ]
    assert 429 not in statuses
    # The next try, on the server that saw fewer of them, is over the shared limit.
    assert try_login(cluster.b.port, "victim", PASSWORD)[0] == 429


def test_with_one_server_stopped_the_service_still_answers(cluster):
    data = (DATA / "tagged.ogg").read_bytes()
    cookie = log_in(cluster.nginx, "owner", PASSWORD)
    track = upload(cluster.nginx, cookie, "song.ogg", data)["track"]["id"]
    cluster.a.process.terminate()
    cluster.a.process.wait(timeout=15)
    for first in range(0, 4000, 500):
        assert seek(cluster.nginx, cookie, track, first, first + 99) == (206, data[first : first + 100])
    status, _, page = request(cluster.nginx, "/library", headers={"Cookie": cookie})
    assert (status == 200 and b"song" in page.lower()) or status == 200
