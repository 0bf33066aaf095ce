"""The library check: rows and stored files agree.

Every track's file is there with its recorded size (and, deep, its recorded
sha256), every cover a track names is there, every stored file belongs to a
track, and no upload left a temporary file behind. The check reports; with
fix=True it removes orphan files and stale temporaries, through the storage.
It never deletes rows: a missing file is for the admin to decide about. Cover
thumbnails no track names are removed on every check (covers.remove_unused).

It runs beside uploads, so it allows for them: files are listed before the
rows are read, and a stored file counts as an orphan only once it is older
than `stale_after` (an upload keeps its file a moment before its row is
committed, and a cover job saves its picture before the track names it); a
track reported missing is looked up again at the end, in case it was deleted
meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Track
from app.services.errors import NotFound
from app.services.library import covers
from app.services.storage import CHUNK, Storage, StoredFile, stale_incoming

# Seconds after which an unclaimed stored file, or a temporary one, is left over.
STALE_AFTER = 3600.0
# Entries of each kind kept in a stored report (the counts are always complete).
REPORT_LIMIT = 200


@dataclass(frozen=True)
class MissingFile:
    track_id: int
    path: str
    kind: str  # "audio" or "cover"


@dataclass(frozen=True)
class SizeMismatch:
    track_id: int
    path: str
    recorded: int
    found: int


@dataclass(frozen=True)
class HashMismatch:
    track_id: int
    path: str


@dataclass(frozen=True)
class LooseFile:
    """A stored file no row names, or an upload's temporary file."""

    path: str
    size: int
    modified: float

    @classmethod
    def of(cls, stored: StoredFile) -> LooseFile:
        return cls(stored.rel, stored.size, stored.modified)


@dataclass
class LibraryReport:
    deep: bool
    fix: bool
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    tracks: int = 0
    files: int = 0
    missing: list[MissingFile] = field(default_factory=list)
    size_mismatches: list[SizeMismatch] = field(default_factory=list)
    hash_mismatches: list[HashMismatch] = field(default_factory=list)
    orphans: list[LooseFile] = field(default_factory=list)
    stale: list[LooseFile] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (
            len(self.missing)
            + len(self.size_mismatches)
            + len(self.hash_mismatches)
            + len(self.orphans)
            + len(self.stale)
        )

    @property
    def unresolved(self) -> int:
        """Problems still there after the check (a fix removes orphans and temporaries)."""
        return self.problems - len(self.removed)

    def to_dict(self, limit: int = REPORT_LIMIT) -> dict[str, Any]:
        """The report as JSON keeps it: counts, and the first `limit` entries of each kind."""
        kinds = ("missing", "size_mismatches", "hash_mismatches", "orphans", "stale", "removed")
        return {
            "deep": self.deep,
            "fix": self.fix,
            "checked_at": self.checked_at.isoformat(),
            "tracks": self.tracks,
            "files": self.files,
            "problems": self.problems,
            "unresolved": self.unresolved,
            "counts": {kind: len(getattr(self, kind)) for kind in kinds},
            **{
                kind: [item if isinstance(item, str) else asdict(item) for item in getattr(self, kind)[:limit]]
                for kind in kinds
            },
        }


def check_library(
    store: Storage, *, deep: bool = False, fix: bool = False, stale_after: float = STALE_AFTER
) -> LibraryReport:
    """Compare the tracks with the stored files (reading every file's bytes when deep);
    with fix, remove orphan files and stale temporaries. Never changes a row."""
    report = LibraryReport(deep=deep, fix=fix)
    cutoff = time.time() - stale_after
    listed = list(store.list_files())  # before the rows: see the module docstring
    report.files = len(listed)
    rows = db.session.execute(
        select(
            Track.id, Track.storage_path, Track.size_bytes, Track.sha256, Track.cover_path, Track.waveform_path
        ).order_by(Track.id)
    ).all()
    report.tracks = len(rows)
    named: set[str] = set()
    covers_seen: dict[str, bool] = {}
    for track_id, path, size, sha256, cover, waveform in rows:
        named.add(path)
        if waveform:
            named.add(waveform)  # remade by `flask reprocess` when missing
        _check_audio(store, report, track_id, path, size=size, sha256=sha256 if deep else None)
        if cover:
            named.add(cover)
            if cover not in covers_seen:
                covers_seen[cover] = _exists(store, cover)
            if not covers_seen[cover]:
                report.missing.append(MissingFile(track_id, cover, "cover"))
    report.missing = _still_tracks(report.missing)
    report.orphans = [LooseFile.of(f) for f in listed if f.rel not in named and f.modified < cutoff]
    report.stale = [LooseFile.of(f) for f in stale_incoming(store, stale_after)]
    # Pictures no track names any more go even without fix: a replaced or abandoned
    # artwork's thumbnail, left by covers.remove_unused while it was recent.
    thumbnails = [orphan.path for orphan in report.orphans if covers.is_thumbnail(orphan.path)]
    report.removed.extend(covers.remove_unused(store, thumbnails, recent=stale_after))
    if fix:
        for orphan in report.orphans:
            if covers.is_thumbnail(orphan.path):
                continue
            with contextlib.suppress(OSError):
                store.delete(orphan.path)
                report.removed.append(orphan.path)
        report.removed.extend(_remove_incoming(store, report.stale))
    return report


def remove_stale_incoming(store: Storage, older_than: float = STALE_AFTER) -> list[str]:
    """Remove uploads' temporary files untouched for `older_than` seconds; return their names."""
    return _remove_incoming(store, [LooseFile.of(f) for f in stale_incoming(store, older_than)])


def _remove_incoming(store: Storage, files: list[LooseFile]) -> list[str]:
    removed = []
    for loose in files:
        with contextlib.suppress(OSError):
            store.remove_incoming(loose.path)
            removed.append(loose.path)
    return removed


def _check_audio(
    store: Storage, report: LibraryReport, track_id: int, path: str, *, size: int, sha256: str | None
) -> None:
    try:
        found = store.size(path)
        if found != size:
            report.size_mismatches.append(SizeMismatch(track_id, path, size, found))
        elif sha256 is not None and _sha256(store, path) != sha256:
            report.hash_mismatches.append(HashMismatch(track_id, path))
    except (FileNotFoundError, NotADirectoryError, NotFound):
        report.missing.append(MissingFile(track_id, path, "audio"))


def _exists(store: Storage, rel: str) -> bool:
    try:
        store.size(rel)
    except (FileNotFoundError, NotADirectoryError, NotFound):
        return False
    return True


def _sha256(store: Storage, rel: str) -> str:
    digest = hashlib.sha256()
    with store.open(rel) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _still_tracks(missing: list[MissingFile]) -> list[MissingFile]:
    """Drop the entries of tracks deleted while the check ran (their files went with them)."""
    if not missing:
        return missing
    ids = {m.track_id for m in missing}
    existing = set(db.session.scalars(select(Track.id).where(Track.id.in_(ids))))
    return [m for m in missing if m.track_id in existing]
