"""The richer track metadata's rules: free tags, BPM, musical key and licence.

Plain functions without the database, shared by the tag reader's processes
(app/services/tags.py), the edit form, the REST API and the filters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.services.text import clean_tag, fold

DESCRIPTION_MAX = 2000
TAGS_MAX = 10
TAG_LENGTH_MAX = 30
BPM_MIN, BPM_MAX = 40, 300
KEY_PATTERN = re.compile(r"^[A-G][#b]?m?$")

# Stored codes, in the order the edit form offers them.
LICENCES = ("all-rights-reserved", "cc-by", "cc-by-sa", "cc-by-nc", "public-domain")
DEFAULT_LICENCE = "all-rights-reserved"


class MetadataInvalid(ValueError):
    """A value breaks one of the rules; `field` names it, `code` says which rule."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


def split_tags(text: str) -> list[str]:
    """The tags of a comma-separated line (the edit form's field)."""
    return [part for part in text.split(",") if part.strip()]


def normalise_tags(values: Iterable[str]) -> list[tuple[str, str]]:
    """(key, tag) pairs: each tag trimmed to one line, folded for matching (the key),
    the first spelling of a key kept. Raises MetadataInvalid for too many or too long."""
    seen: dict[str, str] = {}
    for value in values:
        tag = clean_tag(value, 10 * TAG_LENGTH_MAX).replace(",", " ").strip()
        if not tag:
            continue
        if len(tag) > TAG_LENGTH_MAX:
            raise MetadataInvalid("tags", "TAG_TOO_LONG")
        seen.setdefault(fold(tag), tag)
    if len(seen) > TAGS_MAX:
        raise MetadataInvalid("tags", "TOO_MANY_TAGS")
    return list(seen.items())


def tag_key(text: str) -> str:
    """A tag as the filters match it."""
    return fold(clean_tag(text, 10 * TAG_LENGTH_MAX))


def valid_bpm(value: int | None) -> bool:
    return value is None or BPM_MIN <= value <= BPM_MAX


def valid_key(value: str | None) -> bool:
    return value is None or bool(KEY_PATTERN.match(value))


# --- reading what a file's tags say (inside the tag reader's processes) -------------------

_BPM_TEXT = re.compile(r"^\s*(\d{1,3}(?:[.,]\d+)?)\s*(?:bpm)?\s*$", re.IGNORECASE)
_KEY_TEXT = re.compile(r"^([A-Ga-g])\s*([#b♯♭]?)\s*(m|min|minor|maj|major)?$", re.IGNORECASE)


def bpm_from_tag(value: object) -> int | None:
    """ "120", "120.4", "128 BPM" or MP4's number; None out of 40-300 or unreadable."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        bpm = round(value)
    else:
        match = _BPM_TEXT.match(str(value or ""))
        if not match:
            return None
        bpm = round(float(match.group(1).replace(",", ".")))
    return bpm if BPM_MIN <= bpm <= BPM_MAX else None


def key_from_tag(value: object) -> str | None:
    """ "Am", "C#", "F# minor", "Bb major" as the stored form ("F#m", "Bb"); None for
    anything else (Camelot codes such as "8A" included)."""
    match = _KEY_TEXT.match(str(value or "").strip())
    if not match:
        return None
    note, accidental, mode = match.groups()
    accidental = {"♯": "#", "♭": "b", "B": "b"}.get(accidental, accidental)
    minor = bool(mode) and mode.lower() in ("m", "min", "minor") and mode != "M"
    key = note.upper() + accidental + ("m" if minor else "")
    return key if KEY_PATTERN.match(key) else None


_CC = re.compile(r"creativecommons\.org/licenses/([a-z-]+)", re.IGNORECASE)
_CC_TEXT = re.compile(r"\bCC[ -]?(BY(?:[ -](?:SA|NC|ND))*)\b", re.IGNORECASE)


def licence_from_tag(*values: object) -> str | None:
    """The licence a copyright or licence tag names (a Creative Commons URL or its
    short name, "public domain", CC0, "all rights reserved"); None when it names
    none of ours (CC BY-ND, say) or nothing."""
    for value in values:
        text = str(value or "").strip()
        if not text:
            continue
        lowered = text.casefold()
        if "publicdomain" in lowered or "public domain" in lowered or re.search(r"\bcc0\b", lowered):
            return "public-domain"
        match = _CC.search(text)
        name = match.group(1) if match else None
        if name is None:
            text_match = _CC_TEXT.search(text)
            name = text_match.group(1) if text_match else None
        if name is not None:
            code = "cc-" + re.sub(r"[ -]+", "-", name.casefold()).strip("-")
            return code if code in LICENCES else None
        if "all rights reserved" in lowered:
            return "all-rights-reserved"
    return None
