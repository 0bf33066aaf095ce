"""Absolute links: built from PUBLIC_URL when it is set, never from a header a client chose."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, url_for


def register(app: Flask) -> None:
    app.jinja_env.globals["external_url"] = external_url


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint`: PUBLIC_URL + its path when PUBLIC_URL is
    set; else from the request's host (which TRUSTED_HOSTS, when set, has checked)."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
