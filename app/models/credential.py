"""Credentials a device holds instead of the web password: app passwords (for
the Subsonic API's password and token auth) and API keys (OpenSubsonic's
apiKeyAuthentication)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

CREDENTIAL_NAME_MAX = 64
CLIENT_NAME_MAX = 64


class AppPassword(db.Model):
    """A generated password for one device. Token auth (md5(password + salt)) needs
    the server to know it, so it is kept encrypted (services/credentials.py), never
    in plain text."""

    __tablename__ = "app_passwords"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(CREDENTIAL_NAME_MAX))
    # A Fernet token of the password (AES-128-CBC with HMAC-SHA256, base64).
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The `c` parameter the client last sent (its own name).
    last_client: Mapped[str | None] = mapped_column(String(CLIENT_NAME_MAX), nullable=True)


class ApiKey(db.Model):
    """A generated key; only its SHA-256 is kept, which is also how it is looked up."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(CREDENTIAL_NAME_MAX))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_client: Mapped[str | None] = mapped_column(String(CLIENT_NAME_MAX), nullable=True)


class AccessScope(enum.StrEnum):
    """What a personal access token may do: read (GET only), write (also change),
    admin (also the admin endpoints, and only while its owner is an admin)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class AccessToken(db.Model):
    """A personal access token for the REST API (/api/v1), sent as a Bearer token.
    Only its SHA-256 is kept, which is also how it is looked up."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(CREDENTIAL_NAME_MAX))
    scope: Mapped[AccessScope] = mapped_column(
        Enum(AccessScope, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # None: until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
