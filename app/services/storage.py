"""Where the files live. The only code that creates, names, opens, moves or deletes them.

`Storage` is the interface every backend implements; `LocalStorage` keeps the
files in a folder on this machine. The application factory creates the one
storage object (`init_app`) and everything reaches it through `get_storage()`:
routes, the CLI, jobs and tests alike. No other code builds a path into it.

Layout under the local root:
    <user id>/<random>.<ext>          audio files (names never come from the user)
    <user id>/covers/<sha256>.jpg     cover thumbnails, one per distinct picture (embedded or uploaded)
    <user id>/<random>.waveform.json  an audio file's waveform, beside it
    .incoming/                        uploads being received or checked
    .variants/                        transcoded copies (a cache: any of it may go)

    .staging/                         ZIP archives waiting for their import (preview, job)
    .partial/<token>                  resumable uploads being received, piece by piece

A file is written to .incoming/ while it is hashed, checked by the tag reader, then
fsynced and renamed into place: a reader never sees half a file, and a failure
leaves nothing behind.

`S3Storage` (app/services/storage_s3.py, STORAGE_URL=s3://bucket/prefix) keeps the
same names as object keys under the prefix, .staging/ and .partial/ too (every app
server sees them); uploads are still received and checked in the local .incoming/
folder, then put to the bucket before their rows commit. The transcode cache stays
on each machine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app

from app.services.errors import DomainError, NotFound

CHUNK = 1024 * 1024
INCOMING = ".incoming"
WAVEFORM_SUFFIX = ".waveform.json"

VARIANTS = ".variants"
# What the transcoder names its files: <sha256>-<preset>.<ext>, with .part
# while it is written and .lock / .readers / .failed beside it.
_VARIANT_NAME = re.compile(
    r"^[0-9a-f]{64}-[a-z0-9-]{1,16}\.[a-z0-9]{1,5}(\.(part|lock|readers|failed))?$|^slot-[a-z0-9-]{1,40}$"
)

STAGING = ".staging"
PARTIAL = ".partial"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# Kept files are readable by the app's group, so a web server in that group
# (nginx with X-Accel-Redirect) can send them; nobody else can.
FILE_MODE = 0o640
DIR_MODE = 0o750


class StorageError(DomainError):
    """The server could not store a file: STORE_FAILED (with the system's `reason`)
    or STORAGE_FAILED."""

    code = "STORAGE_FAILED"
    status = 507


class PartialConflict(DomainError):
    """A resumable upload's piece does not fit: UPLOAD_OFFSET_MISMATCH (the client's
    offset is not the server's, `offset`) or UPLOAD_BUSY (another request is writing it)."""

    code = "UPLOAD_OFFSET_MISMATCH"
    status = 409


class StorageUnavailable(StorageError, OSError):
    """The object store cannot be reached (or answers with a server error) just now:
    a 503 with Retry-After, never a 500. An OSError too, so code that goes on past
    an unreadable file goes on past this."""

    code = "STORAGE_UNAVAILABLE"
    status = 503


class IncomingFile:
    """A file being received: written to a temporary file, hashed and counted as it arrives.

    Past `max_bytes` it stops writing and only counts, so an oversized file
    never fills the disk; a write error (a full disk) is kept, not raised, so
    the rest of a multi-file request is still read and answered.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = _mkstemp(folder)
        self.path = Path(name)
        self._fh: BinaryIO | None = os.fdopen(fd, "w+b")
        self._hash = hashlib.sha256()
        self._digest: str | None = None
        self.max_bytes = max_bytes
        self.size = 0
        self.error: StorageError | None = None

    def hand_over(self) -> str:
        """Close the (empty) temporary file for another process to fill; return its path.
        That process reports what it wrote with filled()."""
        self.close()
        return str(self.path)

    def filled(self, size: int, sha256: str, error: StorageError | None = None) -> None:
        """What another process wrote into the file and hashed (services/receiving.py).
        Not durable yet: sync() it before keeping it."""
        self.size = size
        self._digest = sha256
        self.error = self.error or error

    def sync(self) -> None:
        """Make the bytes another process wrote durable (fsync); a failure is kept in `error`.
        (Done here, on the caller's thread: the writers are a few processes that stay busy
        with the bytes, the callers many threads that may as well wait for the disk; and a
        file about to be dropped, one the library already has, need not be synced.)"""
        if self.error is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self.error = disk_failure(exc)

    @classmethod
    def adopt(cls, path: Path, max_bytes: int) -> IncomingFile:
        """A complete file already in .incoming/ (a finished resumable upload), hashed and counted."""
        self = cls.__new__(cls)
        self.path = path
        self._fh = None
        self._hash = hashlib.sha256()
        self._digest = None
        self.max_bytes = max_bytes
        self.size = 0
        self.error = None
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                self.size += len(chunk)
                self._hash.update(chunk)
        return self

    # --- the file-like part werkzeug's form parser writes to ------------------------
    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self._fh is None or self.error:
            return len(data)
        if self.size > self.max_bytes:
            self._give_up(None)
            return len(data)
        try:
            self._fh.write(data)
        except OSError as exc:
            self._give_up(disk_failure(exc))
        else:
            self._hash.update(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence) if self._fh else 0

    def tell(self) -> int:
        return self._fh.tell() if self._fh else 0

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size) if self._fh else b""

    def flush(self) -> None:
        if self._fh:
            self._fh.flush()

    # --- results ----------------------------------------------------------------
    @property
    def too_large(self) -> bool:
        return self.size > self.max_bytes

    @property
    def sha256(self) -> str:
        return self._digest if self._digest is not None else self._hash.hexdigest()

    def finish(self) -> None:
        """Flush to disk (fsync) and close; the bytes are durable before any rename."""
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            self.error = self.error or disk_failure(exc)
        finally:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _give_up(self, error: StorageError | None) -> None:
        self.error = self.error or error
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.truncate(0)
            self._fh.close()
            self._fh = None


def disk_failure(exc: OSError) -> StorageError:
    """A file of this machine that could not be written or read (a full or failing disk)."""
    return StorageError("STORE_FAILED", reason=exc.strerror or "write error")


def check_token(token: str) -> str:
    """A resumable upload's token, which names its bytes. Raises NotFound for anything
    create() would not give (letters, digits, - and _)."""
    if not token or len(token) > 64 or not set(token) <= _TOKEN_CHARS:
        raise NotFound("UPLOAD_NOT_FOUND")
    return token


def _mkstemp(folder: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix="up-", suffix=".part", dir=folder)


@dataclass(frozen=True)
class StoredFile:
    """One file a backend holds: its name relative to the storage root, size and age."""

    rel: str
    size: int
    modified: float


class Storage(ABC):
    """What the app asks of a place that keeps files. Relative names only:
    which bytes a name points at is the backend's business."""

    # Whether local_path() gives the kept file itself (False: an object store).
    is_local: bool = True

    # --- receiving ---
    @abstractmethod
    def incoming(self, max_bytes: int) -> IncomingFile:
        """A temporary file to receive an upload into (hashed and counted as it is written)."""

    @abstractmethod
    def copy_in(self, source: Path, max_bytes: int) -> IncomingFile:
        """Receive a file from elsewhere on this machine. Raises OSError when it cannot be read."""

    @abstractmethod
    def keep(self, incoming: IncomingFile, user_id: int, ext: str, *, sync: bool = True) -> str:
        """Store a received file under a name of the storage's choosing; return that name.
        With sync=False the caller makes it durable later with sync_user_folder()."""

    @abstractmethod
    def sync_user_folder(self, user_id: int) -> None:
        """Make the files kept with sync=False durable."""

    @abstractmethod
    def stage(self, incoming: IncomingFile, ext: str) -> str:
        """Keep a received archive in the staging area until its import ends; return its name."""

    @abstractmethod
    def staged_copy(self, rel: str) -> contextlib.AbstractContextManager[Path]:
        """A staged archive as a file on this machine, for the `with` block (readers in
        other processes too): the staged file itself when the staging area is local, else
        a copy removed after. Raises NotFound for a name stage() would not give,
        FileNotFoundError when there is no such archive."""

    @abstractmethod
    def list_staged(self) -> Iterator[StoredFile]:
        """The archives in the staging area."""

    # --- resumable uploads ---
    @abstractmethod
    def partial_create(self, token: str) -> None:
        """An empty partial upload named by `token` (letters, digits, - and _)."""

    @abstractmethod
    def partial_size(self, token: str) -> int:
        """The bytes a partial upload holds. Raises NotFound when there is none."""

    @abstractmethod
    def partial_append(self, token: str, offset: int, chunks: Iterator[bytes], limit: int) -> int:
        """Write `chunks` (at most `limit` bytes) at the end of a partial upload, which must
        hold exactly `offset` bytes; return its new size. What arrived before the chunks
        stop (a dropped connection) is kept, durably. Raises NotFound or PartialConflict."""

    @abstractmethod
    def partial_take(self, token: str, length: int, max_bytes: int) -> IncomingFile:
        """A complete partial upload (`length` bytes) as a received file (hashed), ready for
        keep(). The partial upload stays: remove it with partial_delete() once the file's
        outcome is committed, so that a failure before loses nothing. Raises NotFound, or
        PartialConflict when it holds another number of bytes (its `offset`)."""

    @abstractmethod
    def partial_delete(self, token: str) -> None:
        """Remove a partial upload; a missing one is not an error."""

    @abstractmethod
    def list_partials(self) -> Iterator[StoredFile]:
        """Partial uploads (StoredFile.rel is the token)."""

    @abstractmethod
    def store_as(self, rel: str, incoming: IncomingFile) -> None:
        """Store a received file under a name another storage gave it (moving a
        library keeps its names), replacing any file of that name. Raises NotFound
        for a name the storage would never give, StorageError when it cannot store."""

    @abstractmethod
    def save_cover(self, user_id: int, digest: str, data: bytes) -> str:
        """Store a cover thumbnail once per distinct picture; return its name. A picture
        stored already gets a fresh modification time: it is about to be named again, and
        covers.remove_unused leaves recently saved pictures alone."""

    @abstractmethod
    def save_waveform(self, audio_rel: str, data: bytes) -> str:
        """Store (or replace) the waveform of a stored audio file, beside it; return its name."""

    # --- reading and sending ---
    @abstractmethod
    def open(self, rel: str) -> BinaryIO:
        """The stored file, open for reading. Raises NotFound (bad name) or FileNotFoundError."""

    @abstractmethod
    def size(self, rel: str) -> int:
        """The stored file's size in bytes. Raises NotFound or FileNotFoundError."""

    @abstractmethod
    def local_path(self, rel: str) -> Path:
        """The file on this machine, for the server to send (sendfile, X-Accel-Redirect,
        X-Sendfile). Raises NotFound for a name outside the storage, and for every
        name when the storage is not local (is_local False)."""

    @abstractmethod
    def stat(self, rel: str) -> StoredFile:
        """The stored file's size and modification time. Raises NotFound or FileNotFoundError."""

    @abstractmethod
    def local_copy(self, rel: str) -> contextlib.AbstractContextManager[Path]:
        """A file on this machine with the stored bytes, for the tag reader, for the
        `with` block: the file itself when local, else a temporary copy removed after.
        Raises NotFound or FileNotFoundError."""

    def locate(self, rel: str) -> Storage:
        """The storage that holds `rel`, to send it from: itself, except while a
        library moves (FallbackStorage). Raises StorageUnavailable."""
        return self

    def presigned_url(self, rel: str, seconds: int, *, head: bool = False) -> str | None:
        """An address the file can be fetched from without credentials for
        `seconds` (with `head`, for a HEAD request); None when the storage has
        none (local files)."""
        return None

    # --- deleting and checking ---
    @abstractmethod
    def delete(self, rel: str | None) -> None:
        """Remove a stored file; a missing one is not an error."""

    def delete_many(self, rels: list[str]) -> None:
        """Remove several stored files, going on past any that cannot be removed
        (used to undo, or after the rows naming them are gone)."""
        for rel in rels:
            with contextlib.suppress(OSError):
                self.delete(rel)

    @abstractmethod
    def delete_user(self, user_id: int) -> None:
        """Remove every file of an account."""

    def disk_space(self) -> tuple[int, int] | None:
        """(size, free bytes) of the disk that holds the library; None when the library
        is not on this machine's disk (object storage)."""
        return None

    @abstractmethod
    def list_files(self) -> Iterator[StoredFile]:
        """Every kept file (audio and covers), for the library check."""

    @abstractmethod
    def list_incoming(self) -> Iterator[StoredFile]:
        """Temporary files of uploads being received (or left by a crash)."""

    @abstractmethod
    def remove_incoming(self, rel: str) -> None:
        """Remove one temporary file list_incoming() named."""

    # --- the variant cache (transcoded copies, always on this machine) ---
    # --- health ---
    @abstractmethod
    def check(self) -> None:
        """Prove the storage can be used now (for /readyz): raises StorageUnavailable if not."""

    def variant_path(self, name: str) -> Path:
        """The local file of a cached variant (or its .part, .lock ...) by its name. Raises NotFound."""
        raise NotImplementedError

    def list_variants(self) -> Iterator[StoredFile]:
        """Every file in the variant cache (names relative to the cache)."""
        raise NotImplementedError


class LocalStorage(Storage):
    """Files in a folder on this machine (UPLOAD_FOLDER)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip(os.sep) + os.sep

    def disk_space(self) -> tuple[int, int] | None:
        try:
            usage = shutil.disk_usage(self.root)
        except OSError:  # the folder is gone: nothing to measure, the health check says why
            return None
        return usage.total, usage.free

    def check(self) -> None:
        """A file can be written in the folder and removed (a missing, read-only or full folder fails)."""
        try:
            fd, tmp = _mkstemp(self.root)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
                Path(tmp).unlink()
        except OSError as exc:
            raise StorageUnavailable(reason=type(exc).__name__) from exc

    # --- receiving ------------------------------------------------------------------
    def incoming(self, max_bytes: int) -> IncomingFile:
        return IncomingFile(self.root / INCOMING, max_bytes)

    def copy_in(self, source: Path, max_bytes: int) -> IncomingFile:
        """Copy a file from elsewhere on the server into .incoming/, hashing it on the way."""
        incoming = self.incoming(max_bytes)
        try:
            with source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    incoming.write(chunk)
                    if incoming.too_large or incoming.error:
                        break
        except OSError:
            incoming.discard()
            raise
        incoming.finish()
        return incoming

    def keep(self, incoming: IncomingFile, user_id: int, ext: str, *, sync: bool = True) -> str:
        """Rename a received file into the user's folder; return its relative path.

        With sync=False the caller makes the rename durable later, with
        sync_user_folder(), before it commits the rows that name the file.
        """
        if not ext.isalnum() or len(ext) > 5:
            raise StorageError(reason=f"bad extension {ext!r}")
        folder = self._user_folder(user_id)
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        incoming.finish()
        for _ in range(5):
            name = f"{secrets.token_urlsafe(12)}.{ext}"
            target = folder / name
            if not target.exists():
                incoming.path.chmod(FILE_MODE)
                incoming.path.replace(target)
                if sync:
                    _fsync_dir(folder)
                return f"{user_id}/{name}"
        raise StorageError(reason="no free file name")

    def stage(self, incoming: IncomingFile, ext: str) -> str:
        """Rename a received archive into .staging/ under a name of our own; return it."""
        if not ext.isalnum() or len(ext) > 5:
            raise StorageError(reason=f"bad extension {ext!r}")
        folder = self.root / STAGING
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        incoming.finish()
        name = f"{secrets.token_urlsafe(16)}.{ext}"
        incoming.path.chmod(FILE_MODE)
        incoming.path.replace(folder / name)
        _fsync_dir(folder)
        return f"{STAGING}/{name}"

    def staged_path(self, rel: str) -> Path:
        """The file a staged archive's name stands for (there or not). Raises NotFound
        for a name stage() would not give."""
        name = rel.removeprefix(STAGING + "/")
        if name == rel or not name or "/" in name or "\0" in name or name.startswith("."):
            raise NotFound("FILE_NOT_FOUND")
        return self.root / STAGING / name

    @contextlib.contextmanager
    def staged_copy(self, rel: str) -> Iterator[Path]:
        path = self.staged_path(rel)
        path.stat()  # FileNotFoundError now, not in a reader
        yield path

    def list_staged(self) -> Iterator[StoredFile]:
        folder = self.root / STAGING
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                yield StoredFile(f"{STAGING}/{path.name}", stat.st_size, stat.st_mtime)

    # --- resumable uploads ----------------------------------------------------------
    def _partial_path(self, token: str) -> Path:
        return self.root / PARTIAL / check_token(token)

    def partial_create(self, token: str) -> None:
        path = self._partial_path(token)
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)

    def partial_size(self, token: str) -> int:
        try:
            return self._partial_path(token).stat().st_size
        except FileNotFoundError:
            raise NotFound("UPLOAD_NOT_FOUND") from None

    def partial_append(self, token: str, offset: int, chunks: Iterator[bytes], limit: int) -> int:
        try:
            fh = self._partial_path(token).open("r+b", buffering=0)
        except FileNotFoundError:
            raise NotFound("UPLOAD_NOT_FOUND") from None
        with fh:
            try:
                # Held until closed: one writer per upload, across processes.
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartialConflict("UPLOAD_BUSY") from None
            size = os.fstat(fh.fileno()).st_size
            if size != offset:
                raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=size)
            fh.seek(offset)
            written = 0
            try:
                for chunk in chunks:
                    piece = chunk[: limit - written]
                    view = memoryview(piece)
                    while view:
                        view = view[fh.write(view) :]
                    written += len(piece)
                    if written >= limit:
                        break
                os.fsync(fh.fileno())
            except OSError as exc:  # a full or failing disk: the piece goes, to be sent again
                with contextlib.suppress(OSError):
                    os.ftruncate(fh.fileno(), offset)
                raise disk_failure(exc) from exc
            except BaseException:  # what arrived before stays
                with contextlib.suppress(OSError):
                    os.fsync(fh.fileno())
                raise
            return offset + written

    def partial_take(self, token: str, length: int, max_bytes: int) -> IncomingFile:
        """A second name for the partial file in .incoming/ (its bytes stay under the
        first until partial_delete(), so a failure before the outcome commits loses none)."""
        source = self._partial_path(token)
        size = self.partial_size(token)
        if size != length:
            raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=size)
        folder = self.root / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = _mkstemp(folder)
        os.close(fd)
        Path(name).unlink()
        try:
            os.link(source, name)
        except FileNotFoundError:
            raise NotFound("UPLOAD_NOT_FOUND") from None
        except OSError:  # a file system without hard links
            shutil.copyfile(source, name)
        return IncomingFile.adopt(Path(name), max_bytes)

    def partial_delete(self, token: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotFound):
            self._partial_path(token).unlink()

    def list_partials(self) -> Iterator[StoredFile]:
        folder = self.root / PARTIAL
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                yield StoredFile(path.name, stat.st_size, stat.st_mtime)

    def store_as(self, rel: str, incoming: IncomingFile) -> None:
        target = self.local_path(rel)
        parts = Path(rel).parts
        if not parts or not parts[0].isdigit() or len(parts) < 2 or INCOMING in parts:
            raise NotFound("FILE_NOT_FOUND")
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        incoming.finish()
        if incoming.error is not None:
            incoming.discard()
            raise incoming.error
        incoming.path.chmod(FILE_MODE)
        incoming.path.replace(target)
        _fsync_dir(target.parent)

    def save_cover(self, user_id: int, digest: str, data: bytes) -> str:
        """Store a cover thumbnail once per distinct picture; return its relative path."""
        if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise StorageError(reason="bad cover digest")
        folder = self._user_folder(user_id) / "covers"
        rel = f"{user_id}/covers/{digest}.jpg"
        target = folder / f"{digest}.jpg"
        if target.exists():
            # Stored already: saved again now (see Storage.save_cover), when the file's
            # owner or a read-only disk allows; the picture is there either way.
            with contextlib.suppress(OSError):
                os.utime(target)
            return rel
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _write_atomically(target, data)
        return rel

    def save_waveform(self, audio_rel: str, data: bytes) -> str:
        """Write the waveform atomically as <audio name without extension>.waveform.json."""
        audio = self.local_path(audio_rel)
        if audio.parent.parent != self.root or not audio.parent.name.isdigit():
            raise StorageError(reason="not an audio file's name")
        target = audio.with_name(audio.stem + WAVEFORM_SUFFIX)
        _write_atomically(target, data)
        return target.relative_to(self.root).as_posix()

    # --- reading and deleting ---------------------------------------------------------
    def open(self, rel: str) -> BinaryIO:
        return self.local_path(rel).open("rb")

    def size(self, rel: str) -> int:
        return self.local_path(rel).stat().st_size

    def stat(self, rel: str) -> StoredFile:
        found = self.local_path(rel).stat()
        return StoredFile(rel, found.st_size, found.st_mtime)

    @contextlib.contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        path = self.local_path(rel)
        path.stat()  # FileNotFoundError now, not in the tag reader
        yield path

    def local_path(self, rel: str) -> Path:
        """The absolute path of a stored file. Raises NotFound for anything outside the root.

        Names are checked lexically (normalised, no "..", no absolute paths):
        this runs on every seek, and resolving symlinks would cost a system
        call per path component. The storage never creates symlinks.
        """
        joined = os.path.normpath(os.path.join(self._root_str, rel))  # noqa: PTH118 - string-only, no syscalls
        if not joined.startswith(self._root_prefix) or "\0" in rel:
            raise NotFound("FILE_NOT_FOUND")
        return Path(joined)

    def delete(self, rel: str | None) -> None:
        if not rel:
            return
        with contextlib.suppress(FileNotFoundError, NotFound):
            self.local_path(rel).unlink()

    def sync_user_folder(self, user_id: int) -> None:
        folder = self._user_folder(user_id)
        if folder.exists():
            _fsync_dir(folder)

    def delete_user(self, user_id: int) -> None:
        shutil.rmtree(self._user_folder(user_id), ignore_errors=True)

    def list_files(self) -> Iterator[StoredFile]:
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if rel.parts[0] == INCOMING or not rel.parts[0].isdigit():
                continue
            stat = path.lstat()
            if path.is_file() and not path.is_symlink():
                yield StoredFile(rel.as_posix(), stat.st_size, stat.st_mtime)

    def list_incoming(self) -> Iterator[StoredFile]:
        folder = self.root / INCOMING
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                yield StoredFile(f"{INCOMING}/{path.name}", stat.st_size, stat.st_mtime)

    def remove_incoming(self, rel: str) -> None:
        if not rel.startswith(INCOMING + "/"):
            raise NotFound("FILE_NOT_FOUND")
        try:
            path = self.local_path(rel)
        except NotFound:
            return
        if path.is_dir() and not path.is_symlink():  # a temporary folder (older versions made some)
            shutil.rmtree(path, ignore_errors=True)
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            path.unlink(missing_ok=True)  # a symbolic link: nothing the app reads
            return
        try:
            # A file in use holds a shared flock (a copy an import reads): BlockingIOError, left.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def variant_path(self, name: str) -> Path:
        if not _VARIANT_NAME.match(name):
            raise NotFound("FILE_NOT_FOUND")
        folder = self.root / VARIANTS
        if not folder.is_dir():
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return folder / name

    def list_variants(self) -> Iterator[StoredFile]:
        folder = self.root / VARIANTS
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                # LRU: a read touches the access time (below); never older than the write.
                yield StoredFile(path.name, stat.st_size, max(stat.st_mtime, stat.st_atime))

    def _user_folder(self, user_id: int) -> Path:
        return self.root / str(int(user_id))


class LocalAreas:
    """The working areas of a storage (ZIP archives waiting for their import, resumable
    uploads in progress, the transcode cache), handed to `local_areas`, a storage that
    keeps them on this machine. A storage that shares some of them between servers
    overrides those (S3Storage keeps archives and resumable uploads in the bucket)."""

    local_areas: Storage

    def stage(self, incoming: IncomingFile, ext: str) -> str:
        return self.local_areas.stage(incoming, ext)

    def staged_copy(self, rel: str) -> contextlib.AbstractContextManager[Path]:
        return self.local_areas.staged_copy(rel)

    def list_staged(self) -> Iterator[StoredFile]:
        return self.local_areas.list_staged()

    def partial_create(self, token: str) -> None:
        self.local_areas.partial_create(token)

    def partial_size(self, token: str) -> int:
        return self.local_areas.partial_size(token)

    def partial_append(self, token: str, offset: int, chunks: Iterator[bytes], limit: int) -> int:
        return self.local_areas.partial_append(token, offset, chunks, limit)

    def partial_take(self, token: str, length: int, max_bytes: int) -> IncomingFile:
        return self.local_areas.partial_take(token, length, max_bytes)

    def partial_delete(self, token: str) -> None:
        self.local_areas.partial_delete(token)

    def list_partials(self) -> Iterator[StoredFile]:
        return self.local_areas.list_partials()

    def variant_path(self, name: str) -> Path:
        return self.local_areas.variant_path(name)

    def list_variants(self) -> Iterator[StoredFile]:
        return self.local_areas.list_variants()


class FallbackStorage(LocalAreas, Storage):
    """A library on its way from one storage to another (`flask storage migrate`):
    new files go to `primary`, reads try `primary` and then `fallback`, deletes
    reach both. Names are the same in both, so no row changes when a file moves."""

    is_local = False

    def __init__(self, primary: Storage, fallback: Storage) -> None:
        self.primary = primary
        self.fallback = fallback
        self.local_areas = primary

    def check(self) -> None:
        self.primary.check()
        self.fallback.check()

    def incoming(self, max_bytes: int) -> IncomingFile:
        return self.primary.incoming(max_bytes)

    def copy_in(self, source: Path, max_bytes: int) -> IncomingFile:
        return self.primary.copy_in(source, max_bytes)

    def keep(self, incoming: IncomingFile, user_id: int, ext: str, *, sync: bool = True) -> str:
        return self.primary.keep(incoming, user_id, ext, sync=sync)

    def sync_user_folder(self, user_id: int) -> None:
        self.primary.sync_user_folder(user_id)

    def store_as(self, rel: str, incoming: IncomingFile) -> None:
        self.primary.store_as(rel, incoming)

    def save_cover(self, user_id: int, digest: str, data: bytes) -> str:
        return self.primary.save_cover(user_id, digest, data)

    def save_waveform(self, audio_rel: str, data: bytes) -> str:
        return self.primary.save_waveform(audio_rel, data)

    def locate(self, rel: str) -> Storage:
        try:
            self.primary.stat(rel)
        except (FileNotFoundError, NotADirectoryError, NotFound):
            return self.fallback.locate(rel)
        return self.primary.locate(rel)

    def open(self, rel: str) -> BinaryIO:
        return self.locate(rel).open(rel)

    def size(self, rel: str) -> int:
        return self.locate(rel).size(rel)

    def stat(self, rel: str) -> StoredFile:
        return self.locate(rel).stat(rel)

    def local_path(self, rel: str) -> Path:
        return self.locate(rel).local_path(rel)

    def local_copy(self, rel: str) -> contextlib.AbstractContextManager[Path]:
        return self.locate(rel).local_copy(rel)

    def presigned_url(self, rel: str, seconds: int, *, head: bool = False) -> str | None:
        return self.locate(rel).presigned_url(rel, seconds, head=head)

    def delete(self, rel: str | None) -> None:
        self.primary.delete(rel)
        self.fallback.delete(rel)

    def delete_user(self, user_id: int) -> None:
        self.primary.delete_user(user_id)
        self.fallback.delete_user(user_id)

    def list_files(self) -> Iterator[StoredFile]:
        yield from union(self.primary.list_files(), self.fallback.list_files())

    def list_incoming(self) -> Iterator[StoredFile]:
        return self.primary.list_incoming()

    def remove_incoming(self, rel: str) -> None:
        self.primary.remove_incoming(rel)

    # Uploads and archives begun before the move stay where they were: found there too.
    def _partials_of(self, token: str) -> Storage:
        try:
            self.primary.partial_size(token)
        except NotFound:
            return self.fallback
        return self.primary

    def partial_size(self, token: str) -> int:
        return self._partials_of(token).partial_size(token)

    def partial_append(self, token: str, offset: int, chunks: Iterator[bytes], limit: int) -> int:
        return self._partials_of(token).partial_append(token, offset, chunks, limit)

    def partial_take(self, token: str, length: int, max_bytes: int) -> IncomingFile:
        return self._partials_of(token).partial_take(token, length, max_bytes)

    def partial_delete(self, token: str) -> None:
        self.primary.partial_delete(token)
        self.fallback.partial_delete(token)

    def list_partials(self) -> Iterator[StoredFile]:
        yield from union(self.primary.list_partials(), self.fallback.list_partials())

    @contextlib.contextmanager
    def staged_copy(self, rel: str) -> Iterator[Path]:
        with contextlib.ExitStack() as held:
            try:
                path = held.enter_context(self.primary.staged_copy(rel))
            except FileNotFoundError:
                path = held.enter_context(self.fallback.staged_copy(rel))
            yield path

    def list_staged(self) -> Iterator[StoredFile]:
        yield from union(self.primary.list_staged(), self.fallback.list_staged())


def union(first: Iterator[StoredFile], second: Iterator[StoredFile]) -> Iterator[StoredFile]:
    """Both listings, a name the first gave left out of the second."""
    seen = set()
    for found in first:
        seen.add(found.rel)
        yield found
    for found in second:
        if found.rel not in seen:
            yield found


def init_app(app: Flask) -> None:
    """Create the application's one storage object from its configuration:
    STORAGE_URL s3://bucket/prefix for an object store, else UPLOAD_FOLDER; with
    STORAGE_FALLBACK_URL (while `flask storage migrate` runs) reads fall back there."""
    store = storage_from_url(app.config.get("STORAGE_URL"), app.config)
    if app.config.get("STORAGE_FALLBACK_URL"):
        # A library being moved here: files not moved yet are read where they were.
        store = FallbackStorage(store, storage_from_url(app.config["STORAGE_FALLBACK_URL"], app.config))
    app.extensions["storage"] = store


def storage_from_url(url: str | None, config: dict) -> Storage:
    """The storage a STORAGE_URL names (s3://bucket/prefix, a local folder, or
    None for UPLOAD_FOLDER). Raises ValueError for another scheme."""
    if not url:
        return LocalStorage(config["UPLOAD_FOLDER"])
    if url.startswith("s3://"):
        # storage_s3 imports this module, and boto3 loads only when a store is configured.
        from app.services.storage_s3 import S3Storage  # noqa: PLC0415

        return S3Storage.from_config(url, config)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"STORAGE_URL: unknown scheme in {url!r} (s3:// or a folder)")
    return LocalStorage(url.removeprefix("file://"))


def get_storage() -> Storage:
    """The current application's storage (the only way to reach it)."""
    return current_app.extensions["storage"]


def stale_incoming(store: Storage, older_than: float = 3600.0) -> list[StoredFile]:
    """Temporary files no upload has touched for `older_than` seconds (a crash left them)."""
    cutoff = time.time() - older_than
    return [f for f in store.list_incoming() if f.modified < cutoff]


def _write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, fsync it and rename it into place."""
    fd, tmp = _mkstemp(target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
