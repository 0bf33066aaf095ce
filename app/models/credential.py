"""Credentials a device holds instead of the web password: app passwords (for
the Subsonic API's password and token auth) and API keys (OpenSubsonic's
apiKeyAuthentication)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
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
