"""Sending stored files to the client: audio (with ranges or a hand-off to the
front server), cover art and attachments. Shared by every blueprint that serves
a file (the stream views, share links)."""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol
from urllib.parse import quote

from flask import Response, current_app, request, send_file
from werkzeug.http import dump_options_header

from app.services.storage import get_storage
from app.streaming.files import DAY, MissingFile, handoff_headers, serve_audio

PLACEHOLDER_COVER = "img/cover-placeholder.svg"
YEAR = 365 * 24 * 3600


class Sendable(Protocol):
    """What sending a track needs (a Track, or the stream lookup's row)."""

    id: int
    storage_path: str
    mime_type: str
    sha256: str


def send_cover(rel: str | None, *, pending: bool = False) -> Response:
    """A track's stored cover (by its path under the uploads), or the placeholder.

    While the thumbnail job has yet to run (`pending`) the placeholder is not cached:
    the same address shows the picture as soon as it exists.
    """
    if rel is None:
        response = current_app.send_static_file(PLACEHOLDER_COVER)
        response.headers["Cache-Control"] = "no-cache" if pending else f"private, max-age={DAY}"
        return response
    path = get_storage().local_path(rel)
    # Track ids are never reused and a track's art never changes.
    response = send_file(path, mimetype="image/jpeg", conditional=True, max_age=YEAR)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    return response


def send_waveform(rel: str) -> Response:
    """A stored waveform (JSON), with an ETag; its address changes when it is remade."""
    path = get_storage().local_path(rel)
    response = send_file(path, mimetype="application/json", conditional=True, etag=True, max_age=YEAR)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}"
    return response


def send_track(track: Sendable, *, download_name: str | None = None) -> Response:
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
