"""Audio bytes, downloads and cover art."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user
from werkzeug.wrappers import Response

from app.library.uploads import current_storage
from app.services import library
from app.services.errors import NotFound

bp = Blueprint("streaming", __name__)

PLACEHOLDER_COVER = "img/cover-placeholder.svg"
YEAR = 365 * 24 * 3600


def _require_login() -> None:
    # Media clients get a bare 401, not a redirect to an HTML login page.
    if not current_user.is_authenticated:
        abort(401)


@bp.get("/stream/<int:track_id>/cover")
def cover(track_id: int) -> Response:
    _require_login()
    try:
        rel = library.cover_path(current_user.id, track_id)
    except NotFound:
        abort(404)
    if rel is None:
        response = current_app.send_static_file(PLACEHOLDER_COVER)
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response
    try:
        path = current_storage().path(rel)
    except NotFound:
        abort(404)
    # The file name is the picture's hash: a changed cover has a new name.
    response = send_file(path, mimetype="image/jpeg", conditional=True, max_age=YEAR)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    return response


def _track_file(track_id: int):
    _require_login()
    try:
        track = library.get_visible_track(current_user.id, track_id)
        return track, current_storage().path(track.storage_path)
    except NotFound:
        abort(404)


@bp.route("/stream/<int:track_id>", methods=["GET", "HEAD"])
def stream(track_id: int) -> Response:
    track, path = _track_file(track_id)
    response = send_file(path, mimetype=track.mime_type, conditional=True, etag=track.sha256, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/stream/<int:track_id>/download", methods=["GET", "HEAD"])
def download(track_id: int) -> Response:
    track, path = _track_file(track_id)
    name = track.original_filename
    if not name.lower().endswith("." + track.format):
        name = f"{name}.{track.format}"
    response = send_file(
        path, mimetype=track.mime_type, as_attachment=True, download_name=name, conditional=True, etag=track.sha256
    )
    response.headers["Cache-Control"] = "private, no-cache"
    return response
