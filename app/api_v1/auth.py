"""Who is calling the REST API: a personal access token in `Authorization:
Bearer`, and nothing else. Cookies are not looked at (a session cookie alone
gets 401), so the API needs no CSRF token. The token and its owner are read on
every request: a revoked or expired token, or a disabled account, stops at once,
and the admin scope counts only while its owner is an admin."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from app.api_v1.errors import ApiError
from app.models import AccessScope, AccessToken, Role, User
from app.services import credentials

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sent with every 401, as RFC 6750 asks.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


def bearer_token() -> str | None:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> None:
    """before_request of every API blueprint but sign-in: sets g.api_user and g.api_token.
    Raises ApiError 401 (no, unknown, expired or revoked token; disabled account)
    or 403 (a read-only token on a write)."""
    plain = bearer_token()
    found = credentials.find_access_token(plain) if plain else None
    if found is None:
        raise ApiError(
            401,
            "UNAUTHORIZED" if plain is None else "INVALID_TOKEN",
            _("Send a valid access token in the Authorization header, as “Bearer <token>”.")
            if plain is None
            else _("The access token is unknown, expired or revoked."),
            CHALLENGE,
        )
    token, user = found
    if token.scope is AccessScope.READ and request.method not in READ_METHODS:
        raise ApiError(403, "INSUFFICIENT_SCOPE", _("This token may only read; changes need a write token."))
    credentials.mark_token_used(token)
    g.api_user, g.api_token = user, token


def api_user() -> User:
    return g.api_user


def api_token() -> AccessToken:
    return g.api_token


def require_admin() -> None:
    """For admin endpoints: an admin-scope token of an account that is an admin now."""
    if api_token().scope is not AccessScope.ADMIN or api_user().role is not Role.ADMIN:
        raise ApiError(403, "INSUFFICIENT_SCOPE", _("This needs an admin token of an admin account."))


def require_uploader() -> None:
    if not api_user().can_upload:
        raise ApiError(403, "UPLOAD_NOT_ALLOWED", _("Your account may not upload."))
