"""Audio bytes, downloads and cover art."""

from __future__ import annotations

import hmac
from typing import NamedTuple

from flask import Blueprint, Response, abort, current_app, request, session
from flask_login import current_user

from app.extensions import db
from app.services import stream_links
from app.services.library import access
from app.services.transcode.cache import TranscodeBusy
from app.services.transcode.presets import Preset, choose, parse_quality
from app.streaming.files import limit_stalls
from app.streaming.transcoded import send_variant
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
    return send_cover(rel, pending=pending, version=request.args.get("v"))


def _visible_track(track_id: int) -> tuple[StreamTrack, int]:
    """The track, if the session's user (or a signed URL's) may hear it, and that
    user's id: one indexed query on the hot path.

    A seek is a new request, so this runs for every range a player asks for.
    With a session cookie, the user's token check and the track lookup are one
    query; only without one (a remember-me cookie alone) does Flask-Login load
    the user first.
    """
    if "sig" in request.args:
        return _signed_track(track_id, request.args["sig"])
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
    return StreamTrack(*row[: len(access.STREAM_COLUMNS)]), int(user_id)


def _signed_track(track_id: int, sig: str) -> tuple[StreamTrack, int]:
    """A signed stream URL (the REST API's stream-url): no cookie needed, the
    same visibility rule, and a disabled account stops it."""
    user_id = stream_links.user_for(sig, track_id)
    if user_id is None:
        abort(401)
    row = db.session.execute(access.STREAM_LOOKUP, {"uid": user_id, "tid": track_id}).first()
    if row is None:
        abort(404)
    if row.disabled:
        abort(401)
    return StreamTrack(*row[: len(access.STREAM_COLUMNS)]), user_id


def _preset(track_id: int) -> tuple[StreamTrack, Preset | None, object, int]:
    """The track, the preset its `quality` (and `format`: mp3 for players
    without Opus) asks for (None for the original file), the track's model and
    the listener's id."""
    row, user_id = _visible_track(track_id)
    quality = parse_quality(request.args.get("quality"))
    track = access.get_visible_track(user_id, track_id)
    return row, choose(track, quality, opus=request.args.get("format") != "mp3"), track, user_id


def _accepts_original(mime_type: str) -> bool:
    """Whether the client said it takes the original's type (named, or audio/*, not just */*)."""
    accept = request.accept_mimetypes
    return any(value in (mime_type, "audio/*") for value, _q in accept)


@bp.route("/stream/<int:track_id>", methods=["GET", "HEAD"])
def stream(track_id: int) -> Response:
    # The fast path (app/streaming/fastpath.py) answers plain seeks before this.
    if not request.args.get("quality"):
        return send_track(_visible_track(track_id)[0])
    row, preset, track, user_id = _preset(track_id)
    if preset is None:
        return send_track(row)
    try:
        return send_variant(track, preset, user_id)
    except TranscodeBusy:
        if _accepts_original(row.mime_type):
            return send_track(row)
        raise


@bp.route("/stream/<int:track_id>/download", methods=["GET", "HEAD"])
def download(track_id: int) -> Response:
    row, preset, track, user_id = _preset(track_id)
    if not access.may_download(user_id, track):  # type: ignore[arg-type]
        abort(403)
    name = row.original_filename
    if preset is not None:
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return send_variant(track, preset, user_id, download_name=f"{stem}.{preset.ext}")
    if not name.lower().endswith("." + row.format):
        name = f"{name}.{row.format}"
    return send_track(row, download_name=name)
