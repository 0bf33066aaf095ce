"""Likes and dislikes of tracks: signals for recommendations and radio, not a collection
(that is the favourite heart, playlists.py).

Every function takes plain ids, checks that the user can see the track (NotFound
otherwise, access.py's rule), flushes and never commits. Doing the same thing
twice changes nothing; a like replaces a dislike and the other way round.

    like(user_id, track_id)       the track is liked
    dislike(user_id, track_id)    the track is disliked
    clear(user_id, track_id)      neither (the one-click undo)
    state(user_id, track_ids)     {track_id: "like" | "dislike"} for those the user marked
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from app.extensions import db
from app.models import TrackLike
from app.models.discovery import DISLIKE, LIKE
from app.services import mixes, recommend
from app.services.errors import DomainError
from app.services.library import access
from app.services.rows import delete_row

LIKED = "like"
DISLIKED = "dislike"
NEITHER = "none"
_VALUES = {LIKED: LIKE, DISLIKED: DISLIKE}
_NAMES = {LIKE: LIKED, DISLIKE: DISLIKED}


class InvalidLike(DomainError):
    """A value other than like, dislike or none."""

    code = "INVALID_LIKE"


def set_state(user_id: int, track_id: int, value: str) -> str:
    """Set the user's like state of a track to "like", "dislike" or "none"; return it.

    Raises InvalidLike for another value, NotFound for a track the user cannot see. The
    recommendations' update for the track is queued (sent when the caller commits).
    """
    if value not in (LIKED, DISLIKED, NEITHER):
        raise InvalidLike(value=str(value)[:20])
    access.get_visible_track(user_id, track_id)
    row = db.session.get(TrackLike, (user_id, track_id))
    if value == NEITHER:
        delete_row(TrackLike, (user_id, track_id))
    elif row is None:
        db.session.add(TrackLike(user_id=user_id, track_id=track_id, value=_VALUES[value]))
    elif row.value != _VALUES[value]:
        row.value = _VALUES[value]
    db.session.flush()
    recommend.queue_update([track_id])
    mixes.note_changes(user_id)
    return value


def like(user_id: int, track_id: int) -> None:
    """Like a track. Raises NotFound."""
    set_state(user_id, track_id, LIKED)


def dislike(user_id: int, track_id: int) -> None:
    """Dislike a track (radio skips it; lists show it dimmed if the user wants). Raises NotFound."""
    set_state(user_id, track_id, DISLIKED)


def clear(user_id: int, track_id: int) -> None:
    """Neither like nor dislike. Raises NotFound."""
    set_state(user_id, track_id, NEITHER)


def state(user_id: int, track_ids: Iterable[int]) -> dict[int, str]:
    """{track id: "like" or "dislike"} for the tracks among `track_ids` the user marked
    (a page's rows); the others are absent."""
    wanted = set(track_ids)
    if not wanted:
        return {}
    rows = db.session.execute(
        select(TrackLike.track_id, TrackLike.value).where(TrackLike.user_id == user_id, TrackLike.track_id.in_(wanted))
    )
    return {track_id: _NAMES[value] for track_id, value in rows}


def disliked_ids(user_id: int) -> set[int]:
    """Every track the user disliked (radio and recommendations leave them out)."""
    return recommend.disliked_ids(user_id)


def liked_ids(user_id: int) -> set[int]:
    return set(
        db.session.scalars(select(TrackLike.track_id).where(TrackLike.user_id == user_id, TrackLike.value == LIKE))
    )


def counts(track_id: int) -> tuple[int, int]:
    """(likes, dislikes) of a track, across all users (counts only)."""
    rows = dict(
        db.session.execute(
            select(TrackLike.value, func.count()).where(TrackLike.track_id == track_id).group_by(TrackLike.value)
        )
        .tuples()
        .all()
    )
    return rows.get(LIKE, 0), rows.get(DISLIKE, 0)
