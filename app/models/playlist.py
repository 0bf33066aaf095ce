"""Playlists, their entries, and favourites."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

NAME_MAX = 200
DESCRIPTION_MAX = 2000


class PlaylistVisibility(enum.StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"  # every account on the instance, read-only
    LINK = "link"  # anyone with the share link, without an account


class Playlist(db.Model):
    __tablename__ = "playlists"
    __table_args__ = (
        Index("ix_playlists_owner_name", "owner_id", "name"),
        Index("ix_playlists_visibility_name", "visibility", "name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[PlaylistVisibility] = mapped_column(
        Enum(PlaylistVisibility, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=PlaylistVisibility.PRIVATE,
    )
    # The share link's secret (256 bits, URL-safe) and a hash to look it up by,
    # so the lookup never compares the secret itself.
    share_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    share_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    share_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PlaylistEntry(db.Model):
    """A track at a position (1, 2, 3 ... with no gaps); a track may appear twice."""

    __tablename__ = "playlist_entries"
    __table_args__ = (
        UniqueConstraint("playlist_id", "position", name="uq_playlist_entries_playlist_id_position"),
        Index("ix_playlist_entries_track_id", "track_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Favourite(db.Model):
    __tablename__ = "favourites"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AlbumStar(db.Model):
    """An album the user starred (in a music app; the pages show them later)."""

    __tablename__ = "album_stars"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArtistStar(db.Model):
    """An artist the user starred."""

    __tablename__ = "artist_stars"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrackRating(db.Model):
    """A user's rating of a track, 1 to 5 (no row: not rated)."""

    __tablename__ = "track_ratings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)


class AlbumRating(db.Model):
    __tablename__ = "album_ratings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)


class ArtistRating(db.Model):
    __tablename__ = "artist_ratings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
