"""Listening: record a play, your recent plays, your stats; likes and dislikes
(the pages' thumbs, services/likes.py: a signal for recommendations, apart from
the favourites' hearts). The same services as the player's API and the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView

from app.api_v1 import schemas
from app.api_v1.auth import api_user
from app.api_v1.common import BEARER, limited, protected, track_data, tracks_data
from app.services import likes, listening
from app.services.library import filtering
from app.unit_of_work import commit, retrying

bp = protected("v1_plays", "Plays, stats and likes", "")
TRACK_NOT_FOUND = {"schema": schemas.ErrorSchema, "description": "No such track (or another account's private one)"}


@bp.post("/plays")
@bp.arguments(schemas.PlayCreateSchema)
@bp.response(201, schemas.PlayRecordedSchema)
@bp.alt_response(404, **TRACK_NOT_FOUND)
@bp.doc(security=BEARER)
@limited("update")
def record(body: dict[str, Any]) -> dict[str, Any]:
    """Record that you listened to a track (a repeat within a tenth of its length counts once)."""
    user_id = api_user().id
    event = listening.record_play(user_id, body["track_id"])
    commit()
    return {"id": event.id, "track_id": event.track_id, "play_count": listening.play_count(user_id, event.track_id)}


@bp.get("/plays")
@bp.arguments(schemas.RecentQuerySchema, location="query")
@bp.response(200, schemas.PlayListSchema)
@bp.doc(security=BEARER)
@limited("read")
def recent(args: dict[str, Any]) -> dict[str, Any]:
    """Your most recent plays, newest first."""
    user_id = api_user().id
    rows = listening.recent_plays(user_id, limit=args["limit"])
    names = filtering.owner_names({track.owner_id for _, track in rows})
    data = [{"id": e.id, "played_at": e.played_at, "track": track_data(t, user_id, names)} for e, t in rows]
    return {"data": data}


@bp.get("/plays/stats")
@bp.response(200, schemas.PlayStatsSchema)
@bp.doc(security=BEARER)
def stats() -> dict[str, Any]:
    """Your listening: plays, time, distinct tracks, your top tracks and artists."""
    user_id = api_user().id
    found = listening.stats(user_id)
    tracks = tracks_data([t for t, _ in found.top_tracks], user_id)
    return {
        "plays": found.plays,
        "seconds": found.seconds,
        "distinct_tracks": found.distinct_tracks,
        "top_tracks": [{"track": t, "plays": n} for t, (_, n) in zip(tracks, found.top_tracks, strict=True)],
        "top_artists": [{"artist": a, "plays": n} for a, n in found.top_artists],
    }


def _like_answer(track_id: int, value: str) -> dict[str, Any]:
    return {"track_id": track_id, "liked": value == likes.LIKED, "state": value}


def _set_like(state: str, name: str, summary: str) -> Callable[[int], dict[str, Any]]:
    """The handler that puts a track in `state` (like, dislike or neither); the
    three differ only by state and by what the documentation says."""

    def handler(track_id: int) -> dict[str, Any]:
        user_id = api_user().id
        value = retrying(lambda: likes.set_state(user_id, track_id, state))
        return _like_answer(track_id, value)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary
    documented = bp.doc(security=BEARER)(limited("update")(handler))
    return bp.response(200, schemas.LikeSchema)(bp.alt_response(404, **TRACK_NOT_FOUND)(documented))


like = _set_like(likes.LIKED, "like", "Like a track (it replaces a dislike); liking twice is the same.")
dislike = _set_like(
    likes.DISLIKED, "dislike", "Dislike a track (radio and recommendations leave it out; it replaces a like)."
)
unlike = _set_like(likes.NEITHER, "unlike", "Take a like or a dislike back.")


@bp.route("/tracks/<int:track_id>/like")
class TrackLike(MethodView):
    """One rule for every method of the URL, so an id out of range is a plain 404 for each (not 405)."""

    put = staticmethod(like)
    delete = staticmethod(unlike)


@bp.route("/tracks/<int:track_id>/dislike")
class TrackDislike(MethodView):
    """Dislike, and take it back."""

    put = staticmethod(dislike)
    delete = staticmethod(unlike)
