"""Small charts drawn on the server as SVG (no script, no library): the coordinates, which
the templates put in an <svg> beside a table of the same figures for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def sparkline_points(values: Sequence[int | float], width: int = 120, height: int = 24, pad: int = 2) -> str:
    """The points of a polyline through the values, left to right, the largest at the top
    (all at the bottom when every value is 0)."""
    if not values:
        return ""
    top = max(values) or 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    span = height - 2 * pad
    return " ".join(f"{pad + i * step:.1f},{pad + span - span * value / top:.1f}" for i, value in enumerate(values))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float


def bars(values: Sequence[int | float], width: int = 600, height: int = 160, gap: float = 0.2) -> list[Bar]:
    """One bar per value, left to right, in a `width` x `height` box, the largest full
    height; a non-zero value always shows at least a sliver."""
    if not values:
        return []
    top = max(values) or 1
    slot = width / len(values)
    bar_width = max(slot * (1 - gap), 0.5)
    out = []
    for i, value in enumerate(values):
        h = height * value / top
        if value and h < 1:
            h = 1.0
        out.append(
            Bar(
                round(i * slot + (slot - bar_width) / 2, 2),
                round(height - h, 2),
                round(bar_width, 2),
                round(h, 2),
                value,
            )
        )
    return out
