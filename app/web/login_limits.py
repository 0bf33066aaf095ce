"""The login form's rate limits, shared with the other ways of signing in.

The login view is limited by Flask-Limiter's decorators (per address and per
username, app/auth/routes.py). The Subsonic API checks credentials on every
request, so it cannot be decorated the same way: a failed sign-in there is
counted here, in the very counters the login form uses (same keys, same
scope), so wrong passwords tried through either add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from app.extensions import limiter
from app.services import accounts

LOGIN_SCOPE = "auth.login"  # the login view's endpoint: Flask-Limiter's scope for its limits


def username_key(raw: str) -> str:
    """The per-username limit's key (the login view's key_func uses it too)."""
    return "login-username:" + accounts.username_key(raw)[:64]


def _counters(username: str | None) -> list[tuple[str, list[str]]]:
    return _counters_for(current_app.config, get_remote_address(), username)


def _counters_for(config: Mapping[str, Any], address: str, username: str | None) -> list[tuple[str, list[str]]]:
    prefix = config.get("RATELIMIT_KEY_PREFIX") or ""
    wanted = [(config["LOGIN_LIMIT_PER_IP"], address)]
    if username:
        wanted.append((config["LOGIN_LIMIT_PER_USERNAME"], username_key(username)))
    return [(limit, [prefix, key, LOGIN_SCOPE] if prefix else [key, LOGIN_SCOPE]) for limit, key in wanted]


def _enabled() -> bool:
    return bool(limiter.enabled and current_app.config.get("RATELIMIT_ENABLED", True))


def sign_in_blocked(username: str | None) -> bool:
    """Whether the address (or the username) has used up its failed sign-ins."""
    if not _enabled():
        return False
    return _blocked(_counters(username))


def blocked_outside_a_request(config: Mapping[str, Any], address: str, username: str | None) -> bool:
    """sign_in_blocked() for a WSGI middleware that runs before Flask (no request
    context): the same counters, given the app's config and the client's address
    as get_remote_address() would read it (REMOTE_ADDR, after ProxyFix)."""
    if not (limiter.enabled and config.get("RATELIMIT_ENABLED", True)):
        return False
    return _blocked(_counters_for(config, address or "127.0.0.1", username))


@lru_cache(maxsize=64)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    """The limits in a setting ("5 per minute; 20 per hour"), parsed once."""
    return tuple(parse_many(limits))


def _blocked(counters: list[tuple[str, list[str]]]) -> bool:
    for limits, args in counters:
        for item in _parsed(limits):
            if not limiter.limiter.test(item, *args):
                return True
    return False


def count_failed_sign_in(username: str | None) -> None:
    if not _enabled():
        return
    for limits, args in _counters(username):
        for item in _parsed(limits):
            limiter.limiter.hit(item, *args)
