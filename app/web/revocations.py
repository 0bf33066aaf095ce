"""Ended sessions, told to every app process at once through Redis (several app servers).

The stream fast path (app/streaming/fastpath.py) remembers a yes to "may this
session hear this track" for STREAM_GRANT_SECONDS in each process. With one
machine that bound is the whole story; with several app servers a logout on
one must stop the session on all of them at once. So, when REDIS_URL (or
SESSION_EVENTS_URL) is set: a committed change of a user's session token
(logout, a new password, a disabled account ...) is published on a Redis
channel after the commit, and every process listening drops what it
remembered for that user. A process that loses its connection to Redis
stops remembering anything until it is back (each request then asks the
database), so a missed message can never keep a session alive.

Without Redis nothing is published and the fast path's own bound applies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import redis_client
from app.models import User

CHANNEL = "musiccloud:sessions-ended"
RECONNECT_SECONDS = 1.0
log = logging.getLogger(__name__)
_PENDING = "musiccloud_sessions_ended"


def events_url(config: dict) -> str | None:
    """Where session events go: SESSION_EVENTS_URL, else REDIS_URL, else nowhere."""
    return config.get("SESSION_EVENTS_URL") or None


@event.listens_for(User.session_token, "set")
def _token_changed(target: User, value: str, old: object, initiator: object) -> None:
    if target.id is None:
        return  # a new account: nobody holds its sessions yet
    session = Session.object_session(target)
    if session is not None:
        session.info.setdefault(_PENDING, set()).add(target.id)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    ended = session.info.pop(_PENDING, None)
    if not ended:
        return
    url = _default_url()
    if not url:
        return
    try:
        client = redis_client(url)
        for user_id in ended:
            client.publish(CHANNEL, str(user_id))
    except redis.RedisError:
        # Listeners notice a broken connection themselves and stop remembering.
        log.warning("could not publish ended sessions %s", sorted(ended), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _default_url() -> str | None:
    from flask import current_app, has_app_context  # noqa: PLC0415 - services run outside requests too

    return events_url(current_app.config) if has_app_context() else None


class Listener:
    """A daemon thread of one process that calls `on_ended(user_id)` for each ended
    session and `on_lost()` while it cannot hear (then `connected` is False)."""

    def __init__(self, url: str, on_ended: Callable[[int], None], on_lost: Callable[[], None]) -> None:
        self.url = url
        self.on_ended = on_ended
        self.on_lost = on_lost
        self.connected = False
        self._started = False
        self._start_lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start listening in this process (after gunicorn forked it), once."""
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                threading.Thread(target=self._run, name="session-events", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while True:
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=10)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self.connected = True
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            self.on_ended(int(message["data"]))
                        except ValueError:
                            continue
            except Exception:
                log.warning("session events: lost Redis; remembering nothing until it is back", exc_info=True)
            self.connected = False
            self.on_lost()
            time.sleep(RECONNECT_SECONDS)
