"""Loading the logged-in user from a session or remember-me cookie."""

from __future__ import annotations

import hmac

from app.extensions import db
from app.models import User


def split_cookie_id(cookie_id: object) -> tuple[int, str] | None:
    """(user id, session token) from the "<user id>:<session token>" that the
    session and remember-me cookies carry, or None when it is not of that form.
    The login code, the stream view and its fast path all read it here."""
    user_id, _, token = str(cookie_id or "").partition(":")
    if not (user_id.isascii() and user_id.isdigit()) or not token:
        return None
    return int(user_id), token


def load_user(cookie_id: str) -> User | None:
    """Flask-Login's user loader for ids of the form "<user id>:<session token>".

    The user is read from the database on every request, so a role change or a
    disabled account takes effect on the next click. A rotated token (logout,
    password change, disable) makes every older cookie worthless.
    """
    parsed = split_cookie_id(cookie_id)
    if parsed is None:
        return None
    user_id, token = parsed
    user = db.session.get(User, user_id)
    if user is None or user.disabled:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user
