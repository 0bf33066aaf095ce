"""Static files with a fingerprint of their content in the URL, cached for a year."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, current_app, request, url_for

# filename -> (modification time, fingerprint)
_versions: dict[str, tuple[float, str]] = {}
YEAR = 365 * 24 * 3600


def register(app: Flask) -> None:
    app.jinja_env.globals["static_url"] = static_url
    app.after_request(_cache_versioned_static)


def static_url(filename: str) -> str:
    """A static file's URL with a fingerprint of its content (?v=...), so it can be
    cached for a year and a new version is fetched as soon as it changes."""
    known = _versions.get(filename)
    # Outside debug mode files only change with a restart: the fingerprint is
    # worked out once per file (a page of track rows asks hundreds of times).
    if known is None or current_app.debug:
        path = Path(current_app.static_folder or "") / filename
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return url_for("static", filename=filename)
        if known is None or known[0] != mtime:
            known = _versions[filename] = (mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    return url_for("static", filename=filename, v=known[1])


def _cache_versioned_static(response: Response) -> Response:
    if request.endpoint == "static" and request.args.get("v") and response.status_code in (200, 304):
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
    return response
