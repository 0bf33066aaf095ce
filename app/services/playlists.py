"""Playlists, favourites and share links: the rules.

- Only the owner changes a playlist. Another account's private playlist does
  not exist for anyone else (NotFound); a public one is read-only (Forbidden).
- Entries have positions 1..N with no gaps or duplicates. Every change first
  writes the playlist row (its updated_at): on PostgreSQL that locks the row,
  on SQLite it opens the transaction with the database's write lock, so the
  positions read afterwards cannot go stale. The unique (playlist, position)
  index catches anything that slips through.
- A viewer only ever sees entries whose track they may see.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import func, or_, select, update

from app.extensions import db
from app.models import Favourite, Playlist, PlaylistEntry, PlaylistVisibility, Track, User
from app.models.playlist import DESCRIPTION_MAX, NAME_MAX
from app.models.types import utcnow
from app.services import mixes, recommend
from app.services.errors import DomainError, Forbidden, NotFound
from app.services.library import access
from app.services.rows import delete_row
from app.services.text import clean_tag, fold
from app.services.transcode import preencode

MAX_ENTRIES = 10_000


class PlaylistError(DomainError):
    """PLAYLIST_NAME_REQUIRED, PLAYLIST_FULL (max_entries) or PLAYLIST_CHOICE_REQUIRED."""


# --- finding --------------------------------------------------------------------------------


def _visible(user_id: int):
    return or_(Playlist.owner_id == user_id, Playlist.visibility == PlaylistVisibility.PUBLIC)


def get_visible_playlist(user_id: int, playlist_id: int) -> Playlist:
    """Raises NotFound unless the user owns the playlist or it is public."""
    playlist = db.session.scalar(select(Playlist).where(Playlist.id == playlist_id, _visible(user_id)))
    if playlist is None:
        raise NotFound("PLAYLIST_NOT_FOUND")
    return playlist


def get_own_playlist(user_id: int, playlist_id: int, *, lock: bool = False) -> Playlist:
    """Raises NotFound (invisible) or Forbidden (someone else's public playlist).

    With lock=True the row is locked for the rest of the transaction (by
    writing it, which works the same on SQLite and PostgreSQL).
    """
    playlist = get_visible_playlist(user_id, playlist_id)
    if playlist.owner_id != user_id:
        raise Forbidden("PLAYLIST_NOT_OWNED")
    if lock:
        db.session.execute(update(Playlist).where(Playlist.id == playlist_id).values(updated_at=utcnow()))
    return playlist


@dataclass
class PlaylistSummary:
    playlist: Playlist
    track_count: int
    duration: float
    cover_track_ids: list[int]
    owner_name: str


def list_playlists(user_id: int) -> tuple[list[PlaylistSummary], list[PlaylistSummary]]:
    """(the user's playlists, other accounts' public ones), each with counts and a cover mosaic."""
    rows = db.session.execute(
        select(Playlist, User.username)
        .join(User, User.id == Playlist.owner_id)
        .where(_visible(user_id))
        .order_by(func.lower(Playlist.name), Playlist.id)
    ).all()
    ids = [p.id for p, _ in rows]
    stats: dict[int, tuple[int, float]] = {}
    covers: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        visible_entries = (
            select(PlaylistEntry.playlist_id, Track.id, Track.duration, Track.cover_path, PlaylistEntry.position)
            .join(Track, Track.id == PlaylistEntry.track_id)
            .where(PlaylistEntry.playlist_id.in_(ids), access.visible_to(user_id))
            .order_by(PlaylistEntry.playlist_id, PlaylistEntry.position)
        )
        seen_covers: dict[int, set[str]] = {i: set() for i in ids}
        for playlist_id, track_id, duration, cover, _ in db.session.execute(visible_entries):
            count, total = stats.get(playlist_id, (0, 0.0))
            stats[playlist_id] = (count + 1, total + duration)
            if cover and cover not in seen_covers[playlist_id] and len(covers[playlist_id]) < 4:
                seen_covers[playlist_id].add(cover)
                covers[playlist_id].append(track_id)
    summaries = [PlaylistSummary(p, *stats.get(p.id, (0, 0.0)), covers.get(p.id, []), name) for p, name in rows]
    own = [s for s in summaries if s.playlist.owner_id == user_id]
    others = [s for s in summaries if s.playlist.owner_id != user_id]
    return own, others


def find_playlists(user_id: int, *, owner_id: int | None = None, q: str = "") -> list[PlaylistSummary]:
    """The playlists the user sees (their own and public ones), narrowed to one
    owner's and to names containing every word of `q` (any case or accents)."""
    own, others = list_playlists(user_id)
    found = own + others
    if owner_id is not None:
        found = [s for s in found if s.playlist.owner_id == owner_id]
    words = [w for w in fold(q).split(" ") if w]
    if words:
        found = [s for s in found if all(w in fold(s.playlist.name) for w in words)]
    return found


def own_playlists(user_id: int) -> list[Playlist]:
    return list(
        db.session.scalars(
            select(Playlist).where(Playlist.owner_id == user_id).order_by(func.lower(Playlist.name), Playlist.id)
        )
    )


@dataclass
class EntryView:
    entry: PlaylistEntry
    track: Track


def entries(playlist: Playlist, viewer_id: int) -> list[EntryView]:
    """The entries in order, leaving out tracks the viewer may not see."""
    rows = db.session.execute(
        select(PlaylistEntry, Track)
        .join(Track, Track.id == PlaylistEntry.track_id)
        .where(PlaylistEntry.playlist_id == playlist.id, access.visible_to(viewer_id))
        .order_by(PlaylistEntry.position)
    )
    return [EntryView(e, t) for e, t in rows]


# --- changing ---------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    cleaned = clean_tag(name, NAME_MAX)
    if not cleaned:
        raise PlaylistError("PLAYLIST_NAME_REQUIRED")
    return cleaned


def _clean_description(text: str | None) -> str:
    # Line breaks are kept for the page (shown escaped), tabs and other controls are not.
    text = re.sub(r"[\x00-\x09\x0b-\x1f\x7f]", " ", (text or "").replace("\r\n", "\n"))
    return text.strip()[:DESCRIPTION_MAX]


def create(owner_id: int, name: str, description: str = "") -> Playlist:
    """Raises PlaylistError."""
    playlist = Playlist(owner_id=owner_id, name=_clean_name(name), description=_clean_description(description))
    db.session.add(playlist)
    db.session.flush()
    return playlist


def update_details(playlist: Playlist, name: str, description: str) -> None:
    playlist.name = _clean_name(name)
    playlist.description = _clean_description(description)
    playlist.updated_at = utcnow()


def delete_playlist(playlist: Playlist) -> None:
    db.session.delete(playlist)


def _count(playlist_id: int) -> int:
    return db.session.scalar(select(func.count()).where(PlaylistEntry.playlist_id == playlist_id)) or 0


# Tracks of one addition whose recommendations are updated at once.
RECOMMENDATION_UPDATES = 20


def add_tracks(user_id: int, playlist_id: int, track_ids: Iterable[int]) -> int:
    """Append tracks (in the given order, duplicates allowed); return how many.

    Raises NotFound/Forbidden for the playlist, NotFound for a track the user
    cannot see, PlaylistError when the playlist would grow past MAX_ENTRIES.
    """
    ids = list(track_ids)
    playlist = get_own_playlist(user_id, playlist_id, lock=True)
    visible = set(db.session.scalars(select(Track.id).where(Track.id.in_(set(ids)), access.visible_to(user_id))))
    if any(i not in visible for i in ids):
        raise NotFound("TRACK_NOT_FOUND")
    start = db.session.scalar(
        select(func.coalesce(func.max(PlaylistEntry.position), 0)).where(PlaylistEntry.playlist_id == playlist.id)
    )
    if start + len(ids) > MAX_ENTRIES:
        raise PlaylistError("PLAYLIST_FULL", max_entries=MAX_ENTRIES)
    db.session.add_all(
        PlaylistEntry(playlist_id=playlist.id, track_id=track_id, position=start + i + 1)
        for i, track_id in enumerate(ids)
    )
    db.session.flush()
    if ids:
        # The recommendations learn from the first few (a whole imported list would be a long job;
        # the periodic rebuild catches the rest).
        recommend.queue_update(list(dict.fromkeys(ids))[:RECOMMENDATION_UPDATES])
        preencode.note_added(user_id, playlist=True)
    return len(ids)


def _entry(playlist: Playlist, entry_id: int) -> PlaylistEntry:
    entry = db.session.scalar(
        select(PlaylistEntry).where(PlaylistEntry.id == entry_id, PlaylistEntry.playlist_id == playlist.id)
    )
    if entry is None:
        raise NotFound("ENTRY_NOT_FOUND")
    return entry


def _shift(playlist_id: int, low: int, high: int, delta: int) -> None:
    """Move positions low..high by delta, in two steps so the unique index never sees a clash."""
    where = (PlaylistEntry.playlist_id == playlist_id, PlaylistEntry.position.between(low, high))
    db.session.execute(update(PlaylistEntry).where(*where).values(position=-PlaylistEntry.position))
    db.session.execute(
        update(PlaylistEntry)
        .where(PlaylistEntry.playlist_id == playlist_id, PlaylistEntry.position.between(-high, -low))
        .values(position=-PlaylistEntry.position + delta)
    )


def remove_entry(user_id: int, playlist_id: int, entry_id: int) -> None:
    playlist = get_own_playlist(user_id, playlist_id, lock=True)
    entry = _entry(playlist, entry_id)
    position = entry.position
    db.session.delete(entry)
    db.session.flush()
    _shift(playlist.id, position + 1, MAX_ENTRIES * 10, -1)
    db.session.expire_all()


def move_entry(user_id: int, playlist_id: int, entry_id: int, to_position: int) -> None:
    """Put an entry at to_position (1-based, clamped), shifting the ones in between."""
    playlist = get_own_playlist(user_id, playlist_id, lock=True)
    entry = _entry(playlist, entry_id)
    count = _count(playlist.id)
    to_position = max(1, min(to_position, count))
    current = entry.position
    if to_position == current:
        return
    entry.position = 0  # out of the way while the others shift
    db.session.flush()
    if to_position < current:
        _shift(playlist.id, to_position, current - 1, +1)
    else:
        _shift(playlist.id, current + 1, to_position, -1)
    db.session.execute(update(PlaylistEntry).where(PlaylistEntry.id == entry.id).values(position=to_position))
    db.session.expire_all()


# --- visibility and share links ---------------------------------------------------------------


def token_hash(token: str) -> str:
    """How a share token is looked up and signed for, so the secret itself is never compared."""
    return hashlib.sha256(token.encode()).hexdigest()


def set_visibility(playlist: Playlist, visibility: PlaylistVisibility, expires_at: datetime | None = None) -> None:
    """Private, public, or shared by link (a new 256-bit link when none is active)."""
    playlist.visibility = visibility
    if visibility == PlaylistVisibility.LINK:
        if not playlist.share_token:
            playlist.share_token = secrets.token_urlsafe(32)
            playlist.share_token_hash = token_hash(playlist.share_token)
        playlist.share_expires_at = expires_at
    else:
        revoke_link(playlist)
        playlist.visibility = visibility


def revoke_link(playlist: Playlist) -> None:
    """The old link stops working at once."""
    playlist.share_token = None
    playlist.share_token_hash = None
    playlist.share_expires_at = None
    if playlist.visibility == PlaylistVisibility.LINK:
        playlist.visibility = PlaylistVisibility.PRIVATE


def own_shares(owner_id: int) -> list[Playlist]:
    """The owner's playlists shared by link (expired links too: they can be renewed)."""
    return list(
        db.session.scalars(
            select(Playlist)
            .where(Playlist.owner_id == owner_id, Playlist.visibility == PlaylistVisibility.LINK)
            .order_by(Playlist.created_at, Playlist.id)
        )
    )


def get_own_share(owner_id: int, playlist_id: int) -> Playlist:
    """The owner's playlist shared by link. Raises NotFound for anything else,
    another account's share included (it does not exist for anyone else)."""
    playlist = db.session.get(Playlist, playlist_id)
    if playlist is None or playlist.owner_id != owner_id or playlist.visibility != PlaylistVisibility.LINK:
        raise NotFound("LINK_NOT_FOUND")
    return playlist


def by_share_token(token: str) -> Playlist:
    """Raises NotFound for an unknown, altered, revoked or expired link."""
    if not token or len(token) > 100:
        raise NotFound("LINK_NOT_FOUND")
    playlist = db.session.scalar(select(Playlist).where(Playlist.share_token_hash == token_hash(token)))
    if (
        playlist is None
        or playlist.visibility != PlaylistVisibility.LINK
        or not playlist.share_token
        or not hmac.compare_digest(playlist.share_token.encode(), token.encode())
        or (playlist.share_expires_at is not None and playlist.share_expires_at <= utcnow())
    ):
        raise NotFound("LINK_NOT_FOUND")
    return playlist


def shared_entries(playlist: Playlist) -> list[EntryView]:
    """What a share link plays: the entries the owner can see."""
    return entries(playlist, playlist.owner_id)


def shared_track(playlist: Playlist, track_id: int) -> Track:
    """A track of the shared playlist. Raises NotFound for anything else."""
    for view in shared_entries(playlist):
        if view.track.id == track_id:
            return view.track
    raise NotFound("TRACK_NOT_FOUND")


# --- favourites -----------------------------------------------------------------------------------


def toggle_favourite(user_id: int, track_id: int) -> bool:
    """Flip the heart; return whether the track is now a favourite. Raises NotFound."""
    access.get_visible_track(user_id, track_id)
    if db.session.get(Favourite, (user_id, track_id)) is not None:
        delete_row(Favourite, (user_id, track_id))
        return False
    db.session.add(Favourite(user_id=user_id, track_id=track_id))
    db.session.flush()
    recommend.queue_update([track_id])
    preencode.note_added(user_id, favourite=True)
    return True


def set_favourite(user_id: int, track_id: int, on: bool) -> None:
    """Heart (on) or un-heart a track; doing it twice changes nothing. Raises NotFound."""
    access.get_visible_track(user_id, track_id)
    if not on:
        delete_row(Favourite, (user_id, track_id))
        mixes.note_changes(user_id)
    elif db.session.get(Favourite, (user_id, track_id)) is None:
        db.session.add(Favourite(user_id=user_id, track_id=track_id))
        recommend.queue_update([track_id])
        mixes.note_changes(user_id)
        preencode.note_added(user_id, favourite=True)
    db.session.flush()


def favourite_ids(user_id: int, among: Iterable[int]) -> set[int]:
    """Which of the tracks `among` (a page's rows) the user hearted."""
    wanted = set(among)
    if not wanted:
        return set()
    return set(
        db.session.scalars(
            select(Favourite.track_id).where(Favourite.user_id == user_id, Favourite.track_id.in_(wanted))
        )
    )


def favourite_times(user_id: int, among: Iterable[int]) -> dict[int, datetime]:
    """When the user hearted each of the tracks `among` that they hearted."""
    wanted = set(among)
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Favourite.track_id, Favourite.created_at).where(
            Favourite.user_id == user_id, Favourite.track_id.in_(wanted)
        )
    )
    return dict(rows.tuples().all())


def favourites(user_id: int) -> list[Track]:
    """Favourite tracks the user can still see, the most recent first."""
    return list(
        db.session.scalars(
            select(Track)
            .join(Favourite, Favourite.track_id == Track.id)
            .where(Favourite.user_id == user_id, access.visible_to(user_id))
            .order_by(Favourite.created_at.desc(), Track.id)
        )
    )


# --- M3U8 -------------------------------------------------------------------------------------


def m3u8(views: list[EntryView], stream_url) -> str:
    """An extended M3U (UTF-8) with one #EXTINF line and one URL per entry."""
    lines = ["#EXTM3U"]
    for view in views:
        track = view.track
        label = clean_tag(f"{track.artist} - {track.title}", 2 * NAME_MAX)  # one line, always
        lines.append(f"#EXTINF:{round(track.duration)},{label}")
        lines.append(stream_url(track.id))
    return "\n".join(lines) + "\n"


@dataclass
class ImportResult:
    matched: list[tuple[str, Track]]
    unmatched: list[str]


_STREAM_URL = re.compile(r"/stream/(\d+)(?:[/?#]|$)")
# The export for players: the Subsonic API's stream, its id among the query's parameters.
_API_STREAM_URL = re.compile(r"/rest/stream(?:\.view)?\?(?:[^#]*&)?id=(\d+)(?:[&#]|$)")


def parse_m3u(text: str) -> list[tuple[str, str | None]]:
    """(location, "artist - title" from #EXTINF or None) for each entry of an M3U/M3U8 file."""
    result, pending = [], None
    for raw in text.splitlines()[: MAX_ENTRIES * 2]:
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.upper().startswith("#EXTINF:"):
            _, _, pending = line.partition(",")
            pending = pending.strip() or None
        elif not line.startswith("#"):
            result.append((line, pending))
            pending = None
    return result


def import_m3u(user_id: int, name: str, raw: bytes) -> tuple[Playlist, ImportResult]:
    """A new playlist from an M3U/M3U8 file's bytes (UTF-8, with or without a BOM, else
    Latin-1), holding the entries that match. Raises PlaylistError for a bad name."""
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw.decode("utf-8", errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    result = match_entries(user_id, parse_m3u(text))
    playlist = create(user_id, name)
    if result.matched:
        add_tracks(user_id, playlist.id, [track.id for _, track in result.matched])
    return playlist, result


def match_entries(user_id: int, items: list[tuple[str, str | None]]) -> ImportResult:
    """Match M3U entries to tracks the user can see: our own stream URLs, then the
    file name, then artist and title."""
    visible = list(
        db.session.execute(
            select(Track.id, Track.original_filename, Track.artist_key, Track.title_key).where(
                access.visible_to(user_id)
            )
        )
    )
    by_id = {row.id for row in visible}
    by_name: dict[str, int] = {}
    by_tags: dict[tuple[str, str], int] = {}
    for row in visible:
        by_name.setdefault(row.original_filename.casefold(), row.id)
        by_tags.setdefault((row.artist_key, row.title_key), row.id)
    matched_ids: list[tuple[str, int]] = []
    unmatched: list[str] = []
    for location, info in items:
        found = None
        url = _STREAM_URL.search(location) or _API_STREAM_URL.search(location)
        if url and int(url.group(1)) in by_id:
            found = int(url.group(1))
        if found is None:
            name = PureWindowsPath(location).name if "\\" in location else PurePosixPath(location).name
            found = by_name.get(name.casefold())
        if found is None and info:
            artist, sep, title = info.partition(" - ")
            if sep:
                found = by_tags.get((fold(artist), fold(title)))
        if found is None:
            unmatched.append(clean_tag(info or location, 300))
        else:
            matched_ids.append((clean_tag(info or location, 300), found))
    tracks = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_({i for _, i in matched_ids})))}
    return ImportResult([(label, tracks[i]) for label, i in matched_ids], unmatched)
