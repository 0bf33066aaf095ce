"""Each listener's play count of each album (models.AlbumPlays): the apps' "most
played" album list reads it instead of counting a whole history per request.

It is the listener's listens of the album's tracks they can see, kept so:
- a listen adds one (listening.record_play), in the listen's transaction;
- a track that moves to another album, changes visibility or is deleted through
  the session has its old and new albums counted again, for everyone, when the
  transaction commits (the session hooks below): edits, bulk edits and their
  undo, album merges, deletions;
- an import or deletion of history counts the listener's albums again;
- deleting an account counts again the albums of its public tracks that others
  played (the database deletes those tracks and listens, the session never sees them);
- the nightly job counts everyone again, one listener at a time (a listen recorded
  while an edit moved its track to another album went to the old one).

A count is written as an upsert, so a listen that commits while its album is
being counted again is never a clash.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, delete, event, func, inspect, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import conflict_insert, db
from app.models import AlbumPlays, PlayEvent, Track, Visibility

# Albums counted again in one statement.
BATCH = 500

_TOUCHED = "album_plays_touched"


KEY = [AlbumPlays.user_id, AlbumPlays.album_id]


def count_listen(user_id: int, album_id: int) -> None:
    """One more listen of the album by the user (the listen's track is visible to them)."""
    stmt = conflict_insert(db.session(), AlbumPlays).values(user_id=user_id, album_id=album_id, play_count=1)
    db.session.execute(stmt.on_conflict_do_update(index_elements=KEY, set_={"play_count": AlbumPlays.play_count + 1}))


def _counted(*where) -> Select:
    """The counts, by listener and album, of the listens matching `where`."""
    return (
        select(PlayEvent.user_id, Track.album_id, func.count())
        .join(Track, Track.id == PlayEvent.track_id)
        .where(or_(Track.owner_id == PlayEvent.user_id, Track.visibility == Visibility.PUBLIC), *where)
        .group_by(PlayEvent.user_id, Track.album_id)
    )


def _replace(session: Session, rows: ColumnElement[bool], *listens: ColumnElement[bool]) -> None:
    session.execute(delete(AlbumPlays).where(rows))
    stmt = conflict_insert(session, AlbumPlays).from_select(["user_id", "album_id", "play_count"], _counted(*listens))
    session.execute(stmt.on_conflict_do_update(index_elements=KEY, set_={"play_count": stmt.excluded.play_count}))


def _recount_albums(session: Session, album_ids: Iterable[int]) -> None:
    ids = sorted(set(album_ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        _replace(session, AlbumPlays.album_id.in_(chunk), Track.album_id.in_(chunk))


def recount_albums(album_ids: Iterable[int]) -> None:
    """Count these albums' listens again, for every listener."""
    _recount_albums(db.session(), album_ids)


def recount_listener(user_id: int) -> None:
    """Count one listener's albums again (their history was imported into or cut)."""
    _replace(db.session(), AlbumPlays.user_id == user_id, PlayEvent.user_id == user_id)


def listeners() -> list[int]:
    """Everyone with a count or a listen: whom the nightly job counts again."""
    return sorted(
        set(db.session.scalars(select(AlbumPlays.user_id).distinct()))
        | set(db.session.scalars(select(PlayEvent.user_id).distinct()))
    )


def albums_shared_by(user_id: int) -> set[int]:
    """The albums of the user's public tracks that someone else played: those whose
    counts deleting the account changes (call before deleting it, recount after)."""
    return set(
        db.session.scalars(
            select(Track.album_id)
            .where(Track.owner_id == user_id, Track.visibility == Visibility.PUBLIC)
            .where(select(PlayEvent.id).where(PlayEvent.track_id == Track.id, PlayEvent.user_id != user_id).exists())
            .distinct()
        )
    )


# --- tracks that change album or visibility, or go ------------------------------------------------


@event.listens_for(Session, "before_flush")
def _note_moves(session: Session, _context, _instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, Track):
            attrs = inspect(obj).attrs
            moved_from = attrs.album_id.history.deleted
            if moved_from or attrs.visibility.history.has_changes():
                session.info.setdefault(_TOUCHED, set()).update({*moved_from, obj.album_id})
    for obj in session.deleted:
        if isinstance(obj, Track):
            session.info.setdefault(_TOUCHED, set()).add(obj.album_id)


@event.listens_for(Session, "before_commit")
def _recount_moved(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction's own commit counts
    # Flushed first, so the counts see the tracks' new albums (and a deleted track's
    # listens gone with it); the flush may note more albums, hence the loop.
    while session.info.get(_TOUCHED):
        session.flush()
        _recount_albums(session, {a for a in session.info.pop(_TOUCHED) if a is not None})


@event.listens_for(Session, "after_transaction_end")
def _forget_moves(session: Session, transaction) -> None:
    # Only when the whole transaction ends: a savepoint rolled back keeps the albums
    # noted before it (counting an unchanged album again changes nothing).
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)
