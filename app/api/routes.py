"""A small JSON API for the player, with the session cookie and the usual access rules."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.services import likes, listening, play_queue, playlists, recommend
from app.services.library import access, browse
from app.services.transcode.presets import choose, parse_quality
from app.unit_of_work import commit, retrying
from app.web.serializers import album_data, playlist_data, track_data

bp = Blueprint("api", __name__)


@bp.before_request
def _require_login() -> None:
    if not current_user.is_authenticated:
        abort(401)


@bp.get("/tracks/<int:track_id>")
def track(track_id: int) -> Response:
    found = access.get_visible_track(current_user.id, track_id)
    return jsonify(
        dict(
            track_data(found),
            favourite=bool(playlists.favourite_ids(current_user.id, [found.id])),
            like=likes.state(current_user.id, [found.id]).get(found.id, likes.NEITHER),
        )
    )


@bp.post("/tracks/<int:track_id>/like")
def like(track_id: int) -> Response | tuple[Response, int]:
    """Set the user's like state of a track: {"value": "like" | "dislike" | "none"}."""
    payload = request.get_json(silent=True)
    value = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(value, str):
        return jsonify({"error": "value must be like, dislike or none"}), 400
    user_id = current_user.id
    now = retrying(lambda: likes.set_state(user_id, track_id, value))
    return jsonify({"track_id": track_id, "like": now})


@bp.get("/tracks/<int:track_id>/sound")
def track_sound(track_id: int) -> Response:
    """What /stream/<id> sends at `quality` (and `format=mp3` for players without
    Opus): the codec, its bitrate in kbit/s and whether it is transcoded, for the player bar."""
    found = access.get_visible_track(current_user.id, track_id)
    preset = choose(found, parse_quality(request.args.get("quality")), opus=request.args.get("format") != "mp3")
    if preset is None:
        codec = found.codec or found.format
        return jsonify(codec=codec, bitrate=round((found.bitrate or 0) / 1000), transcoded=False)
    return jsonify(
        codec=preset.codec.upper() if preset.codec == "mp3" else "Opus", bitrate=preset.bitrate // 1000, transcoded=True
    )


@bp.get("/playlists/<int:playlist_id>")
def playlist(playlist_id: int) -> Response:
    found = playlists.get_visible_playlist(current_user.id, playlist_id)
    return jsonify(playlist_data(found, playlists.entries(found, current_user.id)))


@bp.get("/albums/<int:album_id>")
def album(album_id: int) -> Response:
    return jsonify(album_data(*browse.get_album(current_user.id, album_id)))


@bp.post("/plays")
def plays() -> tuple[Response, int]:
    payload = request.get_json(silent=True) or {}
    track_id = payload.get("track_id")
    if not isinstance(track_id, int) or isinstance(track_id, bool):
        return jsonify({"error": "track_id must be a number"}), 400
    event = listening.record_play(current_user.id, track_id)
    commit()
    return jsonify(
        {"recorded": True, "play_id": event.id, "play_count": listening.play_count(current_user.id, track_id)}
    ), 201


# The name the Subsonic apps see in getPlayQueue's changedBy.
WEB_CLIENT = "Music Cloud web player"


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@bp.get("/queue")
def queue() -> Response:
    """The saved play queue (the Subsonic API's getPlayQueue), for another device to pick up."""
    saved = play_queue.saved_queue(current_user.id)
    if saved is None:
        return jsonify({"tracks": [], "current": None, "position_ms": 0, "changed_at": None, "changed_by": None})
    return jsonify(
        {
            "tracks": [track_data(t) for t in saved.tracks],
            "current": saved.current_index,
            "position_ms": saved.position_ms,
            "changed_at": saved.changed_at.isoformat(),
            "changed_by": saved.changed_by,
        }
    )


@bp.post("/queue")
def save_queue() -> Response | tuple[Response, int]:
    """Replace the saved play queue (the Subsonic API's savePlayQueue); an empty list clears it."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "a JSON object is expected"}), 400
    track_ids, current, position = payload.get("track_ids"), payload.get("current"), payload.get("position_ms", 0)
    if not isinstance(track_ids, list) or not all(_int(i) for i in track_ids):
        return jsonify({"error": "track_ids must be a list of numbers"}), 400
    if not (current is None or _int(current)) or not _int(position):
        return jsonify({"error": "current and position_ms must be numbers"}), 400
    play_queue.save_queue(current_user.id, track_ids, current, position, WEB_CLIENT)
    commit()
    return jsonify({"saved": True})


# Ids a radio request may carry (this session's played and skipped tracks).
RADIO_HISTORY_MAX = 2000
ID_MAX = 2**31 - 1


def _id(value: object) -> bool:
    """A number that can be a row's id (larger ones would overflow PostgreSQL's integer)."""
    return _int(value) and 0 < value <= ID_MAX


@bp.post("/radio")
def radio() -> Response | tuple[Response, int]:
    """The next tracks of a radio: {"seed": {"kind": "track" | "artist" | "genre", "value": id or name}
    (or {"kind": "recommended"}, the shuffle by recommendation),
    "played": [ids], "skipped": [ids skipped in their first 30 seconds], "count": n}."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("seed"), dict):
        return jsonify({"error": "a JSON object with a seed is expected"}), 400
    kind, value = payload["seed"].get("kind"), payload["seed"].get("value")
    played, skipped, count = payload.get("played", []), payload.get("skipped", []), payload.get("count", 10)
    if kind not in recommend.RADIO_KINDS or not (
        value is None if kind == "recommended" else (isinstance(value, str) if kind == "genre" else _id(value))
    ):
        return jsonify(
            {"error": "seed.kind must be track, artist or genre with an id or a genre name, or recommended alone"}
        ), 400
    for ids in (played, skipped):
        if not isinstance(ids, list) or len(ids) > RADIO_HISTORY_MAX or not all(_id(i) for i in ids):
            return jsonify({"error": "played and skipped must be lists of numbers"}), 400
    if not _int(count):
        return jsonify({"error": "count must be a number"}), 400
    tracks = recommend.radio(current_user.id, kind, value, played=played, skipped=skipped, count=count)
    return jsonify({"tracks": [track_data(t) for t in tracks]})
