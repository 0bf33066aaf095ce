"""Who is calling: the Subsonic API's credential forms, checked against app
passwords and API keys only (never the web password), with OpenSubsonic's
error codes for each wrong combination, and failed attempts counted against
the login form's rate limits."""

from __future__ import annotations

import binascii
from collections.abc import Mapping

from app.extensions import db
from app.models import ApiKey, AppPassword, User
from app.services import accounts, credentials
from app.subsonic.responses import (
    CONFLICTING_AUTH,
    GENERIC,
    INVALID_API_KEY,
    MISSING_PARAMETER,
    WRONG_CREDENTIALS,
    SubsonicError,
)
from app.web import login_limits

WRONG = SubsonicError(WRONG_CREDENTIALS, "Wrong username or password.")
# Clients sometimes send an enc: password that is not hex; it is simply wrong.
MAX_CREDENTIAL = 1024


def _given(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def decode_password(raw: str) -> str | None:
    """`p` as sent: plain, or "enc:" and the UTF-8 bytes in hex. None when it cannot be decoded."""
    if not raw.startswith("enc:"):
        return raw
    try:
        return binascii.unhexlify(raw[4:]).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def authenticate(params: Mapping[str, str]) -> User:
    """The account the request's credentials belong to, with the credential
    stamped as used. Raises SubsonicError (10, 40, 43, 44, or 0 when the
    address or username has too many failed attempts)."""
    username, password = _given(params, "u"), _given(params, "p")
    token, salt, key = _given(params, "t"), _given(params, "s"), _given(params, "apiKey")
    client = params.get("c")
    if key is not None:
        if username or password or token or salt:
            raise SubsonicError(CONFLICTING_AUTH, "Multiple conflicting authentication mechanisms provided.")
        return _by_api_key(key, client)
    if username is None:
        raise SubsonicError(MISSING_PARAMETER, "Required parameter is missing: u (or apiKey).")
    if password is not None and (token or salt):
        raise SubsonicError(CONFLICTING_AUTH, "Multiple conflicting authentication mechanisms provided.")
    if password is None and not (token and salt):
        missing = "s" if token else "t" if salt else "p (or t and s)"
        raise SubsonicError(MISSING_PARAMETER, f"Required parameter is missing: {missing}.")
    if login_limits.sign_in_blocked(username):
        raise SubsonicError(GENERIC, "Too many failed sign-ins. Wait a few minutes, then try again.")
    row = _by_password(username, password, token, salt)
    if row is None:
        login_limits.count_failed_sign_in(username)
        raise WRONG
    credentials.mark_used(row, client)
    return db.session.get(User, row.user_id)


def _by_password(username: str, password: str | None, token: str | None, salt: str | None) -> AppPassword | None:
    if max(len(username), len(password or ""), len(token or ""), len(salt or "")) > MAX_CREDENTIAL:
        return None
    account = accounts.find_by_username(username)
    if account is None or account.disabled:
        return None
    if password is not None:
        plain = decode_password(password)
        return None if plain is None else credentials.match_password(account, plain)
    return credentials.match_token(account, token or "", salt or "")


def _by_api_key(key: str, client: str | None) -> User:
    if login_limits.sign_in_blocked(None):
        raise SubsonicError(GENERIC, "Too many failed sign-ins. Wait a few minutes, then try again.")
    row: ApiKey | None = credentials.find_api_key(key)
    account = db.session.get(User, row.user_id) if row is not None else None
    if row is None or account is None or account.disabled:
        login_limits.count_failed_sign_in(None)
        raise SubsonicError(INVALID_API_KEY, "Invalid API key.")
    credentials.mark_used(row, client)
    return account
