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
    if not header:
        return None
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = specs.split(",")
    if len(parts) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for part in parts:
        match = _SPEC.match(part)
        if not match or (not match.group(1) and not match.group(2)):
            return None  # invalid syntax: the whole header is ignored
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None
            if start >= size:
                continue  # unsatisfiable; others may still be
            ranges.append((start, min(end, size - 1)))
        else:
            length = int(last)
            if length == 0 or size == 0:
                continue
            ranges.append((max(0, size - length), size - 1))
    if not ranges:
        return f"bytes={size}-"
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    if len(merged) > 1:
        return None
    start, end = merged[0]
    return f"bytes={start}-{end}"
