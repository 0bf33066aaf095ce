"""Languages and time zones: which one a request gets, and the switch that sets it.

The language is, in order: the account's setting (/account), the `lang`
cookie the footer's switch sets, the browser's Accept-Language (a regional
tag matches its base language: fr-CA gets French), then English. The time
zone is the account's setting, else the `tz` cookie the page sets from the
browser's own zone (static/js/boot.js), else UTC. Adding a language is a
catalogue in translations/ and one line in LANGUAGES.
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy.exc
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, get_locale, get_translations
from flask_login import current_user

from app.languages import DEFAULT_LANGUAGE, LANGUAGES, is_time_zone

LANG_COOKIE = "lang"
TZ_COOKIE = "tz"
COOKIE_AGE = 365 * 24 * 3600

babel = Babel()


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # Flask-Babel's template callables look the catalogue up again for every
    # string (a page of 50 rows has several hundred); these find it once per
    # request. Same translations, same newstyle escaping.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals["languages"] = LANGUAGES
    app.jinja_env.globals["current_language"] = current_language


def _user_setting(name: str) -> str | None:
    """The logged-in user's setting, or None; never fails (an error page during a
    database outage still needs a language)."""
    with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
        if current_user and current_user.is_authenticated:
            return getattr(current_user, name, None)
    return None


def _translations() -> Any:
    if not has_request_context():
        return get_translations()
    found = g.get("_translations")
    if found is None:
        found = g._translations = get_translations()
    return found


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE  # the CLI and jobs speak English
    # Flask-Babel asks once per request and keeps the answer.
    choice = _user_setting("language")
    if choice not in LANGUAGES:
        choice = request.cookies.get(LANG_COOKIE)
    if choice not in LANGUAGES:
        choice = request.accept_languages.best_match(LANGUAGES.keys())
    return choice if choice in LANGUAGES else DEFAULT_LANGUAGE


def select_timezone() -> str:
    if not has_request_context():
        return "UTC"
    for choice in (_user_setting("timezone"), request.cookies.get(TZ_COOKIE)):
        if choice and is_time_zone(choice):
            return choice
    return "UTC"


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)
