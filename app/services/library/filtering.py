"""Track lists for scripts (the REST API): every filter a client may combine,
the sorts it may ask for, and an exact count for its page metadata, with the
access rule in every query (access.visible_to), as on the pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select

from app.extensions import db
from app.models import PlayEvent, Track, TrackLike, TrackTag, User
from app.models.discovery import LIKE
from app.models.library import TAG_KEY_MAX, TAG_MAX
from app.services import accounts
from app.services.library.access import visible_to
from app.services.library.browse import _like_escape, search_terms
from app.services.text import clean_tag, fold
from app.services.track_meta import tag_key

SORTS = ("created_at", "updated_at", "title", "artist", "duration", "plays", "likes", "popularity")
FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
# How much a like weighs against a play in "popularity".
LIKE_WEIGHT = 3


@dataclass
class TrackFilter:
    """What a client asked for; None (or False) leaves a filter out."""

    page: int = 1
    per_page: int = 20
    sort: str = "created_at"
    order: str = "desc"
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    # Free tags the tracks all have (any case or accents).
    tags: list[str] = field(default_factory=list)
    bpm_min: int | None = None
    bpm_max: int | None = None
    key: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    format: str | None = None
    uploader: str | None = None
    search: str | None = None
    mine: bool = False

    def applied(self) -> dict[str, Any]:
        """The filters in force, for the answer's metadata."""
        names = (
            "artist",
            "album",
            "genre",
            "bpm_min",
            "bpm_max",
            "key",
            "min_duration",
            "max_duration",
            "format",
            "uploader",
            "search",
        )
        out: dict[str, Any] = {n: getattr(self, n) for n in names if getattr(self, n) not in (None, "")}
        if self.tags:
            out["tags"] = list(self.tags)
        if self.mine:
            out["mine"] = True
        return out


@dataclass
class TrackPage:
    tracks: list[Track]
    page: int
    per_page: int
    total: int
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.per_page) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.total_pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _key(text: str) -> str:
    """A filter's text as the folded columns hold it (control characters, NUL included, gone)."""
    return fold(clean_tag(text, TAG_MAX))[:TAG_MAX]


def _where(user_id: int, f: TrackFilter, stmt: Select) -> Select:
    # One's own tracks are all visible: "mine" needs no visibility test (a simpler plan).
    stmt = stmt.where(Track.owner_id == user_id) if f.mine else stmt.where(visible_to(user_id))
    for term in search_terms(clean_tag(f.search or "", TAG_MAX)):
        stmt = stmt.where(Track.search_text.like(f"%{_like_escape(term)}%", escape="\\"))
    if f.artist:
        stmt = stmt.where(Track.artist_key == _key(f.artist))
    if f.album:
        stmt = stmt.where(Track.album_key == _key(f.album))
    if f.genre:
        stmt = stmt.where(Track.genre_key == _key(f.genre))
    for key in {tag_key(tag) for tag in f.tags} - {""}:
        stmt = stmt.where(Track.id.in_(select(TrackTag.track_id).where(TrackTag.tag_key == key[:TAG_KEY_MAX])))
    if f.bpm_min is not None:
        stmt = stmt.where(Track.bpm >= f.bpm_min)
    if f.bpm_max is not None:
        stmt = stmt.where(Track.bpm <= f.bpm_max)
    if f.key:
        stmt = stmt.where(Track.musical_key == f.key)
    if f.min_duration is not None:
        stmt = stmt.where(Track.duration >= f.min_duration)
    if f.max_duration is not None:
        stmt = stmt.where(Track.duration <= f.max_duration)
    if f.format:
        stmt = stmt.where(Track.format == f.format)
    if f.uploader:
        owner = accounts.find_by_username(f.uploader)
        # An unknown name matches nothing (as a filter, not an error).
        stmt = stmt.where(Track.owner_id == (owner.id if owner is not None else -1))
    return stmt


def _ordered(stmt: Select, f: TrackFilter) -> Select:
    desc = f.order == "desc"
    if f.sort in ("plays", "likes", "popularity"):
        plays = select(PlayEvent.track_id, func.count().label("n")).group_by(PlayEvent.track_id).subquery()
        likes = (
            select(TrackLike.track_id, func.count().label("n"))
            .where(TrackLike.value == LIKE)
            .group_by(TrackLike.track_id)
            .subquery()
        )
        score: Any = {
            "plays": func.coalesce(plays.c.n, 0),
            "likes": func.coalesce(likes.c.n, 0),
            "popularity": func.coalesce(plays.c.n, 0) + LIKE_WEIGHT * func.coalesce(likes.c.n, 0),
        }[f.sort]
        if f.sort != "likes":
            stmt = stmt.outerjoin(plays, plays.c.track_id == Track.id)
        if f.sort != "plays":
            stmt = stmt.outerjoin(likes, likes.c.track_id == Track.id)
        columns = [score, Track.id]
    else:
        columns = {
            "created_at": [Track.uploaded_at, Track.id],
            "updated_at": [Track.modified_at, Track.id],
            "title": [Track.title_key, Track.id],
            "artist": [Track.artist_key, Track.album_key, Track.disc_number, Track.track_number, Track.id],
            "duration": [Track.duration, Track.id],
        }[f.sort]
    return stmt.order_by(*[c.desc() if desc else c for c in columns])


def filter_tracks(user_id: int, f: TrackFilter) -> TrackPage:
    """One page of the tracks `user_id` may see that match every filter, in the asked order."""
    per_page = max(1, min(f.per_page, MAX_PER_PAGE))
    page = max(1, min(f.page, MAX_PAGE))
    ids_stmt = _ordered(_where(user_id, f, select(Track.id)), f).limit(per_page).offset((page - 1) * per_page)
    ids = list(db.session.scalars(ids_stmt))
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    total = db.session.scalar(_where(user_id, f, select(func.count()).select_from(Track))) or 0
    return TrackPage([by_id[i] for i in ids if i in by_id], page, per_page, total, f.applied())


@dataclass
class TrackStats:
    plays: int
    your_plays: int
    likes: int


def track_stats(user_id: int, track_id: int) -> TrackStats:
    plays = db.session.scalar(select(func.count()).where(PlayEvent.track_id == track_id)) or 0
    mine = (
        db.session.scalar(select(func.count()).where(PlayEvent.track_id == track_id, PlayEvent.user_id == user_id)) or 0
    )
    likes = db.session.scalar(select(func.count()).where(TrackLike.track_id == track_id, TrackLike.value == LIKE)) or 0
    return TrackStats(plays, mine, likes)


def owner_names(owner_ids: set[int]) -> dict[int, str]:
    if not owner_ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(owner_ids))).all())


def tracks_by_artist(user_id: int, artist_id: int, limit: int = 500) -> list[Track]:
    """The tracks by or under the artist that the user may see, in album order."""
    stmt = (
        select(Track)
        .where(visible_to(user_id), (Track.artist_id == artist_id) | (Track.album_artist_id == artist_id))
        .order_by(Track.album_key, Track.disc_number, Track.track_number, Track.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))
