"""Whether this server can do its work now (/readyz): its database answers, its
Redis answers when one is configured, its storage takes a file or its bucket
answers. Each check runs on a small pool with an overall deadline
(READY_TIMEOUT seconds), so a load balancer always hears back quickly; a check
still running then counts as failed. One check runs at a time per process and its
answer serves every probe for READY_CACHE_SECONDS: a flood of /readyz (it needs no
login) cannot queue checks behind each other until they all time out and every
server looks down."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import redis
from flask import Flask
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)
# Few threads: checks stuck on an unreachable host queue behind each other
# instead of piling up threads while a load balancer keeps asking.
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_urls(config: dict) -> list[str]:
    """The distinct Redis servers the app is configured to use (jobs, session events, rate limits)."""
    urls = (config.get("HUEY_URL"), config.get("SESSION_EVENTS_URL"), config.get("RATELIMIT_STORAGE_URI"))
    return list(dict.fromkeys(url for url in urls if url and url.startswith(REDIS_SCHEMES)))


_LOCK = threading.Lock()


def check_all(app: Flask) -> dict[str, bool]:
    """Each component's health by name ("database", "storage", "redis" when configured),
    from a check at most READY_CACHE_SECONDS old (probes meanwhile wait for the one running)."""
    fresh_for = app.config["READY_CACHE_SECONDS"]
    with _LOCK:
        last = app.extensions.get("readiness")
        if last is not None and time.monotonic() - last[0] < fresh_for:
            return dict(last[1])
        result = _check_now(app)
        app.extensions["readiness"] = (time.monotonic(), result)
        return dict(result)


def _check_now(app: Flask) -> dict[str, bool]:
    checks: dict[str, Callable[[], None]] = {
        "database": lambda: _database(app),
        "storage": lambda: _storage(app),
    }
    urls = redis_urls(app.config)
    if urls:
        checks["redis"] = lambda: _redis(urls, app.config["READY_TIMEOUT"])
    # Each check runs in the request's context, so what it logs carries the request's id.
    futures = {name: _POOL.submit(contextvars.copy_context().run, _run, name, check) for name, check in checks.items()}
    wait(futures.values(), timeout=app.config["READY_TIMEOUT"])
    return {name: future.done() and future.result() for name, future in futures.items()}


def _run(name: str, check: Callable[[], None]) -> bool:
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its kind goes to the log
        # The kind only: a message may carry a host name, a path or a URL with a password.
        log.warning("readiness: %s failed (%s)", name, type(exc).__name__)
        return False
    return True


def _database(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _storage(app: Flask) -> None:
    app.extensions["storage"].check()


def _redis(urls: list[str], timeout: float) -> None:
    for url in urls:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
