"""Flask extensions, created unbound and initialised by create_app()."""

from __future__ import annotations

import sqlite3
import threading

import redis
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

from app.web import ratelimits as _ratelimits  # noqa: F401 - registers the sqlite:// storage for the rate limits

# Named constraints make Alembic migrations reproducible and let SQLite's
# batch mode drop or alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay readable after a commit without a reload per attribute: pages
# render after their single commit, and the importer commits once per file.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # SQLite leaves foreign keys (and so ON DELETE CASCADE) off unless asked;
    # WAL lets pages read while an upload commits.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL never corrupts the database; it only leaves the last
        # commits to the next checkpoint's fsync (SQLite's advice for WAL).
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A writer waits this long for another's commit; past it the request
        # is answered 503 (the database is busy), well within 5 seconds.
        cursor.execute("PRAGMA busy_timeout=4000")
        cursor.close()


login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def conflict_insert(session: Session, model: type) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model` that can say what to do ON CONFLICT: PostgreSQL's or
    SQLite's (the two databases the app runs on), whichever `session` is bound to."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


_redis_clients: dict[str, redis.Redis] = {}
_redis_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """One client (and its connection pool) per Redis URL in this process, with short
    timeouts: a Redis that cannot be reached is an error within two seconds."""
    with _redis_lock:
        if url not in _redis_clients:
            _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return _redis_clients[url]
