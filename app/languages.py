"""The languages the interface speaks and the time zones it knows: plain data
that the services (settings) and the web layer (choosing one) both read.
Adding a language is a catalogue in translations/ and one line here."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

# Code -> the language's own name (as the switch shows it).
LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"


def is_time_zone(name: str | None) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def time_zones() -> list[str]:
    """Every IANA zone name, sorted (the account page's choices)."""
    return sorted(available_timezones())
