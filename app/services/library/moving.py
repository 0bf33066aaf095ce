"""Moving a library's files from one storage to another (`flask storage migrate`).

Every file a row names (each track's audio, each distinct cover) is copied under
the same name, so no row changes: while it runs the app is configured with the
new storage as STORAGE_URL and the old one as STORAGE_FALLBACK_URL, and reads
fall back to the old place until a file has moved (FallbackStorage). The
bytes are hashed as they are read: audio must match its row's sha256 before it
is stored, and every copy is read back from the new storage and hashed again
before it counts. A file the new storage already holds with the right bytes is
left alone, so an interrupted run just starts again. The old files are never
deleted here.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Track
from app.services.errors import NotFound
from app.services.storage import CHUNK, Storage, StorageError

MAX_BYTES = 1 << 40


@dataclass
class MoveReport:
    copied: int = 0
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def move_library(source: Storage, target: Storage, *, progress: Callable[[str, str], None] | None = None) -> MoveReport:
    """Copy every file the rows name from `source` to `target`, verified; return what happened."""
    report = MoveReport()
    rows = db.session.execute(select(Track.storage_path, Track.sha256, Track.cover_path).order_by(Track.id)).all()
    db.session.rollback()  # hold no transaction while copying
    covers: set[str] = set()
    wanted: list[tuple[str, str | None]] = []
    for path, sha256, cover in rows:
        wanted.append((path, sha256))
        if cover and cover not in covers:
            covers.add(cover)
            wanted.append((cover, None))
    for rel, sha256 in wanted:
        outcome = _move_one(source, target, rel, sha256, report)
        if progress is not None:
            progress(rel, outcome)
    return report


def _move_one(source: Storage, target: Storage, rel: str, sha256: str | None, report: MoveReport) -> str:
    try:
        expected = sha256 or _hash(source, rel)
        if _holds(target, rel, expected):
            report.already += 1
            return "already"
        incoming = target.incoming(MAX_BYTES)
        try:
            with source.open(rel) as fh:
                while chunk := fh.read(CHUNK):
                    incoming.write(chunk)
            incoming.finish()
            if incoming.error is not None:
                raise incoming.error
            if incoming.sha256 != expected:
                report.failed.append((rel, "the old copy does not match its sha256"))
                return "failed"
            size = incoming.size
            target.store_as(rel, incoming)
        finally:
            incoming.discard()
        if _hash(target, rel) != expected:
            target.delete(rel)
            report.failed.append((rel, "the new copy does not match its sha256"))
            return "failed"
    except (FileNotFoundError, NotFound):
        report.failed.append((rel, "missing from the old storage"))
        return "failed"
    except (StorageError, OSError) as exc:
        report.failed.append((rel, str(exc) or type(exc).__name__))
        return "failed"
    report.copied += 1
    report.bytes += size
    return "copied"


def _holds(store: Storage, rel: str, sha256: str) -> bool:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, NotFound):
        return _hash(store, rel) == sha256
    return False


def _hash(store: Storage, rel: str) -> str:
    digest = hashlib.sha256()
    with store.open(rel) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
