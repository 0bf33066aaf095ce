"""Tracks, and the artists and albums they are grouped under."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

# Tag text is clamped to this many characters when read.
TAG_MAX = 300


class Visibility(enum.StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Artist(db.Model):
    """A name tracks are credited to. Shared by every account: the pages list an
    artist only through tracks the viewer may see."""

    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(TAG_MAX))
    # The name folded for grouping and sorting: "Beyoncé" and "BEYONCE" are one.
    name_key: Mapped[str] = mapped_column(String(TAG_MAX), unique=True)


class Album(db.Model):
    """An album is a title under an album artist (so two "Greatest Hits" differ)."""

    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("title_key", "artist_id", name="uq_albums_title_key_artist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TAG_MAX))
    title_key: Mapped[str] = mapped_column(String(TAG_MAX))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)

    artist: Mapped[Artist] = relationship(lazy="joined")


class Track(db.Model):
    __tablename__ = "tracks"
    __table_args__ = (
        UniqueConstraint("owner_id", "sha256", name="uq_tracks_owner_id_sha256"),
        Index("ix_tracks_title_key_id", "title_key", "id"),
        Index("ix_tracks_artist_sort", "artist_key", "album_key", "disc_number", "track_number", "id"),
        Index("ix_tracks_album_sort", "album_key", "disc_number", "track_number", "id"),
        Index("ix_tracks_year_id", "year", "id"),
        Index("ix_tracks_duration_id", "duration", "id"),
        Index("ix_tracks_uploaded_at_id", "uploaded_at", "id"),
        Index("ix_tracks_visibility_id", "visibility", "id"),
        Index("ix_tracks_genre_key", "genre_key"),
        Index("ix_tracks_album_id_order", "album_id", "disc_number", "track_number"),
        Index("ix_tracks_artist_id", "artist_id"),
        # Ids are never reused (SQLite would otherwise hand out a deleted max id
        # again), so URLs such as a cover's may be cached for good.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Visibility.PRIVATE,
    )

    # --- the file -----------------------------------------------------------
    # Relative to the uploads folder: "<user id>/<random>.<ext>".
    storage_path: Mapped[str] = mapped_column(String(255), unique=True)
    original_filename: Mapped[str] = mapped_column(String(TAG_MAX))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    mime_type: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))  # mp3, flac, ogg, opus, m4a, wav
    codec: Mapped[str] = mapped_column(String(32))
    duration: Mapped[float] = mapped_column(Float)
    bitrate: Mapped[int | None] = mapped_column(Integer, nullable=True)  # bits per second
    sample_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Relative path of the cover thumbnail, shared by tracks with the same art.
    cover_path: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # --- tags -----------------------------------------------------------------
    title: Mapped[str] = mapped_column(String(TAG_MAX))
    artist: Mapped[str] = mapped_column(String(TAG_MAX))
    album: Mapped[str] = mapped_column(String(TAG_MAX))
    album_artist: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)
    track_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    disc_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    genre: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)

    # --- folded copies for sorting, filtering and accent-insensitive search ---------
    title_key: Mapped[str] = mapped_column(String(TAG_MAX))
    artist_key: Mapped[str] = mapped_column(String(TAG_MAX))
    album_key: Mapped[str] = mapped_column(String(TAG_MAX))
    genre_key: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)
    search_text: Mapped[str] = mapped_column(String(4 * TAG_MAX))

    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id"))

    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    owner = relationship("User", lazy="raise")
    artist_ref: Mapped[Artist] = relationship(lazy="raise")
    album_ref: Mapped[Album] = relationship(lazy="raise")

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    def __repr__(self) -> str:
        return f"<Track {self.id} {self.title!r}>"
