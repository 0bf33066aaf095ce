"""Adding files to a library: one upload, or a folder imported on the server.

One file is one unit of work: on any failure neither the file nor a row
remains, and the incoming temporary file is always gone afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Track, User, Visibility
from app.models.library import TAG_MAX
from app.services import jobs
from app.services.errors import DomainError
from app.services.library import analysis, hints
from app.services.library.catalogue import VARIOUS_ARTISTS, apply_tags, file_folder
from app.services.library.quotas import FileTooLarge, QuotaExceeded, check_limits, hold_quota
from app.services.storage import IncomingFile, Storage, StorageError
from app.services.tags import AudioInfo, ParserPool, UnsupportedAudio
from app.services.text import clean_tag


class AddOutcome(StrEnum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass
class AddResult:
    """What became of one file: added (with its track), a duplicate (with the
    track already there) or rejected (with the reason, a DomainError)."""

    name: str
    outcome: AddOutcome
    track: Track | None = None
    error: DomainError | None = None


def find_duplicate(owner_id: int, sha256: str) -> Track | None:
    return db.session.scalar(select(Track).where(Track.owner_id == owner_id, Track.sha256 == sha256))


class AddBatch:
    """Files added in one unit of work. Each file after the first is recorded
    under a savepoint, so one bad file never undoes the others; the caller commits the
    batch once (app/unit_of_work.py), after prepare_commit() has made the kept
    files durable, and calls abandon() if the commit fails so no file stays
    without its row."""

    def __init__(self, store: Storage, size: int = 50) -> None:
        self.store = store
        self.size = size
        self.kept: list[str] = []
        self.results: list[AddResult] = []
        self.user_ids: set[int] = set()

    def full(self) -> bool:
        return len(self.results) >= self.size

    def prepare_commit(self) -> None:
        for user_id in self.user_ids:
            self.store.sync_user_folder(user_id)

    def record(self, result: AddResult) -> AddResult:
        self.results.append(result)
        return result

    def abandon(self) -> None:
        """The rows were rolled back: remove the files kept for them."""
        self.store.delete_many(self.kept)
        self.kept = []


def split_relative_path(filename: str) -> tuple[str, dict[str, Any] | None]:
    """A received file's name and, when the browser sent its path inside a chosen folder
    ("Album/01 - Song.mp3"), the tag hints that path gives."""
    cleaned = filename.replace("\\", "/")
    if "/" not in cleaned.strip("/"):
        return filename, None
    return PurePosixPath(cleaned).name or filename, hints.from_path(cleaned)


def add_file(
    store: Storage,
    pool: ParserPool,
    owner: User,
    incoming: IncomingFile,
    original_name: str,
    *,
    batch: AddBatch,
    max_bytes: int,
    info: AudioInfo | None = None,
    visibility: Visibility = Visibility.PRIVATE,
    check_duplicate: bool = True,
    path_hints: dict[str, Any] | None = None,
) -> AddResult:
    """Check, parse, store and record one received file in `batch` (flushed, not committed).

    `path_hints` (hints.from_path of the file's folder in an uploaded folder) fill the tags
    the file lacks.

    On any failure neither the file nor a row remains, and the incoming
    temporary file is always gone afterwards. The result is also kept in
    batch.results.
    """
    name = clean_tag(original_name, TAG_MAX) or "unnamed file"
    kept: list[str] = []
    # Later files of a batch get a savepoint, so undoing one keeps the others.
    # The first needs none (the transaction holds nothing else of the batch's),
    # and must not open one: on SQLite a savepoint starts the transaction at its
    # first read, and a concurrent upload's commit would then make this one's
    # write fail at once instead of waiting its turn.
    savepoint = db.session.begin_nested() if batch.user_ids else None

    def undo() -> None:
        if savepoint is None:
            db.session.rollback()
        elif savepoint.is_active:
            savepoint.rollback()
        store.delete_many(kept)

    try:
        if incoming.error is None:
            check_limits(owner, incoming, max_bytes)
            incoming.finish()
        if incoming.error is not None:
            undo()
            return batch.record(AddResult(name, AddOutcome.REJECTED, error=incoming.error))
        # (The unique index on owner and hash catches what this check cannot.)
        duplicate = find_duplicate(owner.id, incoming.sha256) if check_duplicate else None
        if duplicate is not None:
            undo()
            return batch.record(AddResult(name, AddOutcome.DUPLICATE, duplicate))
        if info is None:
            info = pool.parse(incoming.path, original_name)
        hints.apply(info, path_hints or {})
        track = _new_track(owner, incoming, name, info, visibility, folder=(path_hints or {}).get("folder"))
        db.session.add(track)
        db.session.flush()
        file_folder(track)
        hold_quota(owner, incoming.size)
        kept.append(store.keep(incoming, owner.id, info.ext, sync=False))
        track.storage_path = kept[0]
        # Loudness, waveform and the decoded length are measured by a job after the commit.
        analysis.queue_analysis(track)
        if info.has_cover:
            # A job makes the thumbnail; it is sent when the batch commits.
            track.cover_pending = True
            jobs.submit(jobs.MAKE_COVER, track.id)
        if savepoint is not None:
            savepoint.commit()
        batch.kept.extend(kept)
        batch.user_ids.add(owner.id)
        return batch.record(AddResult(name, AddOutcome.ADDED, track))
    except (UnsupportedAudio, FileTooLarge, QuotaExceeded, StorageError) as exc:
        undo()
        return batch.record(AddResult(name, AddOutcome.REJECTED, error=exc))
    except IntegrityError:
        # The same file, uploaded twice at the same moment: the other one won.
        undo()
        return batch.record(AddResult(name, AddOutcome.DUPLICATE, find_duplicate(owner.id, incoming.sha256)))
    except OSError as exc:
        undo()
        return batch.record(
            AddResult(name, AddOutcome.REJECTED, error=StorageError("STORE_FAILED", reason=exc.strerror or str(exc)))
        )
    except BaseException:
        undo()
        raise
    finally:
        incoming.discard()


def _new_track(
    owner: User, incoming: IncomingFile, name: str, info: AudioInfo, visibility: Visibility, *, folder: str | None
) -> Track:
    track = Track(
        owner_id=owner.id,
        source_folder=folder,
        visibility=visibility,
        # A unique placeholder until the file has its final name (set before commit).
        storage_path=f"pending/{incoming.path.name}",
        original_filename=name,
        size_bytes=incoming.size,
        sha256=incoming.sha256,
        mime_type=info.mime_type,
        format=info.ext,
        codec=info.codec,
        duration=info.duration,
        bitrate=info.bitrate,
        sample_rate=info.sample_rate,
        channels=info.channels,
    )
    apply_tags(
        track,
        title=info.title,
        artist=info.artist,
        album=info.album,
        # A compilation without an album artist tag is filed under "Various Artists".
        album_artist=info.album_artist or (VARIOUS_ARTISTS if info.compilation else None),
        track_number=info.track_number,
        disc_number=info.disc_number,
        year=info.year,
        genre=info.genre,
    )
    return track


def source_files(root: Path, extensions: frozenset[str]) -> list[Path]:
    """Audio-looking files under root, in a stable order, hidden files skipped."""
    found = []
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file() and path.suffix.lower().lstrip(".") in extensions:
            found.append(path)
    return found


# --- importing a folder on the server -------------------------------------------------------


def _hints_under(root: Path | None, source: Path) -> dict[str, Any] | None:
    if root is None:
        return None
    base = root.absolute().parent  # "." has no name, its absolute form does
    try:
        relative = source.absolute().relative_to(base)
    except ValueError:
        return None
    return hints.from_path(relative.as_posix()) if len(relative.parts) > 1 else None


AUDIO_EXTENSIONS = frozenset({"mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "wav"})


@dataclass
class _Prepared:
    source: Path
    incoming: IncomingFile | None = None
    info: AudioInfo | None = None
    error: DomainError | None = None
    known: bool = False


def import_files(
    store: Storage,
    pool: ParserPool,
    owner: User,
    sources: list[Path],
    *,
    max_bytes: int,
    visibility: Visibility = Visibility.PRIVATE,
    root: Path | None = None,
) -> Iterator[AddBatch]:
    """Import files already on the server, yielding batches of results in order;
    the caller commits each batch (and abandons it if the commit fails).

    Copying, hashing and parsing run on `pool.size` threads at once; the
    database work stays on the calling thread. A file whose content the owner
    already has is skipped without parsing, so a re-run is quick and safe.

    The folders between `root` and a file (the root's own name included) are its tag hints,
    as an uploaded folder's: "Album/01 - Song.mp3" fills a missing album tag with "Album".
    """
    known = set(db.session.scalars(select(Track.sha256).where(Track.owner_id == owner.id)))

    def prepare(source: Path) -> _Prepared:
        try:
            incoming = store.copy_in(source, max_bytes)
        except OSError as exc:
            return _Prepared(source, error=StorageError("READ_FAILED", reason=exc.strerror or str(exc)))
        prepared = _Prepared(source, incoming)
        if incoming.error is not None or incoming.too_large:
            return prepared
        if incoming.sha256 in known:
            prepared.known = True
            return prepared
        try:
            prepared.info = pool.parse(incoming.path, source.name)
        except UnsupportedAudio as exc:
            prepared.error = exc
        return prepared

    # Threads mostly wait on fsync and on the parser processes, so more than cores.
    batch = AddBatch(store)
    with ThreadPoolExecutor(max_workers=pool.size * 4) as executor:
        for prepared in executor.map(prepare, sources):
            name = clean_tag(prepared.source.name, TAG_MAX)
            incoming = prepared.incoming
            if incoming is None or prepared.error is not None:
                if incoming is not None:
                    incoming.discard()
                error = prepared.error or StorageError("READ_FAILED", reason="?")
                batch.record(AddResult(name, AddOutcome.REJECTED, error=error))
            elif prepared.known:
                incoming.discard()
                existing = find_duplicate(owner.id, incoming.sha256)
                batch.record(AddResult(name, AddOutcome.DUPLICATE, existing))
            else:
                add_file(
                    store,
                    pool,
                    owner,
                    incoming,
                    prepared.source.name,
                    batch=batch,
                    max_bytes=max_bytes,
                    info=prepared.info,
                    visibility=visibility,
                    check_duplicate=False,  # checked against `known`, before parsing
                    path_hints=_hints_under(root, prepared.source),
                )
            if batch.full():
                yield batch
                batch = AddBatch(store)
    yield batch
