"""Audio bytes, downloads and cover art."""

from __future__ import annotations

import hmac
import unicodedata
from typing import NamedTuple
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request, send_file, session
from flask_login import current_user
from werkzeug.http import dump_options_header

from app.extensions import db
from app.models import Track
from app.services import library
from app.services.errors import NotFound
from app.services.storage import get_storage
from app.streaming.files import DAY, MissingFile, handoff_headers, limit_stalls, serve_audio

bp = Blueprint("streaming", __name__)


@bp.after_request
def _drop_stalled_clients(response: Response) -> Response:
    limit_stalls(request.environ, current_app.config["SEND_TIMEOUT"])
    return response


class StreamTrack(NamedTuple):
    """The columns serving a file needs (loading whole ORM objects costs more)."""

    id: int
    storage_path: str
    mime_type: str
    sha256: str
    format: str
    original_filename: str


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
    return send_cover(rel)


def send_cover(rel: str | None) -> Response:
    """A track's stored cover (by its path under the uploads), or the placeholder."""
    if rel is None:
        response = current_app.send_static_file(PLACEHOLDER_COVER)
        response.headers["Cache-Control"] = f"private, max-age={DAY}"
        return response
    try:
        path = get_storage().local_path(rel)
    except NotFound:
        abort(404)
    # Track ids are never reused and a track's art never changes.
    response = send_file(path, mimetype="image/jpeg", conditional=True, max_age=YEAR)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    return response


def _visible_track(track_id: int) -> StreamTrack:
    """The track, if the session's user may hear it: one indexed query on the hot path.

    A seek is a new request, so this runs for every range a player asks for.
    With a session cookie, the user's token check and the track lookup are one
    query; only without one (a remember-me cookie alone) does Flask-Login load
    the user first.
    """
    user_id, _, token = (session.get("_user_id") or "").partition(":")
    if not user_id.isdigit() or not token:
        _require_login()
        user_id, token = str(current_user.id), current_user.session_token
    row = db.session.execute(library.STREAM_LOOKUP, {"uid": int(user_id), "tid": track_id}).first()
    if row is None:
        # Tell "not logged in" (401) from "not yours" (404) only now, off the hot path.
        _require_login()
        abort(404)
    if row.disabled or not hmac.compare_digest(row.session_token.encode(), token.encode()):
        abort(401)
    return StreamTrack(*row[: len(library.STREAM_COLUMNS)])


def send_track(track: Track | StreamTrack, *, download_name: str | None = None) -> Response:
    """The file, by the configured mode: Python (with ranges), or a hand-off header."""
    mode = current_app.config["SEND_FILE_MODE"]
    path = get_storage().local_path(track.storage_path)
    if mode in ("x-accel", "x-sendfile"):
        prefix = current_app.config["X_ACCEL_PREFIX"]
        headers = handoff_headers(mode, track.mime_type, track.storage_path, path, x_accel_prefix=prefix)
        response = Response(status=200, headers=headers)
    else:
        # serve_audio sets the caching and range headers itself.
        try:
            response = serve_audio(request.environ, path, track.mime_type, track.sha256)
        except MissingFile:
            current_app.logger.warning("track %s: its file %s is missing", track.id, path)
            raise
    if download_name:
        set_attachment(response, download_name)
    return response


def set_attachment(response: Response, name: str) -> None:
    """RFC 6266: an ASCII filename (quoted as needed) and, for other names, filename*."""
    stem, dot, ext = name.rpartition(".")
    fallback = unicodedata.normalize("NFKD", stem if dot else name).encode("ascii", "ignore").decode().strip()
    fallback = (fallback or "track") + (dot + ext if dot else "")
    options = {"filename": fallback}
    if fallback != name:
        options["filename*"] = "UTF-8''" + quote(name, safe="!#$&+^`|~")
    response.headers["Content-Disposition"] = dump_options_header("attachment", options)


@bp.route("/stream/<int:track_id>", methods=["GET", "HEAD"])
def stream(track_id: int) -> Response:
    return send_track(_visible_track(track_id))


@bp.route("/stream/<int:track_id>/download", methods=["GET", "HEAD"])
def download(track_id: int) -> Response:
    track = _visible_track(track_id)
    name = track.original_filename
    if not name.lower().endswith("." + track.format):
        name = f"{name}.{track.format}"
    return send_track(track, download_name=name)
