"""The JSON shapes of the app's objects, shared by the player's API, the pages
that embed track data for the player, and any later API."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _

from app.models import Playlist, Track
from app.services.library import analysis
from app.services.library.adding import AddOutcome, AddResult
from app.services.library.browse import AlbumSummary
from app.services.playlists import EntryView
from app.web.messages import message
from app.web.sending import cover_version


def track_cover_url(track_id: int, cover_path: str | None) -> str:
    """The cover's address, naming the picture when there is one (see send_cover)."""
    return url_for("streaming.cover", track_id=track_id, v=cover_version(cover_path))


def track_data(track: Track) -> dict[str, Any]:
    """What the player needs to queue a track (rows embed it; the API answers it)."""
    return {
        "id": track.id,
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "duration": track.duration,
        "stream": url_for("streaming.stream", track_id=track.id),
        "cover": track_cover_url(track.id, track.cover_path),
        "page": url_for("library.track", track_id=track.id),
        # The waveform's address changes with each analysis, so it may be cached for good.
        "waveform": (
            url_for("library.waveform", track_id=track.id, v=int(track.analysed_at.timestamp()))
            if track.waveform_path and track.analysed_at
            else None
        ),
        "gain": analysis.playback_gain(track),
    }


def playlist_data(playlist: Playlist, views: list[EntryView]) -> dict[str, Any]:
    return {
        "id": playlist.id,
        "name": playlist.name,
        "description": playlist.description,
        "tracks": [dict(track_data(v.track), entry=v.entry.id) for v in views],
    }


def album_data(album: AlbumSummary, tracks: list[Track]) -> dict[str, Any]:
    return {"id": album.id, "title": album.title, "artist": album.artist, "tracks": [track_data(t) for t in tracks]}


def add_result_message(result: AddResult) -> str:
    """One file's outcome as the upload page says it."""
    if result.outcome is AddOutcome.ADDED and result.track is not None:
        return _("added: %(title)s by %(artist)s", title=result.track.title, artist=result.track.artist)
    if result.outcome is AddOutcome.DUPLICATE:
        return _("already in your library")
    return message(result.error) if result.error is not None else _("not added")


def add_result_data(result: AddResult) -> dict[str, Any]:
    """One file's outcome in the upload's JSON answer."""
    data: dict[str, Any] = {
        "name": result.name,
        "status": result.outcome.value,
        "message": add_result_message(result),
    }
    if result.error is not None:
        data["code"] = result.error.code
    if result.track is not None:
        data["track"] = {
            "id": result.track.id,
            "title": result.track.title,
            "artist": result.track.artist,
            "album": result.track.album,
            "duration": result.track.duration,
            "url": url_for("library.track", track_id=result.track.id),
        }
    return data
