"""Lyrics embedded in the stored files, read when asked for (getLyrics and
getLyricsBySongId): nothing is stored, so every track has them, however old.

The tag reader's sandboxed processes read the file (app/services/tags.py),
with their memory limit and deadline: a hostile or broken file gives no
lyrics, never an error.
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Track
from app.models.library import TAG_MAX
from app.services.library import access
from app.services.storage import Storage
from app.services.tags import Lyrics, ParserPool, UnsupportedAudio
from app.services.text import fold

# Tracks tried for getLyrics(artist, title) before answering "none".
MAX_CANDIDATES = 5


def _read(store: Storage, pool: ParserPool, track: Track) -> list[Lyrics]:
    try:
        with store.local_copy(track.storage_path) as path:
            return pool.lyrics(path)
    except (OSError, UnsupportedAudio):
        # Missing, or the object store unreachable: no lyrics, never an error.
        return []


def lyrics_of_track(store: Storage, pool: ParserPool, user_id: int, track_id: int) -> tuple[Track, list[Lyrics]]:
    """A track's embedded lyrics (synced sets first). Raises NotFound for a track the user cannot see."""
    track = access.get_visible_track(user_id, track_id)
    return track, _read(store, pool, track)


def find_lyrics(
    store: Storage, pool: ParserPool, user_id: int, artist: str | None, title: str | None
) -> tuple[Track, Lyrics] | None:
    """The first of the user's visible tracks with this title (and artist, when given)
    that carries lyrics, with its first set; None when none does."""
    title_key, artist_key = fold(title)[:TAG_MAX], fold(artist)[:TAG_MAX]
    if not title_key:
        return None
    query = select(Track).where(Track.title_key == title_key, access.visible_to(user_id))
    if artist_key:
        query = query.where(Track.artist_key == artist_key)
    for track in db.session.scalars(query.order_by(Track.id).limit(MAX_CANDIDATES)):
        found = _read(store, pool, track)
        if found:
            return track, found[0]
    return None
