"""Numbers that arrive in URLs, query strings and forms, bounded before they reach a query.

Python's int() accepts digits of any script (full-width, Arabic-Indic ...) and
any length, and a database integer column does not: an id past 2**31 - 1 made
PostgreSQL raise (a 500) and a full-width one reached track 1. Every id in a URL goes through
IdConverter (registered as the app's `int` converter, so every `<int:...>`
route is covered), and every numeric query parameter through int_arg().
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.routing import BaseConverter, ValidationError

# The largest id either database stores in an INTEGER primary key (PostgreSQL's
# is 32-bit; SQLite's is larger, but one bound for both keeps them alike).
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_id(text: str | None) -> int | None:
    """An id from text: ASCII digits only, 1..MAX_ID; anything else None."""
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


class IdConverter(BaseConverter):
    """`<int:...>` for ids: ASCII digits within the database's integer range;
    anything else does not match, so the URL is a plain 404."""

    regex = r"[0-9]{1,10}"
    weight = 50  # as Werkzeug's own number converters

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def register(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter


def int_arg(name: str, default: int | None = None, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """A numeric query parameter: ASCII digits, clamped to [low, high]; the
    default when it is missing or not a number."""
    raw = request.args.get(name)
    if raw is None or not re.fullmatch(r"[0-9]{1,18}", raw):
        return default
    return max(low, min(int(raw), high))


def id_arg(name: str) -> int | None:
    """An id in the query string (a filter); None, so the filter is ignored, when
    it is missing or is no id at all (not digits, or past any id)."""
    return parse_id(request.args.get(name))


def page_arg() -> int:
    """The `page` query parameter, 1..MAX_PAGE."""
    return int_arg("page", 1, high=MAX_PAGE) or 1
