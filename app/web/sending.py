"""Sending stored files to the client: audio (with ranges or a hand-off to the
front server), cover art and attachments. Shared by every blueprint that serves
a file (the stream views, share links)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Protocol
from urllib.parse import quote, urlsplit

from flask import Response, current_app, request, send_file
from werkzeug.http import dump_options_header

from app.services.storage import Storage, StorageUnavailable, get_storage
from app.streaming.files import (
    CACHE_CONTROL,
    DAY,
    MissingFile,
    StoreUnavailable,
    handoff_headers,
    serve_audio,
    serve_stored,
)

PLACEHOLDER_COVER = "img/cover-placeholder.svg"
YEAR = 365 * 24 * 3600


class Sendable(Protocol):
    """What sending a track needs (a Track, or the stream lookup's row)."""

    id: int
    storage_path: str
    mime_type: str
    sha256: str


def cover_version(rel: str | None) -> str | None:
    """A short name of a stored cover's picture (thumbnails are named by its sha256),
    put in cover addresses so that a new picture (uploaded artwork) gets a new address."""
    if not rel:
        return None
    return rel.rpartition("/")[2].partition(".")[0][:16] or None


def send_cover(rel: str | None, *, pending: bool = False, version: str | None = None) -> Response:
    """A track's stored cover (by its path under the uploads), or the placeholder.

    While the thumbnail job has yet to run (`pending`) the placeholder is not cached:
    the same address shows the picture as soon as it exists. An address that names
    the picture's `version` may be cached for good; any other (a Subsonic client's,
    an album's) is checked again each time (ETag), as its owner may upload artwork.
    """
    if rel is None:
        response = current_app.send_static_file(PLACEHOLDER_COVER)
        response.headers["Cache-Control"] = "no-cache" if pending else f"private, max-age={DAY}"
        return response
    store = _holder(rel)
    if store.is_local:
        response = send_file(store.local_path(rel), mimetype="image/jpeg", conditional=True, max_age=YEAR)
    else:
        response = _from_store(store, rel, "image/jpeg", rel)
    if version is not None and version == cover_version(rel):
        # This address names this very picture: a new one gets another address.
        response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "private, no-cache"
    return response


WAVEFORM_MAX_BYTES = 256 * 1024  # 1,000 pairs of peaks take about 8 KB


def send_waveform(rel: str) -> Response:
    """A stored waveform (JSON), with an ETag; its address changes when it is remade."""
    store = _holder(rel)
    if store.is_local:
        response = send_file(
            store.local_path(rel), mimetype="application/json", conditional=True, etag=True, max_age=YEAR
        )
    else:
        try:
            with store.open(rel) as stored:
                data = stored.read(WAVEFORM_MAX_BYTES)
        except StorageUnavailable:
            current_app.logger.warning("object store unavailable reading %s", rel)
            raise StoreUnavailable from None
        response = Response(data, mimetype="application/json")
        response.set_etag(hashlib.sha256(data).hexdigest()[:32])
        response.make_conditional(request)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}"
    return response


def send_track(track: Sendable, *, download_name: str | None = None, confirm: bool = False) -> Response:
    """The file, by the configured mode: Python (with ranges), or a hand-off header.

    `confirm`: before handing a file of an object store to nginx, ask the store
    that it is there (one HEAD request), so that a store down or an object gone is
    the caller's error (MissingFile, StoreUnavailable) rather than nginx's answer:
    for clients that only understand errors in their own dialect (Subsonic)."""
    mode = current_app.config["SEND_FILE_MODE"]
    store = _holder(track.storage_path)
    if not store.is_local:
        response = send_remote_track(store, track, confirm=confirm)
        if download_name:
            set_attachment(response, download_name)
        return response
    path = store.local_path(track.storage_path)
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


# A presigned address nginx fetches at once (x-accel): short, it only has to
# outlive the hand-off; a redirect's outlives the track (see presign_seconds).
PROXY_URL_SECONDS = 300
REDIRECT_MIN_SECONDS = 3600


def presign_seconds(duration: float | None) -> int:
    """How long a redirect's presigned address lives: twice the track's length, at
    least an hour, so a paused or seeking player never meets an expired address
    in the middle of a song."""
    return max(REDIRECT_MIN_SECONDS, int(2 * (duration or 0)))


def send_remote_track(store: Storage, track: Sendable, *, confirm: bool = False) -> Response:
    """A track in an object store, by S3_STREAM and SEND_FILE_MODE: a 302 to a
    presigned address (redirect), a hand-off to nginx's /_s3/ location which
    fetches a short-lived presigned address (x-accel), else the app streams it
    with ranged reads. A store that cannot be reached is a 503 with Retry-After
    (when the app reads from it, or asked to `confirm` before a hand-off or a
    redirect; otherwise nginx or the client meets the outage)."""
    config = current_app.config
    # The store checks the method too: a HEAD sent to the store gets an address signed
    # for HEAD; nginx asks the store for its copy with a GET, whatever the client's method.
    head = request.method == "HEAD" and config["S3_STREAM"] == "redirect"
    try:
        if confirm and (config["S3_STREAM"] == "redirect" or config["SEND_FILE_MODE"] == "x-accel"):
            store.stat(track.storage_path)
        if config["S3_STREAM"] == "redirect":
            seconds = presign_seconds(getattr(track, "duration", None))
            url = store.presigned_url(track.storage_path, seconds, head=head)
            response = Response(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})
        elif config["SEND_FILE_MODE"] == "x-accel":
            url = store.presigned_url(track.storage_path, PROXY_URL_SECONDS, head=head)
            response = Response(status=200, headers=s3_handoff_headers(url, track.mime_type, config["S3_PROXY_PREFIX"]))
        else:
            response = _from_store(store, track.storage_path, track.mime_type, track.sha256)
    except FileNotFoundError:
        current_app.logger.warning("track %s: its object %s is missing", track.id, track.storage_path)
        raise MissingFile from None
    except StorageUnavailable:
        current_app.logger.warning("object store unavailable sending %s", track.storage_path)
        raise StoreUnavailable from None
    return response


def s3_handoff_headers(url: str | None, mime_type: str, prefix: str) -> dict[str, str]:
    """X-Accel-Redirect to nginx's internal location for the store: the presigned
    address's path and query, exactly as signed (nginx passes the query on
    unchanged; stored names hold no character it would escape)."""
    if not url:
        raise StoreUnavailable
    parts = urlsplit(url)
    return {
        "Content-Type": mime_type,
        "X-Accel-Redirect": prefix + parts.path.lstrip("/") + "?" + parts.query,
        "Cache-Control": CACHE_CONTROL,
        "Accept-Ranges": "bytes",
    }


def _holder(rel: str) -> Storage:
    """The storage holding `rel` (while a library moves, the old or the new one)."""
    try:
        return get_storage().locate(rel)
    except StorageUnavailable:
        current_app.logger.warning("object store unavailable locating %s", rel)
        raise StoreUnavailable from None


def _from_store(store: Storage, rel: str, mime_type: str, etag: str) -> Response:
    try:
        return serve_stored(request.environ, store, rel, mime_type, etag)
    except StorageUnavailable:
        current_app.logger.warning("object store unavailable sending %s", rel)
        raise StoreUnavailable from None


# Control characters, and the bidirectional controls that can make
# "evil\u202egpj.exe" show as "evilexe.jpg" in a save dialog.
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_filename(name: str, fallback: str = "track") -> str:
    """A file name fit for a header: the last part of any path, without control
    or bidi characters, never empty, never a dot name."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_IN_NAMES.sub("", base).strip().lstrip(".")
    return base[:200] or fallback


def set_attachment(response: Response, name: str) -> None:
    """RFC 6266: a cleaned basename, as an ASCII filename (quoted as needed) and,
    for other names, filename*."""
    name = safe_filename(name)
    stem, dot, ext = name.rpartition(".")
    fallback = unicodedata.normalize("NFKD", stem if dot else name).encode("ascii", "ignore").decode().strip()
    fallback = (fallback or "track") + (dot + ext if dot else "")
    options = {"filename": fallback}
    if fallback != name:
        options["filename*"] = "UTF-8''" + quote(name, safe="!#$&+^`|~")
    response.headers["Content-Disposition"] = dump_options_header("attachment", options)
