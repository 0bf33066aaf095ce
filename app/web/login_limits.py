"""The login form's rate limits, shared with the other ways of signing in.

The login view is limited by Flask-Limiter's decorators (per address and per
username, app/auth/routes.py). The Subsonic API checks credentials on every
request, so it cannot be decorated the same way: a failed sign-in there is
counted here, in the very counters the login form uses (same keys, same
scope), so wrong passwords tried through either add up.
"""

from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse_many

from app.extensions import limiter
from app.services import accounts

LOGIN_SCOPE = "auth.login"  # the login view's endpoint: Flask-Limiter's scope for its limits


def username_key(raw: str) -> str:
    """The per-username limit's key (the login view's key_func uses it too)."""
    return "login-username:" + accounts.username_key(raw)[:64]


def _counters(username: str | None) -> list[tuple[str, list[str]]]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    wanted = [(current_app.config["LOGIN_LIMIT_PER_IP"], get_remote_address())]
    if username:
        wanted.append((current_app.config["LOGIN_LIMIT_PER_USERNAME"], username_key(username)))
    return [(limit, [prefix, key, LOGIN_SCOPE] if prefix else [key, LOGIN_SCOPE]) for limit, key in wanted]


def _enabled() -> bool:
    return bool(limiter.enabled and current_app.config.get("RATELIMIT_ENABLED", True))


def sign_in_blocked(username: str | None) -> bool:
    """Whether the address (or the username) has used up its failed sign-ins."""
    if not _enabled():
        return False
    for limits, args in _counters(username):
        for item in parse_many(limits):
            if not limiter.limiter.test(item, *args):
                return True
    return False


def count_failed_sign_in(username: str | None) -> None:
    if not _enabled():
        return
    for limits, args in _counters(username):
        for item in parse_many(limits):
            limiter.limiter.hit(item, *args)
