"""Audio bytes, downloads and cover art."""

from __future__ import annotations

import hmac
from typing import NamedTuple

from flask import Blueprint, Response, abort, current_app, request, session
from flask_login import current_user

from app.extensions import db
from app.services.library import access
from app.streaming.files import limit_stalls
from app.web.sending import send_cover, send_track
from app.web.sessions import split_cookie_id

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


def _require_login() -> None:
    # Media clients get a bare 401, not a redirect to an HTML login page.
    if not current_user.is_authenticated:
        abort(401)


@bp.get("/stream/<int:track_id>/cover")
def cover(track_id: int) -> Response:
    _require_login()
    rel, pending = access.cover_of(current_user.id, track_id)
    return send_cover(rel, pending=pending)


def _visible_track(track_id: int) -> StreamTrack:
    """The track, if the session's user may hear it: one indexed query on the hot path.

    A seek is a new request, so this runs for every range a player asks for.
    With a session cookie, the user's token check and the track lookup are one
    query; only without one (a remember-me cookie alone) does Flask-Login load
    the user first.
    """
    parsed = split_cookie_id(session.get("_user_id"))
    if parsed is None:
        _require_login()
        parsed = current_user.id, current_user.session_token
    user_id, token = parsed
    row = db.session.execute(access.STREAM_LOOKUP, {"uid": user_id, "tid": track_id}).first()
    if row is None:
        # Tell "not logged in" (401) from "not yours" (404) only now, off the hot path.
        _require_login()
        abort(404)
    if row.disabled or not hmac.compare_digest(row.session_token.encode(), token.encode()):
        abort(401)
    return StreamTrack(*row[: len(access.STREAM_COLUMNS)])


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
