"""Cover thumbnails, made after upload by a background job (app/jobs/tasks.py).

Adding a file only notes that it carries art (tracks.cover_pending); the job
reads the art from the stored file through the tag reader's sandboxed
processes, stores the thumbnail once per distinct picture and points the
track at it. Until then the placeholder is served.

Thumbnails are shared: every track of an owner with the same picture names one
file. A request saves the picture before the rows naming it are committed, so a
thumbnail that no row names may be about to be named by a request in flight;
remove_unused() therefore leaves alone a picture saved (or saved again) in the
last RECENT seconds, and the daily library check removes it later if it stays
unused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Track
from app.services.errors import DomainError
from app.services.storage import Storage
from app.services.tags import ParserPool

# Seconds a saved picture is kept even when no row names it (longer than any request).
RECENT = 600.0


class TrackFileMissing(DomainError):
    """The track's stored file is not where its row says."""

    code = "TRACK_FILE_MISSING"
    status = 404


def make_cover(store: Storage, pool: ParserPool, track_id: int) -> str | None:
    """Make and record the thumbnail of a track's embedded art; return its stored name.

    Does nothing (returns the existing name, or None) for a track that is gone, has its
    thumbnail already (or uploaded artwork), or has none pending: running it twice is
    harmless; nor when artwork was uploaded while the file was read (returns None). Art
    that is no picture leaves the track without a cover. Raises TrackFileMissing, or
    UnsupportedAudio when the reader fails on the file.
    """
    track = db.session.get(Track, track_id)
    if track is None or not track.cover_pending or track.cover_path or track.artwork_uploaded:
        return None if track is None else track.cover_path
    try:
        with store.local_copy(track.storage_path) as path:
            cover = pool.cover(path)
    except FileNotFoundError:
        raise TrackFileMissing(track_id=track_id, path=track.storage_path) from None
    saved = store.save_cover(track.owner_id, cover.digest, cover.jpeg) if cover is not None else None
    # Reading the file takes a while: the owner may have uploaded artwork (or the track
    # gone) meanwhile. The row changes only if it still waits for this job.
    done = db.session.execute(
        update(Track)
        .where(
            Track.id == track_id,
            Track.cover_pending.is_(True),
            Track.cover_path.is_(None),
            Track.artwork_uploaded.is_(False),
        )
        .values(cover_path=saved, cover_pending=False)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(track)
    return saved if done.rowcount else None


def is_thumbnail(rel: str) -> bool:
    """Whether a stored name is a cover thumbnail (`<user id>/covers/<sha256>.jpg`)."""
    return rel.split("/")[1:2] == ["covers"]


def remove_unused(store: Storage, rels: Iterable[str], *, recent: float = RECENT) -> list[str]:
    """After a commit: remove the thumbnails of `rels` that no track names and nobody saved
    in the last `recent` seconds (see the module docstring). Returns those removed."""
    removed = []
    for rel in sorted(set(rels)):
        try:
            if db.session.scalar(select(func.count()).where(Track.cover_path == rel)):
                continue
            # A save landing between this look and the delete would lose its file: a window
            # of one call, which only a lock shared with every save could close.
            if store.stat(rel).modified > time.time() - recent:
                continue
            store.delete(rel)
        except (OSError, DomainError, SQLAlchemyError):
            continue  # gone already, or the store or database is away: the check sees to it
        removed.append(rel)
    return removed


def remove_files(store: Storage, files: Iterable[str]) -> None:
    """After a commit: remove what deleted tracks or replaced artwork left, audio and
    waveforms at once, thumbnails as remove_unused() allows."""
    files = list(files)
    store.delete_many([rel for rel in files if not is_thumbnail(rel)])
    remove_unused(store, [rel for rel in files if is_thumbnail(rel)])
