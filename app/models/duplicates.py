"""Likely duplicates a user chose to keep ("keep both"): the group is not offered again
unless a new track joins it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class KeptDuplicates(db.Model):
    __tablename__ = "kept_duplicates"
    __table_args__ = (Index("ix_kept_duplicates_owner_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The group's track ids, ascending, comma-separated ("12,15").
    track_ids: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
