"""Adding files to a library: one upload, or a folder imported on the server.

One file is one unit of work: on any failure neither the file nor a row
remains, and the incoming temporary file is always gone afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from app.services.library import analysis, catalogue, hints
from app.services.library.catalogue import (
    VARIOUS_ARTISTS,
    apply_tags,
    file_folder,
    file_folders,
    forget_catalogue,
    prune,
)
from app.services.library.quotas import (
    FileTooLarge,
    QuotaExceeded,
    UploadLimitExceeded,
    UploadLimits,
    Usage,
    check,
    check_limits,
    hold,
    limits_for,
    usage_of,
)
from app.services.storage import IncomingFile, Storage, StorageError
from app.services.tags import AudioInfo, ParserPool, UnsupportedAudio
from app.services.text import clean_tag
from app.services.track_meta import DEFAULT_LICENCE


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


def _savepoint(batch: AddBatch) -> tuple[Any, Callable[[], None]]:
    """(savepoint or None, the undo of what follows) for the next file or group of a batch.

    Later files or groups of a batch get a savepoint, so undoing one keeps the others.
    The first needs none (the transaction holds nothing else of the batch's), and must
    not open one: on SQLite a savepoint starts the transaction at its first read, and a
    concurrent upload's commit would then make this one's write fail at once instead
    of waiting its turn."""
    savepoint = db.session.begin_nested() if batch.user_ids else None

    def rollback() -> None:
        if savepoint is None:
            db.session.rollback()
        elif savepoint.is_active:
            savepoint.rollback()

    return savepoint, rollback


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
    limits: UploadLimits | None = None,
) -> AddResult:
    """Check, parse, store and record one received file in `batch` (flushed, not committed).

    `path_hints` (hints.from_path of the file's folder in an uploaded folder) fill the tags
    the file lacks. `limits` are the owner's (quotas.limits_for) unless given.

    On any failure neither the file nor a row remains, and the incoming
    temporary file is always gone afterwards. The result is also kept in
    batch.results.
    """
    name = clean_tag(original_name, TAG_MAX) or "unnamed file"
    kept: list[str] = []
    savepoint, rollback = _savepoint(batch)

    def undo() -> None:
        rollback()
        store.delete_many(kept)

    limits = limits if limits is not None else limits_for(owner)
    try:
        if incoming.error is None:
            check_limits(owner, incoming, max_bytes, limits)
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
        check(limits, duration=info.duration)
        hints.apply(info, path_hints or {})
        track = _new_track(owner, incoming, name, info, visibility, folder=(path_hints or {}).get("folder"))
        db.session.add(track)
        db.session.flush()
        file_folder(track)
        hold(owner, limits, incoming.size)
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
    except (UnsupportedAudio, FileTooLarge, QuotaExceeded, UploadLimitExceeded, StorageError) as exc:
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


@dataclass
class Received:
    """A file ready to be added: received (hashed and counted), its tags read, or why not."""

    name: str  # as the user named it (only shown, and a hint)
    incoming: IncomingFile | None
    info: AudioInfo | None = None
    error: DomainError | None = None
    path_hints: dict[str, Any] | None = None


def add_received(
    store: Storage,
    pool: ParserPool,
    owner: User,
    files: list[Received],
    *,
    batch: AddBatch,
    max_bytes: int,
    visibility: Visibility = Visibility.PRIVATE,
    limits: UploadLimits | None = None,
) -> list[AddResult]:
    """Add many received files to `batch` with a few statements (flushed, not committed),
    the way add_file() adds one; return their results in order (also in batch.results).

    Each file is checked as add_file() checks it (size, length, the owner's limits,
    the same bytes twice), and its tracks, kept files and jobs are written together. When the
    database refuses the group (the same file added at the same moment
    elsewhere, a quota another upload just filled), it is undone and every file
    goes through add_file() on its own, so one file's failure never costs the
    others. Files the owner already had are the caller's to skip (it knows them
    by hash before reading them). Every incoming file is gone afterwards.
    """
    results: list[AddResult | None] = [None] * len(files)
    todo: list[tuple[int, Received]] = []
    first_of: dict[str, int] = {}  # sha256 -> the file of this group that adds those bytes
    same_as: dict[int, int] = {}
    limits = limits if limits is not None else limits_for(owner)
    usage = usage_of(owner) if limits.counts_usage else None
    for i, received in enumerate(files):
        incoming = received.incoming
        error = _early_error(received, max_bytes, limits)
        fresh = error is None and incoming is not None and incoming.sha256 not in first_of
        if fresh and usage is not None and incoming is not None:
            error = _room_error(limits, usage, incoming.size)
        if incoming is None or error is not None:
            if incoming is not None:
                incoming.discard()
            results[i] = AddResult(_shown(received.name), AddOutcome.REJECTED, error=error)
        elif incoming.sha256 in first_of:
            # The same bytes twice in the group: the first is added, this one is its duplicate.
            incoming.discard()
            same_as[i] = first_of[incoming.sha256]
        else:
            if usage is not None:
                usage = Usage(usage.used_bytes + incoming.size, usage.month_uploads + 1, usage.month_start)
            first_of[incoming.sha256] = i
            todo.append((i, received))
    added = _insert_group(store, owner, todo, batch, visibility, limits) if todo else {}
    if added is None:
        mark = len(batch.results)
        for i, received in todo:
            assert received.incoming is not None
            results[i] = add_file(
                store,
                pool,
                owner,
                received.incoming,
                received.name,
                batch=batch,
                max_bytes=max_bytes,
                info=received.info,
                visibility=visibility,
                path_hints=received.path_hints,
                limits=limits,
            )
        del batch.results[mark:]  # recorded below, in the files' order
    else:
        for i, result in added.items():
            results[i] = result
    for i, first in same_as.items():
        original = results[first]
        results[i] = AddResult(_shown(files[i].name), AddOutcome.DUPLICATE, original.track if original else None)
    done = [result for result in results if result is not None]
    batch.results.extend(done)
    return done


def _room_error(limits: UploadLimits, usage: Usage, size: int) -> DomainError | None:
    try:
        check(limits, usage, size=size)
    except (QuotaExceeded, UploadLimitExceeded) as exc:
        return exc
    return None


def _shown(name: str) -> str:
    return clean_tag(name, TAG_MAX) or "unnamed file"


def _early_error(received: Received, max_bytes: int, limits: UploadLimits) -> DomainError | None:
    """Why a received file cannot be added, known before the database is asked
    (the owner's storage and monthly limits are the caller's to check)."""
    incoming = received.incoming
    if incoming is None:
        return received.error or StorageError("READ_FAILED", reason="?")
    if received.error is not None:
        return received.error
    incoming.finish()
    if incoming.error is not None:
        return incoming.error
    try:
        check(limits, size=incoming.size)  # the role's largest file, named before the server's limit
        if incoming.too_large:
            raise FileTooLarge(size_bytes=incoming.size, limit_bytes=max_bytes)
        if received.info is None:
            raise UnsupportedAudio()
        check(limits, duration=received.info.duration)
    except (UploadLimitExceeded, FileTooLarge, UnsupportedAudio) as exc:
        return exc
    return None


def _insert_group(  # noqa: PLR0917 - one group's parts, passed once
    store: Storage,
    owner: User,
    todo: list[tuple[int, Received]],
    batch: AddBatch,
    visibility: Visibility,
    limits: UploadLimits,
) -> dict[int, AddResult] | None:
    """Write the tracks of `todo`, keep their files and queue their jobs; None when the
    database refused the group (nothing of it stays, the incoming files are untouched)."""
    savepoint, rollback = _savepoint(batch)

    def undo() -> None:
        rollback()
        forget_catalogue()

    kept: list[str] = []
    try:
        try:
            tracks = _write_tracks(owner, [received for _, received in todo], visibility, limits)
        except (IntegrityError, QuotaExceeded, UploadLimitExceeded):
            undo()
            return None
        added = _keep_files(store, owner, todo, tracks, kept)
        ready = [
            (track, bool(received.info and received.info.has_cover))
            for (_, received), track in zip(todo, tracks, strict=True)
            if track.storage_path in kept
        ]
        if ready:
            _queue_jobs(ready)
    except BaseException:
        undo()
        store.delete_many(kept)
        for _, received in todo:
            if received.incoming is not None:
                received.incoming.discard()
        raise
    if savepoint is not None:
        savepoint.commit()
    batch.kept.extend(kept)
    if kept:
        batch.user_ids.add(owner.id)
    return added


def _write_tracks(owner: User, files: list[Received], visibility: Visibility, limits: UploadLimits) -> list[Track]:
    """The rows of new tracks (with placeholder storage paths), flushed, their room held.
    Raises IntegrityError, QuotaExceeded or UploadLimitExceeded when the database refuses them."""
    for received in files:
        if received.info is not None:
            hints.apply(received.info, received.path_hints or {})
    catalogue.prepare([_catalogue_tags(received.info) for received in files if received.info])
    tracks = []
    for received in files:
        assert received.incoming is not None and received.info is not None
        folder = (received.path_hints or {}).get("folder")
        tracks.append(
            _new_track(owner, received.incoming, _shown(received.name), received.info, visibility, folder=folder)
        )
    db.session.add_all(tracks)
    db.session.flush()
    # A folder of several artists' songs becomes one Various Artists album: checked once per
    # album folder of the batch, not once per track.
    file_folders(tracks)
    hold(owner, limits, sum(track.size_bytes for track in tracks), len(tracks))
    return tracks


def _keep_files(
    store: Storage, owner: User, todo: list[tuple[int, Received]], tracks: list[Track], kept: list[str]
) -> dict[int, AddResult]:
    """Move each file into the owner's folder (noted in `kept`) and name it in its track;
    a file that cannot be moved is rejected and its row (and any artist or album only it
    named) removed again."""
    results: dict[int, AddResult] = {}
    failed: list[Track] = []
    for (i, received), track in zip(todo, tracks, strict=True):
        assert received.incoming is not None and received.info is not None
        try:
            rel = store.keep(received.incoming, owner.id, received.info.ext, sync=False)
        except (StorageError, OSError) as exc:
            received.incoming.discard()
            failed.append(track)
            reason = (
                exc if isinstance(exc, StorageError) else StorageError("STORE_FAILED", reason=exc.strerror or str(exc))
            )
            results[i] = AddResult(track.original_filename, AddOutcome.REJECTED, error=reason)
            continue
        kept.append(rel)
        track.storage_path = rel
        results[i] = AddResult(track.original_filename, AddOutcome.ADDED, track)
    if failed:
        albums = [track.album_id for track in failed]
        artists = [a for track in failed for a in (track.artist_id, track.album_artist_id) if a is not None]
        for track in failed:
            db.session.delete(track)
        db.session.flush()
        prune(albums, artists)
    return results


def _queue_jobs(tracks: list[tuple[Track, bool]]) -> None:
    """The analysis of every new track, and the thumbnail of those with art (True), sent on commit."""
    analysis.queue_analyses([track for track, _ in tracks])
    with_cover = [track for track, cover in tracks if cover]
    for track in with_cover:
        track.cover_pending = True
    if with_cover:
        jobs.submit_many(jobs.MAKE_COVER, [(track.id,) for track in with_cover])


def _catalogue_tags(info: AudioInfo) -> tuple[str, str | None, str]:
    """The artist, album artist and album a new track's tags name, as _new_track() gives them
    to apply_tags() (a compilation without an album artist is "Various Artists")."""
    album_artist = info.album_artist or (VARIOUS_ARTISTS if info.compilation else None)
    return (
        clean_tag(info.artist, TAG_MAX) or "Unknown",
        clean_tag(album_artist, TAG_MAX) or None,
        clean_tag(info.album, TAG_MAX) or "Unknown",
    )


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
        # What the file's tags say about tempo, key and licence (AudioInfo reads and checks them).
        bpm=info.bpm,
        musical_key=info.musical_key,
        licence=info.licence or DEFAULT_LICENCE,
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


def import_files(
    store: Storage,
    pool: ParserPool,
    owner: User,
    sources: list[Path],
    *,
    max_bytes: int,
    visibility: Visibility = Visibility.PRIVATE,
    root: Path | None = None,
    batch_size: int = 100,
    limits: UploadLimits | None = None,
) -> Iterator[AddBatch]:
    """Import files already on the server, yielding batches of results in order;
    the caller commits each batch (and abandons it if the commit fails).

    Copying, hashing and tag reading run in the parser's `pool.size` worker
    processes, several files at once; the database work stays on the calling
    thread, a batch at a time (add_received).
    A file whose content the owner already has is skipped without parsing, so a
    re-run is quick and safe.

    The folders between `root` and a file (the root's own name included) are its tag hints,
    as an uploaded folder's: "Album/01 - Song.mp3" fills a missing album tag with "Album".
    `limits` are the owner's (quotas.limits_for) unless given.
    """
    limits = limits if limits is not None else limits_for(owner)
    known = dict(db.session.execute(select(Track.sha256, Track.id).where(Track.owner_id == owner.id)).tuples().all())

    def prepare(source: Path) -> Received:
        incoming = store.incoming(max_bytes)
        try:
            filled = pool.copy(source, incoming.hand_over(), max_bytes)
        except UnsupportedAudio as exc:
            incoming.discard()
            return Received(source.name, None, error=exc)
        except BaseException:
            incoming.discard()
            raise
        if filled.problem == "READ_FAILED":
            incoming.discard()
            return Received(source.name, None, error=StorageError("READ_FAILED", reason=filled.reason or "?"))
        stored = StorageError("STORE_FAILED", reason=filled.reason or "?") if filled.problem else None
        incoming.filled(filled.size, filled.sha256, stored)
        received = Received(source.name, incoming, path_hints=_hints_under(root, source))
        if incoming.error is not None or incoming.too_large or incoming.sha256 in known:
            return received
        incoming.sync()
        if incoming.error is not None:
            return received
        try:
            received.info = pool.parse(incoming.path, source.name)
        except UnsupportedAudio as exc:
            received.error = exc
        return received

    # Copying, hashing and tag reading run in the parser's processes (one per core); the
    # threads hand them files, wait, and sync what is kept.
    batch = AddBatch(store, size=batch_size)
    waiting: list[Received] = []
    with ThreadPoolExecutor(max_workers=pool.size * 4) as executor:
        # A batch ahead: the files keep coming while the database writes the last batch.
        for received in bounded_map(executor, prepare, sources, ahead=batch_size + pool.size * 8):
            incoming = received.incoming
            if incoming is not None and received.error is None and incoming.sha256 in known:
                incoming.discard()
                name = clean_tag(received.name, TAG_MAX) or "unnamed file"
                batch.record(AddResult(name, AddOutcome.DUPLICATE, db.session.get(Track, known[incoming.sha256])))
            else:
                waiting.append(received)
            if len(batch.results) + len(waiting) >= batch.size:
                for result in add_received(
                    store, pool, owner, waiting, batch=batch, max_bytes=max_bytes, visibility=visibility, limits=limits
                ):
                    if result.outcome is AddOutcome.ADDED and result.track is not None:
                        known[result.track.sha256] = result.track.id
                waiting = []
                yield batch
                batch = AddBatch(store, size=batch_size)
    add_received(store, pool, owner, waiting, batch=batch, max_bytes=max_bytes, visibility=visibility, limits=limits)
    yield batch


def bounded_map(executor: ThreadPoolExecutor, fn: Any, items: list[Any], ahead: int) -> Iterator[Any]:
    """executor.map, in order, with at most `ahead` items handed out and not yet taken
    (received files wait on disk; this keeps their number small whatever the folder's size)."""
    pending: list[Any] = []
    queue = iter(items)
    for item in queue:
        pending.append(executor.submit(fn, item))
        if len(pending) >= ahead:
            break
    while pending:
        future = pending.pop(0)
        result = future.result()
        nxt = next(queue, None)
        if nxt is not None:
            pending.append(executor.submit(fn, nxt))
        yield result
