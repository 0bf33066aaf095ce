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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class NamedFile:
    """A stored file a row names: its name and, for audio, the sha256 its row records."""

    rel: str
    sha256: str | None


@dataclass(frozen=True)
class Copied:
    """A file copy_verified() copied (or found already there): its size and sha256."""

    size: int
    sha256: str
    already: bool


class CopyFailed(Exception):
    """A file could not be copied: `kind` is "missing" (not in the source), "source"
    (the source's bytes are not the expected ones), "target" (the copy read back is
    not), or "error" (`reason` says what the system said)."""

    def __init__(self, kind: str, reason: str = "") -> None:
        super().__init__(reason or kind)
        self.kind = kind
        self.reason = reason


_MOVE_REASONS = {
    "missing": "missing from the old storage",
    "source": "the old copy does not match its sha256",
    "target": "the new copy does not match its sha256",
}


def library_files(connection: Connection | Session, *, waveforms: bool = True) -> list[NamedFile]:
    """Every file the rows name, in track order, each once: a track's audio (with its
    sha256), its cover (one per distinct picture) and, with `waveforms`, its waveform.
    `connection` may be another database than the app's (a backup's copy)."""
    rows = connection.execute(
        select(Track.storage_path, Track.sha256, Track.cover_path, Track.waveform_path).order_by(Track.id)
    ).all()
    seen: set[str] = set()
    named: list[NamedFile] = []
    for path, sha256, cover, waveform in rows:
        named.append(NamedFile(path, sha256))
        for extra in (cover, waveform if waveforms else None):
            if extra and extra not in seen:
                seen.add(extra)
                named.append(NamedFile(extra, None))
    return named


# Files copied at once: each copy waits mostly on the storages (a request to an object
# store, a read back), so a few threads move a library several times faster.
MOVE_THREADS = 8


def _move_one(source: Storage, target: Storage, named: NamedFile) -> tuple[Copied | None, str, str]:
    """(the copy, "", "") or (None, the failure's kind, its reason)."""
    try:
        return copy_verified(source, target, named.rel, named.sha256 or file_sha256(source, named.rel)), "", ""
    except (FileNotFoundError, NotFound):
        return None, "missing", ""
    except CopyFailed as exc:
        return None, exc.kind, exc.reason
    except OSError as exc:
        return None, "error", str(exc) or type(exc).__name__


def move_library(source: Storage, target: Storage, *, progress: Callable[[str, str], None] | None = None) -> MoveReport:
    """Copy every file the rows name from `source` to `target`, verified (MOVE_THREADS at
    once); return what happened."""
    report = MoveReport()
    wanted = library_files(db.session, waveforms=False)
    db.session.rollback()  # hold no transaction while copying
    with ThreadPoolExecutor(MOVE_THREADS) as pool:
        # A batch at a time: a big library's files are never all queued at once.
        for start in range(0, len(wanted), MOVE_THREADS * 32):
            batch = wanted[start : start + MOVE_THREADS * 32]
            for named, (copied, kind, reason) in zip(
                batch, pool.map(partial(_move_one, source, target), batch), strict=True
            ):
                if copied is None:
                    outcome = _failed(report, named.rel, kind, reason)
                elif copied.already:
                    report.already += 1
                    outcome = "already"
                else:
                    report.copied += 1
                    report.bytes += copied.size
                    outcome = "copied"
                if progress is not None:
                    progress(named.rel, outcome)
    return report


def _failed(report: MoveReport, rel: str, kind: str, reason: str = "") -> str:
    report.failed.append((rel, _MOVE_REASONS.get(kind, reason)))
    return "failed"


def copy_verified(source: Storage, target: Storage, rel: str, expected: str | None) -> Copied:
    """Copy `rel` from `source` to `target` under the same name, hashing the bytes as they
    are read: they must match `expected` (when given) before they are stored, and the copy
    is read back and hashed again. A target already holding the expected bytes is left alone.
    Raises CopyFailed."""
    try:
        if expected is not None and _holds(target, rel, expected):
            return Copied(target.size(rel), expected, already=True)
        incoming = target.incoming(MAX_BYTES)
        try:
            with source.open(rel) as fh:
                while chunk := fh.read(CHUNK):
                    incoming.write(chunk)
            incoming.finish()
            if incoming.error is not None:
                raise CopyFailed("error", incoming.error.params.get("reason") or str(incoming.error))
            if expected is not None and incoming.sha256 != expected:
                raise CopyFailed("source")
            copied = Copied(incoming.size, incoming.sha256, already=False)
            target.store_as(rel, incoming)
        finally:
            incoming.discard()
        if file_sha256(target, rel) != copied.sha256:
            target.delete(rel)
            raise CopyFailed("target")
    except (FileNotFoundError, NotFound):
        raise CopyFailed("missing") from None
    except StorageError as exc:
        raise CopyFailed("error", exc.params.get("reason") or str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise CopyFailed("error", exc.strerror or str(exc) or type(exc).__name__) from None
    return copied


def _holds(store: Storage, rel: str, sha256: str) -> bool:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, NotFound):
        return file_sha256(store, rel) == sha256
    return False


def file_sha256(store: Storage, rel: str) -> str:
    """The sha256 of a stored file, read through. Raises NotFound or FileNotFoundError."""
    digest = hashlib.sha256()
    with store.open(rel) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
