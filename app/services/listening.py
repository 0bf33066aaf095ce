"""Listens: recorded when the player reports a real one, never per byte request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import PlayEvent, Track, Visibility
from app.models.types import utcnow
from app.services import album_plays, mixes, recommend
from app.services.library import access

# A listen counts after half the track or four minutes, whichever comes first.
MIN_LISTEN_SECONDS = 240.0


def record_play(user_id: int, track_id: int) -> PlayEvent:
    """Raises NotFound for a track the user cannot see.

    The same track reported twice within a tenth of its length is one listen
    (a double report from a flaky network), not two.
    """
    track = access.get_visible_track(user_id, track_id)
    recent = db.session.scalar(
        select(PlayEvent)
        .where(
            PlayEvent.user_id == user_id,
            PlayEvent.track_id == track.id,
            PlayEvent.played_at > utcnow() - timedelta(seconds=max(5.0, track.duration / 10)),
        )
        .limit(1)
    )
    if recent is not None:
        return recent
    event = PlayEvent(user_id=user_id, track_id=track.id)
    db.session.add(event)
    db.session.flush()
    album_plays.count_listen(user_id, track.album_id)
    recommend.start_session(event)
    if track.visibility == Visibility.PUBLIC:
        recommend.queue_listen(event)
    mixes.note_changes(user_id)
    return event


def play_count(user_id: int, track_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(PlayEvent)
            .where(PlayEvent.user_id == user_id, PlayEvent.track_id == track_id)
        )
        or 0
    )


def recent_plays(user_id: int, limit: int = 50) -> list[tuple[PlayEvent, Track]]:
    """The user's latest listens of tracks they can still see, newest first."""
    rows = db.session.execute(
        select(PlayEvent, Track)
        .join(Track, Track.id == PlayEvent.track_id)
        .where(PlayEvent.user_id == user_id, access.visible_to(user_id))
        .order_by(PlayEvent.played_at.desc(), PlayEvent.id.desc())
        .limit(limit)
    )
    return [(event, track) for event, track in rows]


@dataclass
class ListeningStats:
    """A user's own listening: how much, and what most."""

    plays: int
    seconds: float
    distinct_tracks: int
    top_tracks: list[tuple[Track, int]]
    top_artists: list[tuple[str, int]]


def stats(user_id: int, top: int = 10) -> ListeningStats:
    """Counted from the user's play events on tracks they may still see."""
    visible = (PlayEvent.user_id == user_id, access.visible_to(user_id))
    plays, seconds, distinct = db.session.execute(
        select(
            func.count(PlayEvent.id), func.coalesce(func.sum(Track.duration), 0.0), func.count(func.distinct(Track.id))
        )
        .join(Track, Track.id == PlayEvent.track_id)
        .where(*visible)
    ).one()
    n = func.count(PlayEvent.id).label("n")
    top_ids = db.session.execute(
        select(PlayEvent.track_id, n)
        .join(Track, Track.id == PlayEvent.track_id)
        .where(*visible)
        .group_by(PlayEvent.track_id)
        .order_by(n.desc(), PlayEvent.track_id)
        .limit(top)
    ).all()
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_([i for i, _ in top_ids])))}
    artists = db.session.execute(
        select(func.min(Track.artist), n)
        .join(PlayEvent, PlayEvent.track_id == Track.id)
        .where(*visible)
        .group_by(Track.artist_key)
        .order_by(n.desc(), Track.artist_key)
        .limit(top)
    ).all()
    return ListeningStats(
        plays, float(seconds), distinct, [(by_id[i], c) for i, c in top_ids if i in by_id], [(a, c) for a, c in artists]
    )
