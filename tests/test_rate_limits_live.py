"""Rate limits hold across the production server's processes: a burst of wrong
passwords, each attempt on a new connection, spread over gunicorn's two
workers, gets its 429 at the configured attempt. With the default storage (a
SQLite file the processes share) and with Redis."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import IN_CI, PASSWORD, redis_test_url
from tests.servers import flask, server_env, try_login

LIMIT = 5


def _attempt(port: int, password: str) -> int:
    """One login attempt on fresh connections (the page, then the form), as a script would."""
    return try_login(port, "alice", password)[0]


def _redis_url() -> str:
    import redis

    url = redis_test_url("TEST_REDIS_URL", 15)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {url}: {exc}"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    return url


@pytest.mark.parametrize("storage", ["shared file", "redis"])
def test_a_burst_of_wrong_passwords_is_stopped_at_the_limit(tmp_path, start_gunicorn, storage):
    url, uploads = f"sqlite:///{tmp_path / 'limits.db'}", tmp_path / "uploads"
    settings = {
        "WEB_WORKERS": "2",
        "LOGIN_LIMIT_PER_USERNAME": f"{LIMIT} per 15 minutes",
        "LOGIN_LIMIT_PER_IP": "100 per minute",
        # A prefix of this test's own, so no other run's counters count here.
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
    }
    if storage == "redis":
        settings["RATELIMIT_STORAGE_URI"] = _redis_url()
    env = server_env(url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    server = start_gunicorn(url, uploads, **settings)

    statuses = [_attempt(server.port, "not the password") for _ in range(LIMIT + 3)]
    assert statuses == [400] * LIMIT + [429] * 3
    # The right password is refused too while the limit holds (no guessing through it).
    assert _attempt(server.port, PASSWORD) == 429
