"""The main menu every page shows, and which entry is current."""

from __future__ import annotations

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# (endpoint, label, who sees it, the section of the site it stands for: its
# own address unless given); entries whose endpoint does not exist yet are
# skipped, so the menu grows with the app.
NAVIGATION = [
    ("library.index", _l("Library"), "all", None),
    ("playlists.index", _l("Playlists"), "all", None),
    ("library.upload", _l("Upload"), "uploader", None),
    ("account.index", _l("Account"), "all", None),
    ("admin.users", _l("Admin"), "admin", "/admin"),  # the accounts and the jobs pages
]


def register(app: Flask) -> None:
    app.context_processor(_navigation)


def _navigation() -> dict:
    items = []
    if current_user.is_authenticated:
        for endpoint, label, audience, section in NAVIGATION:
            if endpoint not in current_app.view_functions:
                continue
            if audience == "admin" and not current_user.is_admin:
                continue
            if audience == "uploader" and not current_user.can_upload:
                continue
            url = url_for(endpoint)
            items.append({"url": url, "label": str(label), "active": False, "section": section or url})
    # The menu entry whose section is the longest prefix of this page's address is current.
    path = request.path
    matches = [i for i in items if path == i["section"] or path.startswith(i["section"].rstrip("/") + "/")]
    if matches:
        max(matches, key=lambda i: len(i["section"]))["active"] = True
    return {"nav_items": items}
