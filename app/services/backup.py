"""Backups that restore (`flask backup DEST`, `flask restore SRC`).

A backup is a folder:
    manifest.json        what the backup holds: the database dump's name and sha256,
                         every stored file the dump names (name, size, sha256), the
                         migration revision of the dump and the time it was made
    database.sqlite3     SQLite: a copy made with SQLite's online backup API
    database.pgdump      PostgreSQL: pg_dump's custom format, of the app's schema
    files/<name>         the stored files, under their storage names (unless --no-files)

It is made while the app serves. The database is copied first, as one consistent
snapshot; the files to copy are then read from that snapshot (SQLite: from the copy;
PostgreSQL: in a transaction whose snapshot pg_dump shares), so the files always match
the rows: a file uploaded later is in neither, and a file whose track was deleted since
the snapshot cannot be copied any more and is reported as missing (the backup is then
incomplete, and the command says so and fails). Every file is hashed as it is read
(audio must match its row's sha256) and read back from the backup once written (the
copy and its checks are `flask storage migrate`'s, services/library/moving.py).
manifest.json is written last: a folder without one is not a backup.

Restoring checks the dump against the manifest, replaces the (empty) instance's
database with it, and copies every file into the configured storage, verifying each
against the manifest; the CLI then runs the migrations forward.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, Engine

from app.extensions import db
from app.models import PlayEvent, Playlist, Track, User
from app.services.errors import NotFound
from app.services.library.moving import CopyFailed, NamedFile, copy_verified, file_sha256, library_files
from app.services.storage import CHUNK, INCOMING, LocalStorage, Storage

FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"
SQLITE_DUMP = "database.sqlite3"
PG_DUMP = "database.pgdump"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# pg_restore --list lines for the schema itself and the comments on it and on extensions.
_OWN_ENTRY = re.compile(r"^\d+; \d+ \d+ (SCHEMA - |COMMENT - (SCHEMA|EXTENSION) )")


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why, for the operator."""


@dataclass
class BackupReport:
    database: str
    files: int = 0
    bytes: int = 0
    # Files the snapshot names that were gone when they were copied (deleted meanwhile).
    missing: list[str] = field(default_factory=list)
    # Files whose stored bytes do not match their row's sha256.
    damaged: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.damaged


@dataclass
class RestoreReport:
    files: int = 0
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


@dataclass(frozen=True)
class InstanceCounts:
    users: int
    tracks: int
    playlists: int
    listens: int


# --- making a backup ----------------------------------------------------------------------


def backup(dest: Path, store: Storage, *, with_files: bool = True, version: str = "") -> BackupReport:
    """Back the instance up into the new or empty folder `dest`. Raises BackupError."""
    try:
        return _backup(dest, store, with_files=with_files, version=version)
    except OSError as exc:
        raise BackupError(_os_reason(exc)) from None


def _backup(dest: Path, store: Storage, *, with_files: bool, version: str) -> BackupReport:
    _prepare(dest)
    dumped = _dump_database(dest)
    report = BackupReport(database=dumped.name)
    listed: list[dict[str, Any]] = []
    target = LocalStorage(dest / FILES) if with_files else None
    for named in dumped.files:
        entry = _back_up_file(store, target, named, report)
        if entry is not None:
            listed.append(entry)
            report.files += 1
            report.bytes += entry["size"]
    if target is not None:
        with contextlib.suppress(OSError):
            (target.root / INCOMING).rmdir()
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": version,
        "migration": dumped.revision,
        "database": {
            "engine": dumped.engine,
            "file": dumped.name,
            "schema": dumped.schema,
            "size": (dest / dumped.name).stat().st_size,
            "sha256": _sha256_of(dest / dumped.name),
        },
        "files_included": with_files,
        "files": listed,
        "missing": report.missing,
        "damaged": report.damaged,
    }
    _write_json(dest / MANIFEST, manifest)
    return report


def _prepare(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is not a folder.")
    if dest.is_dir() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: give a new or empty folder.")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {dest}: {exc.strerror}.") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write to {dest}: permission denied.")


def _back_up_file(
    store: Storage, target: LocalStorage | None, named: NamedFile, report: BackupReport
) -> dict[str, Any] | None:
    """Copy (or, without a target, list) one file; its manifest entry, or None when it
    could not be (recorded in the report). Raises BackupError on any other failure."""
    try:
        if target is None:
            size = store.stat(named.rel).size
            sha256 = named.sha256 or file_sha256(store, named.rel)
        else:
            copied = copy_verified(store, target, named.rel, named.sha256)
            size, sha256 = copied.size, copied.sha256
    except (FileNotFoundError, NotFound, CopyFailed) as exc:
        kind = exc.kind if isinstance(exc, CopyFailed) else "missing"
        if kind == "missing":
            report.missing.append(named.rel)
        elif kind == "source":
            report.damaged.append(named.rel)
        else:
            raise BackupError(f"could not copy {named.rel}: {getattr(exc, 'reason', '') or exc}.") from None
        return None
    return {"name": named.rel, "size": size, "sha256": sha256}


@dataclass(frozen=True)
class _Dump:
    engine: str
    name: str
    schema: str | None
    revision: str | None
    files: list[NamedFile]


def _dump_database(dest: Path) -> _Dump:
    engine = db.engine
    if engine.dialect.name == "sqlite":
        return _dump_sqlite(_sqlite_path(engine), dest / SQLITE_DUMP)
    if engine.dialect.name == "postgresql":
        return _dump_postgresql(engine, dest / PG_DUMP)
    raise BackupError(f"cannot back up a {engine.dialect.name} database.")


def _sqlite_path(engine: Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("the SQLite database is not a file.")
    return Path(name)


def _dump_sqlite(source: Path, out: Path) -> _Dump:
    """Copy the database with SQLite's online backup API, in one step: a consistent
    snapshot, taken while the app goes on writing (WAL)."""
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist.")
    _sqlite_copy(source, out, "SQLite could not copy the database")
    reader = create_engine(f"sqlite:///{out}")
    try:
        with reader.connect() as conn:
            files, revision = library_files(conn), _revision(conn)
    finally:
        reader.dispose()
    # A file that stands alone, with no -wal beside it.
    with contextlib.closing(sqlite3.connect(out)) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")
    return _Dump("sqlite", out.name, None, revision, files)


def _dump_postgresql(engine: Engine, out: Path) -> _Dump:
    """pg_dump of the app's schema (and the extensions it uses), in a snapshot exported
    by the transaction that reads the list of files: both see the same rows."""
    libpq = _libpq(engine.url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        files, revision = library_files(conn), _revision(conn)
        _run(
            "pg_dump",
            "--format=custom",
            f"--snapshot={snapshot}",
            f"--schema={schema}",
            "--extension=*",
            "--no-owner",
            "--no-privileges",
            f"--file={out}",
            f"--dbname={libpq.uri}",
            env=libpq.env,
        )
        conn.rollback()
    return _Dump("postgresql", out.name, schema, revision, files)


def current_revision() -> str | None:
    """The migration revision the instance's database is at."""
    with db.engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    """The migration revision a database is at (None when it was made without migrations)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


# --- restoring --------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup in `src`, checked. Raises BackupError."""
    path = src / MANIFEST
    if not src.is_dir():
        raise BackupError(f"{src} is not a folder.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} has no {MANIFEST}: not a backup, or one that did not finish.") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{path} is unreadable or corrupt: {exc}.") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise BackupError(f"{path} is corrupt: {problem}.")
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if manifest.get("format") != FORMAT:
        return f"unknown format {manifest.get('format')!r}"
    if not (
        isinstance(manifest.get("created_at"), str)
        and isinstance(manifest.get("migration"), str | None)
        and all(isinstance(manifest.get(key, []), list) for key in ("missing", "damaged"))
    ):
        return "bad time, revision or list of missing files"
    database = manifest.get("database")
    if not (
        isinstance(database, dict)
        and database.get("engine") in ("sqlite", "postgresql")
        and database.get("file") in (SQLITE_DUMP, PG_DUMP)
        and _SHA256.match(str(database.get("sha256")))
    ):
        return "bad database entry"
    return _files_problem(manifest)


def _files_problem(manifest: dict[str, Any]) -> str | None:
    files = manifest.get("files")
    if not isinstance(files, list) or not isinstance(manifest.get("files_included"), bool):
        return "no list of files"
    for entry in files:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("size"), int)
            and _SHA256.match(str(entry.get("sha256")))
        ):
            return f"bad file entry {entry!r}"
    return None


def instance_counts() -> InstanceCounts | None:
    """What the instance's database holds; None when it has no tables yet."""
    if not inspect(db.engine).has_table(User.__tablename__):
        return None

    def count(model: type) -> int:
        return db.session.scalar(select(func.count()).select_from(model)) or 0

    counts = InstanceCounts(count(User), count(Track), count(Playlist), count(PlayEvent))
    db.session.rollback()
    return counts


def check_empty(store: Storage, manifest: dict[str, Any]) -> None:
    """Raises BackupError unless the instance has no accounts or tracks, nor stored files
    when the backup brings its files (a backup without them expects them there)."""
    counts = instance_counts()
    stored = next(iter(store.list_files()), None) if manifest["files_included"] else None
    if (counts and (counts.users or counts.tracks)) or stored is not None:
        held = f"{_plural(counts.users, 'account')}, {_plural(counts.tracks, 'track')}" if counts else "no tables"
        raise BackupError(
            f"this instance is not empty ({held}{', stored files' if stored else ''}): "
            "restore into an empty one, or give --force to replace its database."
        )


def restore_database(src: Path, manifest: dict[str, Any]) -> None:
    """Replace the instance's database with the backup's dump (checked against the
    manifest first). Raises BackupError."""
    database = manifest["database"]
    dump = src / database["file"]
    engine = db.engine
    if engine.dialect.name != database["engine"]:
        raise BackupError(
            f"this backup holds a {database['engine']} database; this instance uses {engine.dialect.name}."
        )
    try:
        if _sha256_of(dump) != database["sha256"]:
            raise BackupError(f"{dump} does not match the manifest's sha256: the backup is damaged.")
    except FileNotFoundError:
        raise BackupError(f"{dump} is missing from the backup.") from None
    db.session.remove()
    engine.dispose()
    try:
        if database["engine"] == "sqlite":
            _restore_sqlite(dump, _sqlite_path(engine))
        else:
            _restore_postgresql(dump, engine, database.get("schema"))
    except OSError as exc:
        raise BackupError(_os_reason(exc)) from None
    finally:
        engine.dispose()


def _restore_sqlite(dump: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_copy(dump, target, "SQLite could not restore the database")


def _sqlite_copy(source: Path, target: Path, failure: str) -> None:
    """Copy one SQLite database into another with SQLite's online backup API (one
    consistent snapshot of `source`, opened read-only); BackupError("failure: why")."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as read,
        contextlib.closing(sqlite3.connect(target)) as write,
    ):
        try:
            read.backup(write)
        except sqlite3.Error as exc:
            raise BackupError(f"{failure}: {exc}.") from None


def _restore_postgresql(dump: Path, engine: Engine, schema: str | None) -> None:
    """Replace the instance's tables with the dump's, all in one transaction: psql runs
    the DROPs of the instance's own tables (--force) and then the dump as pg_restore
    writes it out, and commits only when pg_restore read the whole dump. A damaged dump
    or a failing statement rolls everything back: the instance keeps its database."""
    with engine.connect() as conn:
        current = conn.execute(text("SELECT current_schema()")).scalar_one()
        if schema and current != schema:
            raise BackupError(
                f"this backup holds the schema {schema!r}; this instance uses {current!r} "
                "(restore into a database whose search_path starts with the backup's schema)."
            )
        tables = list(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars()
        )
    libpq = _libpq(engine.url)
    contents = _run("pg_restore", "--list", str(dump), env=libpq.env)
    # The schema itself exists already (the instance's), and an extension's comment
    # is its owner's to set: restore everything else.
    keep = [line for line in contents.splitlines() if not _OWN_ENTRY.match(line)]
    listing = dump.with_name(dump.name + ".list")
    try:
        # The backup folder may be read-only: the list goes beside it only when it can.
        listing.write_text("\n".join(keep) + "\n")
    except OSError:
        listing = Path(os.environ.get("TMPDIR", "/tmp")) / f"restore-{os.getpid()}.list"  # noqa: S108 - a private name
        listing.write_text("\n".join(keep) + "\n")
    # The instance's own tables go first (their sequences with them), in the same transaction.
    drops = "".join(f'DROP TABLE IF EXISTS "{current}"."{table}" CASCADE;\n' for table in tables)
    try:
        _pipe_restore(
            ["pg_restore", "--no-owner", "--no-privileges", f"--use-list={listing}", "--file=-", str(dump)],
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={libpq.uri}"],
            # Notices (each DROP's cascade) would come before the error in what psql says.
            f"SET client_min_messages = warning;\nBEGIN;\n{drops}".encode(),
            env=libpq.env,
        )
    finally:
        listing.unlink(missing_ok=True)


def _pipe_restore(writer: list[str], reader: list[str], preamble: bytes, *, env: dict[str, str]) -> None:
    """Feed `reader` (psql) the preamble (which opens a transaction), then what `writer`
    (pg_restore) prints, then COMMIT only when the writer finished well: otherwise psql
    reaches the end of its input inside the open transaction, which PostgreSQL rolls back
    when it disconnects. Raises BackupError with the failing program's own words."""
    paths = [shutil.which(argv[0]) for argv in (writer, reader)]
    for argv, path in zip((writer, reader), paths, strict=True):
        if path is None:
            raise BackupError(f"{argv[0]} is not installed (Debian: apt install postgresql-client).")
    with (
        tempfile.TemporaryFile() as writer_errors,
        tempfile.TemporaryFile() as reader_errors,
        subprocess.Popen(  # noqa: S603 - fixed programs and our own arguments
            [paths[1], *reader[1:]], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=reader_errors, env=env
        ) as psql,
        subprocess.Popen(  # noqa: S603
            [paths[0], *writer[1:]], stdout=subprocess.PIPE, stderr=writer_errors, env=env
        ) as restore,
    ):
        assert psql.stdin is not None and restore.stdout is not None
        try:
            psql.stdin.write(preamble)
            while chunk := restore.stdout.read(CHUNK):
                psql.stdin.write(chunk)
            if restore.wait() == 0:
                psql.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            pass  # psql stopped at an error: its own message says which
        finally:
            # Whatever happened: psql reaches the end of its input (and rolls back without
            # the COMMIT), and pg_restore stops writing to nobody.
            with contextlib.suppress(BrokenPipeError):
                psql.stdin.close()
            restore.stdout.close()
            restore.wait()
            psql.wait()
        # psql's error first: when it stops, pg_restore only sees its output refused.
        for program, process, errors in ((reader[0], psql, reader_errors), (writer[0], restore, writer_errors)):
            if process.returncode != 0:
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip()
                raise BackupError(f"{program} failed: {said or process.returncode}")


def restore_files(
    src: Path, manifest: dict[str, Any], store: Storage, *, progress: Callable[[str], None] | None = None
) -> RestoreReport:
    """Copy every file of the backup into `store`, each verified against the manifest (size
    and sha256, before it is stored and read back after); without files in the backup,
    check that `store` already holds each. Raises BackupError when the storage fails."""
    report = RestoreReport()
    saved = LocalStorage(src / FILES)
    for entry in manifest["files"]:
        name, sha256 = entry["name"], entry["sha256"]
        try:
            if manifest["files_included"]:
                copied = copy_verified(saved, store, name, sha256)
                size = copied.size
            else:
                size = store.stat(name).size
                if file_sha256(store, name) != sha256:
                    raise CopyFailed("target")
        except FileNotFoundError:
            report.failed.append((name, "not in the storage"))
        except CopyFailed as exc:
            if exc.kind == "error":
                raise BackupError(f"could not store {name}: {exc.reason}.") from None
            report.failed.append((name, _RESTORE_REASONS[exc.kind]))
        else:
            report.files += 1
            report.bytes += size
        if progress is not None:
            progress(name)
    return report


_RESTORE_REASONS = {
    "missing": "missing from the backup",
    "source": "the backup's copy does not match the manifest's sha256",
    "target": "the stored copy does not match the manifest's sha256",
}


# --- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Libpq:
    """How pg_dump and pg_restore reach the database: a connection URI without the
    password, which goes in PGPASSWORD (not on a command line other users can read)."""

    uri: str
    env: dict[str, str]


def _libpq(url: URL) -> _Libpq:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return _Libpq(url.set(drivername="postgresql", password=None).render_as_string(), env)


def _run(program: str, *args: str, env: dict[str, str]) -> str:
    path = shutil.which(program)
    if path is None:
        raise BackupError(f"{program} is not installed (Debian: apt install postgresql-client).")
    done = subprocess.run(  # noqa: S603 - a fixed program and our own arguments
        [path, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"{program} failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}."
