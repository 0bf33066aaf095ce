"""Seek grants for tracks in the object store (deploy/nginx.conf, app/streaming/fastpath.py).

A grant for a track kept in the store carries a presigned address of its
object instead of a file name; nginx keeps it with the grant and fetches each
range from the store itself. In process (on SQLite and PostgreSQL, with a real
SeaweedFS): what the app answers nginx, and that the address outlives the
grant. Live, with two gunicorn servers behind deploy/nginx.conf and SeaweedFS:
seeks under a grant do not reach the app and give the object's exact bytes
with the app's headers and none of the store's, a revocation stops a listener
within the bound, a grant is never another cookie's, and the address reaches
neither a client nor the access log.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.security import SECURITY_HEADERS
from app.streaming.fastpath import STORE_GRANT_URL_MARGIN
from app.streaming.files import CACHE_CONTROL
from app.web.sending import PROXY_URL_SECONDS
from tests.helpers import DATA, free_port, owner_with_track, wait_for_port
from tests.seaweed import TEST_BUCKET, Seaweed, new_prefix
from tests.servers import Gunicorn, flask, request, server_env, upload
from tests.test_stream_grants import GRANT, Live, assert_refused_as_the_app_refuses

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# What a client may see of the store's answer; the rest of the headers are the app's and nginx's.
STORE_HEADERS = {"content-type", "content-length", "content-range", "accept-ranges", "etag", "last-modified"}
APP_HEADERS = {name.lower() for name, _ in SECURITY_HEADERS} | {"cache-control", "vary"}
NGINX_HEADERS = {"server", "date", "connection", "keep-alive"}


@pytest.fixture
def storage_settings(s3_settings: dict[str, str]) -> dict[str, str]:
    """Every app this module builds keeps its files in the test store."""
    return s3_settings


# --- the app's answer to nginx -----------------------------------------------------------------


def bare(response) -> list[tuple[str, str]]:
    """A refusal's headers, but for its X-Request-ID (every answer has its own)."""
    return sorted((name, value) for name, value in response.headers.items() if name != "X-Request-ID")


def test_a_store_grant_carries_a_presigned_address_that_outlives_it(make_app, seaweedfs: Seaweed):
    app = make_app(SEND_FILE_MODE="x-accel", STREAM_GRANT_SECONDS=60)
    with app.app_context():
        alice, _, track = owner_with_track(app, "cover.flac")
        signed = time.time()
        response = alice.get(f"/stream/{track.id}", headers=GRANT)
        assert response.status_code == 200
        assert response.data == b""
        assert "X-Musiccloud-File" not in response.headers
        keep = int(response.headers["X-Accel-Expires"])
        assert keep == 60
        assert response.headers["Cache-Control"] == CACHE_CONTROL
        assert response.headers["Vary"] == "Cookie"
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value
        target = response.headers["X-Musiccloud-Store"]
        parts = urlsplit(target)
        assert parts.path.endswith("/" + track.storage_path)
        query = parse_qs(parts.query)
        # The address is still good well after nginx has let the grant go.
        lives = int(query["X-Amz-Expires"][0])
        assert lives >= max(PROXY_URL_SECONDS, keep + STORE_GRANT_URL_MARGIN)
        made = time.mktime(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")) - time.timezone
        assert abs(made - signed) < 5
        # It is the object's address: the store answers it without any other credential.
        status, _, body = request(seaweedfs.port, target, headers={"Range": "bytes=10-19"})
        assert status == 206
        assert body == (DATA / "cover.flac").read_bytes()[10:20]


def test_no_store_grant_when_clients_are_sent_to_the_store(make_app):
    """S3_STREAM=redirect: the app answers every request with its 302."""
    app = make_app(SEND_FILE_MODE="x-accel", S3_STREAM="redirect")
    with app.app_context():
        alice, _, track = owner_with_track(app, "cover.flac")
        answer = alice.get(f"/stream/{track.id}", headers=GRANT)
        assert answer.status_code == 403
        assert bare(answer) == [("Content-Length", "0")]
        assert alice.get(f"/stream/{track.id}").status_code == 302


def test_a_store_grant_is_refused_like_a_local_one(make_app):
    app = make_app(SEND_FILE_MODE="x-accel")
    with app.app_context():
        alice, _, track = owner_with_track(app, "cover.flac", "bob")
        for response in (
            app.test_client().get(f"/stream/{track.id}", headers=GRANT),
            alice.get("/stream/999999", headers=GRANT),
        ):
            assert response.status_code == 403
            assert bare(response) == [("Content-Length", "0")]


# --- live: two app servers and SeaweedFS behind nginx ----------------------------------------------

BOUND = 2  # STREAM_GRANT_SECONDS of the live servers
MARGIN = 1.5  # for a slow machine


@dataclass(frozen=True)
class StoreLive(Live):
    other: Gunicorn  # the second app server
    access_log: Path  # nginx's

    def asked(self, track: int) -> int:
        """How many requests for the track reached either app server."""
        time.sleep(0.3)
        pattern = rf'"(?:GET|HEAD) /stream/{track} '
        return sum(len(re.findall(pattern, server.log.read_text())) for server in (self.app, self.other))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, start_gunicorn, seaweedfs: Seaweed) -> Iterator[StoreLive]:
    """Two gunicorn servers (x-accel, grants kept BOUND seconds, files in SeaweedFS) behind
    deploy/nginx.conf; accounts owner and other."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    tmp = tmp_path_factory.mktemp("storegrants")
    database_url, uploads = f"sqlite:///{tmp / 'grants.db'}", tmp / "uploads"
    settings = {
        **seaweedfs.settings(TEST_BUCKET, new_prefix()),
        "RATELIMIT_ENABLED": "false",
        "SEND_FILE_MODE": "x-accel",
        "TRUSTED_PROXIES": "1",
        "STREAM_GRANT_SECONDS": str(BOUND),
    }
    env = server_env(database_url, uploads, **settings)
    flask(env, "db", "upgrade")
    for name in ("owner", "other"):
        flask(env, "create-admin", name, stdin="serving password\n" * 2)
    first, second = start_gunicorn(database_url, uploads, **settings), start_gunicorn(database_url, uploads, **settings)
    port = free_port()
    conf = nginx_local.render(tmp, [first.port, second.port], port, uploads, s3_endpoint=seaweedfs.endpoint)
    nginx = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port), f"nothing listens on {port}"
        yield StoreLive(port, first, second, tmp / "musiccloud.access.log")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def assert_headers_fit_for_a_client(headers: dict[str, str]) -> None:
    assert set(headers) <= STORE_HEADERS | APP_HEADERS | NGINX_HEADERS, headers
    assert not [name for name in headers if "amz" in name or name.startswith(("x-musiccloud", "x-accel"))]
    assert not [value for value in headers.values() if "Amz" in value or "Signature" in value]
    assert headers["cache-control"] == CACHE_CONTROL
    assert headers["vary"] == "Cookie"
    for name, value in SECURITY_HEADERS:
        assert headers[name.lower()] == value


def test_seeks_under_a_grant_come_from_the_store_without_the_app(live, seaweedfs: Seaweed):
    track = live.upload("owner", "cover.flac")
    data = (DATA / "cover.flac").read_bytes()
    size = len(data)
    cookie = live.cookie("owner")
    before = live.asked(track)
    started = time.monotonic()
    for start in range(0, 30000, 3000):
        status, headers, body = live.seek(cookie, track, start)
        assert status == 206
        assert body == data[start : start + 1000]
        assert headers["content-range"] == f"bytes {start}-{start + 999}/{size}"
        assert headers["content-type"] == "audio/flac"
        assert_headers_fit_for_a_client(headers)
    for header, expected in [
        ("bytes=-700", data[-700:]),
        (f"bytes={size - 10}-", data[-10:]),
        (f"bytes=100-{size + 5000}", data[100:]),
    ]:
        status, headers, body = request(live.port, f"/stream/{track}", headers={"Cookie": cookie, "Range": header})
        assert status == 206 and body == expected, header
    status, headers, body = request(live.port, f"/stream/{track}", headers={"Cookie": cookie})
    assert status == 200 and body == data
    assert_headers_fit_for_a_client(headers)
    elapsed = time.monotonic() - started
    # One question, then nginx and the store alone (one more each time the grant ran out).
    assert live.asked(track) - before <= 1 + int(elapsed / BOUND)
    # A range past the end: the store's 416, with the size, still without the app.
    asked = live.asked(track)
    status, headers, _ = request(live.port, f"/stream/{track}", headers={"Cookie": cookie, "Range": "bytes=999999-"})
    assert status == 416
    assert headers["content-range"] == f"bytes */{size}"
    assert live.asked(track) == asked
    time.sleep(BOUND + 0.5)  # the grant ran out: nginx asks again
    assert live.seek(cookie, track)[0] == 206
    assert live.asked(track) == asked + 1


def test_a_head_is_answered_by_the_app(live):
    """The grant's address is signed for GET: a HEAD goes to the app, as without grants."""
    track = live.upload("owner", "cover.mp3")
    cookie = live.cookie("owner")
    assert live.seek(cookie, track)[0] == 206
    asked = live.asked(track)
    status, headers, _ = request(live.port, f"/stream/{track}", "HEAD", headers={"Cookie": cookie})
    assert status == 200
    assert headers["content-type"] == "audio/mpeg"
    assert live.asked(track) == asked + 1


def test_a_head_of_a_track_nobody_played_yet(live):
    """nginx has no copy of it: it asks the store with a GET (the address the app signs)."""
    track = live.upload("owner", "tagged.opus")
    status, headers, body = request(live.port, f"/stream/{track}", "HEAD", headers={"Cookie": live.cookie("owner")})
    assert status == 200, body[:300]
    assert headers["content-type"] == "audio/ogg"
    assert int(headers["content-length"]) == (DATA / "tagged.opus").stat().st_size


def copied_bytes(live: StoreLive) -> int:
    """What nginx's copy of the audio holds (deploy/nginx.conf, musiccloud_audio)."""
    time.sleep(0.3)
    return sum(f.stat().st_size for f in (live.access_log.parent / "audio").rglob("*") if f.is_file())


def test_a_seek_into_a_track_nobody_played_fetches_only_its_slice(live, tmp_path):
    """A 6 MB file: a seek near its end copies one slice of 1 MiB, not the whole file."""
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(secrets.token_bytes(1_500_000 * 4))
    data = path.read_bytes()
    cookie = live.cookie("owner")
    result = upload(live.port, cookie, "long.wav", data)
    assert result["status"] == "added", result
    track = result["track"]["id"]
    before = copied_bytes(live)
    status, headers, body = live.seek(cookie, track, 5_000_000)
    assert status == 206 and body == data[5_000_000:5_001_000]
    assert headers["content-range"] == f"bytes 5000000-5000999/{len(data)}"
    assert 2**20 <= copied_bytes(live) - before < 2 * 2**20
    # The rest comes slice by slice as it is asked for, byte for byte.
    status, _, body = request(live.port, f"/stream/{track}", headers={"Cookie": cookie})
    assert status == 200 and body == data
    assert copied_bytes(live) - before >= len(data)


def test_the_address_reaches_neither_a_client_nor_the_access_log(live):
    track = live.upload("owner", "cover.m4a")
    owner, other = live.cookie("owner"), live.cookie("other")
    assert live.seek(owner, track)[0] == 206
    for cookie, expected in (("", 401), (other, 404), (owner, 200)):
        for extra in ({}, GRANT):
            status, headers, body = request(live.port, f"/stream/{track}", headers={"Cookie": cookie, **extra})
            assert status == expected
            assert b"X-Amz" not in body
            assert not [value for value in headers.values() if "Amz" in value], headers
    assert request(live.port, "/_musiccloud/grant", headers={"Cookie": owner})[0] == 404
    logged = live.access_log.read_text()
    assert f"GET /stream/{track} " in logged
    assert "Amz" not in logged and "Signature" not in logged and "_s3" not in logged


def test_a_store_grant_is_never_another_cookies(live):
    track = live.upload("owner", "tagged.flac")
    owner, other = live.cookie("owner"), live.cookie("other")
    owner_value, other_value = owner.split("=", 1)[1], other.split("=", 1)[1]
    assert live.seek(owner, track)[0] == 206  # the owner's grant, kept with its address
    attempts = {
        other: 404,
        f"mc_session={other_value}; mc_session={owner_value}": 404,  # nginx and the app both take the first
        f"mc_session={owner_value[:-2]}xx": 401,
        f"mc_session={owner_value}x": 401,
        "": 401,
    }
    for _ in range(2):
        for cookie, expected in attempts.items():
            status, headers, body = live.seek(cookie, track)
            assert status == expected, cookie
            assert b"fLaC" not in body and "content-range" not in headers, cookie
    assert live.seek(owner, track)[0] == 206


def test_logging_out_stops_a_store_listener_within_the_bound(live):
    track = live.upload("owner", "untagged.mp3")
    player = live.cookie("owner")
    assert live.seek(player, track)[0] == 206
    assert live.post(player, "/library", "/auth/logout", {}) == 302
    revoked = time.monotonic()
    assert live.seek(player, track)[0] in (206, 401)  # within the bound, either
    time.sleep(max(0.0, revoked + BOUND + MARGIN - time.monotonic()))
    assert_refused_as_the_app_refuses(live, player, track, 401)


def test_a_store_track_made_private_stops_another_listener_within_the_bound(live):
    track = live.upload("owner", "tagged.mp3")
    owner = live.cookie("owner")
    edit = f"/library/tracks/{track}/edit"
    fields = {"title": "Tone", "artist": "Someone", "album": "Tests"}
    assert live.post(owner, edit, edit, {**fields, "visibility": "public"}) == 302
    listener = live.cookie("other")
    assert live.seek(listener, track)[0] == 206
    assert live.post(owner, edit, edit, {**fields, "visibility": "private"}) == 302
    revoked = time.monotonic()
    assert live.seek(listener, track)[0] in (206, 404)
    time.sleep(max(0.0, revoked + BOUND + MARGIN - time.monotonic()))
    assert_refused_as_the_app_refuses(live, listener, track, 404)
    assert live.seek(owner, track)[0] == 206  # still the owner's


def test_a_deleted_store_track_stops_its_listener_within_the_bound(live):
    track = live.upload("owner", "tagged.ogg")
    player = live.cookie("owner")
    assert live.seek(player, track)[0] == 206
    assert live.post(player, f"/library/tracks/{track}", f"/library/tracks/{track}/delete", {}) == 302
    deleted = time.monotonic()
    # The object is gone from the store; nginx's copy of it may still answer the
    # grant's seeks, until the grant runs out: then the app's no.
    assert live.seek(player, track)[0] in (206, 404)
    time.sleep(max(0.0, deleted + BOUND + MARGIN - time.monotonic()))
    assert_refused_as_the_app_refuses(live, player, track, 404)
