"""Text folding shared by tag cleaning, sorting and search."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# C0 and C1 control characters (NUL included); tabs and newlines become spaces.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def fold(text: str | None) -> str:
    """Case- and accent-insensitive form: "Beyoncé" -> "beyonce", "Straße" -> "strasse"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def clean_tag(value: object, limit: int) -> str:
    """A tag value fit to store and show: no control characters, one line, clamped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _CONTROLS.sub(" ", text)
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
