"""Accounts."""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, Date, Enum, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"
    LISTENER = "listener"

    @property
    def label(self) -> str:
        # Lazy: the admin form's choices are built at import time.
        return _ROLE_LABELS[self]


_ROLE_LABELS = {Role.ADMIN: _l("Admin"), Role.USER: _l("User"), Role.LISTENER: _l("Listener")}


def _role_column(**kwargs: object) -> Mapped[Role]:
    return mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]), **kwargs
    )


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the user typed (NFKC-normalised), shown on pages.
    username: Mapped[str] = mapped_column(String(32))
    # The casefolded username; uniqueness is case-insensitive through it.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[Role] = _role_column(default=Role.USER, index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Storage quota in bytes; None means unlimited.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Part of every session and remember-me cookie: rotating it ends them all.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # None: follow the browser (its Accept-Language; its own time zone).
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Sound quality (app/services/transcode/presets.py): the web player's, and
    # the one it uses on a metered connection.
    quality_web: Mapped[str] = mapped_column(String(8), default="original", server_default="original")
    quality_metered: Mapped[str] = mapped_column(String(8), default="low", server_default="low")
    # Pre-encoding (app/services/transcode/preencode.py): the user's favourites and/or own
    # playlists are kept encoded at this quality in the variant cache, for phones that
    # download ahead, in Opus or MP3. Off by default; the quality starts as the metered one's.
    preencode_favourites: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    preencode_playlists: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    preencode_quality: Mapped[str] = mapped_column(String(8), default="low", server_default="low")
    preencode_format: Mapped[str] = mapped_column(String(4), default="opus", server_default="opus")
    # Show the tracks the user disliked dimmed in lists (they can still play them).
    dim_disliked: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Tracks uploaded in the month that began on month_started (UTC), for the role's monthly
    # limit: counted as they are added, so deleting a track does not give its upload back.
    month_uploads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    month_started: Mapped[date | None] = mapped_column(Date, nullable=True)

    # --- Flask-Login protocol -------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.disabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The "alternative token" pattern: the cookie names the user and the
        # current token, so rotating the token revokes every old cookie.
        return f"{self.id}:{self.session_token}"

    # --- roles ------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_upload(self) -> bool:
        return self.role in (Role.ADMIN, Role.USER)

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role.value}>"


class RoleLimits(db.Model):
    """The upload limits the admin sets for one role; None (or no row) is unlimited.
    An account's own quota_bytes still applies: the smaller storage limit wins."""

    __tablename__ = "role_limits"

    role: Mapped[Role] = _role_column(primary_key=True)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    monthly_uploads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
