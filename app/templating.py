"""Template filters and the navigation shared by every page."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from flask import Flask, Response, current_app, g, request, url_for
from flask_login import current_user
from markupsafe import Markup

# (endpoint, label, who sees it); entries whose endpoint does not exist yet
# are skipped, so the menu grows with the app.
NAVIGATION = [
    ("library.index", "Library", "all"),
    ("playlists.index", "Playlists", "all"),
    ("library.upload", "Upload", "uploader"),
    ("account.index", "Account", "all"),
    ("admin.users", "Admin", "admin"),
]


def register(app: Flask) -> None:
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["khz"] = format_khz
    app.jinja_env.globals["cover_url"] = cover_url
    app.jinja_env.globals["track_data"] = track_data
    app.jinja_env.globals["icon"] = icon
    app.jinja_env.globals["is_favourite"] = is_favourite
    app.jinja_env.globals["static_url"] = static_url
    app.after_request(_cache_versioned_static)
    app.context_processor(_navigation)


def _navigation() -> dict:
    items = []
    if current_user.is_authenticated:
        for endpoint, label, audience in NAVIGATION:
            if endpoint not in current_app.view_functions:
                continue
            if audience == "admin" and not current_user.is_admin:
                continue
            if audience == "uploader" and not current_user.can_upload:
                continue
            items.append({"url": url_for(endpoint), "label": label, "active": False})
    # The menu entry whose address is the longest prefix of this page's is current.
    matches = [i for i in items if request.path == i["url"] or request.path.startswith(i["url"].rstrip("/") + "/")]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["active"] = True
    return {"nav_items": items}


def filesize(num: int | None) -> str:
    """1536 -> '1.5 KB'. Decimal units, as people see them on their devices."""
    if num is None:
        return "unlimited"
    value = float(num)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1000
    return f"{value:.1f} TB"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float | None) -> str:
    """205.3 -> '3:25'; an hour or more -> '1:02:05'."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def cover_url(track_id: int | None) -> str:
    """A track's cover. Track ids are never reused, so browsers may cache it for good."""
    if track_id is None:
        return static_url("img/cover-placeholder.svg")
    return url_for("streaming.cover", track_id=track_id)


def format_khz(rate: int | None) -> str:
    """44100 -> '44.1 kHz'."""
    return f"{rate / 1000:g} kHz" if rate else "—"


def track_data(track) -> dict:
    """What the player needs to queue a track, embedded in the row that shows it."""
    return {
        "id": track.id,
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "duration": track.duration,
        "stream": url_for("streaming.stream", track_id=track.id),
        "cover": url_for("streaming.cover", track_id=track.id),
        "page": url_for("library.track", track_id=track.id),
    }


def icon(name: str) -> Markup:
    """An icon from static/img/icons.svg; the button around it carries the label."""
    href = static_url("img/icons.svg") + "#" + name
    return Markup('<svg class="icon" aria-hidden="true" focusable="false"><use href="{}"></use></svg>').format(href)


def is_favourite(track_id: int) -> bool:
    """Whether the current user hearted the track (their favourites read once per request)."""
    from app.services.playlists import favourite_ids  # noqa: PLC0415 - templates load before services

    if "favourite_ids" not in g:
        g.favourite_ids = favourite_ids(current_user.id) if current_user.is_authenticated else set()
    return track_id in g.favourite_ids


_static_versions: dict[tuple[str, float], str] = {}
YEAR = 365 * 24 * 3600


def static_url(filename: str) -> str:
    """A static file's URL with a fingerprint of its content (?v=...), so it can be
    cached for a year and a new version is fetched as soon as it changes."""
    path = Path(current_app.static_folder or "") / filename
    try:
        key = (filename, path.stat().st_mtime)
    except OSError:
        return url_for("static", filename=filename)
    version = _static_versions.get(key)
    if version is None:
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        _static_versions[key] = version
    return url_for("static", filename=filename, v=version)


def _cache_versioned_static(response: Response) -> Response:
    if request.endpoint == "static" and request.args.get("v") and response.status_code in (200, 304):
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
    return response
