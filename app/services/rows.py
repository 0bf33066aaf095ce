"""Small helpers for the rows a user toggles (likes, hearts, stars, ratings).

Two requests can toggle the same row at once: two phones unstarring one album,
a player and a page. Removing goes through a DELETE statement, so a row the
other request already removed is simply gone (an ORM delete would fail on it);
two inserts of the same key clash on the primary key, which the callers' retry
(unit_of_work.retrying) turns into a second run that finds the row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, inspect

from app.extensions import db


def delete_row(model: type, key: tuple[Any, ...]) -> bool:
    """Delete the row of `model` with primary key `key` if it is there; return whether it was."""
    columns = inspect(model).primary_key
    done = db.session.execute(delete(model).where(*(c == v for c, v in zip(columns, key, strict=True))))
    return bool(done.rowcount)
