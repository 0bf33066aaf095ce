"""Copying and unpacking files for an import, run in the parser's worker processes.

An import copies (or unpacks from a ZIP) and hashes every file before its tags
are read. On threads of the importing process that work competed with the
database work for one interpreter lock, and an import used one core. Here it
runs in the tag parser's processes (services/tags.py, ParserPool.copy and
.unpack): they are running already, hold no database connection, and read
hostile archives inside the same limits as hostile tags. Standard library only.

The storage names the temporary file (Storage.incoming(), IncomingFile.hand_over())
and a worker only fills it: no path is built here. The caller syncs it
(IncomingFile.sync()) when it keeps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Filled:
    """What a worker wrote into a temporary file: its size (counted past the limit), its
    sha256, and why it stopped early, if it did (a problem code and the system's reason)."""

    size: int
    sha256: str
    problem: str | None = None
    reason: str | None = None


class _WriteFailed(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _fill(target: str, reader: BinaryIO | _Capped, max_bytes: int) -> Filled:
    """Copy from `reader` into `target`, hashing and counting; past max_bytes it empties
    the target and stops. A failed write raises _WriteFailed, a failed read what it raises."""
    digest = hashlib.sha256()
    size = 0
    try:
        out = open(target, "wb")  # noqa: PTH123, SIM115 - a path the storage made; closed below
    except OSError as exc:
        raise _WriteFailed(exc.strerror or str(exc)) from exc
    with out:
        while chunk := reader.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                with contextlib.suppress(OSError):
                    out.truncate(0)
                break
            try:
                out.write(chunk)
            except OSError as exc:
                raise _WriteFailed(exc.strerror or str(exc)) from exc
            digest.update(chunk)
        try:
            out.flush()  # synced by the caller (IncomingFile.filled), on a thread of its own
        except OSError as exc:
            raise _WriteFailed(exc.strerror or str(exc)) from exc
    return Filled(size, digest.hexdigest())


def copy_file(source: str, target: str, max_bytes: int) -> Filled:
    """Copy a file on the server into the temporary file `target` (not synced)."""
    try:
        with open(source, "rb") as src:  # noqa: PTH123 - a file the admin named
            return _fill(target, src, max_bytes)
    except _WriteFailed as exc:
        return Filled(0, "", "STORE_FAILED", exc.reason)
    except OSError as exc:
        return Filled(0, "", "READ_FAILED", exc.strerror or str(exc))


# One open archive per worker process: reading the directory again for every entry
# would make an import of n entries cost n squared.
_open: dict[str, zipfile.ZipFile] = {}


def _archive(path: str) -> zipfile.ZipFile:
    if path not in _open:
        close_archives()
        _open[path] = zipfile.ZipFile(path)
    return _open[path]


def close_archives() -> None:
    """Close the archive kept open (the worker does when asked anything else)."""
    for archive in _open.values():
        with contextlib.suppress(Exception):
            archive.close()
    _open.clear()


def unpack_entry(archive_path: str, index: int, size: int, target: str, max_bytes: int) -> Filled:  # noqa: PLR0911 - one return per outcome
    """Unpack entry `index` of a ZIP archive into the temporary file `target` (not synced).

    The entry must declare `size` bytes (what the preview showed) and may not
    give more (a bomb lying about its size): ENTRY_SIZE_MISMATCH; bad data, a
    bad CRC or a truncated archive: ENTRY_DAMAGED; a write that fails: STORE_FAILED.
    """
    try:
        archive = _archive(archive_path)
        info = archive.infolist()[index]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, IndexError):
        return Filled(0, "", "ENTRY_DAMAGED")
    if info.file_size != size:
        return Filled(0, "", "ENTRY_DAMAGED")
    try:
        with archive.open(info) as src:
            filled = _fill(target, _Capped(src, size), max_bytes)
    except _TooLong:
        return Filled(0, "", "ENTRY_SIZE_MISMATCH")
    except _WriteFailed as exc:
        return Filled(0, "", "STORE_FAILED", exc.reason)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError):
        return Filled(0, "", "ENTRY_DAMAGED")
    if filled.size != size and filled.size <= max_bytes:
        return Filled(0, "", "ENTRY_SIZE_MISMATCH")
    return filled


class _TooLong(Exception):
    pass


class _Capped:
    """An entry's stream that refuses to give more than the entry declared."""

    def __init__(self, src: zipfile.ZipExtFile, limit: int) -> None:
        self.src = src
        self.limit = limit
        self.count = 0

    def read(self, n: int) -> bytes:
        chunk = self.src.read(n)
        self.count += len(chunk)
        if self.count > self.limit:
            raise _TooLong
        return chunk
