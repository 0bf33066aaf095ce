"""Tags suggested by where a file came from: its folders in an uploaded folder or a ZIP
archive (.../Artist/Album/01 - Title.mp3). They fill only what the file's own tags
leave empty; the names are shown and stored as text, never used as paths."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from app.models.library import FOLDER_MAX, TAG_MAX
from app.services.tags import UNKNOWN_ALBUM, UNKNOWN_ARTIST, AudioInfo
from app.services.text import clean_tag

_TRACK_PREFIX = re.compile(r"^\s*(\d{1,3})\s*[-._)]*\s+")


def from_path(path: str) -> dict[str, Any]:
    """Album (the file's folder), artist (the folder above, when there is one), track
    number and title (from the file's name) suggested by a relative path, and the folder
    itself (what files filed together came from)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p not in {".", ".."}]
    folders = parts[:-1]
    stem = PurePosixPath(parts[-1]).stem if parts else ""
    found: dict[str, Any] = {}
    if folders:
        found["album"] = clean_tag(folders[-1], TAG_MAX)
        found["folder"] = clean_tag("/".join(folders), FOLDER_MAX)
    if len(folders) >= 2:
        found["artist"] = clean_tag(folders[-2], TAG_MAX)
    match = _TRACK_PREFIX.match(stem)
    if match:
        found["track_number"] = int(match.group(1))
        stem = stem[match.end() :]
    if stem.strip():
        found["title"] = clean_tag(stem, TAG_MAX)
    return {k: v for k, v in found.items() if v}


def apply(info: AudioInfo, hints: dict[str, Any]) -> None:
    """Fill the tags a file lacks from its hints (its title comes from its name already)."""
    if info.album in {"", UNKNOWN_ALBUM} and hints.get("album"):
        info.album = hints["album"]
    if info.artist in {"", UNKNOWN_ARTIST} and hints.get("artist"):
        info.artist = hints["artist"]
    if info.track_number is None and hints.get("track_number"):
        info.track_number = hints["track_number"]
