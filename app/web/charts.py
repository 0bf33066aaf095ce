"""Small charts drawn on the server as SVG (no script, no library): the coordinates, which
the templates put in an <svg> beside a table of the same figures for screen readers."""

from __future__ import annotations

from collections.abc import Sequence


def sparkline_points(values: Sequence[int | float], width: int = 120, height: int = 24, pad: int = 2) -> str:
    """The points of a polyline through the values, left to right, the largest at the top
    (all at the bottom when every value is 0)."""
    if not values:
        return ""
    top = max(values) or 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    span = height - 2 * pad
    return " ".join(f"{pad + i * step:.1f},{pad + span - span * value / top:.1f}" for i, value in enumerate(values))
