"""The "For you" mixes, precomputed: a job computes each listener's mixes
(recommend.for_you) and stores them; the home page and For you read them back.

- Reading (`for_you`) is two indexed queries: the listener's stored row, then its
  tracks, filtered again as they are now: a track deleted, made private by its owner or
  disliked since is left out, and one played since leaves Rediscover and New for you.
  Daily mixes take the day's order when read, so it changes each day without a job.
- A listener who has no stored mixes yet (a new account, or the first visit after the
  upgrade) gets them computed on the spot and stored: they would rather wait once than
  see an empty page while they have a history. One without any history is not stored:
  what they see (only New for you) is one cheap query, and stays current.
- Refreshing (`refresh`, the REFRESH_MIXES job) happens every night for everyone with
  stored mixes or recent listens (`queue_all`), and when the listener's history changed
  enough (`note_changes`): after a tenth or so of their taste's size in new listens,
  likes and hearts, at most REFRESH_AFTER, queued once until it has run.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, union, update

from app.extensions import db
from app.models import PlayEvent, StoredMixes, Track, User
from app.models.types import utcnow
from app.services import jobs, recommend
from app.services.library import access
from app.services.recommend import Mix

# A refresh is queued after this many listens, likes and hearts at most (fewer for a
# small history: a fifth of its tracks, at least one).
REFRESH_AFTER = 20
REFRESH_SHARE = 5
# A refresh queued this long ago and not done is taken as lost (the worker died): queued again.
LOST_REFRESH = timedelta(hours=1)
# Mixes whose tracks leave them when the listener plays one.
UNPLAYED_KINDS = ("rediscover", "new")


def for_you(user_id: int, today: date | None = None) -> list[Mix]:
    """The listener's mixes, as stored (computed and stored first when there are none;
    flushed: the caller commits)."""
    found = stored(user_id, today)
    return refresh(user_id, today) if found is None else found


def stored(user_id: int, today: date | None = None) -> list[Mix] | None:
    """The stored mixes, filtered as the tracks are now; None when the listener has none."""
    row = db.session.get(StoredMixes, user_id)
    if row is None:
        return None
    wanted = {int(track_id) for mix in row.mixes for track_id in mix["tracks"]}
    if not wanted:
        return []
    played_since = (
        select(PlayEvent.id)
        .where(PlayEvent.track_id == Track.id, PlayEvent.user_id == user_id, PlayEvent.played_at > row.computed_at)
        .exists()
    )
    found = db.session.execute(
        select(Track, played_since).where(
            Track.id.in_(wanted),
            access.visible_to(user_id),
            Track.id.not_in(recommend.disliked_query(user_id)),
        )
    )
    tracks: dict[int, Track] = {}
    played: set[int] = set()
    for track, was_played in found:
        tracks[track.id] = track
        if was_played:
            played.add(track.id)
    mixes = []
    for mix in row.mixes:
        skip = played if mix["kind"] in UNPLAYED_KINDS else set()
        kept = [tracks[i] for i in mix["tracks"] if i in tracks and i not in skip]
        if mix["kind"] == "daily":
            kept = recommend.day_order(user_id, kept, today)
        if kept:
            mixes.append(Mix(mix["kind"], mix["label"], kept))
    return mixes


def refresh(user_id: int, today: date | None = None) -> list[Mix]:
    """Compute the listener's mixes now and store them (flushed); return them in the day's
    order. A listener without any history has nothing stored (and their row is removed)."""
    taste = recommend.taste_of(user_id)
    mixes = recommend.for_you(user_id, taste, shuffled=False)
    row = db.session.get(StoredMixes, user_id)
    if not taste:
        if row is not None:
            db.session.delete(row)
    else:
        if row is None:
            row = StoredMixes(user_id=user_id)
            db.session.add(row)
        row.mixes = [_plain(mix) for mix in mixes]
        row.basis = len(taste)
        row.changes = 0
        row.computed_at = utcnow()
        row.refresh_queued_at = None
    db.session.flush()
    for mix in mixes:
        if mix.kind == "daily":
            mix.tracks = recommend.day_order(user_id, mix.tracks, today)
    return mixes


def refresh_job(user_id: int) -> dict[str, int]:
    """The REFRESH_MIXES job: recompute one listener's mixes (nothing for a deleted account)."""
    if db.session.get(User, user_id) is None:
        return {"mixes": 0, "tracks": 0}
    mixes = refresh(user_id)
    return {"mixes": len(mixes), "tracks": sum(len(mix.tracks) for mix in mixes)}


def note_changes(user_id: int, count: int = 1) -> None:
    """Count `count` new listens, likes, dislikes or hearts of the listener's; when enough
    have come since the mixes were computed, queue their refresh (once: sent when the
    caller commits). One UPDATE when nothing is queued."""
    counted = db.session.execute(
        update(StoredMixes)
        .where(StoredMixes.user_id == user_id)
        .values(changes=StoredMixes.changes + count)
        .returning(StoredMixes.changes, StoredMixes.basis, StoredMixes.refresh_queued_at)
    ).first()
    if counted is None:
        return  # nothing stored: the next visit computes them
    changes, basis, queued_at = counted
    now = utcnow()
    if changes < max(1, min(REFRESH_AFTER, basis // REFRESH_SHARE)):
        return
    if queued_at is not None and queued_at > now - LOST_REFRESH:
        return
    # Two listens at once cross the line together: only the one that marks the row queues.
    same = StoredMixes.refresh_queued_at.is_(None) if queued_at is None else StoredMixes.refresh_queued_at == queued_at
    marked = db.session.execute(
        update(StoredMixes).where(StoredMixes.user_id == user_id, same).values(refresh_queued_at=now)
    )
    if marked.rowcount == 1:
        jobs.submit(jobs.REFRESH_MIXES, user_id)


def queue_all() -> int:
    """Queue a refresh for every active account with stored mixes or a listen in the taste
    window (the nightly job: new uploads reach New for you, co-listening changes reach the
    daily mixes). One job each, so no transaction holds the database for all of them."""
    since = utcnow() - recommend.TASTE_WINDOW
    wanted = union(
        select(StoredMixes.user_id),
        select(PlayEvent.user_id).where(PlayEvent.played_at >= since).distinct(),
    ).subquery()
    users = list(
        db.session.scalars(
            select(User.id).where(User.id.in_(select(wanted.c[0])), User.disabled.is_(False)).order_by(User.id)
        )
    )
    if users:
        jobs.submit_many(jobs.REFRESH_MIXES, [(user_id,) for user_id in users])
    return len(users)


def _plain(mix: Mix) -> dict[str, Any]:
    return {"kind": mix.kind, "label": mix.label, "tracks": [track.id for track in mix.tracks]}
