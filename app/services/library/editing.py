"""Changing a track's tags and visibility, and deleting it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Track, TrackTag, Visibility
from app.services import track_meta
from app.services.library.catalogue import apply_tags, prune, refresh_search_text
from app.services.track_meta import MetadataInvalid

# The fields set_metadata() takes (a missing one is left as it is).
METADATA_FIELDS = ("description", "tags", "bpm", "musical_key", "licence", "allow_download")


def update_track(track: Track, *, visibility: Visibility, **tags: Any) -> None:
    old_album, old_artist = track.album_id, track.artist_id
    apply_tags(track, **tags)
    track.visibility = visibility
    db.session.flush()
    prune(album_ids=[old_album], artist_ids=[old_artist])


def set_metadata(track: Track, **fields: Any) -> None:
    """Set the description, free tags, BPM, key, licence and download permission that
    `fields` name; each is checked first (MetadataInvalid), so a refused update changes nothing."""
    if "description" in fields:
        description = (fields["description"] or "").strip()
        if len(description) > track_meta.DESCRIPTION_MAX:
            raise MetadataInvalid("description", "DESCRIPTION_TOO_LONG")
    tags = track_meta.normalise_tags(fields["tags"] or []) if "tags" in fields else None
    if "bpm" in fields and not track_meta.valid_bpm(fields["bpm"]):
        raise MetadataInvalid("bpm", "BPM_OUT_OF_RANGE")
    if "musical_key" in fields and not track_meta.valid_key(fields["musical_key"] or None):
        raise MetadataInvalid("musical_key", "KEY_INVALID")
    if "licence" in fields and fields["licence"] not in track_meta.LICENCES:
        raise MetadataInvalid("licence", "LICENCE_UNKNOWN")
    if "description" in fields:
        track.description = description or None
    if "bpm" in fields:
        track.bpm = fields["bpm"]
    if "musical_key" in fields:
        track.musical_key = fields["musical_key"] or None
    if "licence" in fields:
        track.licence = fields["licence"]
    if "allow_download" in fields:
        track.allow_download = bool(fields["allow_download"])
    if tags is not None:
        _set_tags(track, tags)
    if "description" in fields or tags is not None:
        # The search finds a track by its free tags and its description too.
        refresh_search_text(track)


def _set_tags(track: Track, tags: list[tuple[str, str]]) -> None:
    """The track's free tags as shown, and their keys for the filters."""
    if [tag for _, tag in tags] == list(track.tags or []):
        return
    track.tags = [tag for _, tag in tags]
    if track.id is not None:
        db.session.execute(delete(TrackTag).where(TrackTag.track_id == track.id))
    db.session.flush()
    db.session.add_all(TrackTag(track_id=track.id, tag_key=key) for key, _ in tags)


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
