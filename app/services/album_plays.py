"""Each listener's play count of each album (models.AlbumPlays): the apps' "most
played" album list reads it instead of counting a whole history per request.

It is the listener's listens of the album's tracks they can see, kept so:
- a listen adds one (listening.record_play), in the listen's transaction;
- a track that moves to another album, changes visibility or is deleted through
  the session has its old and new albums counted again, for everyone, when the
  transaction commits (the session hooks below): edits, bulk edits and their
  undo, album merges, deletions;
- an import or deletion of history counts the listener's albums again;
- the nightly job counts everything again (what two transactions racing on one
  row could leave off by one).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, delete, event, func, insert, inspect, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import AlbumPlays, PlayEvent, Track, Visibility

# Albums counted again in one statement.
BATCH = 500

_TOUCHED = "album_plays_touched"


def count_listen(user_id: int, album_id: int) -> None:
    """One more listen of the album by the user (the listen's track is visible to them)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AlbumPlays).values(user_id=user_id, album_id=album_id, play_count=1)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[AlbumPlays.user_id, AlbumPlays.album_id],
            set_={"play_count": AlbumPlays.play_count + 1},
        )
    )


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
    session.execute(insert(AlbumPlays).from_select(["user_id", "album_id", "play_count"], _counted(*listens)))


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


def recount_all() -> int:
    """Count every listener's albums again (nightly). Returns the number of rows."""
    _replace(db.session(), true())
    return db.session.scalar(select(func.count()).select_from(AlbumPlays)) or 0


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
    # Flushed first, so the counts see the tracks' new albums (and a deleted track's
    # listens gone with it); the flush may note more albums, hence the loop.
    while session.info.get(_TOUCHED):
        session.flush()
        _recount_albums(session, {a for a in session.info.pop(_TOUCHED) if a is not None})


@event.listens_for(Session, "after_rollback")
def _forget_moves(session: Session) -> None:
    # (A savepoint's rollback keeps them: counting an unchanged album again changes nothing.)
    session.info.pop(_TOUCHED, None)
