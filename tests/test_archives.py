"""ZIP uploads: the preview, the confirmed import as a job, hostile archives, resuming."""

from __future__ import annotations

import io
import re
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db as _db
from app.jobs.consumer import prepare, start_in_thread
from app.models import ArchiveImport, ImportState, Job, JobState, Track
from app.services.library import archives
from app.services.storage import get_storage
from app.services.tags import pool_for
from app.unit_of_work import commit
from tests import archives as zips
from tests.helpers import DATA, csrf_from, login

TAGGED = (DATA / "tagged.mp3").read_bytes()
FLAC = (DATA / "tagged.flac").read_bytes()


def send_zip(client, data: bytes, name: str = "music.zip", as_json: bool = False):
    token = csrf_from(client, "/library/upload")
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(data), name)]},
        content_type="multipart/form-data",
        headers=headers,
    )


def preview_of(client, data: bytes, name: str = "music.zip") -> tuple[int, str]:
    """Upload an archive; return its import id and the preview page's text."""
    response = send_zip(client, data, name)
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    location = response.headers["Location"]
    import_id = int(location.rstrip("/").rsplit("/", 1)[1])
    page = client.get(location)
    assert page.status_code == 200
    return import_id, page.get_data(as_text=True)


def offered(page: str) -> dict[str, str]:
    """The preview's checkboxes: entry path -> value."""
    pattern = r'name="entry" value="(\d+)" id="entry-\d+"[^>]*>\s*</td>\s*<td><label[^>]*><bdi>([^<]*)</bdi>'
    found = re.findall(pattern, page)
    return {path: value for value, path in found}


def confirm(client, import_id: int, values: list[str]):
    url = f"/library/imports/{import_id}"
    token = csrf_from(client, url)
    return client.post(url, data={"csrf_token": token, "entry": values})


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def track_count() -> int:
    return _db.session.scalar(select(func.count(Track.id)))


@pytest.fixture
def uploads(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


def test_preview_lists_what_it_will_add_skip_and_already_has_then_imports_the_ticked(alice, db, uploads, tmp_path):
    # One file already in the library: its copy in the archive is a duplicate.
    token = csrf_from(alice, "/library/upload")
    alice.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(FLAC), "x.flac")]},
        content_type="multipart/form-data",
    )
    before_files = files_under(uploads)
    data = zips.build(
        [
            ("Artist A/First Album/01 - Opening.mp3", zips.mp3_variant("Opening", artist="Band", album="Real Album")),
            ("Artist A/Folder Album/02 - No Tags Here.mp3", zips.mp3_variant("No Tags Here")),
            ("Artist A/Folder Album/03 - Unwanted.mp3", zips.mp3_variant("Unwanted")),
            ("Artist A/Folder Album/cover.jpg", b"\xff\xd8\xff not really"),
            ("again.flac", FLAC),
            ("notes.txt", b"hello"),
        ]
    )
    import_id, page = preview_of(alice, data)
    assert "3 audio files to add" in page
    assert "1 already in your library" in page
    assert "2 files skipped" in page
    assert "cover.jpg" in page and "notes.txt" in page and "not an audio file" in page
    choices = offered(page)
    assert set(choices) == {
        "Artist A/First Album/01 - Opening.mp3",
        "Artist A/Folder Album/02 - No Tags Here.mp3",
        "Artist A/Folder Album/03 - Unwanted.mp3",
    }
    # Nothing unpacked yet: only the archive itself waits in the staging area.
    staged = files_under(uploads) - before_files
    assert len(staged) == 1 and next(iter(staged)).startswith(".staging/")

    keep = [v for p, v in choices.items() if "Unwanted" not in p]
    response = confirm(alice, import_id, keep)
    assert response.status_code == 302
    progress = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Finished: 2 of 2 files handled." in progress
    assert "2 added" in progress

    titles = dict(db.session.execute(select(Track.title, Track.album)).tuples().all())
    assert titles["Opening"] == "Real Album"  # tags win over the folder
    assert titles["No Tags Here"] == "Folder Album"  # no album tag: the folder names it
    assert "Unwanted" not in titles
    # The archive is gone; only the two new tracks' files (each with its waveform) were added.
    added = files_under(uploads) - before_files
    audio = {f for f in added if not f.endswith(".waveform.json")}
    assert len(audio) == 2 and all(re.fullmatch(r"\d+/[\w-]+\.mp3", f) for f in audio)
    assert added - audio == {f.removesuffix(".mp3") + ".waveform.json" for f in audio}
    assert db.session.scalar(select(ArchiveImport.archive_path)) is None


def test_hostile_archive_skips_every_dangerous_entry_and_writes_nothing_outside(alice, db, uploads, tmp_path):
    good = zips.mp3_variant("Safe")
    data = zips.build(
        [
            ("../evil1.mp3", zips.mp3_variant("e1")),
            ("/abs/evil2.mp3", zips.mp3_variant("e2")),
            ("C:/evil3.mp3", zips.mp3_variant("e3")),
            ("dir\\..\\evil4.mp3", zips.mp3_variant("e4")),
            ("evil#.txt.mp3", zips.mp3_variant("e5")),  # becomes a NUL
            zips.symlink("link.mp3", "/etc/passwd"),
            ("same.mp3", good),
            ("same.mp3", zips.mp3_variant("Other")),
            ("inner.zip", zips.build([("x.mp3", TAGGED)])),
            ("secret.mp3", zips.mp3_variant("Secret")),
            (".hidden.mp3", zips.mp3_variant("Hidden")),
        ]
    )
    data = zips.encrypted(zips.with_nul(data, b"#"), "secret.mp3")
    outside_before = files_under(tmp_path)
    import_id, page = preview_of(alice, data)
    assert offered(page).keys() == {"same.mp3"}
    assert page.count("its name is unsafe") == 5
    assert "a symbolic link, not a file" in page
    assert "another entry has the same name" in page
    assert "an archive inside the archive" in page
    assert "encrypted" in page
    assert "a hidden or system file" in page
    # Even a forged form cannot pick a skipped entry.
    found = db.session.get(ArchiveImport, import_id)
    every = [str(e["i"]) for e in found.entries]
    confirm(alice, import_id, every)
    assert [t.title for t in db.session.scalars(select(Track))] == ["Safe"]
    new_files = files_under(tmp_path) - outside_before
    uploads_rel = uploads.relative_to(tmp_path).as_posix()
    assert all(f.startswith(uploads_rel + "/") for f in new_files), new_files
    assert [f for f in new_files if "/.incoming/" in f or "/.staging/" in f] == []
    assert not (tmp_path.parent / "evil1.mp3").exists() and not Path("/abs").exists()


@pytest.mark.parametrize("cut", [0.6, 0.1])
def test_truncated_archive_is_refused_and_leaves_nothing(alice, db, uploads, cut):
    data = zips.build([(f"{i}.mp3", zips.mp3_variant(f"T{i}")) for i in range(5)])
    before = files_under(uploads)
    response = send_zip(alice, data[: int(len(data) * cut)])
    assert response.status_code == 200
    assert "not a ZIP archive, or a damaged or incomplete one" in response.get_data(as_text=True)
    assert files_under(uploads) == before
    assert db.session.scalar(select(func.count(ArchiveImport.id))) == 0


def test_json_upload_of_an_archive_links_to_its_preview(alice, db):
    response = send_zip(alice, zips.build([("a.mp3", TAGGED)]), as_json=True)
    (result,) = response.get_json()["results"]
    assert result["status"] == "archive"
    assert result["url"].startswith("/library/imports/")
    bad = send_zip(alice, b"PK\x03\x04 junk", as_json=True).get_json()["results"][0]
    assert bad["status"] == "rejected" and bad["code"] == "ARCHIVE_UNREADABLE"


def test_bomb_declaring_its_size_is_refused_at_the_preview(make_app, tmp_path):
    app = make_app(ZIP_MAX_UNCOMPRESSED_MB=5)
    with app.app_context():
        client = app.test_client()
        _account(client)
        data = zips.build([("bomb.mp3", b"\0" * 10_000_000)])
        assert len(data) * 1000 > 10_000_000 * 0.9  # about 1,000 to 1
        response = send_zip(client, data)
        assert "the archive unpacks to 10 MB, the limit is 5 MB" in response.get_data(as_text=True)
        assert files_under(Path(app.config["UPLOAD_FOLDER"])) == set()


def test_bomb_lying_about_its_size_is_stopped_while_extracting(alice, db, uploads):
    data = zips.build([("bomb.mp3", b"\0" * 5_000_000), ("fine.mp3", TAGGED)])
    data = zips.lying_sizes(data, "bomb.mp3", 4000)
    import_id, page = preview_of(alice, data)
    choices = offered(page)
    assert set(choices) == {"bomb.mp3", "fine.mp3"}
    before = files_under(uploads)
    progress = alice.get(confirm(alice, import_id, list(choices.values())).headers["Location"]).get_data(as_text=True)
    assert "1 added" in progress and "1 not added" in progress
    assert "bomb.mp3" in progress
    added = files_under(uploads) - before
    # The fine file and its waveform; no part of the bomb stays.
    assert len(added) == 2 and {f.rsplit(".", 1)[-1] for f in added} == {"mp3", "json"}
    assert all((uploads / f).stat().st_size < 100_000 for f in files_under(uploads) if not f.startswith(".staging"))


def test_too_many_entries_are_refused(make_app):
    app = make_app(ZIP_MAX_ENTRIES=50)
    with app.app_context():
        client = app.test_client()
        _account(client)
        data = zips.build([(f"{i}.txt", b"x") for i in range(60)])
        text = send_zip(client, data).get_data(as_text=True)
        assert "the archive holds 60 entries, the limit is 50" in text


def test_damaged_entry_is_reported_and_the_others_added(alice, db, uploads):
    data = zips.build([("ok.mp3", zips.mp3_variant("Fine")), ("broken.flac", FLAC)], method=zipfile.ZIP_DEFLATED)
    data = zips.damage_entry(data, "broken.flac")
    import_id, page = preview_of(alice, data)
    progress = alice.get(confirm(alice, import_id, list(offered(page).values())).headers["Location"])
    text = progress.get_data(as_text=True)
    assert "1 added" in text and "broken.flac" in text and "damaged in the archive" in text
    assert [f for f in files_under(uploads) if f.startswith((".incoming", ".staging"))] == []


def test_another_account_cannot_see_or_confirm_an_import(alice, bob, db):
    import_id, _ = preview_of(alice, zips.build([("a.mp3", TAGGED)]))
    assert bob.get(f"/library/imports/{import_id}").status_code == 404
    token = csrf_from(bob, "/library/upload")
    assert bob.post(f"/library/imports/{import_id}", data={"csrf_token": token, "entry": ["0"]}).status_code == 404
    assert track_count() == 0


def test_cancel_removes_the_archive(alice, db, uploads):
    import_id, _ = preview_of(alice, zips.build([("a.mp3", TAGGED)]))
    url = f"/library/imports/{import_id}"
    response = alice.post(url, data={"csrf_token": csrf_from(alice, url), "cancel": "1"})
    assert response.status_code == 302
    assert db.session.get(ArchiveImport, import_id).state is ImportState.CANCELLED
    assert [f for f in files_under(uploads) if f.startswith(".staging")] == []


def test_an_unconfirmed_preview_expires(alice, db, uploads, app):
    from datetime import timedelta

    from app.jobs.tasks import hourly_cleanup
    from app.models.types import utcnow

    import_id, _ = preview_of(alice, zips.build([("a.mp3", TAGGED)]))
    db.session.get(ArchiveImport, import_id).created_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    assert hourly_cleanup()["archives_expired"] == 1
    assert db.session.get(ArchiveImport, import_id).state is ImportState.CANCELLED
    assert [f for f in files_under(uploads) if f.startswith(".staging")] == []


def test_a_thousand_entries(alice, db, uploads):
    entries = [(f"Band/Album {i // 100}/{i:04d} - Song {i}.mp3", zips.mp3_variant(f"Song {i}")) for i in range(200)]
    entries += [(f"Band/scans/{i}.txt", b"text") for i in range(800)]
    import_id, page = preview_of(alice, zips.build(entries))
    assert "200 audio files to add" in page and "800 files skipped" in page
    confirm(alice, import_id, list(offered(page).values()))
    assert track_count() == 200
    assert db.session.get(ArchiveImport, import_id).state is ImportState.DONE


# --- through a real queue: progress survives a stopped worker ------------------------------


@pytest.fixture
def queued_app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    app = make_app(JOBS_IMMEDIATE=False, HUEY_URL=f"sqlite:///{tmp_path / 'queue.db'}", JOBS_RETRY_DELAY=1)
    with app.app_context():
        yield app


def test_an_import_stopped_mid_way_resumes_where_it_stopped(queued_app):
    client = queued_app.test_client()
    _account(client)
    entries = [(f"Album/{i:02d}.mp3", zips.mp3_variant(f"Song {i}")) for i in range(12)]
    import_id, page = preview_of(client, zips.build(entries))
    confirm(client, import_id, list(offered(page).values()))
    found = _db.session.get(ArchiveImport, import_id)
    assert found.state is ImportState.QUEUED
    # A worker takes the job, handles five files and dies (its process is gone).
    job = _db.session.get(Job, found.job_id)
    job.state = JobState.RUNNING
    job.worker = f"{socket.gethostname()}:999999999"
    commit()
    archives.run_import(
        get_storage(), pool_for(queued_app.config), import_id, archives.limits_for(queued_app.config), stop_after=5
    )
    _db.session.expire_all()
    assert (found.state, found.done, found.added) == (ImportState.RUNNING, 5, 5)
    page = client.get(f"/library/imports/{import_id}").get_data(as_text=True)
    assert "Importing: 5 of 12 files done." in page and "data-refresh" in page
    # A new worker starts: the lost job is marked failed and the import sent again.
    prepare(queued_app)
    consumer = start_in_thread(queued_app)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _db.session.rollback()
            _db.session.expire_all()
            if _db.session.get(ArchiveImport, import_id).state is ImportState.DONE:
                break
            time.sleep(0.1)
    finally:
        consumer.stop(graceful=True)
    found = _db.session.get(ArchiveImport, import_id)
    assert (found.state, found.done, found.added, found.duplicates) == (ImportState.DONE, 12, 12, 0)
    assert sorted(t.title for t in _db.session.scalars(select(Track))) == sorted(f"Song {i}" for i in range(12))
    assert "Finished: 12 of 12 files handled." in client.get(f"/library/imports/{import_id}").get_data(as_text=True)


def _account(client) -> None:
    from app.services import accounts

    accounts.create_user("zoe", "correct horse battery", rounds=4)
    commit()
    login(client, "zoe")


def test_an_entry_named_like_audio_that_is_none_is_rejected_with_the_readers_reason(alice, db, uploads):
    # The entry is unpacked in one request to a tag reader and read in another: the reason reaches the user.
    data = zips.build([("ok.mp3", zips.mp3_variant("Fine")), ("fake.mp3", b"just some words, no audio " * 400)])
    import_id, page = preview_of(alice, data)
    progress = alice.get(confirm(alice, import_id, list(offered(page).values())).headers["Location"])
    text = progress.get_data(as_text=True)
    assert "1 added" in text and "fake.mp3" in text and "not an audio file" in text
    assert db.session.scalar(select(Track.title)) == "Fine"
    assert [f for f in files_under(uploads) if f.startswith((".incoming", ".staging"))] == []
