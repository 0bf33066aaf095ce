"""Loading the logged-in user from a session or remember-me cookie."""

from __future__ import annotations

import hmac

from app.extensions import db
from app.models import User


def load_user(cookie_id: str) -> User | None:
    """Flask-Login's user loader for ids of the form "<user id>:<session token>".

    The user is read from the database on every request, so a role change or a
    disabled account takes effect on the next click. A rotated token (logout,
    password change, disable) makes every older cookie worthless.
    """
    user_id, _, token = (cookie_id or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.disabled:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user
