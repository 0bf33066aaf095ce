"""Discovery: likes and dislikes of tracks (signals for recommendations, unlike the
favourite, which is a collection), and the similar-track table the jobs keep up to date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

LIKE = 1
DISLIKE = -1


class TrackLike(db.Model):
    """A user's like (+1) or dislike (-1) of a track; no row: neither."""

    __tablename__ = "track_likes"
    __table_args__ = (Index("ix_track_likes_track_value", "track_id", "value"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CoListen(db.Model):
    """How strongly two public tracks go together in people's listening (sessions, playlists,
    likes and favourites), and by how many distinct people. One row per direction.

    Kept by the recommendation job (app/services/recommend.py); shown only from
    MIN_LISTENERS distinct people, so it never tells what one person listened to.
    """

    __tablename__ = "co_listens"
    __table_args__ = (Index("ix_co_listens_track_score", "track_id", "score"),)

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    listeners: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    # The score before it is divided by the square root of the other track's listeners,
    # so a new listener of that track rescales the row without recounting it (NULL for rows
    # counted before the column existed, until the nightly rebuild).
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)


class StoredMixes(db.Model):
    """A listener's "For you" mixes as the mixes job last computed them (app/services/mixes.py).

    `mixes` is a list of {"kind", "label", "tracks": [track ids]}; the pages filter the ids
    again when they read them (tracks deleted, made private or disliked since). `changes`
    counts the listens, likes and hearts since; enough of them queue a refresh, once
    (`refresh_queued_at`).
    """

    __tablename__ = "stored_mixes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    mixes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # How many tracks the taste they were built from had (a small history changes faster).
    basis: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    refresh_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
