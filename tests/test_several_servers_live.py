"""Several machines, on this one: two gunicorn app servers on their own ports and a
job worker (`flask worker`), sharing PostgreSQL, Redis and an object store
(SeaweedFS, its own for this module so that it can be stopped), behind
deploy/nginx.conf's upstream of both app servers. What one server does, the
other sees; one server or the store going away is an answer, never a 500."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from sqlalchemy import create_engine, select

from app.jobs.queue import make_huey
from app.models import ArchiveImport, Job, Track
from app.web.sending import presign_seconds
from tests import archives as zips
from tests.helpers import (
    DATA,
    IN_CI,
    drop_pg_schema,
    free_port,
    new_pg_schema,
    noise_wav,
    redis_test_url,
    wait_for_port,
)
from tests.seaweed import TEST_BUCKET, Seaweed, new_prefix, seaweed
from tests.servers import (
    BIN,
    Gunicorn,
    csrf_token,
    flask,
    log_in,
    new_credential,
    request,
    server_env,
    try_login,
    upload,
    upload_page,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = redis_test_url("TEST_SCALE_REDIS_URL", 8)
PASSWORD = "several servers password"
WRONG_TRIES = 3


# Seconds the tests wait for something another process does (a job, a restart)
# on a busy 2-core machine, polling all the while.
PATIENCE = 90


@dataclass
class Cluster:
    nginx: int
    a: Gunicorn
    b: Gunicorn
    worker: subprocess.Popen
    store: Seaweed
    database_url: str
    settings: dict[str, str]


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    require_redis()
    tmp = tmp_path_factory.mktemp("cluster")
    # Jobs a run without a worker left in this Redis queue name rows of a schema long gone.
    make_huey(REDIS_URL).storage.flush_all()
    with ExitStack() as running:
        store = running.enter_context(seaweed(tmp / "seaweedfs"))
        schema, database_url = new_pg_schema()
        running.callback(drop_pg_schema, schema)
        settings = {
            **store.settings(TEST_BUCKET, new_prefix()),
            "REDIS_URL": REDIS_URL,
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_KEY_PREFIX": f"mc-scale-{secrets.token_hex(4)}",
            "LOGIN_LIMIT_PER_USERNAME": f"{WRONG_TRIES} per 15 minutes",
            "SEND_FILE_MODE": "x-accel",
            "TRUSTED_PROXIES": "1",
            # The sample peak: the analysis of a long upload costs a busy machine less.
            "ANALYSIS_TRUE_PEAK": "false",
        }
        # Each server has a folder of its own (only uploads being received live there).
        env = server_env(database_url, tmp / "a" / "uploads", **settings)
        flask(env, "db", "upgrade")
        flask(env, "create-admin", "owner", stdin=f"{PASSWORD}\n" * 2)
        flask(env, "create-admin", "victim", stdin=f"{PASSWORD}\n" * 2)
        a = start_gunicorn(database_url, tmp / "a" / "uploads", **settings)
        b = start_gunicorn(database_url, tmp / "b" / "uploads", **settings)
        worker = running.enter_context(job_worker(server_env(database_url, tmp / "w" / "uploads", **settings), tmp))
        port = free_port()
        conf = nginx_local.render(tmp, [a.port, b.port], port, tmp / "a" / "uploads", s3_endpoint=store.endpoint)
        running.enter_context(nginx_running(conf, port))
        yield Cluster(port, a, b, worker, store, database_url, settings)


@contextmanager
def job_worker(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen]:
    """`flask worker` as production runs it, until the block ends (SIGTERM, as systemd stops it)."""
    with (folder / "worker.log").open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "flask"), "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        stop(process, 20)


@contextmanager
def nginx_running(conf: Path, port: int) -> Iterator[subprocess.Popen]:
    """nginx with `conf`, listening on `port`, until the block ends."""
    process = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port):
            pytest.fail(f"nginx did not start on {port}:\n{(conf.parent / 'nginx-error.log').read_text()}")
        yield process
    finally:
        stop(process, 10)


def stop(process: subprocess.Popen, seconds: float) -> None:
    """SIGTERM, then SIGKILL after `seconds`; the process is reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Callable[[], object], what: str, seconds: float = PATIENCE) -> object:
    """Poll `condition` until it gives something true; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"after {seconds} s: {what}")
        time.sleep(0.25)


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


def rows(cluster: Cluster, statement):
    """What the shared database holds, read as an operator would (psql)."""
    engine = create_engine(cluster.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def is_jpeg(answer: tuple[int, dict[str, str], bytes]) -> bool:
    status, headers, body = answer
    return status == 200 and headers.get("content-type") == "image/jpeg" and body[:3] == b"\xff\xd8\xff"


def test_a_job_queued_by_one_server_is_run_by_the_worker_and_seen_on_the_other(cluster):
    cookie = log_in(cluster.a.port, "owner", PASSWORD)
    result = upload(cluster.a.port, cookie, "art.flac", (DATA / "cover.flac").read_bytes())
    assert result["status"] == "added", result
    track = result["track"]["id"]
    # The upload on A queued a thumbnail and an analysis in Redis; the worker makes the
    # thumbnail, and B (which queued nothing) shows it.
    wait_until(
        lambda: is_jpeg(request(cluster.b.port, f"/stream/{track}/cover", headers={"Cookie": cookie})),
        "server B shows the cover the worker made",
    )

    def finished() -> list:
        found = [row for row in rows(cluster, select(Job.name, Job.state, Job.worker, Job.args)) if row.args == [track]]
        return found if found and all(row.state in ("done", "failed") for row in found) else []

    jobs = wait_until(finished, "the upload's jobs finish")
    assert sorted((row.name, row.state) for row in jobs) == [("analyse_track", "done"), ("make_cover", "done")]
    assert {row.worker.rsplit(":", 1)[1] for row in jobs} == {str(cluster.worker.pid)}


def test_a_resumable_upload_goes_on_with_whichever_server_answers(cluster, tmp_path):
    data = noise_wav(tmp_path / "long.wav", 3)
    cookie, token = upload_page(cluster.a.port, log_in(cluster.a.port, "owner", PASSWORD))
    tus = {"Cookie": cookie, "X-CSRFToken": token, "Tus-Resumable": "1.0.0"}
    name = base64.b64encode(b"Pieces/long.wav").decode()
    status, headers, _ = request(
        cluster.b.port,
        "/library/uploads/",
        "POST",
        {**tus, "Upload-Length": str(len(data)), "Upload-Metadata": f"filename {name}"},
    )
    assert status == 201
    url = urlsplit(headers["location"]).path
    # Each piece to another server (the last through nginx); each knows how far it got.
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for port, start, end in zip((cluster.a.port, cluster.b.port, cluster.nginx), cuts, cuts[1:], strict=False):
        assert request(port, url, "HEAD", tus)[1]["upload-offset"] == str(start)
        piece = {**tus, "Upload-Offset": str(start), "Content-Type": "application/offset+octet-stream"}
        status, headers, body = request(port, url, "PATCH", piece, data[start:end])
        assert (status, headers.get("upload-offset")) == (204, str(end)), body[:300]
    status, _, body = request(cluster.a.port, url, headers=tus)
    result = json.loads(body)["result"]
    assert result["status"] == "added", result
    assert seek(cluster.nginx, cookie, result["track"]["id"], 0, len(data) - 1) == (206, data)


def test_an_archive_received_by_a_server_is_imported_by_the_worker(cluster):
    tag = secrets.token_hex(4)  # songs this library does not have yet
    archive = zips.build([(f"Box/{n}.mp3", zips.mp3_variant(f"{n} {tag}", album="Box")) for n in ("one", "two")])
    cookie = log_in(cluster.a.port, "owner", PASSWORD)
    result = upload(cluster.a.port, cookie, "box.zip", archive)
    assert result["status"] == "archive", result
    # Confirmed on the other server; the worker, on a folder of its own, imports it.
    cookie, token = upload_page(cluster.b.port, cookie)
    _, _, page = request(cluster.b.port, result["url"], headers={"Cookie": cookie})
    entries = re.findall(rb'name="entry" value="(\d+)"', page)
    assert len(entries) == 2
    form = "&".join([f"csrf_token={token}", *(f"entry={e.decode()}" for e in entries)])
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    assert request(cluster.b.port, result["url"], "POST", headers, form)[0] == 302
    import_id = int(result["url"].rstrip("/").rsplit("/", 1)[1])
    state = select(ArchiveImport.state, ArchiveImport.added).where(ArchiveImport.id == import_id)
    wait_until(lambda: rows(cluster, state)[0].state == "done", "the worker imports the archive")
    assert rows(cluster, state)[0].added == 2
    # Nothing of it is left in the bucket.
    prefix = urlsplit(cluster.settings["STORAGE_URL"]).path.strip("/") + "/.staging/"
    assert cluster.store.keys(TEST_BUCKET, prefix) == []


def subsonic_error(answer: tuple[int, dict[str, str], bytes]) -> dict:
    status, headers, body = answer
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("application/json"), body[:300]
    envelope = json.loads(body)["subsonic-response"]
    assert envelope["status"] == "failed", envelope
    return envelope["error"]


def test_with_the_object_store_down_the_answers_are_503_and_it_recovers_without_a_restart(cluster):
    """A track never played through nginx: clean 503s everywhere. One played before the
    outage: nginx's copy of it (deploy/nginx.conf, musiccloud_audio) keeps it playing."""
    data = (DATA / "cover.mp3").read_bytes()
    cookie = log_in(cluster.nginx, "owner", PASSWORD)
    track = upload(cluster.nginx, cookie, "outage.mp3", data)["track"]["id"]
    cover = f"/stream/{track}/cover"
    wait_until(lambda: is_jpeg(request(cluster.nginx, cover, headers={"Cookie": cookie})), "the cover is made")
    app_password = new_credential(cluster.nginx, cookie, "/account/app-passwords", "app", "Phone")
    subsonic = f"id={track}&u=owner&p={app_password}&v=1.16.1&c=test&f=json"
    # A track played once before the outage: nginx keeps a copy of what it fetched.
    played_data = (DATA / "tagged.flac").read_bytes()
    played = upload(cluster.nginx, cookie, "played.flac", played_data)["track"]["id"]
    assert request(cluster.nginx, f"/stream/{played}", headers={"Cookie": cookie})[2] == played_data
    cluster.store.stop()
    try:
        # It keeps playing and seeking from the copy, byte for byte.
        for first in (0, 5000, len(played_data) - 700):
            assert seek(cluster.nginx, cookie, played, first, first + 499) == (206, played_data[first : first + 500])
        status, headers, body = request(
            cluster.nginx, f"/stream/{track}", headers={"Cookie": cookie, "Range": "bytes=0-99"}
        )
        assert (status, headers.get("retry-after")) == (503, "5"), body[:300]
        assert b"music store cannot be reached" in body
        status, headers, body = request(cluster.nginx, cover, headers={"Cookie": cookie})
        assert (status, headers.get("retry-after")) == (503, "5"), body[:300]
        assert headers["content-type"].startswith("text/html")
        assert b"music store cannot be reached" in body and b"Traceback" not in body
        for method in ("stream", "getCoverArt", "download"):
            error = subsonic_error(request(cluster.nginx, f"/rest/{method}?{subsonic}"))
            assert "music store cannot be reached" in error["message"], error
        # What needs only the database still answers.
        status, _, page = request(cluster.nginx, "/library", headers={"Cookie": cookie})
        assert status == 200 and f"/library/tracks/{track}".encode() in page
        status, _, page = request(cluster.nginx, f"/library/tracks/{track}", headers={"Cookie": cookie})
        assert status == 200
    finally:
        cluster.store.start()
    # Back: the same servers stream and show covers again, nothing restarted.
    wait_until(lambda: seek(cluster.nginx, cookie, track, 100, 1099) == (206, data[100:1100]), "streaming comes back")
    assert is_jpeg(request(cluster.nginx, cover, headers={"Cookie": cookie}))
    status, headers, body = request(cluster.nginx, f"/rest/stream?{subsonic}")
    assert status == 200 and body == data
    assert cluster.a.process.poll() is None and cluster.b.process.poll() is None


def start_reading(port: int, path: str, cookie: str) -> tuple[socket.socket, int, dict[str, str], bytes]:
    """A slow client: a GET with a small receive buffer, of which only the head is read:
    (socket, status, headers, body bytes read so far)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.settimeout(PATIENCE)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(16384)
        assert chunk, received
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    return sock, int(lines[0].split()[1]), headers, body


def read_to_the_end(sock: socket.socket, body: bytes, size: int) -> bytes:
    """Read on until `size` bytes or the connection ends (closed or reset)."""
    try:
        while len(body) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return body


def test_an_app_server_stopped_mid_download_and_a_retry_with_range_on_the_other(cluster, start_gunicorn, tmp_path):
    """Two more app servers as the cluster's, behind nginx: the one that answered a slow
    download is stopped in the middle of it. nginx moves the bytes from the store, so the
    download goes on to the end; a client's retry with Range and If-Range from the byte it
    had (a player that lost its connection) is answered by the other server."""
    data = noise_wav(tmp_path / "long.wav", 24)
    cookie = log_in(cluster.nginx, "owner", PASSWORD)
    result = upload(cluster.nginx, cookie, "long.wav", data)
    assert result["status"] == "added", result
    path = f"/stream/{result['track']['id']}/download"
    c = start_gunicorn(cluster.database_url, tmp_path / "c" / "uploads", **cluster.settings)
    d = start_gunicorn(cluster.database_url, tmp_path / "d" / "uploads", **cluster.settings)
    port = free_port()
    conf = nginx_local.render(
        tmp_path, [c.port, d.port], port, tmp_path / "c" / "uploads", s3_endpoint=cluster.store.endpoint
    )
    with nginx_running(conf, port):
        sock, status, headers, body = start_reading(port, path, cookie)
        assert status == 200 and int(headers["content-length"]) == len(data)
        etag = headers["etag"]
        # gunicorn logs each answer as it is sent (here, the hand-off to nginx).
        answered = wait_until(
            lambda: [server for server in (c, d) if f"GET {path} " in server.log.read_text()],
            "an app server logs the download",
        )
        assert len(answered) == 1, "both servers answered one request"
        stopped, other = (c, d) if answered == [c] else (d, c)
        while len(body) < 2_000_000:
            chunk = sock.recv(65536)
            assert chunk, "the download ended early"
            body += chunk
        stopped.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        stopped.process.wait(timeout=30)
        assert read_to_the_end(sock, body, len(data)) == data
        # A client that had `had` bytes when it lost the connection asks for the rest.
        had = len(body)
        status, headers, rest = request(
            port, path, headers={"Cookie": cookie, "Range": f"bytes={had}-", "If-Range": etag}
        )
        assert status == 206, rest[:300]
        assert headers["content-range"] == f"bytes {had}-{len(data) - 1}/{len(data)}"
        assert body + rest == data
        assert f"GET {path} " in other.log.read_text()
        assert stopped.process.poll() is not None and other.process.poll() is None


def test_a_presigned_redirect_still_seeks_after_the_track_has_had_time_to_play_through(
    cluster, start_gunicorn, tmp_path
):
    """S3_STREAM=redirect: the player gets a 302 to the store; its address must outlive
    the track (twice its length, at least an hour), so a seek after a pause longer than
    the track itself still finds the bytes."""
    data = (DATA / "tagged.mp3").read_bytes()
    redirecting = start_gunicorn(
        cluster.database_url, tmp_path / "uploads", **{**cluster.settings, "S3_STREAM": "redirect"}
    )
    cookie = log_in(cluster.nginx, "owner", PASSWORD)
    track = upload(cluster.nginx, cookie, "redirect.mp3", data)["track"]["id"]
    status, headers, _ = request(redirecting.port, f"/stream/{track}", headers={"Cookie": cookie})
    assert status == 302
    given = time.monotonic()
    location = headers["location"]
    assert location.startswith(cluster.store.endpoint + "/")
    [duration] = [row.duration for row in rows(cluster, select(Track.duration).where(Track.id == track))]
    lifetime = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
    assert lifetime == presign_seconds(duration) >= 2 * duration
    # The track's length passes (a paused player), then the player seeks on the same address.
    time.sleep(max(0.0, given + duration + 1 - time.monotonic()))
    parts = urlsplit(location)
    for first, last in ((len(data) - 500, len(data) - 1), (1000, 1999), (0, 9)):
        status, _, body = request(parts.port, f"{parts.path}?{parts.query}", headers={"Range": f"bytes={first}-{last}"})
        assert status == 206, body[:300]
        assert body == data[first : last + 1]


def test_with_one_server_stopped_the_service_still_answers(cluster):
    data = (DATA / "tagged.ogg").read_bytes()
    cookie = log_in(cluster.nginx, "owner", PASSWORD)
    track = upload(cluster.nginx, cookie, "song.ogg", data)["track"]["id"]
    cluster.a.process.terminate()
    cluster.a.process.wait(timeout=15)
    for first in range(0, 4000, 500):
        assert seek(cluster.nginx, cookie, track, first, first + 99) == (206, data[first : first + 100])
    status, _, page = request(cluster.nginx, "/library", headers={"Cookie": cookie})
    assert status == 200 and f"/library/tracks/{track}".encode() in page
