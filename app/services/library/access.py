"""What a user may see: their own tracks and every public track; anything else
does not exist for them (NotFound). Every page, API and the seek path ask here."""

from __future__ import annotations

from sqlalchemy import BindParameter, bindparam, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Track, User, Visibility
from app.services.errors import Forbidden, NotFound


def visible_to(user_id: int | BindParameter[int] | ColumnElement[int]) -> ColumnElement[bool]:
    return or_(Track.owner_id == user_id, Track.visibility == Visibility.PUBLIC)


# What serving a file needs, with the session check, in one indexed lookup:
# the track if the user (:uid) may hear it, with that user's session token
# and disabled flag. Both the stream view and its fast path run it.
STREAM_COLUMNS = (Track.id, Track.storage_path, Track.mime_type, Track.sha256, Track.format, Track.original_filename)
STREAM_LOOKUP = (
    # codec, bitrate and duration: the fast path's choice of a cached transcoded variant.
    select(*STREAM_COLUMNS, User.session_token, User.disabled, Track.codec, Track.bitrate, Track.duration)
    .join(User, User.id == bindparam("uid"))
    .where(Track.id == bindparam("tid"), visible_to(bindparam("uid")))
)


def may_download(user_id: int, track: Track) -> bool:
    """The owner always; anyone else only a public track whose owner allows downloads.
    (Listening never depends on it.)"""
    return track.owner_id == user_id or (track.visibility == Visibility.PUBLIC and bool(track.allow_download))


def get_downloadable_track(user_id: int, track_id: int) -> Track:
    """Raises NotFound (invisible) or Forbidden (another account's track without downloads)."""
    track = get_visible_track(user_id, track_id)
    if not may_download(user_id, track):
        raise Forbidden("DOWNLOAD_NOT_ALLOWED")
    return track


def get_visible_track(user_id: int, track_id: int) -> Track:
    """Raises NotFound when the track does not exist or is someone else's private track."""
    track = db.session.scalar(select(Track).where(Track.id == track_id, visible_to(user_id)))
    if track is None:
        raise NotFound("TRACK_NOT_FOUND")
    return track


def get_own_track(user_id: int, track_id: int) -> Track:
    """Raises NotFound (invisible) or Forbidden (another account's public track)."""
    track = get_visible_track(user_id, track_id)
    if track.owner_id != user_id:
        raise Forbidden("TRACK_NOT_OWNED")
    return track


def cover_of(user_id: int, track_id: int) -> tuple[str | None, bool]:
    """(the stored cover's name or None, whether its thumbnail job has yet to run).
    Raises NotFound for an invisible track."""
    row = db.session.execute(
        select(Track.cover_path, Track.cover_pending).where(Track.id == track_id, visible_to(user_id))
    ).first()
    if row is None:
        raise NotFound("TRACK_NOT_FOUND")
    return row[0], row[1]
