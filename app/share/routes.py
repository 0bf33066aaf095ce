"""Shared playlists: /s/<token>, playable without an account.

The page lists only that playlist's tracks, with their covers, and links to
nothing else of the owner's. Its audio URLs are signed for one track of this
link and expire, so they grant nothing beyond what the link already shows.
Its player draws each track's waveform (served under the link, for its tracks
only) and evens out loudness with the track gain, as the main player does.
Guessing is throttled per address, and every failure is the same 404.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from app.errors import app_response, render_error
from app.extensions import limiter
from app.models import Playlist
from app.services import playlists
from app.services.errors import NotFound
from app.services.library import analysis
from app.services.storage import get_storage
from app.web.params import int_arg
from app.web.sending import send_cover, send_track, send_waveform

bp = Blueprint("share", __name__)


@bp.errorhandler(NotFound)
def _same_404(error: NotFound) -> Response:
    # Every failure of a share link is the same plain 404: a guesser learns
    # nothing from which part was wrong.
    return app_response(*render_error(404))


URL_LIFETIME = 6 * 3600


def _limit() -> str:
    return current_app.config["SHARE_LIMIT_PER_IP"]


def _signature(token: str, track_id: int, expires: int) -> str:
    key = hashlib.sha256(b"share-stream:" + current_app.config["SECRET_KEY"].encode()).digest()
    message = f"{playlists.token_hash(token)}:{track_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


def signed_stream_url(playlist: Playlist, track_id: int) -> str:
    expires = int(time.time()) + URL_LIFETIME
    if playlist.share_expires_at is not None:
        expires = min(expires, int(playlist.share_expires_at.timestamp()))
    token = playlist.share_token or ""
    return url_for(
        "share.stream", token=token, track_id=track_id, exp=expires, sig=_signature(token, track_id, expires)
    )


@bp.get("/s/<token>")
@limiter.limit(_limit)
def page(token: str) -> Response:
    playlist = playlists.by_share_token(token)
    views = playlists.shared_entries(playlist)
    response = Response(
        render_template(
            "share/page.html",
            playlist=playlist,
            items=[(v, signed_stream_url(playlist, v.track.id)) for v in views],
            total=sum(v.track.duration for v in views),
            player_tracks=[_player_track(playlist, v.track) for v in views],
            # S3_STREAM=redirect sends the player to the object store's host, whose audio
            # a Web Audio graph would hear as silence (no CORS): the page plays without it.
            streams_elsewhere=current_app.config["S3_STREAM"] == "redirect" and not get_storage().is_local,
        )
    )
    return _private(response)


@bp.route("/s/<token>/stream/<int:track_id>", methods=["GET", "HEAD"])
@limiter.limit(_limit)
def stream(token: str, track_id: int) -> Response:
    expires = int_arg("exp", high=2**62)
    signature = request.args.get("sig", "")
    if expires is None or expires < time.time():
        abort(404)
    if not hmac.compare_digest(signature.encode(), _signature(token, track_id, expires).encode()):
        abort(404)
    playlist = playlists.by_share_token(token)  # revoked or expired links stop at once
    return _private(send_track(playlists.shared_track(playlist, track_id)))


@bp.get("/s/<token>/cover/<int:track_id>")
@limiter.limit(_limit)
def cover(token: str, track_id: int) -> Response:
    track = playlists.shared_track(playlists.by_share_token(token), track_id)
    return _private(send_cover(track.cover_path, pending=track.cover_pending))


@bp.get("/s/<token>/waveform/<int:track_id>.json")
@limiter.limit(_limit)
def waveform(token: str, track_id: int) -> Response:
    """A shared track's waveform, cached as the main waveform address is (its address
    carries the analysis time); 404 for a track not in the link, or not measured yet."""
    track = playlists.shared_track(playlists.by_share_token(token), track_id)
    if not track.waveform_path:
        raise NotFound("WAVEFORM_NOT_FOUND")
    response = send_waveform(track.waveform_path)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _player_track(playlist: Playlist, track) -> dict:
    """What the share page's player needs of a track (its JSON block)."""
    measured = track.waveform_path and track.analysed_at
    return {
        "id": track.id,
        "duration": track.duration,
        "waveform": (
            url_for(
                "share.waveform", token=playlist.share_token, track_id=track.id, v=int(track.analysed_at.timestamp())
            )
            if measured
            else None
        ),
        "gain": analysis.playback_gain(track),
    }


def _private(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
