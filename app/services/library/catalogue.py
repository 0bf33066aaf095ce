"""The catalogue: tag values cleaned and folded, the artists and albums they name
(found or created once), and pruning those no track refers to any more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Album, Artist, Track
from app.models.library import TAG_MAX
from app.services.text import clean_tag, fold


def apply_tags(track: Track, **tags: Any) -> None:
    """Set tag fields and everything derived from them (keys, search text, artist, album)."""
    for key in ("title", "artist", "album"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or getattr(track, key) or "Unknown")
    for key in ("album_artist", "genre"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or None)
    for key in ("track_number", "disc_number", "year"):
        if key in tags:
            setattr(track, key, tags[key])
    # Folding can lengthen text ("…" becomes "...", ligatures split), so keys are clamped again.
    track.title_key = fold(track.title)[:TAG_MAX]
    track.artist_key = fold(track.artist)[:TAG_MAX]
    track.album_key = fold(track.album)[:TAG_MAX]
    track.genre_key = fold(track.genre)[:TAG_MAX] or None
    parts = [track.title_key, track.artist_key, track.album_key, fold(track.album_artist)[:TAG_MAX]]
    track.search_text = " ".join(parts)[: 4 * TAG_MAX]
    artist = _artist(track.artist)
    album_artist = _artist(track.album_artist) if track.album_artist else artist
    track.artist_id = artist.id
    track.album_id = _album(track.album, album_artist).id
    track.album_artist_id = album_artist.id


def _cache() -> dict[tuple[str, ...], Any]:
    # Artists and albums met in this session; dropped on rollback (see below),
    # since a rolled-back row must not be reused.
    return db.session.info.setdefault("library_cache", {})


@event.listens_for(Session, "after_rollback")
def _forget_cache(session: Session) -> None:
    session.info.pop("library_cache", None)


def _artist(name: str) -> Artist:
    key = fold(name)[:TAG_MAX]
    return _get_or_create(
        ("artist", key), select(Artist).where(Artist.name_key == key), lambda: Artist(name=name, name_key=key)
    )


def _album(title: str, artist: Artist) -> Album:
    key = fold(title)[:TAG_MAX]
    return _get_or_create(
        ("album", key, str(artist.id)),
        select(Album).where(Album.title_key == key, Album.artist_id == artist.id),
        lambda: Album(title=title, title_key=key, artist_id=artist.id),
    )


def _get_or_create(cache_key: tuple[str, ...], query: Select, make: Callable[[], Any]) -> Any:
    """The row `query` finds, else a new one from `make()`; a row another request
    created at the same moment wins (unique index), and the result is cached."""
    cache = _cache()
    if cache_key in cache:
        return cache[cache_key]
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = make()
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(query)
    cache[cache_key] = row
    return row


def prune(album_ids: list[int], artist_ids: list[int]) -> None:
    """Drop albums and artists no track refers to any more."""
    for album_id in album_ids:
        if not db.session.scalar(select(func.count()).where(Track.album_id == album_id)):
            album = db.session.get(Album, album_id)
            if album is not None:
                artist_ids.append(album.artist_id)
                db.session.delete(album)
    db.session.flush()
    for artist_id in set(artist_ids):
        used = db.session.scalar(select(func.count()).where(Track.artist_id == artist_id)) or db.session.scalar(
            select(func.count()).select_from(Album).where(Album.artist_id == artist_id)
        )
        if not used:
            artist = db.session.get(Artist, artist_id)
            if artist is not None:
                db.session.delete(artist)
