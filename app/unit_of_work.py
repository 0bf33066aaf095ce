"""One commit per user action, made by the web layer or a CLI command, never by a service.

Services add, change and flush; when the action is complete its caller ends
it here. `commit()` commits once, and on failure rolls back and gives the
action's undo (for example removing files an upload kept) a chance to run.
`retrying()` runs an action that can be repeated from scratch and commits it,
running it again when the database asks (a concurrent edit's unique clash,
SQLite busy, a PostgreSQL serialization failure or deadlock).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.extensions import db

T = TypeVar("T")

# PostgreSQL's SQLSTATEs that mean "run the transaction again".
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


class Undoable(Protocol):
    def prepare_commit(self) -> None: ...
    def abandon(self) -> None: ...


class Together:
    """Several pieces of one action, undone together (a track added with its artwork)."""

    def __init__(self, *works: Undoable) -> None:
        self.works = works

    def prepare_commit(self) -> None:
        for work in self.works:
            work.prepare_commit()

    def abandon(self) -> None:
        for work in self.works:
            work.abandon()


def commit(work: Undoable | None = None) -> None:
    """Commit the session. On failure roll back, undo `work`'s side effects, re-raise."""
    try:
        if work is not None:
            work.prepare_commit()
        db.session.commit()
    except BaseException:
        _undo(work)
        raise


@contextlib.contextmanager
def committing(work: Undoable | None = None) -> Iterator[None]:
    """Commit when the block ends normally; roll back (and undo `work`) when it raises."""
    try:
        yield
    except BaseException:
        _undo(work)
        raise
    commit(work)


def _undo(work: Undoable | None) -> None:
    db.session.rollback()
    if work is not None:
        work.abandon()


def retrying(action: Callable[[], T], attempts: int = 8) -> T:
    """Run `action` and commit; when the database says to try again, roll back and run it again."""
    for attempt in range(1, attempts):
        try:
            result = action()
            db.session.commit()
        except DBAPIError as exc:
            db.session.rollback()
            if not _retryable(exc):
                raise
            time.sleep(0.005 * attempt)
        else:
            return result
    with committing():
        return action()


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        # Two edits of one playlist picked the same position at once.
        return True
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
