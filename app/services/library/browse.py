"""Browsing and searching: pages of tracks, albums, artists and genres, each from
indexes and paginated, with the access rule applied in the query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Album, Artist, Track, TrackTag, Visibility
from app.models.library import TAG_KEY_MAX, TAG_MAX
from app.services import search
from app.services.errors import NotFound
from app.services.library.access import visible_to
from app.services.text import fold
from app.services.track_meta import tag_key

PER_PAGE = 50

SORTS = {
    "title": lambda: [Track.title_key, Track.id],
    "artist": lambda: [Track.artist_key, Track.album_key, Track.disc_number, Track.track_number, Track.id],
    "album": lambda: [Track.album_key, Track.disc_number, Track.track_number, Track.id],
    "year": lambda: [Track.year, Track.id],
    "duration": lambda: [Track.duration, Track.id],
    "added": lambda: [Track.uploaded_at, Track.id],
}
DEFAULT_ORDER = {"added": "desc"}
# With words to find, the list is in the search's order unless another sort is asked for.
RELEVANCE = "relevance"
FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")


@dataclass
class TrackQuery:
    q: str = ""
    sort: str = "added"
    order: str = ""
    artist: int | None = None
    album: int | None = None
    genre: str = ""
    # A free tag the tracks have (any case or accents): a track page's tag links here.
    tag: str = ""
    format: str = ""
    # The first year of a decade: 1990 for 1990-1999.
    decade: int | None = None
    page: int = 1
    per_page: int = PER_PAGE

    def normalised(self) -> TrackQuery:
        q = self.q.strip()[:200]
        chosen = self.sort in SORTS or (self.sort == RELEVANCE and bool(q))
        sort = self.sort if chosen else (RELEVANCE if q else "added")
        order = self.order if self.order in ("asc", "desc") else DEFAULT_ORDER.get(sort, "asc")
        decade = self.decade if self.decade is not None and 0 <= self.decade <= 9990 else None
        return TrackQuery(
            q=q,
            sort=sort,
            order="desc" if sort == RELEVANCE else order,
            artist=self.artist,
            album=self.album,
            genre=self.genre.strip()[:TAG_MAX],
            tag=self.tag.strip()[:TAG_MAX],
            format=self.format if self.format in FORMATS else "",
            decade=decade - decade % 10 if decade is not None else None,
            page=max(1, min(self.page, 100_000)),
            per_page=self.per_page,
        )

    @property
    def filtered(self) -> bool:
        return bool(
            self.q or self.artist or self.album or self.genre or self.tag or self.format or self.decade is not None
        )


def search_terms(q: str) -> list[str]:
    return [term for term in fold(q).split(" ") if term][:8]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(user_id: int, query: TrackQuery, words: search.Plan) -> list[ColumnElement[bool]]:
    # The words match as the search's do: accents, case and one typo in a long word forgiven.
    filters = search.Filters(
        genre=query.genre or None, album_id=query.album or None, format=query.format or None, decade=query.decade
    )
    where = [visible_to(user_id), *search.conditions(words), *filters.where()]
    if query.tag and (key := tag_key(query.tag)[:TAG_KEY_MAX]):
        where.append(Track.id.in_(select(TrackTag.track_id).where(TrackTag.tag_key == key)))
    if query.artist:
        # The page's artist filter: tracks by or under the artist (as the artist's page).
        where.append(or_(Track.artist_id == query.artist, Track.album_artist_id == query.artist))
    return where


def _filtered(user_id: int, query: TrackQuery, stmt: Select, words: search.Plan | None = None) -> Select:
    return stmt.where(*_where(user_id, query, words if words is not None else search.plan(query.q)))


def _ordering(query: TrackQuery, words: search.Plan) -> list[Any]:
    if query.sort == RELEVANCE:
        return [search.score(words).desc(), Track.title_key, Track.id]
    columns = SORTS[query.sort]()
    return [c.desc() for c in columns] if query.order == "desc" else columns


def _page_ids(user_id: int, query: TrackQuery, words: search.Plan, limit: int, offset: int) -> Select:
    # The page's ids first, from the sort index alone; whole rows only for those.
    stmt = _filtered(user_id, query, select(Track.id), words)
    return stmt.order_by(*_ordering(query, words)).limit(limit).offset(offset)


COUNT_CAP = 1000


def own_matching_ids(user_id: int, query: TrackQuery, limit: int) -> list[int]:
    """The ids of the user's own tracks among a list's results (all its pages), in its order:
    what "select all N results" selects for a bulk edit."""
    query = query.normalised()
    words = search.plan(query.q)
    stmt = _filtered(user_id, query, select(Track.id), words).where(Track.owner_id == user_id)
    return list(db.session.scalars(stmt.order_by(*_ordering(query, words)).limit(limit)))


@dataclass
class Page:
    """One page of results. `total` is exact for the whole library; for a
    filtered view it stops counting at COUNT_CAP (then `capped` is true)."""

    items: list[Any]
    page: int
    per_page: int
    total: int
    capped: bool = False
    more: bool = False
    # With words to find: each row's tags with the matches marked (escaped HTML),
    # and the counts per genre, artist, format and decade of every result.
    highlights: dict[int, dict[str, Any]] = field(default_factory=dict)
    facets: dict[str, list[search.FacetValue]] = field(default_factory=dict)

    @property
    def pages(self) -> int | None:
        return None if self.capped else max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def list_tracks(user_id: int, query: TrackQuery) -> Page:
    query = query.normalised()
    words = search.plan(query.q)
    offset = (query.page - 1) * query.per_page
    every = search.matches(_where(user_id, query, words), words) if words else None
    if every is not None and query.sort == RELEVANCE:
        # The search's own pass ranks every match: the page is a slice of it.
        ids = every.ids[offset : offset + query.per_page + 1]
    else:
        ids = list(db.session.scalars(_page_ids(user_id, query, words, query.per_page + 1, offset)))
    more = len(ids) > query.per_page
    ids = ids[: query.per_page]
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    rows = [by_id[i] for i in ids if i in by_id]
    if every is not None:
        # Every match was counted for the facets: the total is exact.
        highlights = {t.id: search.highlights(t, words) for t in rows}
        return Page(rows, query.page, query.per_page, len(every.ids), False, more, highlights, every.facets)
    if query.filtered:
        # A filtered view counts only as far as anyone reads.
        capped_rows = _filtered(user_id, query, select(Track.id), words).limit(COUNT_CAP + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(capped_rows)) or 0
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
    else:
        total, capped = visible_count(user_id), False
    return Page(rows, query.page, query.per_page, total, capped, more)


def visible_count(user_id: int) -> int:
    """Own tracks plus other accounts' public ones, each counted from an index."""
    own = db.session.scalar(select(func.count()).select_from(Track).where(Track.owner_id == user_id)) or 0
    public = (
        db.session.scalar(
            select(func.count())
            .select_from(Track)
            .where(Track.visibility == Visibility.PUBLIC, Track.owner_id != user_id)
        )
        or 0
    )
    return own + public


@dataclass
class AlbumSummary:
    id: int
    title: str
    artist_id: int
    artist: str
    track_count: int
    duration: float
    year: int | None
    cover_track_id: int | None
    # When its first visible track was added.
    created: datetime | None = None


def _album_rows(user_id: int, where: ColumnElement[bool] | None = None) -> Select:
    # An album is shared by every account with tracks under its title: its cover is the
    # viewer's own uploaded artwork, else the cover of one of the viewer's own tracks,
    # else art embedded in a file, and only then a picture another account uploaded for
    # their track (their choice for their copy, not the album's).
    with_cover = Track.cover_path.is_not(None)
    own_artwork = func.max(
        case((and_(Track.artwork_uploaded.is_(True), Track.owner_id == user_id), Track.id), else_=None)
    )
    own_cover = func.max(case((and_(with_cover, Track.owner_id == user_id), Track.id), else_=None))
    embedded = func.max(case((and_(with_cover, Track.artwork_uploaded.is_(False)), Track.id), else_=None))
    cover = func.coalesce(own_artwork, own_cover, embedded, func.max(case((with_cover, Track.id), else_=None)))
    stmt = (
        select(
            Album.id,
            Album.title,
            Artist.id,
            Artist.name,
            func.count(Track.id),
            func.coalesce(func.sum(Track.duration), 0),
            func.max(Track.year),
            cover,
            func.min(Track.uploaded_at),
        )
        .join(Track, Track.album_id == Album.id)
        .join(Artist, Artist.id == Album.artist_id)
        .where(visible_to(user_id))
        .group_by(Album.id, Album.title, Artist.id, Artist.name)
    )
    if where is not None:
        stmt = stmt.where(where)
    return stmt


def list_albums(user_id: int, page: int, q: str = "", per_page: int = 48) -> tuple[list[AlbumSummary], int]:
    """Albums with at least one track the viewer may see, by title; `q` matches title or artist."""
    visible = select(Track.id).where(Track.album_id == Album.id, visible_to(user_id)).exists()
    base = select(Album.id).join(Artist, Artist.id == Album.artist_id).where(visible)
    for term in search_terms(q):
        pattern = f"%{_like_escape(term)}%"
        base = base.where(or_(Album.title_key.like(pattern, escape="\\"), Artist.name_key.like(pattern, escape="\\")))
    ids, total = _page_of_ids(base.order_by(Album.title_key, Album.id), page, per_page)
    rows = db.session.execute(_album_rows(user_id, Album.id.in_(ids))) if ids else []
    found = {row[0]: AlbumSummary(*row) for row in rows}
    return [found[i] for i in ids if i in found], total


def _page_of_ids(ordered: Select, page: int, per_page: int) -> tuple[list[int], int]:
    """One page of an ordered id query, and how many there are in all."""
    total = db.session.scalar(select(func.count()).select_from(ordered.order_by(None).subquery())) or 0
    ids = list(db.session.scalars(ordered.limit(per_page).offset((max(page, 1) - 1) * per_page)))
    return ids, total


def get_album(user_id: int, album_id: int) -> tuple[AlbumSummary, list[Track]]:
    """Raises NotFound when the viewer sees no track of the album."""
    row = db.session.execute(_album_rows(user_id, Album.id == album_id)).first()
    if row is None:
        raise NotFound("ALBUM_NOT_FOUND")
    tracks = db.session.scalars(
        select(Track)
        .where(Track.album_id == album_id, visible_to(user_id))
        .order_by(func.coalesce(Track.disc_number, 1), func.coalesce(Track.track_number, 0), Track.title_key, Track.id)
    ).all()
    return AlbumSummary(*row), list(tracks)


def disc_count(tracks: list[Track]) -> int:
    """How many discs an album's tracks are on (a track without a disc number is on disc 1)."""
    return len({track.disc_number or 1 for track in tracks})


@dataclass
class ArtistSummary:
    id: int
    name: str
    track_count: int
    album_count: int


def list_artists(user_id: int, page: int, per_page: int = 100) -> tuple[list[ArtistSummary], int]:
    """Artists credited on at least one track the viewer may see, by name."""
    visible = select(Track.id).where(Track.artist_id == Artist.id, visible_to(user_id)).exists()
    ids, total = _page_of_ids(select(Artist.id).where(visible).order_by(Artist.name_key, Artist.id), page, per_page)
    if not ids:
        return [], total
    rows = db.session.execute(
        select(Artist.id, Artist.name, func.count(Track.id), func.count(func.distinct(Track.album_id)))
        .join(Track, Track.artist_id == Artist.id)
        .where(Artist.id.in_(ids), visible_to(user_id))
        .group_by(Artist.id, Artist.name)
    )
    found = {row[0]: ArtistSummary(*row) for row in rows}
    return [found[i] for i in ids if i in found], total


def own_artist_track_count(user_id: int, artist_id: int) -> int:
    """How many of the user's own tracks are by or under the artist (what a bulk edit there may change)."""
    by_artist = or_(Track.artist_id == artist_id, Track.album_artist_id == artist_id)
    return db.session.scalar(select(func.count()).where(Track.owner_id == user_id, by_artist)) or 0


def get_artist(user_id: int, artist_id: int) -> tuple[Artist, list[AlbumSummary], int]:
    """The artist, the albums with their visible tracks, and the visible track count.

    Raises NotFound when the viewer sees no track by or under the artist.
    """
    artist = db.session.get(Artist, artist_id)
    if artist is None:
        raise NotFound("ARTIST_NOT_FOUND")
    by_artist = or_(Track.artist_id == artist_id, Track.album_artist_id == artist_id)
    albums = [
        AlbumSummary(*row)
        for row in db.session.execute(
            _album_rows(user_id, by_artist).order_by(func.max(Track.year), Album.title_key)
        ).all()
    ]
    if not albums:
        raise NotFound("ARTIST_NOT_FOUND")
    return artist, albums, sum(a.track_count for a in albums)


def genres(user_id: int) -> list[str]:
    """Genre names in the viewer's tracks and the public ones, read from indexes alone."""
    own = (
        select(Track.genre_key, func.min(Track.genre).label("genre"))
        .where(Track.owner_id == user_id, Track.genre_key.is_not(None))
        .group_by(Track.genre_key)
    )
    public = (
        select(Track.genre_key, func.min(Track.genre).label("genre"))
        .where(Track.visibility == Visibility.PUBLIC, Track.genre_key.is_not(None))
        .group_by(Track.genre_key)
    )
    names: dict[str, str] = {}
    for key, name in db.session.execute(own.union_all(public)):
        names.setdefault(key, name)
    return [names[key] for key in sorted(names)][:500]
