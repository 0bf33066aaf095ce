"""Template filters and helpers. None of them queries the database: a page's
view passes everything its template shows."""

from __future__ import annotations

from typing import Any

from flask import Flask
from markupsafe import Markup

from app.services.errors import DomainError
from app.web.assets import static_url
from app.web.charts import bars, sparkline_points
from app.web.formatting import (
    format_bucket,
    format_datetime,
    format_duration,
    format_khz,
    format_long_date,
    format_minutes,
    format_number,
    format_size,
)
from app.web.messages import message
from app.web.serializers import add_result_message, track_cover_url, track_data


def register(app: Flask) -> None:
    app.jinja_env.filters["filesize"] = format_size
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["khz"] = format_khz
    app.jinja_env.filters["bucket"] = format_bucket
    app.jinja_env.filters["minutes"] = format_minutes
    app.jinja_env.filters["longdate"] = format_long_date
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["add_message"] = add_result_message
    app.jinja_env.filters["code_message"] = code_message
    app.jinja_env.globals["cover_url"] = cover_url
    app.jinja_env.globals["track_data"] = track_data
    app.jinja_env.globals["icon"] = icon
    app.jinja_env.globals["sparkline_points"] = sparkline_points
    app.jinja_env.globals["chart_bars"] = bars


def code_message(code: str | None, params: dict[str, Any] | None = None) -> str:
    """A domain error kept as its code and parameters (an archive entry's outcome), as a sentence."""
    return message(DomainError(code or "INVALID_REQUEST", **(params or {})))


def cover_url(track_id: int | None, cover_path: str | None = None) -> str:
    """A track's cover. With the track's cover_path the address names the picture, so
    browsers may cache it for good (uploaded artwork gets a new address)."""
    if track_id is None:
        return static_url("img/cover-placeholder.svg")
    return track_cover_url(track_id, cover_path)


def icon(name: str) -> Markup:
    """An icon from static/img/icons.svg; the button around it carries the label."""
    href = static_url("img/icons.svg") + "#" + name
    return Markup('<svg class="icon" aria-hidden="true" focusable="false"><use href="{}"></use></svg>').format(href)
