"""What the browser's scripts get from the server, in one JSON block per page.

The scripts hold no URLs and no user-visible sentences of their own: every
address they call and every string they show is here, so a route can move
and a string can be translated without touching the JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.web.assets import static_url

# An id no route will ever see; url_for builds the URL with it and the
# placeholder takes its place, so the template follows the route's rule.
_SENTINEL = 918_273_645_546_372_819


def register(app: Flask) -> None:
    app.jinja_env.globals["client_config"] = client_config


def client_config() -> dict[str, Any]:
    """The data block for the current request (base.html renders it for signed-in users)."""
    return {
        "user": current_user.id if current_user.is_authenticated else None,
        "csrf": generate_csrf(),
        "dim_disliked": bool(current_user.is_authenticated and current_user.dim_disliked),
        "urls": {
            "plays": url_for("api.plays"),
            "queue": url_for("api.save_queue"),
            "radio": url_for("api.radio"),
            "track": url_template("api.track", "track_id"),
            "sound": url_template("api.track_sound", "track_id"),
            "favourite": url_template("playlists.toggle_favourite", "track_id"),
            "like": url_template("api.like", "track_id"),
            "like_form": url_template("library.like", "track_id"),
            "upload": url_for("library.upload"),
            "resumable": url_for("uploads.create"),
            "icons": static_url("img/icons.svg"),
        },
        "strings": strings(),
        # The player asks /stream/<id>?quality=... with one of these (presets.py).
        "quality": {
            "web": current_user.quality_web if current_user.is_authenticated else "original",
            "metered": current_user.quality_metered if current_user.is_authenticated else "low",
        },
    }


def url_template(endpoint: str, param: str) -> str:
    """The endpoint's URL with `{param}` where the browser puts a value it only
    learns later (`/api/tracks/{track_id}`).

    Raises ValueError when the rule does not carry the value exactly once in
    the path (the placeholder would be ambiguous).
    """
    marker = str(_SENTINEL)
    url = url_for(endpoint, **{param: _SENTINEL})
    if url.count(marker) != 1 or "?" in url:
        raise ValueError(f"{endpoint} has no single path segment for {param}")
    return url.replace(marker, "{" + param + "}")


def strings() -> dict[str, str]:
    """Every sentence the scripts show, by key; `{name}` marks a value they fill in.

    Built on each call, not at import, so each value can become a gettext call
    in the request's language.
    """
    return {
        # The player bar
        "play": _("Play"),
        "metered": _("Metered connection: smaller files"),
        "sound_original": _("{codec} {bitrate} kbit/s"),
        "sound_transcoded": _("{codec} {bitrate} kbit/s, transcoded"),
        "pause": _("Pause"),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "repeat_off": _("Repeat: off"),
        "repeat_all": _("Repeat: all"),
        "repeat_one": _("Repeat: one track"),
        "show_queue": _("Show queue"),
        "hide_queue": _("Hide queue"),
        "queue_move_up": _("Move up: {title}"),
        "queue_move_down": _("Move down: {title}"),
        "queue_remove": _("Remove: {title}"),
        "plays_next": _("“{title}” plays next"),
        "added_to_queue": _("“{title}” added to the queue"),
        "normalise_off": _("Loudness normalisation: off"),
        "normalise_track": _("Loudness normalisation: track"),
        "normalise_album": _("Loudness normalisation: album"),
        "normalise_off_short": _("Off"),
        "normalise_track_short": _("Track"),
        "normalise_album_short": _("Album"),
        # The share link's copy button on a playlist's edit page
        "copied": _("Copied"),
        # The upload page
        "upload_progress": _("Upload progress of {name}"),
        "upload_waiting": _("Waiting"),
        "upload_sending": _("Uploading"),
        "upload_reading": _("Reading tags"),
        "upload_added": _("Added: {title} by {artist} ({duration})"),
        "upload_duplicate": _("Already in your library"),
        "upload_archive": _("ZIP archive: review what it holds and confirm"),
        "upload_skipped": _("Skipped: not an audio file"),
        "upload_files_done": _("{done} of {total} files"),
        "upload_bytes_sent": _("{sent} of {total}"),
        "upload_speed": _("{speed}/s"),
        "upload_time_left": _("{time} left"),
        "upload_paused": _("paused"),
        "upload_pause": _("Pause"),
        "upload_resume": _("Resume"),
        "upload_paused_at": _("Paused at {sent} of {total}"),
        "upload_pause_file": _("Pause the upload of {name}"),
        "upload_resume_file": _("Resume the upload of {name}"),
        "upload_retrying": _("Connection lost at {sent} of {total}: trying again in {seconds} s"),
        "upload_offline": _("Offline at {sent} of {total}: it goes on when the connection is back"),
        "upload_offline_all": _("offline: waiting for the connection"),
        "upload_duplicate_of": _("Already in your library: {title}"),
        "upload_rejected": _("Rejected: {message}"),
        "upload_too_large": _("Rejected: file too large: {size}, the limit is {limit}"),
        "upload_server_status": _("Rejected: the server answered {status}"),
        "upload_connection_lost": _("Failed: the connection was lost"),
        "size_kb": _("{n} KB"),
        "size_mb": _("{n} MB"),
        "size_gb": _("{n} GB"),
    }
