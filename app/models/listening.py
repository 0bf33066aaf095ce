"""Listening history: one row per real listen, reported by the player."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class PlayEvent(db.Model):
    __tablename__ = "play_events"
    __table_args__ = (
        Index("ix_play_events_user_played", "user_id", "played_at"),
        Index("ix_play_events_track_user", "track_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    played_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
