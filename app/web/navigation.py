"""The main menu every page shows, and which entry is current."""

from __future__ import annotations

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# (endpoint, label, who sees it); entries whose endpoint does not exist yet
# are skipped, so the menu grows with the app.
NAVIGATION = [
    ("library.index", _l("Library"), "all"),
    ("playlists.index", _l("Playlists"), "all"),
    ("library.upload", _l("Upload"), "uploader"),
    ("account.index", _l("Account"), "all"),
    ("admin.users", _l("Admin"), "admin"),
]


def register(app: Flask) -> None:
    app.context_processor(_navigation)


def _navigation() -> dict:
    items = []
    if current_user.is_authenticated:
        for endpoint, label, audience in NAVIGATION:
            if endpoint not in current_app.view_functions:
                continue
            if audience == "admin" and not current_user.is_admin:
                continue
            if audience == "uploader" and not current_user.can_upload:
                continue
            items.append({"url": url_for(endpoint), "label": str(label), "active": False})
    # The menu entry whose address is the longest prefix of this page's is current.
    matches = [i for i in items if request.path == i["url"] or request.path.startswith(i["url"].rstrip("/") + "/")]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["active"] = True
    return {"nav_items": items}
