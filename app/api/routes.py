"""A small JSON API for the player, with the session cookie and the usual access rules."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.services import listening, playlists
from app.services.library import access, browse
from app.unit_of_work import commit
from app.web.serializers import album_data, playlist_data, track_data

bp = Blueprint("api", __name__)


@bp.before_request
def _require_login() -> None:
    if not current_user.is_authenticated:
        abort(401)


@bp.get("/tracks/<int:track_id>")
def track(track_id: int) -> Response:
    found = access.get_visible_track(current_user.id, track_id)
    return jsonify(dict(track_data(found), favourite=bool(playlists.favourite_ids(current_user.id, [found.id]))))


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
