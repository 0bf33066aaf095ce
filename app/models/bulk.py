"""The last bulk edit of each account, with what it changed, so it can be undone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class BulkEdit(db.Model):
    __tablename__ = "bulk_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One per account: a new bulk edit replaces the one before.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    # {track id: {field: the value before}}, for the fields the edit changed.
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
