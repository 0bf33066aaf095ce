"""Tracks, and the artists and albums they are grouped under."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import false

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

# Tag text is clamped to this many characters when read.
TAG_MAX = 300
FOLDER_MAX = 500
# A free tag's folded key (services/track_meta.py: 30 characters, which folding may lengthen).
TAG_KEY_MAX = 120
# Longer words are left out of the search vocabulary (no typo tolerance for them).
WORD_MAX = 40
# A track's search text: its tags (up to 4 x TAG_MAX), then a mark and its free tags, then
# a mark and its description (services/library/catalogue.py search_text_of).
SEARCH_TEXT_MAX = 6000
SEARCH_TAGS_MARK = "\x1f"
SEARCH_DESCRIPTION_MARK = "\x1e"


class Visibility(enum.StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class AnalysisState(enum.StrEnum):
    """Where a track's loudness and waveform measurement is (services/library/analysis.py).
    A track added before the analysis existed has none until `flask reprocess`."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


# The columns of SQLite's covering index for the search (services/search.py).
SEARCH_SCAN_COLUMNS = (
    "search_text",
    "owner_id",
    "visibility",
    "title_key",
    "artist_key",
    "album_key",
    "genre_key",
    "genre",
    "artist_id",
    "format",
    "year",
)


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
        # Each sort order has an index ending in the columns of the visibility
        # test, so deep pages skip rows inside the index, never in the table.
        Index("ix_tracks_sort_title", "title_key", "id", "owner_id", "visibility"),
        Index(
            "ix_tracks_sort_artist",
            "artist_key",
            "album_key",
            "disc_number",
            "track_number",
            "id",
            "owner_id",
            "visibility",
        ),
        Index("ix_tracks_sort_album", "album_key", "disc_number", "track_number", "id", "owner_id", "visibility"),
        Index("ix_tracks_sort_year", "year", "id", "owner_id", "visibility"),
        Index("ix_tracks_sort_duration", "duration", "id", "owner_id", "visibility"),
        Index("ix_tracks_sort_added", "uploaded_at", "id", "owner_id", "visibility"),
        # Paging through everything by id (an empty Subsonic search3, as apps sync).
        Index("ix_tracks_sort_id", "id", "owner_id", "visibility"),
        # Genre lists and counts come from these without reading the table.
        Index("ix_tracks_owner_genre", "owner_id", "genre_key", "genre"),
        Index("ix_tracks_visibility_genre", "visibility", "genre_key", "genre"),
        Index("ix_tracks_album_order", "album_id", "disc_number", "track_number", "owner_id", "visibility"),
        Index("ix_tracks_artist_visible", "artist_id", "owner_id", "visibility"),
        # PostgreSQL answers the search's LIKE '%word%' from a trigram index.
        Index(
            "ix_tracks_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        # SQLite answers a search from this index alone: the search text, the
        # visibility test, and what the ranking and the facets read, scanned instead
        # of the wide table rows (about four times faster at 50,000 tracks).
        # PostgreSQL has the trigram index (and a B-tree would refuse the longest texts).
        Index(
            "ix_tracks_search_scan",
            *SEARCH_SCAN_COLUMNS,
        ).ddl_if(dialect="sqlite"),
        Index("ix_tracks_album_artist_visible", "album_artist_id", "owner_id", "visibility"),
        # The REST API's format filter, counted and paged from the index.
        Index("ix_tracks_format_visible", "format", "owner_id", "visibility"),
        # A folder's tracks, to file a folder of several artists' songs as one compilation.
        Index("ix_tracks_owner_folder", "owner_id", "source_folder"),
        # Ids are never reused (SQLite would otherwise hand out a deleted max id
        # again), so URLs such as a cover's may be cached for good.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Visibility.PRIVATE,
    )

    # --- the file -----------------------------------------------------------
    # Relative to the uploads folder: "<user id>/<random>.<ext>".
    storage_path: Mapped[str] = mapped_column(String(255), unique=True)
    original_filename: Mapped[str] = mapped_column(String(TAG_MAX))
    # The folder the file came from in an uploaded folder, a ZIP archive or `flask import`
    # ("Artist/Album"); text only, never used as a path.
    source_folder: Mapped[str | None] = mapped_column(String(FOLDER_MAX), nullable=True)
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
    # The file has embedded art whose thumbnail a background job has yet to make
    # (app/jobs/tasks.py); until then the placeholder is served, and not cached.
    cover_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The cover is a picture the owner uploaded (services/library/artwork.py), not the
    # file's embedded art: removing it brings the embedded art back.
    artwork_uploaded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # --- measured after upload by a background job (services/library/analysis.py) ---
    analysis_state: Mapped[AnalysisState | None] = mapped_column(
        Enum(AnalysisState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        nullable=True,
    )
    # Why the last analysis failed: an error code (app/web/messages.py) and ffmpeg's own words.
    analysis_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    analysis_detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # EBU R128 integrated loudness (LUFS) and true peak (dBTP), from ffmpeg's ebur128.
    loudness: Mapped[float | None] = mapped_column(Float, nullable=True)
    true_peak: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The loudness of the owner's tracks of this album together (LUFS).
    album_loudness: Mapped[float | None] = mapped_column(Float, nullable=True)
    # ReplayGain from the file's own tags (dB, and peaks as linear sample values).
    rg_track_gain: Mapped[float | None] = mapped_column(Float, nullable=True)
    rg_track_peak: Mapped[float | None] = mapped_column(Float, nullable=True)
    rg_album_gain: Mapped[float | None] = mapped_column(Float, nullable=True)
    rg_album_peak: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The waveform (BBC waveform-data JSON) stored beside the audio file.
    waveform_path: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # --- tags -----------------------------------------------------------------
    title: Mapped[str] = mapped_column(String(TAG_MAX))
    artist: Mapped[str] = mapped_column(String(TAG_MAX))
    album: Mapped[str] = mapped_column(String(TAG_MAX))
    album_artist: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)
    track_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    disc_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    genre: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)

    # --- what the owner tells about it (services/track_meta.py has the rules) -------
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The free tags as the owner spelled them, in order, for showing; TrackTag rows
    # hold their folded keys for the filters.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    bpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    musical_key: Mapped[str | None] = mapped_column(String(3), nullable=True)
    licence: Mapped[str] = mapped_column(
        String(32), default="all-rights-reserved", server_default="all-rights-reserved"
    )
    # Others may download the original file (public tracks only; listening never depends on it).
    allow_download: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # --- folded copies for sorting, filtering and accent-insensitive search ---------
    title_key: Mapped[str] = mapped_column(String(TAG_MAX))
    artist_key: Mapped[str] = mapped_column(String(TAG_MAX))
    album_key: Mapped[str] = mapped_column(String(TAG_MAX))
    genre_key: Mapped[str | None] = mapped_column(String(TAG_MAX), nullable=True)
    # SQLite enforces no length, and widening its declared one would rebuild the table
    # (migration 0023), so it keeps the length it was created with.
    search_text: Mapped[str] = mapped_column(String(SEARCH_TEXT_MAX).with_variant(String(4 * TAG_MAX), "sqlite"))

    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))
    # (active_history: the album a track leaves is known when it moves, services/album_plays.py.)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id"), active_history=True)
    # The album's artist (a copy of albums.artist_id): "tracks by or under this
    # artist" is then two indexed lookups.
    album_artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))

    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    owner = relationship("User", lazy="raise")
    artist_ref: Mapped[Artist] = relationship(lazy="raise", foreign_keys=[artist_id])
    album_ref: Mapped[Album] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"<Track {self.id} {self.title!r}>"


class TrackTag(db.Model):
    """One free tag of a track, folded ("Chill-out" and "chill-out" are one), for the
    tag filters: "tracks with all these tags" is one indexed lookup per tag."""

    __tablename__ = "track_tags"
    __table_args__ = (Index("ix_track_tags_tag_key", "tag_key", "track_id"),)

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    tag_key: Mapped[str] = mapped_column(String(TAG_KEY_MAX), primary_key=True)


class SearchWord(db.Model):
    """The search's vocabulary (services/library/vocabulary.py): each folded word of
    four letters or more in the tracks' tags, filed under itself and under every
    form one deleted letter makes of it. A query word and a vocabulary word one
    typo apart share such a key, so typo candidates are an indexed lookup.

    Shared by every account, as artists are: it only widens a query's words;
    which tracks match is decided on the tracks, under the access rule."""

    __tablename__ = "search_words"

    key: Mapped[str] = mapped_column(String(WORD_MAX), primary_key=True)
    word: Mapped[str] = mapped_column(String(WORD_MAX), primary_key=True)
