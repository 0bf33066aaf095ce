"""How numbers, sizes, times and durations are shown, on every page and in every
message: in the visitor's language (Babel) and, for times, their time zone."""

from __future__ import annotations

from datetime import date, datetime

from flask import has_request_context
from flask_babel import format_date, format_decimal, format_time, gettext, ngettext


def format_size(num: float | None) -> str:
    """Sizes as people read them, in decimal (SI) units like their devices:
    '512 bytes', '1.5 kB', '39.1 kB', '612 MB', '2 GB' (in French: '39,1 ko').
    None is 'unlimited' (quotas)."""
    if num is None:
        return gettext("unlimited")
    value = max(float(num), 0.0)
    if value < 1000:
        return ngettext("%(num)s byte", "%(num)s bytes", int(value))
    units = (
        lambda n: gettext("%(n)s kB", n=n),
        lambda n: gettext("%(n)s MB", n=n),
        lambda n: gettext("%(n)s GB", n=n),
        lambda n: gettext("%(n)s TB", n=n),
    )
    unit = units[0]
    for unit in units:  # noqa: B007 - the unit the loop stops at is the one shown
        value /= 1000
        if value < 1000:
            break
    return unit(format_decimal(round(value, 1), format="#,##0.#"))


def format_datetime(value: datetime | None) -> str:
    """A moment in the visitor's time zone and language: 'Nov 30, 2026, 6:27 PM',
    '30 nov. 2026, 18:27'."""
    if value is None:
        return gettext("never")
    if not has_request_context():
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return f"{format_date(value, 'medium')}, {format_time(value, 'short')}"


def format_duration(seconds: float | None) -> str:
    """205.3 -> '3:25'; an hour or more -> '1:02:05' (the same in every language)."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_khz(rate: int | None) -> str:
    """44100 -> '44.1 kHz' ('44,1 kHz' in French)."""
    return gettext("%(n)s kHz", n=format_decimal(rate / 1000, format="#,##0.###")) if rate else "—"


def format_bucket(day: date, scale: str = "day") -> str:
    """The first day of a chart's bar as its label: the day, 'Week of' its Monday, or the month."""
    if scale == "month":
        return format_date(day, "LLLL y")
    if scale == "week":
        return gettext("Week of %(day)s", day=format_date(day, "medium"))
    return format_date(day, "medium")


def format_minutes(seconds: float | None) -> str:
    """A length limit in minutes: 1200 -> '20 minutes', 450 -> '7.5 minutes'; None -> 'no limit'."""
    if seconds is None:
        return gettext("no limit")
    minutes = round(seconds / 60, 1)
    whole = minutes == int(minutes)
    return ngettext(
        "%(n)s minute",
        "%(n)s minutes",
        int(minutes) if whole else 2,
        n=format_decimal(minutes, format="#,##0.#"),
    )


def format_long_date(value: date) -> str:
    """A day as words: 'January 1, 2027' ('1 janvier 2027')."""
    return format_date(value, "long")


def format_number(value: int) -> str:
    """A count with the language's grouping: 12,345 ('12 345')."""
    return format_decimal(value, format="#,##0")
