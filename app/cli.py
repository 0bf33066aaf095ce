"""Shell commands: accounts, imports, the job worker and the library check."""

from __future__ import annotations

import contextlib
import logging
import time
import tomllib
from collections import Counter
from pathlib import Path

import click
from flask import Flask, current_app

from app.extensions import db
from app.jobs import consumer
from app.models import Role, Visibility
from app.services import accounts, backup
from app.services.audio_tools import ffmpeg_info
from app.services.errors import DomainError
from app.services.library import adding, analysis, catalogue, quotas
from app.services.library.adding import AddOutcome
from app.services.library.check import LibraryReport, check_library
from app.services.library.moving import move_library
from app.services.storage import get_storage, storage_from_url
from app.services.transcode import cache
from app.unit_of_work import commit
from app.web.messages import message
from app.web.uploads import max_upload_bytes, parser_pool
from config import BASE_DIR


class MigrationCommands(click.Group):
    """`flask db ...`: Flask-Migrate's commands, imported when a `db` command runs.

    Flask-Migrate brings Alembic and Mako, about 11 MB in every process that
    imports them, and only this command needs them: the web workers never do.
    """

    def _commands(self, ctx: click.Context) -> click.Group:
        from flask.cli import ScriptInfo  # noqa: PLC0415 - see the class docstring
        from flask_migrate.cli import db as commands  # noqa: PLC0415

        _init_migrations(ctx.ensure_object(ScriptInfo).load_app())
        return commands

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The real group's options (--directory, --x-arg) and its callback, which hands them to Alembic.
        real = self._commands(ctx)
        self.params, self.callback = real.params, real.callback
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._commands(ctx).list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._commands(ctx).get_command(ctx, cmd_name)


def _init_migrations(app: Flask) -> None:
    """Flask-Migrate on `app` (imported here only: see MigrationCommands)."""
    from flask_migrate import Migrate  # noqa: PLC0415

    if "migrate" not in app.extensions:
        Migrate(render_as_batch=True).init_app(app, db, directory=str(BASE_DIR / "migrations"))


def register_cli(app: Flask) -> None:
    app.cli.add_command(MigrationCommands("db", help="Database migrations (Flask-Migrate, Alembic)."))
    app.cli.add_command(create_admin)
    app.cli.add_command(set_role)
    app.cli.add_command(import_folder)
    app.cli.add_command(worker)
    app.cli.add_command(verify_library)
    app.cli.add_command(reprocess)
    app.cli.add_command(regroup_albums)
    app.cli.add_command(doctor)
    app.cli.add_command(storage_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


@click.command("create-admin")
@click.argument("username")
@click.password_option("--password", prompt="Password", help="Prompted (and not echoed) when left out.")
def create_admin(username: str, password: str) -> None:
    """Create an admin account named USERNAME."""
    try:
        user = accounts.create_user(username, password, role=Role.ADMIN, rounds=current_app.config["BCRYPT_ROUNDS"])
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(message(exc)) from exc
    commit()
    click.echo(f"Admin account {user.username} created.")


@click.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(username: str, role: str) -> None:
    """Give USERNAME the role ROLE (admin, user or listener)."""
    try:
        user = accounts.get_by_username(username)
        accounts.set_role(user, Role(role))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(message(exc)) from exc
    commit()
    click.echo(f"{user.username} is now {role}.")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--user", "username", required=True, help="The account the music is added to.")
@click.option("--public", is_flag=True, help="Make the imported tracks visible to every account.")
def import_folder(path: Path, username: str, public: bool) -> None:
    """Import the audio files under PATH (a folder or one file) into a user's library.

    Files are checked like uploads, against the account's storage quota; the
    upload limits of its role do not apply here. Running it again is safe: files
    already in the library are skipped.
    """
    try:
        user = accounts.get_by_username(username)
    except DomainError as exc:
        raise click.ClickException(message(exc)) from exc
    if not user.can_upload:
        raise click.ClickException(f"{user.username} is a listener and cannot own music; change the role first.")
    sources = [path] if path.is_file() else adding.source_files(path, adding.AUDIO_EXTENSIONS)
    if not sources:
        raise click.ClickException(f"No audio files found under {path}.")
    pool = parser_pool()
    pool.warm()
    store = get_storage()
    counts: Counter[str] = Counter()
    rejected: list[tuple[str, str]] = []
    started = time.perf_counter()
    batches = adding.import_files(
        store,
        pool,
        user,
        sources,
        max_bytes=max_upload_bytes(),
        visibility=Visibility.PUBLIC if public else Visibility.PRIVATE,
        root=None if path.is_file() else path,
        # The operator's own tool, often bringing a whole collection at once: the role's
        # upload limits are for what accounts upload themselves; the account's quota holds.
        limits=quotas.limits_for(user, role_limits_apply=False),
    )
    with click.progressbar(length=len(sources), label=f"Importing {len(sources)} files") as bar:
        for batch in batches:
            commit(batch)
            for result in batch.results:
                counts[result.outcome] += 1
                if result.error is not None:
                    rejected.append((result.name, message(result.error)))
            bar.update(len(batch.results))
    elapsed = time.perf_counter() - started
    click.echo(
        f"Added {counts[AddOutcome.ADDED]}, already there {counts[AddOutcome.DUPLICATE]}, "
        f"rejected {counts[AddOutcome.REJECTED]} "
        f"in {elapsed:.1f} s ({len(sources) / elapsed:.0f} files/s)."
    )
    for name, reason in rejected:
        click.echo(f"  rejected {name}: {reason}")


@click.command("worker")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Jobs run at once (threads); JOBS_WORKERS, 2 unless set.",
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    help="Also start the scheduled jobs (hourly cleanup, daily library check). "
    "With several workers on one queue, leave them on in one only.",
)
def worker(workers: int | None, periodic: bool) -> None:
    """Process background jobs (Huey's consumer) until stopped with SIGTERM or Ctrl-C."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    consumer.run_worker(
        current_app._get_current_object(), workers=workers or current_app.config["JOBS_WORKERS"], periodic=periodic
    )


@click.command("verify-library")
@click.option("--deep", is_flag=True, help="Also read every file and compare its sha256 (slow).")
@click.option("--fix", is_flag=True, help="Remove orphan files and stale temporary files (never rows).")
def verify_library(deep: bool, fix: bool) -> None:
    """Check that every track has its file, every file a track, and no upload left
    a temporary file; exit with status 1 when something is wrong (and not fixed)."""
    report = check_library(get_storage(), deep=deep, fix=fix)
    for line in report_lines(report):
        click.echo(line)
    if report.unresolved:
        raise SystemExit(1)


@click.group("storage")
def storage_group() -> None:
    """Where the files live."""


@storage_group.command("migrate")
@click.option("--to", "to_url", required=True, help="s3://bucket/prefix or a folder: where the files go.")
@click.option(
    "--from",
    "from_url",
    default=None,
    help="Where they are (default: STORAGE_FALLBACK_URL when set, else the configured storage).",
)
def migrate_storage(to_url: str, from_url: str | None) -> None:
    """Copy every track's file and cover to another storage under the same names,
    verifying each copy's sha256; files already there are skipped, so it can be run
    again after an interruption. Exits with status 1 when a file could not be moved.

    Without downtime: start the app servers with STORAGE_URL set to the new place and
    STORAGE_FALLBACK_URL to the old one (reads fall back there until a file has
    moved), run this, then drop STORAGE_FALLBACK_URL."""
    config = current_app.config
    source_url = from_url or config.get("STORAGE_FALLBACK_URL") or config.get("STORAGE_URL")
    try:
        source = storage_from_url(source_url, config)
        target = storage_from_url(to_url, config)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    started = time.monotonic()
    report = move_library(source, target)
    for rel, reason in report.failed:
        click.echo(f"not moved: {rel}: {reason}")
    elapsed = max(time.monotonic() - started, 1e-9)
    click.echo(
        f"{report.copied} files copied and verified ({report.bytes} bytes), {report.already} already there, "
        f"{len(report.failed)} failed, in {elapsed:.1f} s."
    )
    if not report.ok:
        raise SystemExit(1)


def report_lines(report: LibraryReport) -> list[str]:
    """The report as the shell shows it: one line per problem, then a summary."""
    removed = set(report.removed)

    def fixed(path: str) -> str:
        return " (removed)" if path in removed else ""

    lines = [
        f"Checked {report.tracks} tracks and {report.files} stored files" + (", with sha256." if report.deep else ".")
    ]
    lines += [f"missing {m.kind} file: track {m.track_id}: {m.path}" for m in report.missing]
    lines += [
        f"size mismatch: track {m.track_id}: {m.path}: recorded {m.recorded} bytes, found {m.found}"
        for m in report.size_mismatches
    ]
    lines += [f"sha256 mismatch: track {m.track_id}: {m.path}" for m in report.hash_mismatches]
    lines += [f"orphan file: {f.path} ({f.size} bytes){fixed(f.path)}" for f in report.orphans]
    lines += [f"stale temporary file: {f.path} ({f.size} bytes){fixed(f.path)}" for f in report.stale]
    if not report.problems:
        lines.append("Everything is in order.")
    else:
        summary = f"{_count(report.problems, 'problem')} found"
        if report.fix:
            summary += f", {len(report.removed)} removed"
        elif report.orphans or report.stale:
            summary += "; --fix removes the orphan and temporary files"
        lines.append(summary + ".")
    return lines


@click.command("reprocess")
@click.option("--all", "everyone", is_flag=True, help="Every account's tracks.")
@click.option("--user", "username", help="One account's tracks.")
def reprocess(everyone: bool, username: str | None) -> None:
    """Queue the loudness, ReplayGain, waveform and length analysis again for existing tracks
    (run by `flask worker`, like the analysis after an upload)."""
    if everyone == bool(username):
        raise click.UsageError("Give either --all or --user NAME.")
    owner_id = None
    if username:
        try:
            owner_id = accounts.get_by_username(username).id
        except DomainError as exc:
            raise click.ClickException(message(exc)) from exc
    count = analysis.reprocess(owner_id)
    commit()
    click.echo(f"Queued the analysis of {_count(count, 'track')}.")


@click.command("regroup-albums")
def regroup_albums() -> None:
    """File every track's album and artist again by today's rules (featured artists under the
    main artist, "Various Artists" compilations); albums and artists left empty go. Safe to
    run again."""
    moved = catalogue.regroup()
    commit()
    click.echo(f"Filed {_count(moved, 'track')} under another album or artist.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@click.command("doctor")
def doctor() -> None:
    """Say which ffmpeg transcoding runs and which encoders it has; exit with
    status 1 when it is missing or lacks one the presets need."""
    try:
        info = ffmpeg_info(current_app.config["FFMPEG"])
    except DomainError as error:
        click.echo(f"ffmpeg: {message(error)}")
        raise SystemExit(1) from None
    click.echo(f"ffmpeg: {info.path} (from {info.source})")
    click.echo(f"version: {info.version}")
    for name, present in info.encoders.items():
        click.echo(f"encoder {name}: {'yes' if present else 'MISSING'}")
    config = current_app.config
    click.echo(
        f"limits: {config['TRANSCODE_MAX_JOBS']} ffmpeg at once, {config['TRANSCODE_MAX_PER_USER']} per user; "
        f"cache {cache.cache_bytes(get_storage()) / 1e6:.1f} of {config['TRANSCODE_CACHE_MB']} MB"
    )
    if not (info.has("libmp3lame") and info.has("libopus")):
        raise SystemExit(1)


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--files/--no-files",
    default=True,
    help="Copy the stored files into the backup (default), or only list them with their "
    "sha256 (for a bucket that keeps its own versions).",
)
def backup_command(dest: Path, files: bool) -> None:
    """Back the instance up into DEST, a new or empty folder, while it serves: a
    consistent copy of the database (SQLite's online backup, or pg_dump), every stored
    file the copy names (verified), and manifest.json listing them with their sha256.
    Exits with status 1 when a file could not be backed up."""
    started = time.monotonic()
    try:
        report = backup.backup(dest, get_storage(), with_files=files, version=_app_version())
    except backup.BackupError as exc:
        raise click.ClickException(f"Backup failed: {exc}") from None
    for rel in report.missing:
        click.echo(f"missing: {rel}: not in the storage (its track deleted since the database was copied?)")
    for rel in report.damaged:
        click.echo(f"damaged: {rel}: the stored file does not match its sha256; not backed up")
    what = "copied and verified" if files else "listed"
    click.echo(
        f"Backed up the database ({report.database}) and {_count(report.files, 'file')} {what} "
        f"({report.bytes} bytes) into {dest} in {time.monotonic() - started:.1f} s."
    )
    if not report.complete:
        click.echo(
            f"The backup is incomplete: {len(report.missing) + len(report.damaged)} of the files "
            "the database names are not in it (listed above and in manifest.json)."
        )
        raise SystemExit(1)


@click.command("restore")
@click.argument("src", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the database of an instance that is not empty.")
def restore_command(src: Path, force: bool) -> None:
    """Rebuild this instance from the backup in SRC: its database, then every file,
    copied into the configured storage and verified against the manifest; the
    migrations then run forward. The instance must be empty (no accounts, tracks or
    stored files) unless --force. Exits with status 1 when a file failed its check."""
    store = get_storage()
    try:
        manifest = backup.read_manifest(src)
        _check_revision(manifest)
        if not force:
            backup.check_empty(store, manifest)
        backup.restore_database(src, manifest)
    except backup.BackupError as exc:
        raise click.ClickException(f"Restore failed: {exc}") from None
    click.echo(f"Restored the database of {manifest['created_at']} ({manifest['database']['file']}).")
    if manifest["migration"]:
        import flask_migrate  # noqa: PLC0415 - see MigrationCommands

        _init_migrations(current_app._get_current_object())
        flask_migrate.upgrade()
        now = backup.current_revision()
        if now != manifest["migration"]:
            click.echo(f"Migrated the database from revision {manifest['migration']} to {now}.")
    try:
        report = backup.restore_files(src, manifest, store)
    except backup.BackupError as exc:
        raise click.ClickException(f"Restore failed: {exc}") from None
    for name, reason in report.failed:
        click.echo(f"not restored: {name}: {reason}")
    counts = backup.instance_counts()
    if counts is not None:
        click.echo(
            f"The instance holds {_count(counts.users, 'account')}, {_count(counts.tracks, 'track')}, "
            f"{_count(counts.playlists, 'playlist')} and {_count(counts.listens, 'listen')}."
        )
    what = "restored and verified" if manifest["files_included"] else "found in the storage and verified"
    click.echo(f"{_count(report.files, 'file')} {what} ({report.bytes} bytes), {len(report.failed)} failed.")
    left_out = len(manifest.get("missing", [])) + len(manifest.get("damaged", []))
    if left_out:
        click.echo(f"The backup itself was incomplete: {_count(left_out, 'file')} the database names are not in it.")
    if report.failed:
        raise SystemExit(1)


def _check_revision(manifest: dict) -> None:
    """Raises BackupError when the backup's database comes from a version of the app
    newer than this one (a migration revision this checkout does not have)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see MigrationCommands
    from alembic.util import CommandError  # noqa: PLC0415

    revision = manifest["migration"]
    if revision is None:
        return
    try:
        ScriptDirectory(str(BASE_DIR / "migrations")).get_revision(revision)
    except CommandError:
        raise backup.BackupError(
            f"the backup's database is at migration {revision}, which this version of Music Cloud "
            f"does not have: restore it with the version that made it ({manifest.get('app_version') or 'unknown'}) "
            "or a newer one."
        ) from None


def _app_version() -> str:
    """The version pyproject.toml gives (the checkout the instance runs from)."""
    with contextlib.suppress(OSError, KeyError, tomllib.TOMLDecodeError):
        return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
    return ""
