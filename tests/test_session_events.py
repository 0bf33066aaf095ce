"""Several app servers: a session ended on one stops on the others at once, though
each remembers its stream grants (the fast path) for a long time."""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers import IN_CI, owner_with_track, post_form, redis_test_url

REDIS_URL = redis_test_url("TEST_SCALE_REDIS_URL", 8)
LONG = 60  # remembered grants (the most allowed) that outlive the test


@pytest.fixture
def events_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    return REDIS_URL


def refused_within(client, url: str, seconds: float = 5.0) -> int:
    """The status the other server gives once it stops answering 206 (the message
    travels through Redis: a few milliseconds), or 206 if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        status = client.get(url, headers={"Range": "bytes=0-9"}).status_code
        if status != 206 or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def two_servers(make_app, events: str | None):
    settings = {"SESSION_EVENTS_URL": events, "STREAM_GRANT_SECONDS": LONG, "SEND_FILE_MODE": "python"}
    return make_app(**settings), make_app(**settings)


@pytest.mark.parametrize("announced", [True, False], ids=["with-redis", "without"])
def test_a_logout_on_one_server_ends_the_session_on_the_other(make_app, events_url, announced):
    node_a, node_b = two_servers(make_app, events_url if announced else None)
    with node_a.app_context():
        on_a, _owner, track = owner_with_track(node_a, "cover.flac")
        url = f"/stream/{track.id}"
        on_b = node_b.test_client()
        on_b.set_cookie("mc_session", on_a.get_cookie("mc_session").value)
        assert on_b.get(url, headers={"Range": "bytes=0-9"}).status_code == 206  # node B remembers the yes
        if announced:
            # Node B's listener is up (it starts with the process's first request).
            deadline = time.monotonic() + 5
            while not node_b.extensions["stream_fast_path"].listener.connected and time.monotonic() < deadline:
                time.sleep(0.02)
        assert on_b.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        assert post_form(on_a, "/library", "/auth/logout").status_code == 302
        status = refused_within(on_b, url, seconds=3 if announced else 0.5)
    if announced:
        assert status == 401
    else:
        # Without Redis, node B keeps its remembered yes for STREAM_GRANT_SECONDS.
        assert status == 206
