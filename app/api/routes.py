"""A small JSON API for the player, with the session cookie and the usual access rules."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.errors import or_abort
from app.extensions import db
from app.services import library, listening, playlists
from app.templating import track_data

bp = Blueprint("api", __name__)


@bp.before_request
def _require_login() -> None:
    if not current_user.is_authenticated:
        abort(401)


@bp.get("/tracks/<int:track_id>")
def track(track_id: int) -> Response:
    found = or_abort(library.get_visible_track, current_user.id, track_id)
    return jsonify(dict(track_data(found), favourite=found.id in playlists.favourite_ids(current_user.id)))


@bp.get("/playlists/<int:playlist_id>")
def playlist(playlist_id: int) -> Response:
    found = or_abort(playlists.get_visible_playlist, current_user.id, playlist_id)
    views = playlists.entries(found, current_user.id)
    return jsonify(
        {
            "id": found.id,
            "name": found.name,
            "description": found.description,
            "tracks": [dict(track_data(v.track), entry=v.entry.id) for v in views],
        }
    )


@bp.get("/albums/<int:album_id>")
def album(album_id: int) -> Response:
    summary, tracks = or_abort(library.get_album, current_user.id, album_id)
    return jsonify(
        {"id": summary.id, "title": summary.title, "artist": summary.artist, "tracks": [track_data(t) for t in tracks]}
    )


@bp.post("/plays")
def plays() -> tuple[Response, int]:
    payload = request.get_json(silent=True) or {}
    track_id = payload.get("track_id")
    if not isinstance(track_id, int) or isinstance(track_id, bool):
        return jsonify({"error": "track_id must be a number"}), 400
    event = or_abort(listening.record_play, current_user.id, track_id)
    db.session.commit()
    return jsonify(
        {"recorded": True, "play_id": event.id, "play_count": listening.play_count(current_user.id, track_id)}
    ), 201
