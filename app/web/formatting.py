"""How numbers, sizes, times and durations are shown, on every page and in every message."""

from __future__ import annotations

from datetime import datetime

SIZE_UNITS = ("kB", "MB", "GB", "TB")


def format_size(num: float | None) -> str:
    """Sizes as people read them, in decimal (SI) units like their devices:
    '512 bytes', '1.5 kB', '39.1 kB', '612 MB', '2 GB'. None is 'unlimited' (quotas)."""
    if num is None:
        return "unlimited"
    value = max(float(num), 0.0)
    if value < 1000:
        return f"{int(value)} bytes"
    unit = SIZE_UNITS[0]
    for unit in SIZE_UNITS:  # noqa: B007 - the unit the loop stops at is the one shown
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}".replace(".0 ", " ")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float | None) -> str:
    """205.3 -> '3:25'; an hour or more -> '1:02:05'."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_khz(rate: int | None) -> str:
    """44100 -> '44.1 kHz'."""
    return f"{rate / 1000:g} kHz" if rate else "—"
