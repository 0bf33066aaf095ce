"""Where a page may send the browser next."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_next(target: str | None) -> str | None:
    """The `next` target if it is a path on this site, else None.

    Browsers treat backslashes like slashes and drop tabs and newlines, so
    "/\\evil.example" or "/\t/evil.example" would leave the site.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def back_to(default: str) -> str:
    """Where a form asks to go back to (its `next` field, or `?next=`), if that is
    a path on this site; else `default`."""
    return safe_next(request.form.get("next") or request.args.get("next")) or default
