"""The operations endpoints and the request id, through the app (both databases):
/healthz and /readyz answer without a login and name what failed, /metrics opens
only to this machine or to METRICS_TOKEN, and X-Request-ID is trusted only from a
trusted proxy. The same against real servers: tests/test_operations_live.py."""

from __future__ import annotations

import json
import re

import pytest

from app.ops import logs
from app.ops.metrics import ACTIVE_STREAMS
from app.services.storage import get_storage
from tests.helpers import add_track, free_port, login

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


def test_healthz_and_readyz_need_no_login(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {"status": "ok"}
    assert health.headers["Cache-Control"] == "no-store"
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}, "failed": []}


def test_probes_answer_whatever_the_host(make_app):
    app = make_app(TRUSTED_HOSTS=["music.example.org"])
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "10.0.0.5:8000"}).status_code == 200
    assert client.get("/readyz", headers={"Host": "10.0.0.5:8000"}).status_code == 200
    assert client.get("/library", headers={"Host": "10.0.0.5:8000"}).status_code == 400


def test_readyz_names_the_storage_when_it_cannot_write(app, client, tmp_path):
    root = get_storage().root
    root.rename(tmp_path / "moved-away")
    try:
        answer = client.get("/readyz")
    finally:
        (tmp_path / "moved-away").rename(root)
    assert answer.status_code == 503
    assert answer.json == {
        "status": "unavailable",
        "checks": {"database": "ok", "storage": "failed"},
        "failed": ["storage"],
    }
    assert str(root) not in answer.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_every_probe_from_one_recent_check(make_app, tmp_path):
    """Probes within READY_CACHE_SECONDS get the last check's answer: a flood of /readyz
    runs one check, not one each."""
    app = make_app(READY_CACHE_SECONDS=60)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        root = get_storage().root
    root.rename(tmp_path / "moved-away")
    try:
        assert client.get("/readyz").json["status"] == "ok"
        app.extensions.pop("readiness")  # the minute is up
        assert client.get("/readyz").json["failed"] == ["storage"]
    finally:
        (tmp_path / "moved-away").rename(root)


def test_readyz_checks_a_configured_redis(make_app):
    app = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", READY_TIMEOUT=2)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"] == {"database": "ok", "storage": "ok", "redis": "failed"}
    assert "127.0.0.1:1" not in answer.get_data(as_text=True)


def test_metrics_from_this_machine_only_without_a_token(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    # A proxy on this machine passing a request on: not this machine's own scraper.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 200  # no token set


def test_metrics_token_opens_metrics_from_elsewhere(make_app):
    client = make_app(METRICS_TOKEN="scrape-token-0123456789").test_client()
    good = {"Authorization": "Bearer scrape-token-0123456789"}
    answer = client.get("/metrics", headers=good, environ_base=REMOTE)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert "musiccloud_http_requests_total" in answer.get_data(as_text=True)
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, environ_base=REMOTE).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404


def _count(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_by_endpoint_and_streams_until_sent(app, client, user):
    login(client, user.username)
    track = add_track(user, "tagged.mp3")
    before = client.get("/metrics").get_data(as_text=True)
    for _ in range(3):
        assert client.get("/library").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    assert client.get("/rest/ping.view?v=1.16.1&c=test").status_code == 200  # each Subsonic method its own
    streaming = ACTIVE_STREAMS._value.get()
    answer = client.get(f"/stream/{track.id}", headers={"Range": "bytes=0-99"}, buffered=False)
    assert answer.status_code == 206
    assert ACTIVE_STREAMS._value.get() == streaming + 1  # the body is not sent yet
    answer.close()
    assert ACTIVE_STREAMS._value.get() == streaming
    after = client.get("/metrics").get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return _count(after, name, **labels) - _count(before, name, **labels)

    assert grew("musiccloud_http_requests_total", endpoint="library.index", method="GET", status="200") == 3
    assert grew("musiccloud_http_request_duration_seconds_count", endpoint="library.index") == 3
    assert grew("musiccloud_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert grew("musiccloud_http_requests_total", endpoint="subsonic.ping", method="GET", status="200") == 1
    assert "musiccloud_job_queue_depth" in after
    assert "musiccloud_transcodes_running 0.0" in after


@pytest.mark.parametrize(
    ("settings", "sent", "kept"),
    [
        ({}, "from-the-client-1234", False),  # nobody vouches for it
        ({"TRUSTED_PROXIES": 1}, "f3c1a9e0b2d44e6f8a7b6c5d4e3f2a1b", True),  # nginx's $request_id
        ({"TRUSTED_PROXIES": 1}, "bad id with spaces", False),
        ({"TRUSTED_PROXIES": 1}, "x" * 200, False),
    ],
)
def test_request_id_is_taken_from_a_trusted_proxy_only(make_app, settings, sent, kept):
    client = make_app(**settings).test_client()
    for path in ("/healthz", "/auth/login"):
        given = client.get(path, headers={"X-Request-ID": sent}).headers["X-Request-ID"]
        assert (given == sent) is kept
        assert re.fullmatch(r"[A-Za-z0-9._-]{8,128}", given)


def test_json_log_lines_carry_the_request_id_and_no_secret(make_app, capsys):
    app = make_app(LOG_FORMAT="json", TRUSTED_PROXIES=1)
    client = app.test_client()

    @app.get("/_test/log")
    def log_something():
        app.logger.warning("asked for /rest/ping.view?u=alice&p=hunter2-secret&t=abcdef0123&s=s4lt")
        return "ok"

    try:
        client.get("/_test/log", headers={"X-Request-ID": "req-id-for-the-log-1"})
    finally:
        logs.configure("text")  # the process's root handler writes to this test's captured stderr
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    line = next(line for line in lines if "asked for" in line["message"])
    assert line["request_id"] == "req-id-for-the-log-1"
    assert line["level"] == "WARNING"
    assert "hunter2-secret" not in json.dumps(lines) and "abcdef0123" not in json.dumps(lines)
    assert "p=[redacted]" in line["message"]


def test_an_object_store_that_does_not_answer(make_app, make_user, s3_settings):
    """/readyz asks the bucket; a stream the store cannot give is a counted storage error."""
    app = make_app(**s3_settings)
    assert app.test_client().get("/readyz").json["checks"]["storage"] == "ok"
    with app.app_context():
        owner = make_user("carol")
        track_id = add_track(owner, "tagged.mp3").id
    missing_bucket = {**s3_settings, "STORAGE_URL": "s3://no-such-bucket-here/x"}
    assert make_app(**missing_bucket).test_client().get("/readyz").json["failed"] == ["storage"]

    down = make_app(**{**s3_settings, "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "READY_TIMEOUT": 5})
    client = down.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["failed"] == ["storage"]

    def unavailable() -> float:
        page = client.get("/metrics").get_data(as_text=True)
        return _count(page, "musiccloud_storage_errors_total", kind="unavailable")

    before = unavailable()
    with down.app_context():
        login(client, "carol")
    assert client.get(f"/stream/{track_id}", headers={"Range": "bytes=0-99"}).status_code == 503
    assert unavailable() == before + 1
