"""What an app reports as playing now, and the play queue it saves for another
device to pick up (the Subsonic API's scrobble with submission=false,
getNowPlaying, savePlayQueue and getPlayQueue). Both are the user's own:
nobody else sees them. Functions flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from app.extensions import db
from app.models import NowPlaying, PlayQueue, PlayQueueEntry, Track
from app.models.types import utcnow
from app.services.credentials import clean_client
from app.services.errors import DomainError, NotFound
from app.services.library import access

# A report older than this is no longer "now" (a long track, paused a while).
NOW_PLAYING_MINUTES = 30
MAX_QUEUE = 5000


class QueueError(DomainError):
    """QUEUE_TOO_LONG (max), QUEUE_INDEX_OUT_OF_RANGE."""


def report_playing(user_id: int, track_id: int, client: str | None) -> None:
    """Raises NotFound for a track the user cannot see."""
    access.get_visible_track(user_id, track_id)
    row = db.session.get(NowPlaying, user_id)
    if row is None:
        row = NowPlaying(user_id=user_id)
        db.session.add(row)
    row.track_id, row.client, row.started_at = track_id, clean_client(client), utcnow()
    db.session.flush()


@dataclass
class Playing:
    track: Track
    client: str | None
    started_at: datetime


def now_playing(user_id: int) -> list[Playing]:
    """The user's own report, if recent and the track still visible."""
    since = utcnow() - timedelta(minutes=NOW_PLAYING_MINUTES)
    rows = db.session.execute(
        select(NowPlaying, Track)
        .join(Track, Track.id == NowPlaying.track_id)
        .where(NowPlaying.user_id == user_id, NowPlaying.started_at >= since, access.visible_to(user_id))
    )
    return [Playing(track, row.client, row.started_at) for row, track in rows]


def save_queue(
    user_id: int, track_ids: list[int], current_index: int | None, position_ms: int, client: str | None
) -> None:
    """Replace the user's saved queue. An empty list clears it.

    Raises NotFound for a track the user cannot see, QueueError for a queue over
    MAX_QUEUE or a current index outside it.
    """
    if len(track_ids) > MAX_QUEUE:
        raise QueueError("QUEUE_TOO_LONG", max=MAX_QUEUE)
    visible = set(db.session.scalars(select(Track.id).where(Track.id.in_(set(track_ids)), access.visible_to(user_id))))
    if any(i not in visible for i in track_ids):
        raise NotFound("TRACK_NOT_FOUND")
    if current_index is not None and not 0 <= current_index < len(track_ids):
        raise QueueError("QUEUE_INDEX_OUT_OF_RANGE")
    db.session.execute(delete(PlayQueueEntry).where(PlayQueueEntry.user_id == user_id))
    queue = db.session.get(PlayQueue, user_id)
    if not track_ids:
        if queue is not None:
            db.session.delete(queue)
        db.session.flush()
        return
    if queue is None:
        queue = PlayQueue(user_id=user_id)
        db.session.add(queue)
    queue.current_index = current_index
    queue.position_ms = max(0, position_ms)
    queue.changed_at = utcnow()
    queue.changed_by = clean_client(client)
    db.session.add_all(
        PlayQueueEntry(user_id=user_id, position=i, track_id=track_id) for i, track_id in enumerate(track_ids)
    )
    db.session.flush()


@dataclass
class SavedQueue:
    tracks: list[Track]
    current_index: int | None
    position_ms: int
    changed_at: datetime
    changed_by: str | None


def saved_queue(user_id: int) -> SavedQueue | None:
    """The saved queue, leaving out tracks the user can no longer see (the current
    index follows its track, or is dropped with it)."""
    queue = db.session.get(PlayQueue, user_id)
    if queue is None:
        return None
    rows = db.session.execute(
        select(PlayQueueEntry.position, Track)
        .join(Track, Track.id == PlayQueueEntry.track_id)
        .where(PlayQueueEntry.user_id == user_id, access.visible_to(user_id))
        .order_by(PlayQueueEntry.position)
    ).all()
    positions = [position for position, _track in rows]
    current = positions.index(queue.current_index) if queue.current_index in positions else None
    return SavedQueue([t for _p, t in rows], current, queue.position_ms, queue.changed_at, queue.changed_by)
