"""Artwork an owner uploads for a track, or for their own tracks of an album.

The picture is checked and thumbnailed in the tag reader's sandboxed workers
(tags.artwork_here: a whole JPEG, PNG or WebP picture of at most
ARTWORK_MAX_PIXELS, decoded under the workers' memory limit and deadline). Its
thumbnail is stored as an embedded cover's is (`<user id>/covers/<sha256>.jpg`,
once per distinct picture), and the tracks point at it, marked
`artwork_uploaded`. The upload itself is not kept: only the thumbnail is ever
served, and it is made by the same code as an embedded cover's.

Removing it clears the cover and queues the cover job, which makes the
thumbnail of the file's embedded art again (or leaves the placeholder).

An album's artwork changes only the uploader's own tracks of that album: an
album is shared by every account with tracks under its title and artist, and
one account never changes what another account's tracks show.

Files: a new thumbnail is written before its rows are committed. When the commit
fails it stays: another request may have saved the same picture (one file per owner
and picture) and be about to name it, which no stored time can tell reliably (an
object store's has one-second steps); the library check removes it once it is no
longer recent if nothing names it. After the commit, leftovers() gives the
thumbnails no row names any more (the replaced picture), for the caller to pass to
covers.remove_files (which keeps a picture saved a moment ago).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from app.extensions import db
from app.models import Track
from app.services import jobs
from app.services.errors import Forbidden, NotFound
from app.services.library.access import get_own_track, visible_to
from app.services.storage import IncomingFile, Storage
from app.services.tags import ArtworkRejected, ArtworkTooLarge, Cover, ParserPool

__all__ = [
    "ArtworkChange",
    "ArtworkRejected",
    "ArtworkTooLarge",
    "album_tracks",
    "apply_artwork",
    "check_picture",
    "remove_artwork",
    "set_artwork",
    "track_for_artwork",
]


@dataclass
class ArtworkChange:
    """The stored files one artwork change touched (an Undoable for unit_of_work.commit)."""

    store: Storage
    added: str | None = None
    replaced: set[str] = field(default_factory=set)
    tracks: list[int] = field(default_factory=list)

    def prepare_commit(self) -> None:
        """Nothing to do: the thumbnail is durable once save_cover returns."""

    def abandon(self) -> None:
        """The rows were not committed: the new thumbnail stays for the library check (see
        the module docstring)."""

    def leftovers(self) -> list[str]:
        """After the commit: the replaced thumbnails no row names any more."""
        return [rel for rel in sorted(self.replaced) if rel != self.added and not _named(rel)]


def _named(rel: str) -> bool:
    return bool(db.session.scalar(select(func.count()).where(Track.cover_path == rel)))


def track_for_artwork(user_id: int, track_id: int) -> Track:
    """The user's own track. Raises NotFound (invisible) or Forbidden (another account's)."""
    return get_own_track(user_id, track_id)


def album_tracks(user_id: int, album_id: int) -> list[Track]:
    """The user's own tracks of an album, whose artwork an album upload changes.

    Raises NotFound when the user sees no track of the album, Forbidden
    (ALBUM_NOT_OWNED) when none of those is theirs.
    """
    own = list(
        db.session.scalars(
            select(Track).where(Track.album_id == album_id, Track.owner_id == user_id).order_by(Track.id)
        )
    )
    if own:
        return own
    seen = db.session.scalar(select(Track.id).where(Track.album_id == album_id, visible_to(user_id)).limit(1))
    if seen is None:
        raise NotFound("ALBUM_NOT_FOUND")
    raise Forbidden("ALBUM_NOT_OWNED")


def check_picture(pool: ParserPool, incoming: IncomingFile, max_bytes: int) -> Cover:
    """The thumbnail of an uploaded picture. Raises ArtworkRejected: ARTWORK_TOO_LARGE
    (over `max_bytes`), ARTWORK_INVALID, ARTWORK_TOO_MANY_PIXELS; a StorageError when
    it could not be received; UnsupportedAudio (READER_UNAVAILABLE ...) when no
    worker could look at it."""
    if incoming.too_large or incoming.size > max_bytes:
        raise ArtworkTooLarge("ARTWORK_TOO_LARGE", size_bytes=incoming.size, limit_bytes=max_bytes)
    if incoming.error is not None:
        raise incoming.error
    if incoming.size == 0:
        raise ArtworkRejected("ARTWORK_INVALID")
    incoming.close()  # the worker reads what was written
    return pool.artwork(incoming.path)


def apply_artwork(change: ArtworkChange, tracks: list[Track], cover: Cover) -> None:
    """Store a checked picture's thumbnail and make it the cover of `tracks` (one owner's).
    Flushes; the caller commits with `change` (see committing()), then deletes its leftovers()."""
    change.added = change.store.save_cover(tracks[0].owner_id, cover.digest, cover.jpeg)
    change.tracks = [t.id for t in tracks]
    for track in tracks:
        if track.cover_path and track.cover_path != change.added:
            change.replaced.add(track.cover_path)
        track.cover_path = change.added
        track.cover_pending = False
        track.artwork_uploaded = True
    db.session.flush()


def set_artwork(
    change: ArtworkChange, pool: ParserPool, tracks: list[Track], incoming: IncomingFile, max_bytes: int
) -> None:
    """Check an uploaded picture and make it the cover of `tracks`. Raises as check_picture."""
    apply_artwork(change, tracks, check_picture(pool, incoming, max_bytes))


def remove_artwork(change: ArtworkChange, tracks: list[Track]) -> None:
    """Bring back the embedded art of those of `tracks` with uploaded artwork: their
    cover job runs again once the caller commits. Flushes."""
    again = []
    for track in tracks:
        if not track.artwork_uploaded:
            continue
        if track.cover_path:
            change.replaced.add(track.cover_path)
        track.cover_path = None
        track.cover_pending = True
        track.artwork_uploaded = False
        again.append(track.id)
    change.tracks = again
    db.session.flush()
    if again:
        jobs.submit_many(jobs.MAKE_COVER, [(track_id,) for track_id in again])
