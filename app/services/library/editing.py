"""Changing a track's tags and visibility, and deleting it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import Track, Visibility
from app.services.library.catalogue import apply_tags, prune


def update_track(track: Track, *, visibility: Visibility, **tags: Any) -> None:
    old_album, old_artist = track.album_id, track.artist_id
    apply_tags(track, **tags)
    track.visibility = visibility
    db.session.flush()
    prune(album_ids=[old_album], artist_ids=[old_artist])


def delete_track(track: Track) -> list[str]:
    """Delete the row; return the stored files the caller removes after committing."""
    files = [track.storage_path]
    if track.waveform_path:
        files.append(track.waveform_path)
    if track.cover_path:
        shared = db.session.scalar(
            select(func.count()).where(Track.cover_path == track.cover_path, Track.id != track.id)
        )
        if not shared:
            files.append(track.cover_path)
    album_id, artist_id = track.album_id, track.artist_id
    db.session.delete(track)
    db.session.flush()
    prune(album_ids=[album_id], artist_ids=[artist_id])
    return files
