"""Sending an audio file with ranges: shared by the stream view and its fast path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote

from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable, ServiceUnavailable
from werkzeug.http import http_date, quote_etag
from werkzeug.utils import send_file
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from app.services.storage import Storage
from app.streaming.ranges import Unsatisfiable, normalise_range, resolve_range

DAY = 24 * 3600
CACHE_CONTROL = f"private, max-age={DAY}"
SENDFILE_BLOCK = 256 * 1024
# With any of these the answer depends on validators: Werkzeug weighs them.
CONDITIONAL_HEADERS = (
    "HTTP_IF_RANGE",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class MissingFile(NotFound):
    """The database knows the track but its file is gone from the disk."""

    detail = _l("This track's audio file is missing on the server. An admin can find the cause in the logs.")


class StoreUnavailable(ServiceUnavailable):
    """The object store holding the file cannot be reached just now."""

    detail = _l("The music store cannot be reached just now. Please try again in a moment.")

    def __init__(self) -> None:
        super().__init__(retry_after=5)  # Werkzeug sends it as Retry-After


def serve_stored(environ: dict, storage: Storage, rel: str, mime_type: str, etag: str) -> Response:
    """A file of a storage that is not on this machine, as serve_audio() answers a
    local one: Werkzeug's conditional response (ranges, validators, 304) over a
    seekable reader whose reads are ranged GETs, so only the bytes sent are fetched.
    Raises FileNotFoundError, or StorageUnavailable when the store cannot be reached
    (before any byte is sent)."""
    found = storage.stat(rel)
    size = found.size
    header = normalise_range(environ.get("HTTP_RANGE"), size)
    if header:
        environ["HTTP_RANGE"] = header
    else:
        environ.pop("HTTP_RANGE", None)
    reader = storage.open(rel)
    response = Response(wrap_file(environ, reader, SENDFILE_BLOCK), mimetype=mime_type, direct_passthrough=True)
    response.content_length = size
    response.last_modified = found.modified  # type: ignore[assignment]
    response.set_etag(etag)
    try:
        response = response.make_conditional(environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        reader.close()
        response = Response(status=416, content_type="text/plain", headers={"Content-Range": f"bytes */{size}"})
    response.headers.pop("Date", None)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Accept-Ranges"] = "bytes"
    return response


def serve_audio(environ: dict, path: Path, mime_type: str, etag: str) -> Response:
    """Werkzeug's conditional file response (RFC 9110 ranges, validators, 304),
    after normalising the Range header where Werkzeug departs from the RFC."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MissingFile from None
    header = normalise_range(environ.get("HTTP_RANGE"), size)
    if header:
        environ["HTTP_RANGE"] = header
    else:
        environ.pop("HTTP_RANGE", None)
    try:
        response = send_file(path, environ, mimetype=mime_type, conditional=True, etag=etag, max_age=None)
        if response.status_code == 206 and _server_honours_length(environ):
            _hand_range_to_sendfile(environ, response, path)
    except RequestedRangeNotSatisfiable:
        # A media client wants the status and Content-Range, not an HTML page.
        response = Response(status=416, content_type="text/plain", headers={"Content-Range": f"bytes */{size}"})
    # The server adds Date; a download names itself (set_attachment), a
    # stream has no name worth giving (the stored one is random).
    response.headers.pop("Date", None)
    response.headers.pop("Content-Disposition", None)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Accept-Ranges"] = "bytes"
    return response


def plain_range(
    environ: dict, path: Path, mime_type: str, etag: str, extra_headers: Iterable[tuple[str, str]]
) -> WSGIApp | None:
    """The seek hot path: a GET for one satisfiable byte range, with no
    validators to weigh, answered with the same status and headers as
    serve_audio() but without building a Response, the body left to the
    server's sendfile. None for anything else (serve_audio() answers it)."""
    header = environ.get("HTTP_RANGE")
    if (
        not header
        or environ.get("REQUEST_METHOD") != "GET"
        or not _server_honours_length(environ)
        or any(name in environ for name in CONDITIONAL_HEADERS)
    ):
        return None
    try:
        fh = path.open("rb")
    except OSError:
        return None  # e.g. the file is missing: serve_audio() says so
    try:
        stat = os.fstat(fh.fileno())
        span = resolve_range(header, stat.st_size)
        if span is None:
            fh.close()
            return None
        first, last = span
        fh.seek(first)
    except (OSError, Unsatisfiable):
        fh.close()
        return None
    headers = [
        ("Content-Type", mime_type),
        ("Content-Length", str(last - first + 1)),
        ("Last-Modified", http_date(stat.st_mtime)),
        ("Cache-Control", CACHE_CONTROL),
        ("ETag", quote_etag(etag)),
        ("Accept-Ranges", "bytes"),
        ("Content-Range", f"bytes {first}-{last}/{stat.st_size}"),
        *extra_headers,
    ]

    def send(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            start_response("206 Partial Content", headers)
            return environ["wsgi.file_wrapper"](fh, SENDFILE_BLOCK)
        except BaseException:
            fh.close()
            raise

    return send


def handoff_headers(
    mode: str, mime_type: str, storage_path: str, path: Path, *, x_accel_prefix: str
) -> list[tuple[str, str]]:
    """The headers of a 200 whose bytes the front server sends: nginx from its
    internal location (x-accel, ranges included), Apache from the path (x-sendfile)."""
    if mode == "x-accel":
        handoff = ("X-Accel-Redirect", x_accel_prefix + quote(storage_path))
    else:
        handoff = ("X-Sendfile", str(path))
    return [("Content-Type", mime_type), handoff, ("Cache-Control", CACHE_CONTROL), ("Accept-Ranges", "bytes")]


def limit_stalls(environ: dict, seconds: float) -> None:
    """Drop the client if it reads nothing of the response for `seconds`.

    gunicorn's sendfile() waits on the socket with the socket's timeout; it
    has none by default, so a client that stops reading would hold this
    thread for as long as it keeps the connection open. gunicorn clears the
    timeout before it reads the connection's next request.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None and seconds > 0:
        sock.settimeout(seconds)


def _server_honours_length(environ: dict) -> bool:
    # gunicorn sends a file wrapper with sendfile() from the file's offset for
    # exactly Content-Length bytes (and stops there without sendfile too).
    # Other servers get Werkzeug's own range iterator.
    return "wsgi.file_wrapper" in environ and environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")


def _hand_range_to_sendfile(environ: dict, response: Response, path: Path) -> None:
    """Werkzeug decided the status and headers of a 206; hand the server the file
    at the range's first byte, so gunicorn can sendfile() Content-Length bytes
    instead of pushing them through Python in small pieces."""
    first = int(response.headers["Content-Range"].split()[1].split("-")[0])
    fh = path.open("rb")
    fh.seek(first)
    old = response.response
    response.response = wrap_file(environ, fh, buffer_size=SENDFILE_BLOCK)
    if hasattr(old, "close"):
        old.close()
