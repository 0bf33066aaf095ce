"""Rate-limit counters that every process of one machine shares, without Redis.

Flask-Limiter keeps its counters in a `limits` storage. memory:// is per
process, so behind gunicorn's workers each counted on its own and a burst of
wrong passwords spread over them got through. With Redis configured
(REDIS_URL or RATELIMIT_STORAGE_URI), Redis holds them; without it, this
storage keeps them in a SQLite file under instance/ (scheme `sqlite`,
e.g. sqlite:////srv/musiccloud/instance/ratelimits.db), which every process on
the machine opens: SQLite's own locking makes each check-and-count atomic.

It implements the moving window the app uses (and fixed windows, for
completeness) on two small tables; entries older than their window are
deleted as the key is used, and old keys now and then.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import unquote

from limits.storage import MovingWindowSupport, Storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL);
"""
# Rows of any key older than this go at the occasional sweep (the longest
# window the app sets is an hour; a day leaves room for configured ones).
SWEEP_AFTER = 24 * 3600
SWEEP_EVERY = 500


class SQLiteStorage(Storage, MovingWindowSupport):
    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # As SQLAlchemy spells it: sqlite:///relative.db, sqlite:////absolute.db.
        rest = unquote(uri.partition("://")[2])
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ValueError("sqlite rate-limit storage needs a file: sqlite:////absolute/path.db")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._calls = 0
        with self._connection() as conn:
            conn.executescript(SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread (and per process: a forked worker opens its own).
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _write(self) -> sqlite3.Connection:
        """The connection, in a write transaction (BEGIN IMMEDIATE: check and count are one step)."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        return conn

    # --- moving window -------------------------------------------------------------------
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        conn = self._write()
        try:
            conn.execute("DELETE FROM hits WHERE key = ? AND at < ?", (key, now - expiry))
            (count,) = conn.execute("SELECT count(*) FROM hits WHERE key = ?", (key,)).fetchone()
            acquired = count + amount <= limit
            if acquired:
                conn.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now)] * amount)
            self._maybe_sweep(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return acquired

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, count = (
            self._connection()
            .execute("SELECT min(at), count(*) FROM hits WHERE key = ? AND at >= ?", (key, now - expiry))
            .fetchone()
        )
        return (oldest if count else now), count

    # --- fixed window ----------------------------------------------------------------------
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        conn = self._write()
        try:
            conn.execute("DELETE FROM counters WHERE key = ? AND expires <= ?", (key, now))
            conn.execute(
                "INSERT INTO counters (key, value, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, amount, now + expiry),
            )
            (value,) = conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(value)

    def get(self, key: str) -> int:
        row = (
            self._connection()
            .execute("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._connection().execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else time.time()

    # --- upkeep ----------------------------------------------------------------------------
    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def clear(self, key: str) -> None:
        conn = self._write()
        conn.execute("DELETE FROM hits WHERE key = ?", (key,))
        conn.execute("DELETE FROM counters WHERE key = ?", (key,))
        conn.execute("COMMIT")

    def reset(self) -> int | None:
        conn = self._write()
        (hits,) = conn.execute("SELECT count(*) FROM hits").fetchone()
        (counters,) = conn.execute("SELECT count(*) FROM counters").fetchone()
        conn.execute("DELETE FROM hits")
        conn.execute("DELETE FROM counters")
        conn.execute("COMMIT")
        return int(hits) + int(counters)

    def _maybe_sweep(self, conn: sqlite3.Connection, now: float) -> None:
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            conn.execute("DELETE FROM hits WHERE at < ?", (now - SWEEP_AFTER,))
            conn.execute("DELETE FROM counters WHERE expires < ?", (now,))
