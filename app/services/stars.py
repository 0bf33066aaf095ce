"""Starred albums and artists (starred songs are the favourites, playlists.py), and
ratings of tracks, albums and artists (1 to 5).

Only what the user can see may be starred, and only what they can still see
is listed: an album or artist whose visible tracks are gone drops out of the
lists without its star being touched. Functions flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select

from app.extensions import db
from app.models import Album, AlbumRating, AlbumStar, ArtistRating, ArtistStar, Track, TrackRating
from app.services.errors import DomainError, NotFound
from app.services.library import access
from app.services.library.access import visible_to
from app.services.library.browse import AlbumSummary, ArtistSummary, _album_rows
from app.services.library.lists import artist_summaries
from app.services.rows import delete_row

MAX_LISTED = 5000


def _album_visible(user_id: int, album_id: int) -> bool:
    return (
        db.session.scalar(select(Track.id).where(Track.album_id == album_id, visible_to(user_id)).limit(1)) is not None
    )


def _artist_visible(user_id: int, artist_id: int) -> bool:
    by_artist = or_(Track.artist_id == artist_id, Track.album_artist_id == artist_id)
    return db.session.scalar(select(Track.id).where(by_artist, visible_to(user_id)).limit(1)) is not None


def set_album_star(user_id: int, album_id: int, on: bool) -> None:
    """Star (on) or unstar an album; twice changes nothing. Raises NotFound for an album the user cannot see."""
    if not _album_visible(user_id, album_id):
        raise NotFound("ALBUM_NOT_FOUND")
    if not on:
        delete_row(AlbumStar, (user_id, album_id))
    elif db.session.get(AlbumStar, (user_id, album_id)) is None:
        db.session.add(AlbumStar(user_id=user_id, album_id=album_id))
    db.session.flush()


def set_artist_star(user_id: int, artist_id: int, on: bool) -> None:
    """Raises NotFound for an artist the user sees no track by or under."""
    if not _artist_visible(user_id, artist_id):
        raise NotFound("ARTIST_NOT_FOUND")
    if not on:
        delete_row(ArtistStar, (user_id, artist_id))
    elif db.session.get(ArtistStar, (user_id, artist_id)) is None:
        db.session.add(ArtistStar(user_id=user_id, artist_id=artist_id))
    db.session.flush()


def album_star_times(user_id: int, among: Iterable[int]) -> dict[int, datetime]:
    wanted = set(among)
    if not wanted:
        return {}
    rows = db.session.execute(
        select(AlbumStar.album_id, AlbumStar.created_at).where(
            AlbumStar.user_id == user_id, AlbumStar.album_id.in_(wanted)
        )
    )
    return dict(rows.tuples().all())


def artist_star_times(user_id: int, among: Iterable[int] | None) -> dict[int, datetime]:
    """When the user starred each of the artists `among` (None: all their starred artists,
    cheaper than a list of thousands of ids for the whole index)."""
    stmt = select(ArtistStar.artist_id, ArtistStar.created_at).where(ArtistStar.user_id == user_id)
    if among is not None:
        wanted = set(among)
        if not wanted:
            return {}
        stmt = stmt.where(ArtistStar.artist_id.in_(wanted))
    return dict(db.session.execute(stmt).tuples().all())


def starred_albums(user_id: int, limit: int = MAX_LISTED, offset: int = 0) -> list[AlbumSummary]:
    """The user's starred albums they can still see, the most recently starred first."""
    stmt = (
        _album_rows(user_id)
        .join(AlbumStar, (AlbumStar.album_id == Album.id) & (AlbumStar.user_id == user_id))
        .group_by(AlbumStar.created_at)
        .order_by(AlbumStar.created_at.desc(), Album.id)
        .limit(max(0, min(limit, MAX_LISTED)))
        .offset(max(0, offset))
    )
    return [AlbumSummary(*row) for row in db.session.execute(stmt)]


def starred_artists(user_id: int) -> list[ArtistSummary]:
    ids = list(
        db.session.scalars(
            select(ArtistStar.artist_id)
            .where(ArtistStar.user_id == user_id)
            .order_by(ArtistStar.created_at.desc(), ArtistStar.artist_id)
            .limit(MAX_LISTED)
        )
    )
    return artist_summaries(user_id, ids)


# --- ratings ---------------------------------------------------------------------------------

RATING_MODELS = {
    "track": (TrackRating, "track_id"),
    "album": (AlbumRating, "album_id"),
    "artist": (ArtistRating, "artist_id"),
}


class RatingError(DomainError):
    """RATING_OUT_OF_RANGE."""


def set_rating(user_id: int, kind: str, ident: int, rating: int) -> None:
    """Rate a track, album or artist 1 to 5; 0 clears the rating.

    Raises RatingError for another number, NotFound for what the user cannot see.
    """
    if not 0 <= rating <= 5:
        raise RatingError("RATING_OUT_OF_RANGE")
    if kind == "track":
        access.get_visible_track(user_id, ident)
    elif kind == "album" and not _album_visible(user_id, ident):
        raise NotFound("ALBUM_NOT_FOUND")
    elif kind == "artist" and not _artist_visible(user_id, ident):
        raise NotFound("ARTIST_NOT_FOUND")
    model, column = RATING_MODELS[kind]
    row = db.session.get(model, (user_id, ident))
    if rating == 0:
        delete_row(model, (user_id, ident))
    elif row is None:
        db.session.add(model(user_id=user_id, rating=rating, **{column: ident}))
    else:
        row.rating = rating
    db.session.flush()


def ratings(user_id: int, kind: str, among: Iterable[int] | None) -> dict[int, int]:
    """The user's ratings of the tracks, albums or artists `among` (unrated ones absent;
    None: every rating of that kind the user gave)."""
    model, column = RATING_MODELS[kind]
    key = getattr(model, column)
    stmt = select(key, model.rating).where(model.user_id == user_id)
    if among is not None:
        wanted = set(among)
        if not wanted:
            return {}
        stmt = stmt.where(key.in_(wanted))
    return dict(db.session.execute(stmt).tuples().all())


def highest_rated_albums(user_id: int, limit: int, offset: int = 0) -> list[AlbumSummary]:
    """The albums the user rated, best first, that they can still see."""
    stmt = (
        _album_rows(user_id)
        .join(AlbumRating, (AlbumRating.album_id == Album.id) & (AlbumRating.user_id == user_id))
        .group_by(AlbumRating.rating)
        .order_by(AlbumRating.rating.desc(), Album.title_key, Album.id)
        .limit(max(0, min(limit, MAX_LISTED)))
        .offset(max(0, offset))
    )
    return [AlbumSummary(*row) for row in db.session.execute(stmt)]
