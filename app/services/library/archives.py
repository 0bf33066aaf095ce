"""ZIP archives: read the directory, show what would be added, import what the user confirms.

The archive is kept in the storage's staging area (never unpacked there). Its
entry names are only ever shown and used as hints: no path is built from
them, so no entry can write outside the storage. Each entry the user keeps is
extracted on its own into an incoming file (counted as it is written, like an
upload) and then goes through add_file() like any upload.

Limits (Limits): entries in the directory, the uncompressed total the
directory declares, and the bytes actually extracted (an entry may not grow
past what it declares, and the whole import past ZIP_MAX_UNCOMPRESSED_MB).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import stat
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy import select

from app.extensions import db
from app.models import ArchiveImport, ImportState, Job, JobState, Track, User
from app.models.types import utcnow
from app.services import jobs
from app.services.errors import DomainError, NotFound
from app.services.library import hints, quotas
from app.services.library.adding import AUDIO_EXTENSIONS, AddBatch, AddOutcome, Received, add_received, bounded_map
from app.services.library.quotas import MB, FileTooLarge, QuotaExceeded, UploadLimitExceeded, UploadLimits, Usage
from app.services.storage import CHUNK, IncomingFile, Storage, StorageError, StorageUnavailable
from app.services.tags import AudioInfo, ParserPool, UnsupportedAudio
from app.services.text import clean_tag
from app.unit_of_work import commit

ARCHIVE_EXTENSIONS = frozenset(
    {"zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "zst", "lz", "lzma", "cab", "iso", "jar", "z"}
)
# zipfile can inflate these; anything else (deflate64, PPMd ...) is skipped.
READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
_DRIVE = re.compile(r"^[A-Za-z]:")
# Progress is committed at least this often (and with every batch of files).
COMMIT_EVERY = 0.5


class ArchiveError(DomainError):
    """The archive as a whole cannot be imported: ARCHIVE_UNREADABLE, ARCHIVE_TOO_MANY_ENTRIES
    (count, limit), ARCHIVE_TOO_LARGE (size_bytes, limit_bytes) or ARCHIVE_EMPTY."""

    code = "ARCHIVE_UNREADABLE"
    status = 400


class ImportNotFound(NotFound):
    code = "IMPORT_NOT_FOUND"


class ImportNotPending(DomainError):
    """Only an archive waiting in its preview can be confirmed or cancelled."""

    code = "IMPORT_NOT_PENDING"
    status = 409


class EntryProblem(DomainError):
    """Why one entry is skipped or failed (the code says which)."""

    code = "ENTRY_DAMAGED"


@dataclass(frozen=True)
class Limits:
    max_entries: int
    max_uncompressed: int  # bytes, the whole archive
    max_file: int  # bytes, one file (MAX_UPLOAD_MB)


def limits_for(config: Any) -> Limits:
    """The archive limits of an app's configuration (1 MB = 1,000,000 bytes, as users read it)."""
    return Limits(
        max_entries=int(config["ZIP_MAX_ENTRIES"]),
        max_uncompressed=int(config["ZIP_MAX_UNCOMPRESSED_MB"] * MB),
        max_file=int(config["MAX_UPLOAD_MB"] * MB),
    )


# --- reading the directory --------------------------------------------------------------


def is_archive_name(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower() == ".zip"


def path_problem(raw: str) -> str | None:
    """Why an entry's name is unsafe (a skip reason code), or None.

    `raw` is the name as the archive stores it (zipfile cuts names at a NUL
    byte, and would turn backslashes into slashes on Windows).
    """
    if "\0" in raw or "\\" in raw or raw.startswith("/") or _DRIVE.match(raw):
        return "UNSAFE_PATH"
    if any(part == ".." for part in raw.split("/")):
        return "UNSAFE_PATH"
    if any(ord(c) < 32 for c in raw):
        return "UNSAFE_PATH"
    return None


def _entry(index: int, info: zipfile.ZipInfo, seen: set[str], limits: Limits) -> dict[str, Any] | None:
    """What the preview says of one directory entry (None: a folder, not listed)."""
    raw = info.orig_filename
    shown = clean_tag(raw.replace("\0", "?"), 1000) or "?"
    entry: dict[str, Any] = {"i": index, "path": shown, "size": info.file_size, "action": "skip"}
    mode = info.external_attr >> 16
    problem = path_problem(raw)
    if problem is None and raw.endswith("/"):
        return None
    name = PurePosixPath(raw).name
    ext = PurePosixPath(name).suffix.lower().lstrip(".")
    key = raw.casefold()
    if problem:
        entry["reason"] = problem
    elif stat.S_ISLNK(mode):
        entry["reason"] = "SYMLINK"
    elif stat.S_ISDIR(mode):
        return None
    elif key in seen:
        entry["reason"] = "DUPLICATE_NAME"
    elif info.flag_bits & 0x1:
        entry["reason"] = "ENCRYPTED"
    elif ext in ARCHIVE_EXTENSIONS:
        entry["reason"] = "NESTED_ARCHIVE"
    elif any(part.startswith(".") or part == "__MACOSX" for part in raw.split("/")):
        entry["reason"] = "HIDDEN_FILE"
    elif ext not in AUDIO_EXTENSIONS:
        entry["reason"] = "NOT_AUDIO_NAME"
    elif info.compress_type not in READABLE_METHODS:
        entry["reason"] = "UNSUPPORTED_COMPRESSION"
    elif info.file_size > limits.max_file:
        entry["reason"] = "ENTRY_TOO_LARGE"
    else:
        entry["action"] = "add"
        entry["selected"] = True
        entry["hints"] = hints.from_path(raw)
    seen.add(key)
    return entry


def read_directory(fh: BinaryIO, limits: Limits) -> list[dict[str, Any]]:
    """The preview of every entry, from the archive's central directory (nothing extracted).

    Raises ArchiveError: unreadable (not a ZIP, truncated, corrupt directory), too many
    entries, or more declared uncompressed bytes than allowed.
    """
    try:
        with zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        raise ArchiveError("ARCHIVE_UNREADABLE") from exc
    if len(infos) > limits.max_entries:
        raise ArchiveError("ARCHIVE_TOO_MANY_ENTRIES", count=len(infos), limit=limits.max_entries)
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_uncompressed:
        raise ArchiveError("ARCHIVE_TOO_LARGE", size_bytes=declared, limit_bytes=limits.max_uncompressed)
    seen: set[str] = set()
    entries = [e for e in (_entry(i, info, seen, limits) for i, info in enumerate(infos)) if e is not None]
    if not entries:
        raise ArchiveError("ARCHIVE_EMPTY")
    return entries


def _mark_too_large(entries: list[dict[str, Any]], limits: UploadLimits) -> None:
    """Skip the entries larger than the owner's role accepts, saying so."""
    for entry in entries:
        if entry["action"] != "add":
            continue
        try:
            quotas.check(limits, size=entry["size"])
        except UploadLimitExceeded as exc:
            entry.update(action="skip", reason=exc.code, params=exc.params)
            entry.pop("selected", None)


def _mark_duplicates(fh: BinaryIO, owner_id: int, entries: list[dict[str, Any]]) -> None:
    """Entries with the same bytes as a track the owner has: a size match in the
    database, confirmed by hashing that entry (only those are read)."""
    wanted = [e for e in entries if e["action"] == "add"]
    sizes = sorted({e["size"] for e in wanted})
    known: dict[int, dict[str, int]] = {}
    for start in range(0, len(sizes), 500):
        rows = db.session.execute(
            select(Track.size_bytes, Track.sha256, Track.id).where(
                Track.owner_id == owner_id, Track.size_bytes.in_(sizes[start : start + 500])
            )
        )
        for size, sha, track_id in rows:
            known.setdefault(size, {})[sha] = track_id
    if not known:
        return
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
        for entry in wanted:
            if entry["size"] not in known:
                continue
            digest = hashlib.sha256()
            try:
                for chunk in _inflate(archive, infos[entry["i"]], entry["size"]):
                    digest.update(chunk)
            except EntryProblem as exc:
                entry.update(action="skip", selected=False, reason=exc.code)
                continue
            track_id = known[entry["size"]].get(digest.hexdigest())
            if track_id is not None:
                entry.update(action="duplicate", selected=False, track_id=track_id)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """An entry's bytes in chunks, never more than `limit` (its declared size, capped).

    Raises EntryProblem: ENTRY_DAMAGED (bad data, bad CRC, truncated) or
    ENTRY_SIZE_MISMATCH (more bytes than declared: a bomb lying about its size).
    """
    count = 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(CHUNK):
                count += len(chunk)
                if count > limit:
                    raise EntryProblem("ENTRY_SIZE_MISMATCH")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise EntryProblem("ENTRY_DAMAGED") from exc
    if count != info.file_size:
        raise EntryProblem("ENTRY_SIZE_MISMATCH")


# --- the preview ------------------------------------------------------------------------


class StagedArchive:
    """An archive staged for its preview; removed again if the preview's commit fails."""

    def __init__(self, store: Storage, rel: str) -> None:
        self.store = store
        self.rel = rel

    def prepare_commit(self) -> None:
        pass

    def abandon(self) -> None:
        self.store.delete(self.rel)


def preview(store: Storage, owner: User, incoming: IncomingFile, filename: str, limits: Limits) -> ArchiveImport:
    """Stage a received archive and record its preview (flushed, not committed).

    The incoming file is always consumed (staged or discarded). On failure nothing
    stays. Raises ArchiveError, FileTooLarge (the archive itself) or StorageError.
    """
    rel: str | None = None
    try:
        incoming.finish()
        if incoming.error is not None:
            raise incoming.error
        if incoming.too_large:
            raise FileTooLarge(size_bytes=incoming.size, limit_bytes=incoming.max_bytes)
        rel = store.stage(incoming, "zip")
        with store.staged_copy(rel) as path, path.open("rb") as fh:
            entries = read_directory(fh, limits)
            _mark_too_large(entries, quotas.limits_for(owner))
            _mark_duplicates(fh, owner.id, entries)
        job = ArchiveImport(
            owner_id=owner.id,
            state=ImportState.PREVIEW,
            original_filename=clean_tag(filename, 300) or "archive.zip",
            archive_path=rel,
            archive_size=incoming.size,
            entries=entries,
            total=0,
            done=0,
            added=0,
            duplicates=0,
            rejected=0,
            extracted_bytes=0,
        )
        db.session.add(job)
        db.session.flush()
        return job
    except BaseException:
        if rel is not None:
            store.delete_many([rel])  # never in place of the error that brought us here
        raise
    finally:
        incoming.discard()


def get_own_import(owner_id: int, import_id: int) -> ArchiveImport:
    found = db.session.get(ArchiveImport, import_id)
    if found is None or found.owner_id != owner_id:
        raise ImportNotFound(import_id=import_id)
    return found


def recent_imports(owner_id: int, limit: int = 10) -> list[ArchiveImport]:
    query = select(ArchiveImport).where(ArchiveImport.owner_id == owner_id).order_by(ArchiveImport.id.desc())
    return list(db.session.scalars(query.limit(limit)))


@dataclass(frozen=True)
class PreviewSummary:
    to_add: int
    to_add_bytes: int
    duplicates: int
    skipped: int
    used_bytes: int
    storage_bytes: int | None  # the smaller of the role's storage and the account's quota
    # The files to add that would go past a limit (the month's uploads, the storage) if all
    # were imported in order, by entry index, with the limit each would hit.
    over: dict[int, DomainError]


def summary(found: ArchiveImport, owner: User) -> PreviewSummary:
    """What the preview would add, and which of those files the owner's limits would refuse
    now (their length, unknown until a file is read, is checked as it is added)."""
    adds = [e for e in found.entries if e["action"] == "add"]
    limits = quotas.limits_for(owner)
    usage = quotas.usage_of(owner)
    over: dict[int, DomainError] = {}
    running = usage
    for entry in adds:
        try:
            quotas.check(limits, running, size=entry["size"])
        except (UploadLimitExceeded, QuotaExceeded) as exc:
            over[entry["i"]] = exc
            continue
        running = Usage(running.used_bytes + entry["size"], running.month_uploads + 1, running.month_start)
    return PreviewSummary(
        to_add=len(adds),
        to_add_bytes=sum(e["size"] for e in adds),
        duplicates=sum(1 for e in found.entries if e["action"] == "duplicate"),
        skipped=sum(1 for e in found.entries if e["action"] == "skip"),
        used_bytes=usage.used_bytes,
        storage_bytes=limits.storage_bytes,
        over=over,
    )


def confirm(found: ArchiveImport, selected: set[int]) -> str | None:
    """Import the entries whose index is in `selected` (those the preview offered),
    as a job sent when the caller commits. With none selected the import is
    cancelled: returns the staged archive's name, for the caller to remove
    once it has committed. Raises ImportNotPending."""
    if found.state is not ImportState.PREVIEW:
        raise ImportNotPending(state=found.state.value)
    entries = [dict(e) for e in found.entries]
    for entry in entries:
        if entry["action"] == "add":
            entry["selected"] = entry["i"] in selected
    found.entries = entries
    found.total = sum(1 for e in entries if e.get("selected"))
    if found.total == 0:
        return cancel(found)
    found.state = ImportState.QUEUED
    found.job_id = jobs.submit(jobs.IMPORT_ARCHIVE, found.id).id
    db.session.flush()
    return None


def cancel(found: ArchiveImport) -> str | None:
    """Drop an archive waiting in its preview; returns the staged file to remove after commit."""
    if found.state is not ImportState.PREVIEW:
        raise ImportNotPending(state=found.state.value)
    rel, found.archive_path = found.archive_path, None
    found.state = ImportState.CANCELLED
    found.finished_at = utcnow()
    db.session.flush()
    return rel


# --- the import job ---------------------------------------------------------------------


@dataclass
class _Extracted:
    entry: dict[str, Any]
    incoming: IncomingFile | None = None
    info: AudioInfo | None = None
    error: DomainError | None = None


class _Budget:
    """The uncompressed bytes the import may still extract (shared by the extracting threads)."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if n > self.left:
                self.left = -1
                return False
            self.left -= n
            self.used += n
            return True


def run_import(
    store: Storage, pool: ParserPool, import_id: int, limits: Limits, *, stop_after: int | None = None
) -> dict[str, Any]:
    """Extract and add the confirmed entries, committing progress as it goes; resumes
    after the last entry with an outcome. Idempotent: a finished import is left as is.

    `stop_after` handles at most that many entries and returns, leaving the import
    running (as a worker stopped mid-way would).
    """
    found = db.session.get(ArchiveImport, import_id)
    if found is None or found.state not in (ImportState.QUEUED, ImportState.RUNNING):
        return {"state": found.state.value if found else None}
    found.state = ImportState.RUNNING
    commit()
    todo = [e for e in found.entries if e.get("selected") and "outcome" not in e]
    if stop_after is not None:
        todo = todo[:stop_after]
    with contextlib.ExitStack() as held:
        try:
            path = held.enter_context(store.staged_copy(found.archive_path or ""))
            fh = held.enter_context(path.open("rb"))
        except StorageUnavailable:
            raise  # the object store is away for now: the job is tried again, the archive kept
        except (OSError, NotFound):
            return _finish(store, found, "ARCHIVE_UNREADABLE")
        try:
            archive = held.enter_context(zipfile.ZipFile(fh))
        except (zipfile.BadZipFile, EOFError, ValueError, OSError):
            return _finish(store, found, "ARCHIVE_UNREADABLE")
        _Importer(store, pool, found, archive, limits, path).run(todo)
    if stop_after is not None and any(e.get("selected") and "outcome" not in e for e in found.entries):
        return {"state": found.state.value}
    return _finish(store, found, None)


class _Importer:
    """One run of an import: unpacking, hashing and tag reading in the parser's worker
    processes (ParserPool.unpack, .parse), fed by threads that wait on them and sync
    what is kept; the database work on the calling thread, a batch at a time, in order."""

    def __init__(  # noqa: PLR0917 - one run's parts, passed once
        self,
        store: Storage,
        pool: ParserPool,
        found: ArchiveImport,
        archive: zipfile.ZipFile,
        limits: Limits,
        archive_path: Path,
    ) -> None:
        self.store = store
        self.archive_path = archive_path
        self.pool = pool
        self.found = found
        self.owner = db.session.get(User, found.owner_id)
        self.archive = archive
        self.infos = archive.infolist()
        self.limits = limits
        self.budget = _Budget(limits.max_uncompressed - found.extracted_bytes)
        self.outcomes: dict[int, dict[str, Any]] = {}
        self.batch = AddBatch(store)
        self.last_commit = time.monotonic()
        self.counted = 0
        self.current: str | None = found.current
        self.counts = {"done": 0, "added": 0, "duplicates": 0, "rejected": 0}
        self.waiting: list[tuple[dict[str, Any], Received]] = []
        known = select(Track.sha256, Track.id).where(Track.owner_id == found.owner_id)
        self.known: dict[str, int] = dict(db.session.execute(known).tuples().all())

    def run(self, todo: list[dict[str, Any]]) -> None:
        # Threads mostly wait on fsync and on the parser processes, so more than cores
        # (as the folder import); `ahead` bounds the files extracted and not yet added.
        with ThreadPoolExecutor(max_workers=self.pool.size * 4) as executor:
            ahead = self.batch.size + self.pool.size * 8  # the entries keep coming while a batch is written
            for job in bounded_map(executor, self.extract, todo, ahead=ahead):
                self.record(job)
                if len(self.waiting) >= self.batch.size or time.monotonic() - self.last_commit > COMMIT_EVERY:
                    self.flush()
        self.flush()

    def extract(self, entry: dict[str, Any]) -> _Extracted:
        """Unpack one entry into an incoming file (counted) and read its tags."""
        job = _Extracted(entry)
        index = entry["i"]
        if not 0 <= index < len(self.infos) or self.infos[index].file_size != entry["size"]:
            job.error = EntryProblem("ENTRY_DAMAGED")
            return job
        if not self.budget.take(entry["size"]):
            limit = self.limits.max_uncompressed
            job.error = ArchiveError("ARCHIVE_TOO_LARGE", size_bytes=self.budget.used, limit_bytes=limit)
            return job
        incoming = self.store.incoming(self.limits.max_file)
        try:
            target = incoming.hand_over()
            filled = self.pool.unpack(self.archive_path, index, entry["size"], target, self.limits.max_file)
        except UnsupportedAudio as exc:
            incoming.discard()
            job.error = exc
            return job
        except BaseException:
            incoming.discard()
            raise
        if filled.problem is not None:
            incoming.discard()
            if filled.problem == "STORE_FAILED":
                job.error = StorageError("STORE_FAILED", reason=filled.reason or "?")
            else:
                job.error = EntryProblem(filled.problem)
            return job
        incoming.filled(filled.size, filled.sha256)
        job.incoming = incoming
        if filled.sha256 in self.known:
            return job  # a duplicate, dropped unsynced and unread (record())
        incoming.sync()
        if incoming.error is None and not incoming.too_large:
            try:
                job.info = self.pool.parse(incoming.path, PurePosixPath(entry["path"]).name)
            except UnsupportedAudio as exc:
                job.error = exc
        return job

    def record(self, job: _Extracted) -> None:
        """Note one extracted entry: a duplicate or a failure at once, a file to add with
        the next batch (flush()). The import's own row changes only in flush()."""
        entry = job.entry
        self.current = entry["path"][:1000]
        self.counts["done"] += 1
        incoming = job.incoming
        if job.error is not None or incoming is None:
            if incoming is not None:
                incoming.discard()
            self.settle(entry, AddOutcome.REJECTED, error=job.error or EntryProblem())
            return
        if incoming.error is None and not incoming.too_large and incoming.sha256 in self.known:
            # The same bytes as a track already there (checked without a query per file).
            incoming.discard()
            self.settle(entry, AddOutcome.DUPLICATE, track_id=self.known[incoming.sha256])
            return
        name = PurePosixPath(entry["path"]).name
        self.waiting.append((entry, Received(name, incoming, job.info, path_hints=entry.get("hints") or None)))

    def add_waiting(self) -> None:
        """Add the files extracted since the last batch, with a few statements (add_received)."""
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        results = add_received(
            self.store,
            self.pool,
            self.owner,
            [received for _, received in waiting],
            batch=self.batch,
            max_bytes=self.limits.max_file,
        )
        for (entry, _), result in zip(waiting, results, strict=True):
            track_id = result.track.id if result.track else None
            if result.outcome is AddOutcome.ADDED and result.track is not None:
                self.known[result.track.sha256] = result.track.id
            self.settle(entry, result.outcome, track_id=track_id, error=result.error)

    def settle(
        self,
        entry: dict[str, Any],
        outcome: AddOutcome,
        *,
        track_id: int | None = None,
        error: DomainError | None = None,
    ) -> None:
        self.outcomes[entry["i"]] = _outcome(outcome, track_id=track_id, error=error)
        key = {AddOutcome.ADDED: "added", AddOutcome.DUPLICATE: "duplicates"}.get(outcome, "rejected")
        self.counts[key] += 1

    def flush(self) -> None:
        """Add the waiting files and commit them with the outcomes they settle: a restart
        resumes after them."""
        self.add_waiting()
        found = self.found
        found.current = self.current
        found.done += self.counts["done"]
        found.added += self.counts["added"]
        found.duplicates += self.counts["duplicates"]
        found.rejected += self.counts["rejected"]
        self.counts = dict.fromkeys(self.counts, 0)
        self.found.entries = [
            {**entry, **self.outcomes[entry["i"]]} if entry["i"] in self.outcomes else entry
            for entry in self.found.entries
        ]
        self.found.extracted_bytes += self.budget.used - self.counted
        self.counted = self.budget.used
        commit(self.batch)
        self.batch = AddBatch(self.store)
        self.last_commit = time.monotonic()


def _outcome(outcome: AddOutcome, *, track_id: int | None = None, error: DomainError | None = None) -> dict[str, Any]:
    done: dict[str, Any] = {"outcome": outcome.value}
    if track_id is not None:
        done["track_id"] = track_id
    if error is not None:
        done["error"] = {"code": error.code, "params": json.loads(json.dumps(error.params, default=str))}
    return done


def _finish(store: Storage, found: ArchiveImport, error_code: str | None) -> dict[str, Any]:
    rel, found.archive_path = found.archive_path, None
    found.state = ImportState.FAILED if error_code else ImportState.DONE
    found.error_code = error_code
    found.current = None
    found.finished_at = utcnow()
    commit()
    if rel:
        store.delete_many([rel])  # at best: what it leaves, the hourly clean-up removes
    counts = {"added": found.added, "duplicates": found.duplicates, "rejected": found.rejected}
    return {"state": found.state.value, **counts}


# --- restarts and clean-up --------------------------------------------------------------


def resume_interrupted() -> int:
    """Send again the imports whose job died with its worker (flushed; the caller commits);
    return how many. Each resumes at its first entry without an outcome."""
    query = (
        select(ArchiveImport)
        .outerjoin(Job, Job.id == ArchiveImport.job_id)
        .where(
            ArchiveImport.state.in_((ImportState.QUEUED, ImportState.RUNNING)),
            (Job.id.is_(None)) | (Job.state == JobState.FAILED),
        )
    )
    resumed = 0
    for found in db.session.scalars(query):
        found.job_id = jobs.submit(jobs.IMPORT_ARCHIVE, found.id).id
        resumed += 1
    db.session.flush()
    return resumed


def expire_previews(store: Storage, older_than: timedelta) -> int:
    """Cancel previews left unconfirmed for `older_than`, and remove staged archives no
    import names (a crash between staging and commit); return how many files went."""
    cutoff = utcnow() - older_than
    stale = db.session.scalars(
        select(ArchiveImport).where(ArchiveImport.state == ImportState.PREVIEW, ArchiveImport.created_at < cutoff)
    )
    doomed = [rel for found in stale if (rel := cancel(found))]
    commit()
    store.delete_many(doomed)
    named = set(db.session.scalars(select(ArchiveImport.archive_path).where(ArchiveImport.archive_path.is_not(None))))
    loose_cutoff = time.time() - 3600
    loose = [f.rel for f in store.list_staged() if f.rel not in named and f.modified < loose_cutoff]
    with contextlib.suppress(OSError):
        store.delete_many(loose)
    return len(doomed) + len(loose)
