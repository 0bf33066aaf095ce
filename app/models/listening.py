"""Listening: the history (one row per real listen, reported by the player), what an
app says is playing now, and the play queue an app saved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class PlayEvent(db.Model):
    __tablename__ = "play_events"
    __table_args__ = (
        Index("ix_play_events_user_played", "user_id", "played_at"),
        Index("ix_play_events_track_user", "track_id", "user_id"),
        Index("ix_play_events_user_session", "user_id", "session_start", "track_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    played_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The listening session the listen belongs to (listens less than
    # recommend.SESSION_GAP apart): the id of the session's first listen. Kept by
    # recommend (set on each listen, derived again from the times nightly and after an
    # import or a deletion); NULL until then for listens added in bulk.
    session_start: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AlbumPlays(db.Model):
    """How many times a listener played an album: their listens of its tracks they can
    see. The apps' "most played" album list reads it, so that list costs the same at any
    size of history. Kept by services/album_plays.py."""

    __tablename__ = "album_plays"
    __table_args__ = (Index("ix_album_plays_user_count", "user_id", "play_count", "album_id"),)

    # The album first: counting an album again, and deleting one, find its rows by it.
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    play_count: Mapped[int] = mapped_column(Integer)


class NowPlaying(db.Model):
    """What a user's app last reported it started playing (Subsonic's scrobble with
    submission=false); shown to that user only, like the history."""

    __tablename__ = "now_playing"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlayQueue(db.Model):
    """The queue an app saved, to be picked up on another device."""

    __tablename__ = "play_queues"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # The entry playing (its index in the queue) and how far into it, in milliseconds.
    current_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    position_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PlayQueueEntry(db.Model):
    __tablename__ = "play_queue_entries"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
