"""App passwords, API keys and personal access tokens: what a phone or desktop
app, or a script, holds instead of the web password.

App passwords are generated here (never chosen), shown once, and kept
encrypted with Fernet under a key derived from APP_PASSWORD_KEY (or
SECRET_KEY): Subsonic's token auth sends md5(password + salt), so the server
must be able to read the password back. API keys are kept as SHA-256 hashes
only, and so are personal access tokens (the REST API's Bearer tokens).
Functions flush, never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import AccessScope, AccessToken, ApiKey, AppPassword, Role, User
from app.models.credential import CLIENT_NAME_MAX, CREDENTIAL_NAME_MAX
from app.models.types import utcnow
from app.services.errors import DomainError, NotFound

# 24 characters from 31 that cannot be mistaken for one another (no i, l, o, 0, 1):
# 118 bits, and easy to type on a phone.
APP_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet, not a password
APP_PASSWORD_LENGTH = 24
API_KEY_BYTES = 32
# Far more than anyone needs; a bound so a page lists them all.
MAX_PER_USER = 50


class CredentialError(DomainError):
    """CREDENTIAL_NAME_REQUIRED, CREDENTIAL_NAME_TOO_LONG (max), TOO_MANY_CREDENTIALS (max)."""


# --- the cipher ----------------------------------------------------------------------


def derive_key(secret: str) -> bytes:
    """The Fernet key for app passwords, derived from a configured secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"music-cloud app passwords").derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def init_app(app: Flask) -> None:
    secret = app.config.get("APP_PASSWORD_KEY") or app.config["SECRET_KEY"]
    app.extensions["app_password_cipher"] = Fernet(derive_key(secret))


def _cipher() -> Fernet:
    return current_app.extensions["app_password_cipher"]


# --- names -----------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise CredentialError("CREDENTIAL_NAME_REQUIRED")
    if len(cleaned) > CREDENTIAL_NAME_MAX:
        raise CredentialError("CREDENTIAL_NAME_TOO_LONG", max=CREDENTIAL_NAME_MAX)
    return cleaned


Model = type[AppPassword] | type[ApiKey] | type[AccessToken]


def _count(model: Model, user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.user_id == user_id)) or 0


def _check_room(model: Model, user_id: int) -> None:
    if _count(model, user_id) >= MAX_PER_USER:
        raise CredentialError("TOO_MANY_CREDENTIALS", max=MAX_PER_USER)


def clean_client(client: str | None) -> str | None:
    """A client's self-given name (`c`), printable and bounded, for the account page."""
    if not client:
        return None
    printable = "".join(ch for ch in client if ch.isprintable())
    return printable.strip()[:CLIENT_NAME_MAX] or None


# --- app passwords -----------------------------------------------------------------------


def create_app_password(user_id: int, name: str) -> tuple[AppPassword, str]:
    """A new app password and its plain text (to be shown once, then forgotten).
    Raises CredentialError."""
    clean = _clean_name(name)
    _check_room(AppPassword, user_id)
    plain = "".join(secrets.choice(APP_PASSWORD_ALPHABET) for _ in range(APP_PASSWORD_LENGTH))
    row = AppPassword(user_id=user_id, name=clean, secret_encrypted=_cipher().encrypt(plain.encode()).decode())
    db.session.add(row)
    db.session.flush()
    return row, plain


def app_passwords(user_id: int) -> list[AppPassword]:
    return list(db.session.scalars(select(AppPassword).where(AppPassword.user_id == user_id).order_by(AppPassword.id)))


def revoke_app_password(user_id: int, password_id: int) -> None:
    """Raises NotFound unless the app password is the user's."""
    row = db.session.get(AppPassword, password_id)
    if row is None or row.user_id != user_id:
        raise NotFound("CREDENTIAL_NOT_FOUND")
    db.session.delete(row)
    db.session.flush()


def _plain(row: AppPassword) -> str | None:
    try:
        return _cipher().decrypt(row.secret_encrypted.encode()).decode()
    except (InvalidToken, ValueError):
        # Encrypted under another key (SECRET_KEY or APP_PASSWORD_KEY changed).
        return None


def match_password(user: User, password: str) -> AppPassword | None:
    """The user's app password equal to `password`, compared in constant time."""
    given = password.encode("utf-8", "surrogateescape")
    for row in app_passwords(user.id):
        plain = _plain(row)
        if plain is not None and hmac.compare_digest(plain.encode(), given):
            return row
    return None


def match_token(user: User, token: str, salt: str) -> AppPassword | None:
    """The user's app password whose md5(password + salt) is `token` (hex)."""
    wanted = token.strip().lower().encode("ascii", "replace")
    for row in app_passwords(user.id):
        plain = _plain(row)
        if plain is None:
            continue
        digest = hashlib.md5((plain + salt).encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
        if hmac.compare_digest(digest.encode(), wanted):
            return row
    return None


def salted_tokens(user_id: int, password_id: int) -> Callable[[], tuple[str, str]]:
    """For URLs a plain player can carry (an exported M3U8): a function giving a
    fresh (salt, token) pair, token = md5(password + salt) as Subsonic's token
    auth checks, for one of the user's app passwords. Revoking the app password
    stops every such URL. Raises NotFound unless the app password is the user's
    and readable under the current key."""
    row = db.session.get(AppPassword, password_id)
    plain = _plain(row) if row is not None and row.user_id == user_id else None
    if plain is None:
        raise NotFound("CREDENTIAL_NOT_FOUND")

    def make() -> tuple[str, str]:
        salt = secrets.token_hex(8)
        return salt, hashlib.md5((plain + salt).encode(), usedforsecurity=False).hexdigest()

    return make


# --- API keys ----------------------------------------------------------------------------


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def create_api_key(user_id: int, name: str) -> tuple[ApiKey, str]:
    """A new API key and its plain text (shown once; only its hash is kept). Raises CredentialError."""
    clean = _clean_name(name)
    _check_room(ApiKey, user_id)
    plain = "mc_" + secrets.token_urlsafe(API_KEY_BYTES)
    row = ApiKey(user_id=user_id, name=clean, key_hash=key_hash(plain))
    db.session.add(row)
    db.session.flush()
    return row, plain


def api_keys(user_id: int) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))


def revoke_api_key(user_id: int, key_id: int) -> None:
    """Raises NotFound unless the key is the user's."""
    row = db.session.get(ApiKey, key_id)
    if row is None or row.user_id != user_id:
        raise NotFound("CREDENTIAL_NOT_FOUND")
    db.session.delete(row)
    db.session.flush()


def find_api_key(key: str) -> ApiKey | None:
    if not key or len(key) > 512:
        return None
    return db.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash(key)))


# --- personal access tokens (the REST API) ------------------------------------------------

ACCESS_TOKEN_PREFIX = "mct_"  # noqa: S105 - a prefix that lets secret scanners spot a leaked token
ACCESS_TOKEN_BYTES = 32
# The longest expiry a token can be given, in days (a bound that keeps dates sane).
MAX_TOKEN_DAYS = 3650
# What the sign-in endpoint's tokens are called on the account page.
SIGN_IN_TOKEN_NAME = "API sign-in"  # noqa: S105 - a label, not a secret


def create_access_token(
    user: User, name: str, scope: AccessScope, expires_at: datetime | None = None
) -> tuple[AccessToken, str]:
    """A new personal access token and its plain text (shown once; only its hash is kept).
    Raises CredentialError (TOKEN_SCOPE_NOT_ALLOWED for the admin scope of a non-admin,
    TOKEN_EXPIRY_INVALID for an expiry in the past or too far ahead)."""
    clean = _clean_name(name)
    if scope is AccessScope.ADMIN and user.role is not Role.ADMIN:
        raise CredentialError("TOKEN_SCOPE_NOT_ALLOWED", scope=scope.value)
    now = utcnow()
    if expires_at is not None and not now < expires_at <= now + timedelta(days=MAX_TOKEN_DAYS):
        raise CredentialError("TOKEN_EXPIRY_INVALID", max=MAX_TOKEN_DAYS)
    _drop_expired(user.id)
    _check_room(AccessToken, user.id)
    plain = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(ACCESS_TOKEN_BYTES)
    row = AccessToken(user_id=user.id, name=clean, scope=scope, token_hash=key_hash(plain), expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    return row, plain


def _drop_expired(user_id: int) -> None:
    """Expired tokens are worthless; they go when a new one is made, so they never fill the list."""
    db.session.execute(delete(AccessToken).where(AccessToken.user_id == user_id, AccessToken.expires_at <= utcnow()))


def access_tokens(user_id: int) -> list[AccessToken]:
    return list(db.session.scalars(select(AccessToken).where(AccessToken.user_id == user_id).order_by(AccessToken.id)))


def revoke_access_token(user_id: int, token_id: int) -> None:
    """Raises NotFound unless the token is the user's."""
    row = db.session.get(AccessToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFound("CREDENTIAL_NOT_FOUND")
    db.session.delete(row)
    db.session.flush()


def find_access_token(plain: str) -> tuple[AccessToken, User] | None:
    """The unexpired token and its enabled owner (read now: a role change or a
    disabled account counts from this request on), or None."""
    if not plain or len(plain) > 512 or not plain.startswith(ACCESS_TOKEN_PREFIX):
        return None
    row = db.session.execute(
        select(AccessToken, User)
        .join(User, User.id == AccessToken.user_id)
        .where(AccessToken.token_hash == key_hash(plain))
    ).first()
    if row is None:
        return None
    token, user = row
    if user.disabled or (token.expires_at is not None and token.expires_at <= utcnow()):
        return None
    return token, user


def mark_token_used(row: AccessToken) -> None:
    """Stamp the last use, at most once a minute (a busy script does not write per request)."""
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now


# --- use and administration ---------------------------------------------------------------


def mark_used(row: AppPassword | ApiKey, client: str | None) -> None:
    """Stamp the last use (at most once a minute, so a playing app does not write per seek)."""
    now = utcnow()
    name = clean_client(client)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60 or row.last_client != name:
        row.last_used_at = now
        row.last_client = name


@dataclass(frozen=True)
class CredentialCounts:
    app_passwords: int
    api_keys: int


def counts_for(user_ids: list[int]) -> dict[int, CredentialCounts]:
    """How many app passwords and API keys each user has (zero for none)."""
    if not user_ids:
        return {}
    passwords = dict(
        db.session.execute(
            select(AppPassword.user_id, func.count())
            .where(AppPassword.user_id.in_(user_ids))
            .group_by(AppPassword.user_id)
        ).all()
    )
    keys = dict(
        db.session.execute(
            select(ApiKey.user_id, func.count()).where(ApiKey.user_id.in_(user_ids)).group_by(ApiKey.user_id)
        ).all()
    )
    return {uid: CredentialCounts(passwords.get(uid, 0), keys.get(uid, 0)) for uid in user_ids}


def revoke_all(user_id: int) -> int:
    """Revoke every app password, API key and access token of the user; return how many there were."""
    removed = 0
    for model in (AppPassword, ApiKey, AccessToken):
        result = db.session.execute(delete(model).where(model.user_id == user_id))
        removed += result.rowcount or 0
    return removed
