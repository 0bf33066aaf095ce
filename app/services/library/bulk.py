"""Changing many tracks at once: tags and visibility, a playlist, deletion; and undoing the
last change. Only the user's own tracks are ever touched, whatever ids are asked for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import delete, select

from app.extensions import db
from app.models import BulkEdit, Track, Visibility
from app.services import playlists
from app.services.errors import DomainError
from app.services.library import editing
from app.services.library.catalogue import apply_tags_to_many, prune

# Tracks one bulk action may change.
MAX_TRACKS = 10_000
TAG_FIELDS = ("artist", "album_artist", "album", "genre", "year")
CHUNK = 500


class NothingToChange(DomainError):
    code = "BULK_NOTHING_TO_CHANGE"


class NothingSelected(DomainError):
    code = "BULK_NOTHING_SELECTED"


def own_ids(owner_id: int, ids: Iterable[int]) -> list[int]:
    """The ids among `ids` of the owner's tracks, in the given order, at most MAX_TRACKS."""
    wanted = list(dict.fromkeys(ids))[:MAX_TRACKS]
    mine: set[int] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        mine |= set(db.session.scalars(select(Track.id).where(Track.owner_id == owner_id, Track.id.in_(chunk))))
    return [i for i in wanted if i in mine]


def _tracks(owner_id: int, ids: list[int]) -> Iterator[Track]:
    for start in range(0, len(ids), CHUNK):
        yield from db.session.scalars(
            select(Track).where(Track.owner_id == owner_id, Track.id.in_(ids[start : start + CHUNK]))
        )


def _value(track: Track, field: str) -> Any:
    value = getattr(track, field)
    return value.value if isinstance(value, Visibility) else value


def edit(owner_id: int, ids: list[int], changes: dict[str, Any]) -> int:
    """Set the fields in `changes` (TAG_FIELDS and "visibility") on the owner's tracks among
    `ids`; keep what they were for undo() (replacing the previous bulk edit). Flushed.
    Raises NothingSelected, NothingToChange."""
    if not ids:
        raise NothingSelected()
    changes = {k: v for k, v in changes.items() if k in (*TAG_FIELDS, "visibility")}
    if not changes:
        raise NothingToChange()
    tags = {k: v for k, v in changes.items() if k in TAG_FIELDS}
    before: dict[str, dict[str, Any]] = {}
    old_albums: set[int] = set()
    old_artists: set[int] = set()
    tracks = list(_tracks(owner_id, ids))
    for track in tracks:
        before[str(track.id)] = {field: _value(track, field) for field in changes}
        old_albums.add(track.album_id)
        old_artists.update((track.artist_id, track.album_artist_id))
        if "visibility" in changes:
            track.visibility = Visibility(changes["visibility"])
    if tags:
        apply_tags_to_many((track, tags) for track in tracks)
    db.session.flush()
    prune(album_ids=sorted(old_albums), artist_ids=sorted(old_artists))
    db.session.execute(delete(BulkEdit).where(BulkEdit.owner_id == owner_id))
    db.session.add(BulkEdit(owner_id=owner_id, count=len(before), before=before))
    db.session.flush()
    return len(before)


def last_edit(owner_id: int) -> BulkEdit | None:
    return db.session.scalar(select(BulkEdit).where(BulkEdit.owner_id == owner_id))


def undo(owner_id: int) -> int:
    """Put back what the last bulk edit changed on the tracks still there; return how many.
    Flushed. Raises NothingToChange when there is no edit to undo."""
    found = last_edit(owner_id)
    if found is None:
        raise NothingToChange()
    ids = [int(i) for i in found.before]
    old_albums: set[int] = set()
    old_artists: set[int] = set()
    restored = 0
    retagged: list[tuple[Track, dict[str, Any]]] = []
    for track in _tracks(owner_id, ids):
        values = dict(found.before[str(track.id)])
        old_albums.add(track.album_id)
        old_artists.update((track.artist_id, track.album_artist_id))
        visibility = values.pop("visibility", None)
        if values:
            retagged.append((track, values))
        if visibility is not None:
            track.visibility = Visibility(visibility)
        restored += 1
    apply_tags_to_many(retagged)
    db.session.flush()
    prune(album_ids=sorted(old_albums), artist_ids=sorted(old_artists))
    db.session.delete(found)
    db.session.flush()
    return restored


def add_to_playlist(owner_id: int, ids: list[int], playlist_id: int) -> int:
    """Append the tracks to one of the owner's playlists (flushed). Raises as playlists.add_tracks."""
    if not ids:
        raise NothingSelected()
    return playlists.add_tracks(owner_id, playlist_id, ids)


def delete_tracks(owner_id: int, ids: list[int]) -> list[str]:
    """Delete the owner's tracks among `ids` (flushed); return the files to remove after commit."""
    files: list[str] = []
    for track in list(_tracks(owner_id, ids)):
        files.extend(editing.delete_track(track))
    return files
