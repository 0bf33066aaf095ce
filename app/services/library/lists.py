"""Lists the music apps ask for (the Subsonic API's album lists, random songs,
genres with counts, search slices by offset), with the access rule applied in
every query, as on the pages (browse.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Album, AlbumPlays, Artist, PlayEvent, Track
from app.models.library import TAG_MAX
from app.services import search
from app.services.library.access import visible_to
from app.services.library.browse import AlbumSummary, ArtistSummary, _album_rows, _like_escape, search_terms
from app.services.text import fold

# The most any one list answer holds, whatever a client asks for.
MAX_SIZE = 500
MAX_OFFSET = 10_000_000

ALBUM_LIST_TYPES = (
    "random",
    "newest",
    "highest",
    "frequent",
    "recent",
    "alphabeticalByName",
    "alphabeticalByArtist",
    "starred",
    "byYear",
    "byGenre",
)


def _bounded(size: int, offset: int) -> tuple[int, int]:
    return max(0, min(size, MAX_SIZE)), max(0, min(offset, MAX_OFFSET))


def _genre_is(genre: str) -> ColumnElement[bool]:
    return Track.genre_key == fold(genre)[:TAG_MAX]


def album_list(
    user_id: int,
    kind: str,
    size: int,
    offset: int,
    *,
    from_year: int | None = None,
    to_year: int | None = None,
    genre: str | None = None,
) -> list[AlbumSummary]:
    """One slice of the albums the user can see, in the order `kind` names
    (one of ALBUM_LIST_TYPES but "highest" and "starred", which come from the
    user's ratings and stars: services/stars.py).

    The slice's album ids come first, each from the narrowest query its order
    allows (an index, the user's latest listens, their albums' play counts); only
    those albums are then summed up, as the album pages do (browse.list_albums)."""
    size, offset = _bounded(size, offset)
    if kind in ("starred", "highest") or size == 0:
        return []
    ids = _latest_albums(user_id, kind, offset + size) if kind in ("newest", "recent") else None
    if ids is not None:
        ids = ids[offset : offset + size]
    else:
        ids = list(db.session.scalars(_album_ids(user_id, kind, from_year, to_year, genre).limit(size).offset(offset)))
    if not ids:
        return []
    found = {row[0]: AlbumSummary(*row) for row in db.session.execute(_album_rows(user_id, Album.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# "newest" and "recent" read the tracks (newest first) or the user's listens (latest
# first) a chunk at a time until they have met enough albums: an album's place is
# where its first row comes. Reading is bounded: the tracks are read by ranges of ids
# (a library where the user sees few of them costs no more than one where they see
# all), and after SCAN_LIMIT rows, or for a slice beyond SCAN_ALBUMS albums, the
# grouped query answers instead.
SCAN_CHUNK = 2000
SCAN_LIMIT = 100_000
SCAN_ALBUMS = 1000


def _latest_albums(user_id: int, kind: str, wanted: int) -> list[int] | None:
    if wanted > SCAN_ALBUMS:
        return None
    albums: dict[int, None] = {}
    # A few rows per album wanted first (most albums have several tracks), twice as many each time.
    chunk = min(SCAN_CHUNK, 4 * wanted)
    read = 0
    if kind == "newest":
        below = (db.session.scalar(select(func.max(Track.id))) or 0) + 1
        while read < SCAN_LIMIT and below > 0:
            rows = db.session.execute(
                select(Track.album_id)
                .where(Track.id < below, Track.id >= below - chunk, visible_to(user_id))
                .order_by(Track.id.desc())
            ).scalars()
            albums.update(dict.fromkeys(rows))
            if len(albums) >= wanted:
                return list(albums)
            below, read = below - chunk, read + chunk
            chunk = min(SCAN_CHUNK, 2 * chunk)
        return list(albums) if below <= 0 else None
    listens = (
        select(Track.album_id, PlayEvent.played_at, PlayEvent.id)
        .join(Track, Track.id == PlayEvent.track_id)
        .where(PlayEvent.user_id == user_id, visible_to(user_id))
        .order_by(PlayEvent.played_at.desc(), PlayEvent.id.desc())
    )
    after = None
    while read < SCAN_LIMIT:
        stmt = listens
        if after is not None:
            at, play_id = after
            # (The first condition alone bounds the index range.)
            stmt = stmt.where(PlayEvent.played_at <= at, or_(PlayEvent.played_at < at, PlayEvent.id < play_id))
        rows = db.session.execute(stmt.limit(chunk)).all()
        albums.update(dict.fromkeys(row[0] for row in rows))
        if len(albums) >= wanted or len(rows) < chunk:
            return list(albums)
        after = tuple(rows[-1][1:])
        read += chunk
        chunk = min(SCAN_CHUNK, 2 * chunk)
    return None


def _album_ids(user_id: int, kind: str, from_year: int | None, to_year: int | None, genre: str | None) -> Select:
    if kind in ("newest", "recent", "byYear"):
        return _album_ids_from_tracks(user_id, kind, from_year, to_year)
    visible = select(Track.id).where(Track.album_id == Album.id, visible_to(user_id)).exists()
    if kind == "frequent":
        # The user's count of the album's listens, kept as they listen (services/album_plays.py).
        return (
            select(AlbumPlays.album_id)
            .join(Album, Album.id == AlbumPlays.album_id)
            .where(AlbumPlays.user_id == user_id, AlbumPlays.play_count > 0, visible)
            .order_by(AlbumPlays.play_count.desc(), AlbumPlays.album_id)
        )
    if kind == "byGenre":
        in_genre = select(Track.id).where(Track.album_id == Album.id, visible_to(user_id), _genre_is(genre or ""))
        return select(Album.id).where(in_genre.exists()).order_by(Album.title_key, Album.id)
    if kind == "random":
        return select(Album.id).where(visible).order_by(func.random())
    if kind == "alphabeticalByArtist":
        return (
            select(Album.id)
            .join(Artist, Artist.id == Album.artist_id)
            .where(visible)
            .order_by(Artist.name_key, Album.title_key, Album.id)
        )
    return select(Album.id).where(visible).order_by(Album.title_key, Album.id)


def _album_ids_from_tracks(user_id: int, kind: str, from_year: int | None, to_year: int | None) -> Select:
    """The orders that come from the tracks themselves, grouped: the newest upload, the
    user's latest listen (both when reading in order took too long), the year."""
    if kind == "newest":
        # Ids grow with every upload and are never reused: the newest track has the highest.
        return (
            select(Track.album_id)
            .where(visible_to(user_id))
            .group_by(Track.album_id)
            .order_by(func.max(Track.id).desc(), Track.album_id)
        )
    if kind == "recent":
        return (
            select(Track.album_id)
            .join(PlayEvent, PlayEvent.track_id == Track.id)
            .where(PlayEvent.user_id == user_id, visible_to(user_id))
            .group_by(Track.album_id)
            .order_by(func.max(PlayEvent.played_at).desc(), Track.album_id)
        )
    low, high = from_year or 0, to_year if to_year is not None else 9999
    year = func.max(Track.year)
    return (
        select(Track.album_id)
        .where(visible_to(user_id), Track.year.between(min(low, high), max(low, high)))
        .group_by(Track.album_id)
        .order_by(year.desc() if low > high else year, Track.album_id)
    )


@dataclass
class GenreCount:
    name: str
    song_count: int
    album_count: int


def genre_counts(user_id: int) -> list[GenreCount]:
    """Every genre among the tracks the user can see, with its song and album counts."""
    rows = db.session.execute(
        select(func.min(Track.genre), func.count(Track.id), func.count(func.distinct(Track.album_id)))
        .where(visible_to(user_id), Track.genre_key.is_not(None))
        .group_by(Track.genre_key)
        .order_by(Track.genre_key)
        .limit(MAX_SIZE * 4)
    )
    return [GenreCount(*row) for row in rows]


def _album_order() -> list:
    return [Track.album_key, Track.disc_number, Track.track_number, Track.id]


def songs_by_genre(user_id: int, genre: str, size: int, offset: int) -> list[Track]:
    size, offset = _bounded(size, offset)
    stmt = select(Track).where(visible_to(user_id), _genre_is(genre)).order_by(*_album_order())
    return list(db.session.scalars(stmt.limit(size).offset(offset)))


def random_songs(
    user_id: int, size: int, *, genre: str | None = None, from_year: int | None = None, to_year: int | None = None
) -> list[Track]:
    size, _ = _bounded(size, 0)
    stmt = select(Track).where(visible_to(user_id))
    if genre:
        stmt = stmt.where(_genre_is(genre))
    if from_year is not None:
        stmt = stmt.where(Track.year >= from_year)
    if to_year is not None:
        stmt = stmt.where(Track.year <= to_year)
    return list(db.session.scalars(stmt.order_by(func.random()).limit(size)))


def top_songs(user_id: int, artist_name: str, size: int) -> list[Track]:
    """The artist's songs the user plays most (then in album order)."""
    size, _ = _bounded(size, 0)
    plays = (
        select(PlayEvent.track_id, func.count().label("n"))
        .where(PlayEvent.user_id == user_id)
        .group_by(PlayEvent.track_id)
        .subquery()
    )
    stmt = (
        select(Track)
        .outerjoin(plays, plays.c.track_id == Track.id)
        .where(visible_to(user_id), Track.artist_key == fold(artist_name)[:TAG_MAX])
        .order_by(func.coalesce(plays.c.n, 0).desc(), *_album_order())
        .limit(size)
    )
    return list(db.session.scalars(stmt))


# --- search by offset ------------------------------------------------------------------------


def _matching(columns: list, q: str) -> list[ColumnElement[bool]]:
    conditions = []
    for term in search_terms(q):
        pattern = f"%{_like_escape(term)}%"
        conditions.append(or_(*(c.like(pattern, escape="\\") for c in columns)))
    return conditions


def search_songs(user_id: int, q: str, size: int, offset: int) -> list[Track]:
    """Tracks matching every word of `q` in the search's order (services/search.py: typos
    in long words forgiven), or every track by id for an empty `q`; stable for paging."""
    size, offset = _bounded(size, offset)
    if size == 0:
        return []
    words = search.plan(q)
    ids_stmt = select(Track.id).where(visible_to(user_id), *search.conditions(words))
    ordered = search.ranked(ids_stmt, words) if words else ids_stmt.order_by(Track.id)
    ids = list(db.session.scalars(ordered.limit(size).offset(offset)))
    if not ids:
        return []
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def search_albums(user_id: int, q: str, size: int, offset: int) -> list[AlbumSummary]:
    size, offset = _bounded(size, offset)
    if size == 0:
        return []
    visible = select(Track.id).where(Track.album_id == Album.id, visible_to(user_id)).exists()
    ids_stmt = (
        select(Album.id)
        .join(Artist, Artist.id == Album.artist_id)
        .where(visible, *_matching([Album.title_key, Artist.name_key], q))
        .order_by(Album.title_key, Album.id)
    )
    ids = list(db.session.scalars(ids_stmt.limit(size).offset(offset)))
    if not ids:
        return []
    found = {row[0]: AlbumSummary(*row) for row in db.session.execute(_album_rows(user_id, Album.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def search_artists(user_id: int, q: str, size: int, offset: int) -> list[ArtistSummary]:
    size, offset = _bounded(size, offset)
    if size == 0:
        return []
    visible = select(Track.id).where(
        or_(Track.artist_id == Artist.id, Track.album_artist_id == Artist.id), visible_to(user_id)
    )
    ids_stmt = select(Artist.id).where(visible.exists(), *_matching([Artist.name_key], q))
    ids = list(db.session.scalars(ids_stmt.order_by(Artist.name_key, Artist.id).limit(size).offset(offset)))
    return artist_summaries(user_id, ids)


def artist_summaries(user_id: int, ids: list[int]) -> list[ArtistSummary]:
    """The artists `ids`, in that order, with the counts of what the user sees by or under them."""
    if not ids:
        return []
    rows = db.session.execute(
        select(Artist.id, Artist.name, func.count(Track.id), func.count(func.distinct(Track.album_id)))
        .join(Track, or_(Track.artist_id == Artist.id, Track.album_artist_id == Artist.id))
        .where(Artist.id.in_(ids), visible_to(user_id))
        .group_by(Artist.id, Artist.name)
    )
    found = {row[0]: ArtistSummary(*row) for row in rows}
    return [found[i] for i in ids if i in found]


def last_change(user_id: int) -> datetime | None:
    """When a track the user can see was last added or changed."""
    return db.session.scalar(select(func.max(Track.modified_at)).where(visible_to(user_id)))


@dataclass
class IndexArtist:
    """An album artist in the index apps browse by: its id, name and how many albums the user sees under it."""

    id: int
    name: str
    album_count: int


def album_artists(user_id: int) -> list[IndexArtist]:
    """Every artist the user sees an album under, by name: the index of the apps'
    artist view (artists only credited on tracks are found by search and from
    their songs). One query over albums, each checked on the visibility index."""
    visible = select(Track.id).where(Track.album_id == Album.id, visible_to(user_id)).exists()
    rows = db.session.execute(
        select(Artist.id, Artist.name, func.count(Album.id))
        .join(Album, Album.artist_id == Artist.id)
        .where(visible)
        .group_by(Artist.id, Artist.name, Artist.name_key)
        .order_by(Artist.name_key, Artist.id)
        .limit(50_000)
    )
    return [IndexArtist(*row) for row in rows]
