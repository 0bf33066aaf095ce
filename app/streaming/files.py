"""Sending an audio file with ranges: shared by the stream view and its fast path."""

from __future__ import annotations

from pathlib import Path

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.utils import send_file
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from app.streaming.ranges import normalise_range

DAY = 24 * 3600
SENDFILE_BLOCK = 256 * 1024


def serve_audio(environ: dict, path: Path, mime_type: str, etag: str) -> Response:
    """Werkzeug's conditional file response (RFC 9110 ranges, validators, 304),
    after normalising the Range header where Werkzeug departs from the RFC."""
    size = path.stat().st_size
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
    response.headers["Cache-Control"] = f"private, max-age={DAY}"
    response.headers["Accept-Ranges"] = "bytes"
    return response


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
