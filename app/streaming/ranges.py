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


def normalise_range(header: str | None, size: int) -> str | None:
    """The Range header to hand to Werkzeug for a file of `size` bytes (None: no range).

    An unsatisfiable request comes back as "bytes=<size>-", which Werkzeug
    answers with 416 and "Content-Range: bytes */<size>".
    """
    unit, sep, specs = (header or "").partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges = _satisfiable(specs.split(","), size)
    if ranges is None:
        return None
    if not ranges:
        return f"bytes={size}-"
    merged = _merge(sorted(ranges))
    if len(merged) > 1:
        return None
    start, end = merged[0]
    return f"bytes={start}-{end}"


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
