"""The library: adding files, finding tracks, albums and artists, editing and deleting.

Access rule everywhere: a user sees their own tracks and every public track;
anything else does not exist for them (NotFound).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, case, event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Album, Artist, Track, User, Visibility
from app.models.library import TAG_MAX
from app.services.errors import DomainError, Forbidden, NotFound
from app.services.storage import IncomingFile, Storage
from app.services.tags import AudioInfo, ParserPool, UnsupportedAudio
from app.services.text import clean_tag, fold

MB = 1_000_000
GB = 1_000_000_000
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


class QuotaExceeded(DomainError):
    pass


class FileTooLarge(DomainError):
    pass


def human_size(num: float) -> str:
    """Sizes as people read them: 612 MB, 1.7 MB, 39 kB, 1.9 GB."""
    if num >= GB:
        return f"{num / GB:.1f} GB"
    if num >= 10 * MB:
        return f"{num / MB:.0f} MB"
    if num >= MB:
        return f"{num / MB:.1f} MB"
    return f"{max(num, 0) / 1000:.0f} kB"


# --- visibility ---------------------------------------------------------------------------


def visible_to(user_id: int | BindParameter[int]) -> ColumnElement[bool]:
    return or_(Track.owner_id == user_id, Track.visibility == Visibility.PUBLIC)


# What serving a file needs, with the session check, in one indexed lookup:
# the track if the user (:uid) may hear it, with that user's session token
# and disabled flag. Both the stream view and its fast path run it.
STREAM_COLUMNS = (Track.id, Track.storage_path, Track.mime_type, Track.sha256, Track.format, Track.original_filename)
STREAM_LOOKUP = (
    select(*STREAM_COLUMNS, User.session_token, User.disabled)
    .join(User, User.id == bindparam("uid"))
    .where(Track.id == bindparam("tid"), visible_to(bindparam("uid")))
)


def get_visible_track(user_id: int, track_id: int) -> Track:
    """Raises NotFound when the track does not exist or is someone else's private track."""
    track = db.session.scalar(select(Track).where(Track.id == track_id, visible_to(user_id)))
    if track is None:
        raise NotFound("No such track.")
    return track


def get_own_track(user_id: int, track_id: int) -> Track:
    """Raises NotFound (invisible) or Forbidden (another account's public track)."""
    track = get_visible_track(user_id, track_id)
    if track.owner_id != user_id:
        raise Forbidden("Only the owner can change this track.")
    return track


# --- adding files -------------------------------------------------------------------------


@dataclass
class AddResult:
    name: str
    status: str  # "added", "duplicate" or "rejected"
    message: str
    track: Track | None = None

    def as_json(self, urls: dict[str, str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status, "message": self.message}
        if self.track is not None:
            data["track"] = {
                "id": self.track.id,
                "title": self.track.title,
                "artist": self.track.artist,
                "album": self.track.album,
                "duration": self.track.duration,
                **(urls or {}),
            }
        return data


def bytes_used(user_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Track.size_bytes), 0)).where(Track.owner_id == user_id)) or 0


def usage_for(user_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Track count and bytes used per user id."""
    usage = dict.fromkeys(user_ids, (0, 0))
    if not user_ids:
        return usage
    rows = db.session.execute(
        select(Track.owner_id, func.count(Track.id), func.coalesce(func.sum(Track.size_bytes), 0))
        .where(Track.owner_id.in_(user_ids))
        .group_by(Track.owner_id)
    )
    for owner_id, count, used in rows:
        usage[owner_id] = (int(count), int(used))
    return usage


def check_limits(owner: User, incoming: IncomingFile, max_bytes: int) -> None:
    """Raises FileTooLarge or QuotaExceeded, with the figures a user needs.
    The early check, before the file is read; hold_quota() is the one that counts."""
    if incoming.too_large:
        raise FileTooLarge(f"file too large: {human_size(incoming.size)}, the limit is {human_size(max_bytes)}")
    if owner.quota_bytes is not None:
        used = bytes_used(owner.id)
        if used + incoming.size > owner.quota_bytes:
            raise _quota_exceeded(used, owner.quota_bytes)


def hold_quota(owner: User, size: int) -> None:
    """The quota check that counts, once the new track's row is flushed (`size`
    bytes of it). A user's uploads take turns here until they commit: a lock on
    the user's row in PostgreSQL (NO KEY UPDATE, which the track's foreign-key
    check does not wait for), and SQLite has one writer at a time. So two
    uploads at once cannot both fit in the room only one has."""
    if owner.quota_bytes is None:
        return
    db.session.execute(select(User.id).where(User.id == owner.id).with_for_update(key_share=True))
    used = bytes_used(owner.id)
    if used > owner.quota_bytes:
        raise _quota_exceeded(used - size, owner.quota_bytes)


def _quota_exceeded(used: int, quota: int) -> QuotaExceeded:
    if quota >= GB:
        return QuotaExceeded(f"storage quota exceeded: {used / GB:.1f} of {quota / GB:g} GB used")
    return QuotaExceeded(f"storage quota exceeded: {human_size(used)} of {human_size(quota)} used")


def find_duplicate(owner_id: int, sha256: str) -> Track | None:
    return db.session.scalar(select(Track).where(Track.owner_id == owner_id, Track.sha256 == sha256))


class ImportBatch:
    """Several files committed together (the importer's speed); each file still
    gets its own savepoint, so one bad file never undoes the others."""

    def __init__(self, store: Storage, size: int = 50) -> None:
        self.store = store
        self.size = size
        self.kept: list[str] = []
        self.results: list[AddResult] = []
        self.user_ids: set[int] = set()

    def full(self) -> bool:
        return len(self.results) >= self.size

    def commit(self) -> list[AddResult]:
        """Make the batch's files and rows durable together; return its results."""
        results, self.results = self.results, []
        try:
            for user_id in self.user_ids:
                self.store.sync_user_folder(user_id)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            remove_files(self.store, self.kept)
            raise
        finally:
            self.kept = []
        return results


def add_file(  # noqa: PLR0911, PLR0915 - each outcome returns its own result, in one readable place
    store: Storage,
    pool: ParserPool,
    owner: User,
    incoming: IncomingFile,
    original_name: str,
    *,
    max_bytes: int,
    info: AudioInfo | None = None,
    visibility: Visibility = Visibility.PRIVATE,
    check_duplicate: bool = True,
    batch: ImportBatch | None = None,
) -> AddResult:
    """Check, parse, store and record one received file, and commit it.

    One file is one unit of work: on any failure neither the file nor a row
    remains, and the incoming temporary file is always gone afterwards. With
    a batch, the file is recorded under a savepoint and committed by the batch.
    """
    name = clean_tag(original_name, TAG_MAX) or "unnamed file"
    kept: list[str] = []
    savepoint = db.session.begin_nested() if batch is not None else None

    def undo() -> None:
        if savepoint is not None:
            if savepoint.is_active:
                savepoint.rollback()
        else:
            db.session.rollback()
        remove_files(store, kept)

    try:
        if incoming.error:
            undo()
            return AddResult(name, "rejected", incoming.error)
        check_limits(owner, incoming, max_bytes)
        incoming.finish()
        if incoming.error:
            undo()
            return AddResult(name, "rejected", incoming.error)
        # (The unique index on owner and hash catches what this check cannot.)
        duplicate = find_duplicate(owner.id, incoming.sha256) if check_duplicate else None
        if duplicate is not None:
            undo()
            return AddResult(name, "duplicate", "already in your library", duplicate)
        if info is None:
            info = pool.parse(incoming.path, original_name)
        track = _new_track(owner, incoming, name, info, visibility)
        db.session.add(track)
        db.session.flush()
        hold_quota(owner, incoming.size)
        kept.append(store.keep(incoming, owner.id, info.ext, sync=batch is None))
        track.storage_path = kept[0]
        if info.cover_digest and info.cover_jpeg:
            track.cover_path = store.save_cover(owner.id, info.cover_digest, info.cover_jpeg)
        result = AddResult(name, "added", f"added: {track.title} by {track.artist}", track)
        if batch is None:
            db.session.commit()
        else:
            savepoint.commit()
            batch.kept.extend(kept)
            batch.user_ids.add(owner.id)
        return result
    except (UnsupportedAudio, FileTooLarge, QuotaExceeded) as exc:
        undo()
        return AddResult(name, "rejected", str(exc))
    except IntegrityError:
        # The same file, uploaded twice at the same moment: the other one won.
        undo()
        duplicate = find_duplicate(owner.id, incoming.sha256)
        return AddResult(name, "duplicate", "already in your library", duplicate)
    except OSError as exc:
        undo()
        return AddResult(name, "rejected", f"the server could not store the file ({exc.strerror or exc})")
    except BaseException:
        undo()
        raise
    finally:
        incoming.discard()


def _new_track(owner: User, incoming: IncomingFile, name: str, info: AudioInfo, visibility: Visibility) -> Track:
    track = Track(
        owner_id=owner.id,
        visibility=visibility,
        # A unique placeholder until the file has its final name (set before commit).
        storage_path=f"pending/{incoming.path.name}",
        original_filename=name,
        size_bytes=incoming.size,
        sha256=incoming.sha256,
        mime_type=info.mime_type,
        format=info.ext,
        codec=info.codec,
        duration=info.duration,
        bitrate=info.bitrate,
        sample_rate=info.sample_rate,
        channels=info.channels,
    )
    apply_tags(
        track,
        title=info.title,
        artist=info.artist,
        album=info.album,
        album_artist=info.album_artist,
        track_number=info.track_number,
        disc_number=info.disc_number,
        year=info.year,
        genre=info.genre,
    )
    return track


def apply_tags(track: Track, **tags: Any) -> None:
    """Set tag fields and everything derived from them (keys, search text, artist, album)."""
    for key in ("title", "artist", "album"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or getattr(track, key) or "Unknown")
    for key in ("album_artist", "genre"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or None)
    for key in ("track_number", "disc_number", "year"):
        if key in tags:
            setattr(track, key, tags[key])
    # Folding can lengthen text ("…" becomes "...", ligatures split), so keys are clamped again.
    track.title_key = fold(track.title)[:TAG_MAX]
    track.artist_key = fold(track.artist)[:TAG_MAX]
    track.album_key = fold(track.album)[:TAG_MAX]
    track.genre_key = fold(track.genre)[:TAG_MAX] or None
    parts = [track.title_key, track.artist_key, track.album_key, fold(track.album_artist)[:TAG_MAX]]
    track.search_text = " ".join(parts)[: 4 * TAG_MAX]
    artist = _artist(track.artist)
    album_artist = _artist(track.album_artist) if track.album_artist else artist
    track.artist_id = artist.id
    track.album_id = _album(track.album, album_artist).id
    track.album_artist_id = album_artist.id


def _cache() -> dict[tuple[str, ...], Any]:
    # Artists and albums met in this session; dropped on rollback (see below),
    # since a rolled-back row must not be reused.
    return db.session.info.setdefault("library_cache", {})


@event.listens_for(Session, "after_rollback")
def _forget_cache(session: Session) -> None:
    session.info.pop("library_cache", None)


def _artist(name: str) -> Artist:
    key = fold(name)[:TAG_MAX]
    return _get_or_create(
        ("artist", key), select(Artist).where(Artist.name_key == key), lambda: Artist(name=name, name_key=key)
    )


def _album(title: str, artist: Artist) -> Album:
    key = fold(title)[:TAG_MAX]
    return _get_or_create(
        ("album", key, str(artist.id)),
        select(Album).where(Album.title_key == key, Album.artist_id == artist.id),
        lambda: Album(title=title, title_key=key, artist_id=artist.id),
    )


def _get_or_create(cache_key: tuple[str, ...], query: Select, make: Callable[[], Any]) -> Any:
    """The row `query` finds, else a new one from `make()`; a row another request
    created at the same moment wins (unique index), and the result is cached."""
    cache = _cache()
    if cache_key in cache:
        return cache[cache_key]
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = make()
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(query)
    cache[cache_key] = row
    return row


# --- editing and deleting -------------------------------------------------------------------


def update_track(track: Track, *, visibility: Visibility, **tags: Any) -> None:
    old_album, old_artist = track.album_id, track.artist_id
    apply_tags(track, **tags)
    track.visibility = visibility
    db.session.flush()
    _prune(album_ids=[old_album], artist_ids=[old_artist])


def delete_track(track: Track) -> list[str]:
    """Delete the row; return the stored files the caller removes after committing."""
    files = [track.storage_path]
    if track.cover_path:
        shared = db.session.scalar(
            select(func.count()).where(Track.cover_path == track.cover_path, Track.id != track.id)
        )
        if not shared:
            files.append(track.cover_path)
    album_id, artist_id = track.album_id, track.artist_id
    db.session.delete(track)
    db.session.flush()
    _prune(album_ids=[album_id], artist_ids=[artist_id])
    return files


def remove_files(store: Storage, paths: list[str]) -> None:
    for rel in paths:
        with contextlib.suppress(OSError):
            store.delete(rel)


def _prune(album_ids: list[int], artist_ids: list[int]) -> None:
    """Drop albums and artists no track refers to any more."""
    for album_id in album_ids:
        if not db.session.scalar(select(func.count()).where(Track.album_id == album_id)):
            album = db.session.get(Album, album_id)
            if album is not None:
                artist_ids.append(album.artist_id)
                db.session.delete(album)
    db.session.flush()
    for artist_id in set(artist_ids):
        used = db.session.scalar(select(func.count()).where(Track.artist_id == artist_id)) or db.session.scalar(
            select(func.count()).select_from(Album).where(Album.artist_id == artist_id)
        )
        if not used:
            artist = db.session.get(Artist, artist_id)
            if artist is not None:
                db.session.delete(artist)


# --- browsing ---------------------------------------------------------------------------------


@dataclass
class TrackQuery:
    q: str = ""
    sort: str = "added"
    order: str = ""
    artist: int | None = None
    album: int | None = None
    genre: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    def normalised(self) -> TrackQuery:
        sort = self.sort if self.sort in SORTS else "added"
        order = self.order if self.order in ("asc", "desc") else DEFAULT_ORDER.get(sort, "asc")
        return TrackQuery(
            q=self.q.strip()[:200],
            sort=sort,
            order=order,
            artist=self.artist,
            album=self.album,
            genre=self.genre.strip()[:TAG_MAX],
            page=max(1, min(self.page, 100_000)),
            per_page=self.per_page,
        )


def search_terms(q: str) -> list[str]:
    return [term for term in fold(q).split(" ") if term][:8]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(user_id: int, query: TrackQuery, stmt: Select) -> Select:
    stmt = stmt.where(visible_to(user_id))
    for term in search_terms(query.q):
        stmt = stmt.where(Track.search_text.like(f"%{_like_escape(term)}%", escape="\\"))
    if query.artist:
        stmt = stmt.where(or_(Track.artist_id == query.artist, Track.album_artist_id == query.artist))
    if query.album:
        stmt = stmt.where(Track.album_id == query.album)
    if query.genre:
        stmt = stmt.where(Track.genre_key == fold(query.genre)[:TAG_MAX])
    return stmt


def _ordering(query: TrackQuery) -> list[Any]:
    columns = SORTS[query.sort]()
    return [c.desc() for c in columns] if query.order == "desc" else columns


def _page_ids(user_id: int, query: TrackQuery, limit: int, offset: int) -> Select:
    # The page's ids first, from the sort index alone; whole rows only for those.
    return _filtered(user_id, query, select(Track.id)).order_by(*_ordering(query)).limit(limit).offset(offset)


COUNT_CAP = 1000


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
    offset = (query.page - 1) * query.per_page
    ids = list(db.session.scalars(_page_ids(user_id, query, query.per_page + 1, offset)))
    more = len(ids) > query.per_page
    ids = ids[: query.per_page]
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    rows = [by_id[i] for i in ids if i in by_id]
    if query.q or query.artist or query.album or query.genre:
        # A filtered view counts only as far as anyone reads.
        capped_rows = _filtered(user_id, query, select(Track.id)).limit(COUNT_CAP + 1).subquery()
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


def _album_rows(user_id: int, where: ColumnElement[bool] | None = None) -> Select:
    cover = func.max(case((Track.cover_path.is_not(None), Track.id), else_=None))
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
        raise NotFound("No such album.")
    tracks = db.session.scalars(
        select(Track)
        .where(Track.album_id == album_id, visible_to(user_id))
        .order_by(func.coalesce(Track.disc_number, 1), func.coalesce(Track.track_number, 0), Track.title_key, Track.id)
    ).all()
    return AlbumSummary(*row), list(tracks)


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


def get_artist(user_id: int, artist_id: int) -> tuple[Artist, list[AlbumSummary], int]:
    """The artist, the albums with their visible tracks, and the visible track count.

    Raises NotFound when the viewer sees no track by or under the artist.
    """
    artist = db.session.get(Artist, artist_id)
    if artist is None:
        raise NotFound("No such artist.")
    by_artist = or_(Track.artist_id == artist_id, Track.album_artist_id == artist_id)
    albums = [
        AlbumSummary(*row)
        for row in db.session.execute(
            _album_rows(user_id, by_artist).order_by(func.max(Track.year), Album.title_key)
        ).all()
    ]
    if not albums:
        raise NotFound("No such artist.")
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


def cover_path(user_id: int, track_id: int) -> str | None:
    """Raises NotFound for an invisible track; None when it has no cover."""
    row = db.session.execute(select(Track.cover_path).where(Track.id == track_id, visible_to(user_id))).first()
    if row is None:
        raise NotFound("No such track.")
    return row[0]


def source_files(root: Path, extensions: frozenset[str]) -> list[Path]:
    """Audio-looking files under root, in a stable order, hidden files skipped."""
    found = []
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file() and path.suffix.lower().lstrip(".") in extensions:
            found.append(path)
    return found


# --- importing a folder on the server -------------------------------------------------------

AUDIO_EXTENSIONS = frozenset({"mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "wav"})


@dataclass
class _Prepared:
    source: Path
    incoming: IncomingFile | None = None
    info: AudioInfo | None = None
    error: str | None = None
    known: bool = False


def import_files(
    store: Storage,
    pool: ParserPool,
    owner: User,
    sources: list[Path],
    *,
    max_bytes: int,
    visibility: Visibility = Visibility.PRIVATE,
) -> Iterator[AddResult]:
    """Import files already on the server, yielding one result per file in order.

    Copying, hashing and parsing run on `pool.size` threads at once; the
    database work stays on the calling thread. A file whose content the owner
    already has is skipped without parsing, so a re-run is quick and safe.
    """
    known = set(db.session.scalars(select(Track.sha256).where(Track.owner_id == owner.id)))

    def prepare(source: Path) -> _Prepared:
        try:
            incoming = store.copy_in(source, max_bytes)
        except OSError as exc:
            return _Prepared(source, error=f"cannot read the file ({exc.strerror or exc})")
        prepared = _Prepared(source, incoming)
        if incoming.error or incoming.too_large:
            return prepared
        if incoming.sha256 in known:
            prepared.known = True
            return prepared
        try:
            prepared.info = pool.parse(incoming.path, source.name)
        except UnsupportedAudio as exc:
            prepared.error = str(exc)
        return prepared

    # Threads mostly wait on fsync and on the parser processes, so more than cores.
    batch = ImportBatch(store)
    with ThreadPoolExecutor(max_workers=pool.size * 4) as executor:
        for prepared in executor.map(prepare, sources):
            name = clean_tag(prepared.source.name, TAG_MAX)
            incoming = prepared.incoming
            if incoming is None or prepared.error:
                if incoming is not None:
                    incoming.discard()
                batch.results.append(AddResult(name, "rejected", prepared.error or "cannot read the file"))
            elif prepared.known:
                incoming.discard()
                existing = find_duplicate(owner.id, incoming.sha256)
                batch.results.append(AddResult(name, "duplicate", "already in the library", existing))
            else:
                batch.results.append(
                    add_file(
                        store,
                        pool,
                        owner,
                        incoming,
                        prepared.source.name,
                        max_bytes=max_bytes,
                        info=prepared.info,
                        visibility=visibility,
                        check_duplicate=False,  # checked against `known`, before parsing
                        batch=batch,
                    )
                )
            if batch.full():
                yield from batch.commit()
    yield from batch.commit()
