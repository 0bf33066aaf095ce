"""Words for the recommender's reasons (app/services/recommend.py gives codes)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext

from app.services import recommend


def explain(suggestion: recommend.Suggestion) -> str:
    """One short sentence: "same genre and era", "by the same artist · listened together by 3 people"."""
    codes = set(suggestion.reasons)
    parts = []
    if recommend.SAME_ARTIST in codes:
        parts.append(_("by the same artist"))
    elif recommend.SAME_ALBUM_ARTIST in codes:
        parts.append(_("from the same album artist"))
    if recommend.SAME_GENRE in codes and recommend.SAME_ERA in codes:
        parts.append(_("same genre and era"))
    elif recommend.SAME_GENRE in codes:
        parts.append(_("same genre"))
    elif recommend.SAME_ERA in codes:
        parts.append(_("same era"))
    if recommend.LISTENED_TOGETHER in codes:
        parts.append(
            ngettext(
                "listened together by %(num)d person",
                "listened together by %(num)d people",
                suggestion.listeners,
            )
        )
    return " · ".join(parts)
