"""Where RFC 9110 and Werkzeug's range handling part ways, the Range header is
rewritten before Werkzeug sees it; Werkzeug still does the serving.

- A unit other than "bytes" must be ignored (Werkzeug answers 416).
- A suffix longer than the file means the whole file (Werkzeug answers 416).
- Several ranges: Werkzeug answers 416. We merge overlapping or adjacent
  ones into one range, and otherwise ignore the header (a full 200), which
  the RFC allows; either way the file is read at most once.
- A syntactically invalid header is ignored.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
MAX_RANGES = 100


class Unsatisfiable(Exception):
    """No requested range overlaps the file: the answer is 416."""


def resolve_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one inclusive (first, last) range to send from a file of `size` bytes,
    or None for the whole file. Raises Unsatisfiable."""
    unit, sep, specs = (header or "").partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges = _satisfiable(specs.split(","), size)
    if ranges is None:
        return None
    if not ranges:
        raise Unsatisfiable
    merged = _merge(sorted(ranges))
    return merged[0] if len(merged) == 1 else None


def normalise_range(header: str | None, size: int) -> str | None:
    """The Range header to hand to Werkzeug for a file of `size` bytes (None: no range).

    An unsatisfiable request comes back as "bytes=<size>-", which Werkzeug
    answers with 416 and "Content-Range: bytes */<size>".
    """
    try:
        span = resolve_range(header, size)
    except Unsatisfiable:
        return f"bytes={size}-"
    return None if span is None else f"bytes={span[0]}-{span[1]}"


def starts_playing(method: str | None, header: str | None) -> bool:
    """Whether a request is what a player sends to start a track: a GET of the
    whole file or of "bytes=0-" (a seek asks for a later start, or a bounded span)."""
    if method != "GET":
        return False
    if header is None:
        return True
    unit, sep, spec = header.partition("=")
    return bool(sep) and unit.strip().lower() == "bytes" and spec.replace(" ", "") == "0-"


def _satisfiable(parts: list[str], size: int) -> list[tuple[int, int]] | None:
    """Inclusive (start, end) pairs within the file; None when the syntax is invalid."""
    if len(parts) > MAX_RANGES:
        return None
    ranges = []
    for part in parts:
        match = _SPEC.match(part)
        if not match or not (match.group(1) or match.group(2)):
            return None
        first, last = match.group(1), match.group(2)
        if not first:  # a suffix: the last N bytes, or the whole file when N is larger
            if int(last) > 0 and size > 0:
                ranges.append((max(0, size - int(last)), size - 1))
            continue
        start = int(first)
        if last and int(last) < start:
            return None  # "5-2" is invalid syntax, not an empty range
        if start < size:
            ranges.append((start, min(int(last), size - 1) if last else size - 1))
    return ranges


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge sorted ranges that overlap or touch."""
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged
