"""A small JSON API for the player, with the session cookie and the usual access rules."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import Track
from app.services import library, listening, playlists
from app.services.errors import NotFound
from app.templating import track_data

bp = Blueprint("api", __name__)


@bp.before_request
def _require_login() -> None:
    if not current_user.is_authenticated:
        abort(401)


def track_json(track: Track) -> dict[str, Any]:
    return track_data(track)


@bp.get("/tracks/<int:track_id>")
def track(track_id: int) -> Response:
    try:
        found = library.get_visible_track(current_user.id, track_id)
    except NotFound:
        abort(404)
    return jsonify(dict(track_json(found), favourite=found.id in playlists.favourite_ids(current_user.id)))


@bp.get("/playlists/<int:playlist_id>")
def playlist(playlist_id: int) -> Response:
    try:
        found = playlists.get_visible_playlist(current_user.id, playlist_id)
    except NotFound:
        abort(404)
    views = playlists.entries(found, current_user.id)
    return jsonify(
        {
            "id": found.id,
            "name": found.name,
            "description": found.description,
            "tracks": [dict(track_json(v.track), entry=v.entry.id) for v in views],
        }
    )


@bp.get("/albums/<int:album_id>")
def album(album_id: int) -> Response:
    try:
        summary, tracks = library.get_album(current_user.id, album_id)
    except NotFound:
        abort(404)
    return jsonify(
        {"id": summary.id, "title": summary.title, "artist": summary.artist, "tracks": [track_json(t) for t in tracks]}
    )


@bp.post("/plays")
def plays() -> tuple[Response, int]:
    payload = request.get_json(silent=True) or {}
    track_id = payload.get("track_id")
    if not isinstance(track_id, int) or isinstance(track_id, bool):
        return jsonify({"error": "track_id must be a number"}), 400
    try:
        event = listening.record_play(current_user.id, track_id)
    except NotFound:
        abort(404)
    db.session.commit()
    return jsonify(
        {"recorded": True, "play_id": event.id, "play_count": listening.play_count(current_user.id, track_id)}
    ), 201
