"""`flask backup DEST` and `flask restore SRC`: a consistent copy of the database and of
every stored file the copy names, with a manifest, restored into an empty instance
(another database, another uploads folder) and checked file by file.

The restored instance is another SQLite file, or for PostgreSQL another database
whose search_path starts with a schema of the backup's schema's name (a dump of a
schema restores into that schema)."""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import unquote

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import PlayEvent, Playlist, PlaylistEntry, Track, User
from app.services import listening, playlists
from app.services.storage import get_storage
from app.unit_of_work import commit
from tests.audio import synthesize
from tests.helpers import PASSWORD, add_track, drop_pg_schema, new_pg_schema
from tests.hostile import mp3_with_tags
from tests.servers import BIN, flask, log_in, request, server_env, upload

# --- instances ----------------------------------------------------------------------------


def _schema_of(url: str) -> str:
    options = unquote(make_url(url).query.get("options", ""))
    return options.removeprefix("-csearch_path=").split(",")[0]


@contextmanager
def new_database_like(like: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database on the engine of the URL `like`, for the block:
    a SQLite file in `folder`, or a PostgreSQL database holding an empty schema of the
    name `like`'s search_path starts with (dropped after)."""
    if like.startswith("sqlite"):
        yield f"sqlite:///{folder / f'restored-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"mc_restore_{uuid.uuid4().hex[:12]}"
    base = make_url(like)
    admin = create_engine(base.set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        target = base.set(database=name)
        fresh = create_engine(target)
        with fresh.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{_schema_of(like)}"'))
        fresh.dispose()
        yield target.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """`empty_database(like_url)`: a new_database_like() for the rest of the test."""
    with ExitStack() as made:
        yield lambda like: made.enter_context(new_database_like(like, tmp_path))


def cli(app: Flask, *args: str):
    """Run a flask command of `app` (in its context: the test's may be another app's)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def contents(app: Flask) -> dict:
    """What the instance holds: accounts, tracks, playlists, listens, and every stored
    file the tracks name with the sha256 of its bytes as the storage gives them."""
    with app.app_context():
        store = get_storage()
        tracks = db.session.execute(
            select(
                Track.id,
                Track.owner_id,
                Track.title,
                Track.storage_path,
                Track.sha256,
                Track.cover_path,
                Track.waveform_path,
            )
        ).all()
        files = {}
        for track in tracks:
            for rel in (track.storage_path, track.cover_path, track.waveform_path):
                if rel:
                    with store.open(rel) as fh:
                        files[rel] = hashlib.sha256(fh.read()).hexdigest()
        found = {
            "users": db.session.execute(select(User.id, User.username, User.role, User.password_hash)).all(),
            "tracks": sorted(tracks),
            "playlists": sorted(db.session.execute(select(Playlist.id, Playlist.owner_id, Playlist.name)).all()),
            "entries": sorted(
                db.session.execute(
                    select(PlaylistEntry.playlist_id, PlaylistEntry.track_id, PlaylistEntry.position)
                ).all()
            ),
            "listens": sorted(db.session.execute(select(PlayEvent.user_id, PlayEvent.track_id)).all()),
            "files": files,
        }
        db.session.remove()
    return found


@pytest.fixture
def library(app: Flask, make_user) -> list[Track]:
    """alice's three tracks (one with a cover), a playlist naming two of them (one twice),
    and two listens."""
    make_user("admin")
    alice = make_user("alice")
    tracks = [add_track(alice, "cover.mp3"), add_track(alice, "tagged.flac"), add_track(alice, "tagged.ogg")]
    playlist = playlists.create(alice.id, "Road trip")
    playlists.add_tracks(alice.id, playlist.id, [tracks[0].id, tracks[2].id, tracks[0].id])
    listening.record_play(alice.id, tracks[0].id)
    listening.record_play(alice.id, tracks[1].id)
    commit()
    return tracks


# --- backing up and restoring in one process ---------------------------------------------


def test_a_backup_restores_into_an_empty_instance(app, library, make_app, empty_database, database_url, tmp_path):
    before = contents(app)
    dest = tmp_path / "backup"
    done = cli(app, "backup", str(dest))
    assert done.exit_code == 0, done.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert all(track.waveform_path for track in library)  # audio, waveforms and the cover
    assert len(before["files"]) == 7
    size = sum(f["size"] for f in manifest["files"])
    assert f"and 7 files copied and verified ({size} bytes)" in done.output.replace("\n", " ")
    assert {f["name"] for f in manifest["files"]} == set(before["files"])
    assert all(f["sha256"] == before["files"][f["name"]] for f in manifest["files"])

    restored = make_app(SQLALCHEMY_DATABASE_URI=empty_database(database_url), UPLOAD_FOLDER=str(tmp_path / "new"))
    done = cli(restored, "restore", str(dest))
    assert done.exit_code == 0, done.output
    assert "The instance holds 2 accounts, 3 tracks, 1 playlist and 2 listens." in done.output
    assert "7 files restored and verified" in done.output
    assert contents(restored) == before
    for track in library:  # the very bytes, in the new uploads folder
        assert (tmp_path / "new" / track.storage_path).read_bytes() == (
            tmp_path / "uploads" / track.storage_path
        ).read_bytes()


def test_a_tampered_file_is_named_on_restore(app, library, make_app, empty_database, database_url, tmp_path):
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    damaged = dest / "files" / library[1].storage_path
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"!")
    restored = make_app(SQLALCHEMY_DATABASE_URI=empty_database(database_url), UPLOAD_FOLDER=str(tmp_path / "new"))
    done = cli(restored, "restore", str(dest))
    assert done.exit_code == 1
    assert (
        f"not restored: {library[1].storage_path}: the backup's copy does not match the manifest's sha256"
    ) in done.output
    assert "6 files restored and verified" in done.output and "1 failed" in done.output
    assert not (tmp_path / "new" / library[1].storage_path).exists()


def test_a_forced_restore_that_fails_keeps_the_instance_as_it_was(
    app, library, make_app, empty_database, database_url, tmp_path
):
    """--force replaces the database in one step: a dump that breaks off half-way through
    (its manifest agreeing) fails with the engine's reason, and the instance still holds
    its own accounts, tracks and listens."""
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    instance = make_app(SQLALCHEMY_DATABASE_URI=empty_database(database_url), UPLOAD_FOLDER=str(tmp_path / "new"))
    assert cli(instance, "restore", str(dest)).exit_code == 0
    with instance.app_context():
        listening.record_play(library[0].owner_id, library[2].id)  # one listen more than the backup
        commit()
    before = contents(instance)
    manifest = json.loads((dest / "manifest.json").read_text())
    dump = dest / manifest["database"]["file"]
    whole = dump.read_bytes()
    # PostgreSQL: the end of the last table's data goes (its list of contents stays readable,
    # so the restore gets under way); SQLite: a third of the pages.
    postgresql = database_url.startswith("postgresql")
    dump.write_bytes(whole[:-200] if postgresql else whole[: len(whole) * 2 // 3])
    if postgresql:
        assert subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, check=False).returncode == 0
    manifest["database"]["sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(manifest))

    done = cli(instance, "restore", str(dest), "--force")
    assert done.exit_code == 1, done.output
    reason = "end of file" if postgresql else "database disk image is malformed"
    assert "Restore failed:" in done.output and reason in done.output and "Traceback" not in done.output
    assert contents(instance) == before
    assert len(before["listens"]) == 3


def test_restore_refuses_an_instance_that_is_not_empty(app, library, tmp_path):
    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    done = cli(app, "restore", str(dest))
    assert done.exit_code == 1
    assert "Restore failed: this instance is not empty (2 accounts, 3 tracks, stored files)" in done.output
    assert "Traceback" not in done.output


def test_a_file_gone_before_it_was_copied_makes_an_incomplete_backup(app, library, tmp_path):
    get_storage().delete(library[2].storage_path)
    dest = tmp_path / "backup"
    done = cli(app, "backup", str(dest))
    assert done.exit_code == 1
    assert f"missing: {library[2].storage_path}: not in the storage" in done.output
    assert "The backup is incomplete: 1 of the files the database names are not in it" in done.output
    assert json.loads((dest / "manifest.json").read_text())["missing"] == [library[2].storage_path]


def test_clear_errors_for_a_bad_destination_or_backup(app, library, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    done = cli(app, "backup", str(used))
    assert done.exit_code == 1 and f"Backup failed: {used} is not empty" in done.output
    done = cli(app, "backup", str(used / "notes.txt" / "inside"))  # (as root, modes stop nothing)
    assert done.exit_code == 1
    assert f"Backup failed: cannot create {used}/notes.txt/inside: Not a directory." in done.output

    dest = tmp_path / "backup"
    assert cli(app, "backup", str(dest)).exit_code == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    newer = {**manifest, "migration": "0999", "app_version": "9.0"}
    (dest / "manifest.json").write_text(json.dumps(newer))
    done = cli(app, "restore", str(dest), "--force")
    assert done.exit_code == 1
    assert (
        "Restore failed: the backup's database is at migration 0999, which this version of Music Cloud "
        "does not have: restore it with the version that made it (9.0) or a newer one."
    ) in done.output.replace("\n", " ")
    tampered = {**manifest, "files": [{**manifest["files"][0], "sha256": "not a digest"}]}
    (dest / "manifest.json").write_text(json.dumps(tampered))
    done = cli(app, "restore", str(dest), "--force")
    assert done.exit_code == 1 and "manifest.json is corrupt: bad file entry" in done.output
    (dest / "manifest.json").write_text('{"format": 1, "files": [')
    done = cli(app, "restore", str(dest), "--force")
    assert done.exit_code == 1 and "manifest.json is unreadable or corrupt" in done.output
    (dest / "manifest.json").unlink()
    done = cli(app, "restore", str(dest), "--force")
    assert done.exit_code == 1 and "has no manifest.json: not a backup" in done.output


def test_a_failed_write_is_one_clear_line_and_leaves_no_manifest(app, library, database_url, tmp_path):
    """A disk that refuses a write (here a file-size limit of 1 MB on the backup's process,
    which fails writes as a full disk does) stops the backup with the file named."""
    big = tmp_path / "long.wav"
    synthesize("sine=frequency=440:duration=20", big)  # about 1.7 MB
    track = add_track(db.session.get(User, library[0].owner_id), "long.wav", content=big.read_bytes())

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    env = server_env(database_url, tmp_path / "uploads")
    done = subprocess.run(
        [str(BIN / "flask"), "backup", str(tmp_path / "backup")],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"Error: Backup failed: could not copy {track.storage_path}: File too large.\n"
    assert not (tmp_path / "backup" / "manifest.json").exists()


def test_a_backup_without_files_lists_them_and_restore_checks_the_storage_has_them(
    app, library, make_app, empty_database, database_url, tmp_path
):
    before = contents(app)
    dest = tmp_path / "backup"
    done = cli(app, "backup", str(dest), "--no-files")
    assert done.exit_code == 0, done.output
    assert "7 files listed" in done.output
    assert not (dest / "files").exists()
    manifest = json.loads((dest / "manifest.json").read_text())
    assert {(f["name"], f["sha256"]) for f in manifest["files"]} == set(before["files"].items())
    # The files stayed where they are (a bucket keeping its own versions): the new
    # database is restored beside them and every file is checked there.
    restored = make_app(SQLALCHEMY_DATABASE_URI=empty_database(database_url))
    done = cli(restored, "restore", str(dest))
    assert done.exit_code == 0, done.output
    assert "7 files found in the storage and verified" in done.output
    assert contents(restored) == before


def test_a_local_backup_restores_into_a_bucket_and_backs_up_from_it(
    app, library, make_app, empty_database, database_url, s3_settings, tmp_path
):
    before = contents(app)
    assert cli(app, "backup", str(tmp_path / "backup")).exit_code == 0
    restored = make_app(SQLALCHEMY_DATABASE_URI=empty_database(database_url), **s3_settings)
    done = cli(restored, "restore", str(tmp_path / "backup"))
    assert done.exit_code == 0, done.output
    assert "7 files restored and verified" in done.output
    assert contents(restored) == before  # read from the bucket
    done = cli(restored, "backup", str(tmp_path / "again"))
    assert done.exit_code == 0, done.output
    first, second = (json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("backup", "again"))
    assert second["files"] == first["files"]


# --- a running instance, under upload load --------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def live_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database for a live instance (migrated by the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    schema, url = new_pg_schema()
    yield url
    drop_pg_schema(schema)


@pytest.fixture
def empty_live_database(live_url: str, tmp_path: Path) -> Iterator[str]:
    with new_database_like(live_url, tmp_path) as url:
        yield url


class Uploader:
    """Uploads distinct MP3s to a live server, one after another (in a thread while
    `running`); `sent` maps each new track's id to the bytes uploaded."""

    def __init__(self, port: int, cookie: str, folder: Path) -> None:
        self.port, self.cookie, self.folder = port, cookie, folder
        self.sent: dict[int, bytes] = {}
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._count = 0

    def send(self) -> None:
        self._count += 1
        name = f"song-{self._count}.mp3"
        data = mp3_with_tags(self.folder / name, title=f"Song {self._count}", artist="Band", album="Live")
        result = upload(self.port, self.cookie, name, data)
        assert result["status"] == "added", result
        self.sent[result["track"]["id"]] = data

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while len(self.sent) < count and not self.errors and time.monotonic() < deadline:
            self._stop.wait(0.05)
        assert len(self.sent) >= count, self.errors

    @contextmanager
    def running(self) -> Iterator[Uploader]:
        thread = threading.Thread(target=self._loop)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)
        assert not self.errors, self.errors

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.send()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.errors.append(exc)


def test_a_running_instance_backed_up_under_uploads_restores_whole(
    start_gunicorn, live_url, empty_live_database, tmp_path
):
    uploads = tmp_path / "uploads"
    env = server_env(live_url, uploads)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "owner", stdin=f"{PASSWORD}\n" * 2)
    server = start_gunicorn(live_url, uploads)
    uploader = Uploader(server.port, log_in(server.port, "owner", PASSWORD), tmp_path)
    for _ in range(5):
        uploader.send()
    with uploader.running():
        uploader.wait_for(8)  # uploads are going on while the backup runs
        output = flask(env, "backup", str(tmp_path / "backup"))
        uploader.wait_for(len(uploader.sent) + 2)  # and after it
    sent = uploader.sent
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    # (No job worker runs: no covers or waveforms yet, each file is a track's audio.)
    backed_up = len(manifest["files"])
    assert 8 <= backed_up < len(sent), output
    assert manifest["migration"] and not manifest["missing"]

    new_uploads = tmp_path / "restored"
    output = flask(server_env(empty_live_database, new_uploads), "restore", str(tmp_path / "backup"))
    assert f"{backed_up} files restored and verified" in output
    assert f"The instance holds 1 account, {backed_up} tracks, 0 playlists and 0 listens." in output
    # The restored instance serves every track the backup holds, byte for byte: the
    # first ones uploaded, up to the moment the database was copied.
    restored = start_gunicorn(empty_live_database, new_uploads)
    cookie = log_in(restored.port, "owner", PASSWORD)
    served = {}
    for track_id in sorted(sent):
        status, _, body = request(restored.port, f"/stream/{track_id}", headers={"Cookie": cookie})
        assert status in (200, 404), status
        if status == 200:
            served[track_id] = body
    assert sorted(served) == sorted(sent)[:backed_up]
    assert all(sent[track_id] == body for track_id, body in served.items())
    # And it goes on from there: a new upload gets an id of its own.
    data = mp3_with_tags(tmp_path / "after.mp3", title="After", artist="Band", album="Live")
    assert upload(restored.port, cookie, "after.mp3", data)["status"] == "added"


def test_an_older_database_is_migrated_forward_on_restore(live_url, empty_live_database, tmp_path):
    env = server_env(live_url, tmp_path / "uploads")
    flask(env, "db", "upgrade", "0021")
    flask(env, "backup", str(tmp_path / "backup"))
    assert json.loads((tmp_path / "backup" / "manifest.json").read_text())["migration"] == "0021"
    new_env = server_env(empty_live_database, tmp_path / "restored")
    flask(new_env, "db", "upgrade")  # the new instance was started once: tables, but nobody yet
    output = flask(new_env, "restore", str(tmp_path / "backup"))
    head = ScriptDirectory(str(Path(__file__).resolve().parents[1] / "migrations")).get_current_head()
    assert f"Migrated the database from revision 0021 to {head}." in output
    assert "The instance holds 0 accounts, 0 tracks, 0 playlists and 0 listens." in output
    assert f"{head} (head)" in flask(new_env, "db", "current")
