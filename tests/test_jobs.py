"""Background jobs: a real Huey queue (SQLite) with a real consumer, the jobs table,
cover thumbnails as a job, `flask worker`, and the admin's jobs page."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db as _db
from app.jobs.consumer import ThreadConsumer, prepare, start_in_thread
from app.models import Job, JobState, Role, Track
from app.models.types import utcnow
from app.services import accounts, jobs
from app.services.storage import get_storage
from app.unit_of_work import commit
from tests.helpers import DATA, PASSWORD, add_track, csrf_from, login, post_form
from tests.servers import BIN, ROOT, server_env

JOB_URLS = ["/admin/jobs"]
JOB_POST_URLS = ["/admin/jobs/{id}/retry", "/admin/jobs/verify-library"]


def wait_for(condition: Callable[[], object], seconds: float = 60, what: str = "the job") -> object:
    """Poll `condition` (each time on a fresh read of the database) until it is truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # See what the consumer committed (rollback alone expires nothing outside a transaction).
        _db.session.rollback()
        _db.session.expire_all()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    rows = _db.session.execute(select(Job.id, Job.name, Job.state, Job.attempts, Job.error_text)).all()
    pytest.fail(f"{what} did not happen within {seconds} s; jobs: {rows}")


def the_job(name: str) -> Job:
    return _db.session.scalars(select(Job).where(Job.name == name)).one()


def job_in(job_id: int, state: JobState) -> Job | None:
    job = _db.session.get(Job, job_id)
    return job if job is not None and job.state is state else None


# (These tests use _db directly: the `db` fixture would build the default app, whose jobs run at once.)
@pytest.fixture
def queued_app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """An app whose jobs go to a real Huey queue in a SQLite file (not run at once)."""
    app = make_app(JOBS_IMMEDIATE=False, HUEY_URL=f"sqlite:///{tmp_path / 'queue.db'}", JOBS_RETRY_DELAY=1)
    with app.app_context():
        yield app


@pytest.fixture
def consumer(queued_app: Flask) -> Iterator[Callable[[], ThreadConsumer]]:
    """Start Huey's consumer on the queued app's queue, in threads of this process."""
    started: list[ThreadConsumer] = []

    def start() -> ThreadConsumer:
        started.append(start_in_thread(queued_app))
        return started[-1]

    yield start
    for running in started:
        running.stop(graceful=True)


def new_account(username: str, role: Role = Role.USER):
    user = accounts.create_user(username, PASSWORD, role=role, rounds=4)
    commit()
    return user


# --- through a real queue ------------------------------------------------------------------


def crashed_upload():
    """A temporary upload file last touched two hours ago, as a crash leaves one."""
    leftover = get_storage().incoming(max_bytes=100)
    leftover.write(b"a crashed upload")
    leftover.finish()
    old = time.time() - 2 * 3600
    os.utime(leftover.path, (old, old))
    return leftover


def test_upload_with_art_gets_its_thumbnail_from_a_real_consumer(queued_app, consumer):
    new_account("alice")
    client = queued_app.test_client()
    login(client, "alice")
    token = csrf_from(client, "/library/upload")
    with (DATA / "cover.flac").open("rb") as fh:
        response = client.post(
            "/library/upload",
            data={"csrf_token": token, "files": [(fh, "cover.flac")]},
            content_type="multipart/form-data",
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 200 and response.get_json()["results"][0]["status"] == "added"
    track = _db.session.scalars(select(Track)).one()
    assert track.cover_pending and track.cover_path is None
    job = the_job(jobs.MAKE_COVER)
    assert (job.args, job.state, job.attempts) == ([track.id], JobState.QUEUED, 0)
    # Until the job runs: the placeholder, which the browser must not keep.
    placeholder = client.get(f"/stream/{track.id}/cover")
    assert placeholder.headers["Content-Type"].startswith("image/svg+xml")
    assert placeholder.headers["Cache-Control"] == "no-cache"

    consumer()
    done = wait_for(lambda: job_in(job.id, JobState.DONE))
    assert done.attempts == 1 and done.error_code is None and done.started_at <= done.finished_at
    _db.session.refresh(track)
    assert not track.cover_pending and track.cover_path == done.result
    art = client.get(f"/stream/{track.id}/cover?v={track.cover_path.rpartition('/')[2][:16]}")
    assert art.headers["Content-Type"] == "image/jpeg" and art.data[:3] == b"\xff\xd8\xff"
    assert "immutable" in art.headers["Cache-Control"]


def test_failed_attempt_is_retried_after_a_delay(queued_app, consumer):
    owner = new_account("alice")
    track = add_track(owner, "cover.flac")  # the cover job is queued, not run
    assert track.cover_pending
    stored = get_storage().local_path(track.storage_path)
    aside = stored.with_name("aside")
    stored.rename(aside)

    consumer()
    job = the_job(jobs.MAKE_COVER)
    failed_once = wait_for(lambda: (j := _db.session.get(Job, job.id)) and j.attempts == 1 and j.error_code and j)
    assert failed_once.state is JobState.QUEUED  # waiting for its retry, not failed for good
    assert failed_once.error_code == "TRACK_FILE_MISSING"
    assert failed_once.error_params == {"track_id": track.id, "path": track.storage_path}
    assert failed_once.retry_at is not None
    aside.rename(stored)  # the disk is back

    done = wait_for(lambda: job_in(job.id, JobState.DONE), what="the retry")
    assert done.attempts >= 2 and done.error_code is None
    _db.session.refresh(track)
    assert track.cover_path and get_storage().local_path(track.cover_path).exists()


def test_jobs_are_sent_on_commit_only(queued_app):
    huey = queued_app.extensions["jobs"].huey
    job = jobs.submit(jobs.MAKE_COVER, 1)
    assert job.id is not None and huey.pending_count() == 0  # not before the commit
    _db.session.rollback()
    assert huey.pending_count() == 0  # nor after a rollback
    jobs.submit(jobs.MAKE_COVER, 1)
    commit()
    assert huey.pending_count() == 1


def test_flask_worker_processes_jobs_and_cleans_up_at_start(queued_app, database_url, tmp_path):
    leftover = crashed_upload()
    job = jobs.submit(jobs.VERIFY_LIBRARY, False, False)
    commit()

    env = server_env(
        database_url,
        Path(queued_app.config["UPLOAD_FOLDER"]),
        HUEY_URL=queued_app.config["HUEY_URL"],
        JOBS_WORKERS="1",
    )
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [str(BIN / "flask"), "worker", "--no-periodic"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            done = wait_for(lambda: job_in(job.id, JobState.DONE), what=f"the worker's job ({log})")
            assert not leftover.path.exists()  # removed when the worker started
            assert done.worker.endswith(f":{worker.pid}")
            assert done.result["tracks"] == 0 and done.result["problems"] == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Huey consumer started" in log.read_text()


# --- run at once (JOBS_IMMEDIATE), for the tasks' own effects ---------------------------------


def test_cover_job_is_idempotent(app, user, db):
    track = add_track(user, "cover.flac")  # its job ran at once
    assert track.cover_path and not track.cover_pending
    covers = [f.rel for f in get_storage().list_files() if "/covers/" in f.rel]
    jobs.submit(jobs.MAKE_COVER, track.id)
    commit()
    db.session.refresh(track)
    assert [f.rel for f in get_storage().list_files() if "/covers/" in f.rel] == covers
    done_covers = select(func.count(Job.id)).where(Job.state == JobState.DONE, Job.name == jobs.MAKE_COVER)
    assert db.session.scalar(done_covers) == 2


def test_cover_job_for_a_deleted_track_does_nothing(app, user, db):
    track = add_track(user, "tagged.mp3")
    gone = track.id
    db.session.delete(track)
    commit()
    job = jobs.submit(jobs.MAKE_COVER, gone)
    commit()
    db.session.refresh(job)
    assert (job.state, job.result, job.error_code) == (JobState.DONE, None, None)


def test_track_without_art_gets_no_job(app, user, db):
    track = add_track(user, "tagged.ogg")
    assert not track.cover_pending and track.cover_path is None
    # (Its loudness and waveform job ran.)
    assert db.session.scalar(select(func.count(Job.id)).where(Job.name == jobs.MAKE_COVER)) == 0


def test_hourly_cleanup_removes_stale_temporaries_and_old_job_records(app, db):
    leftover = crashed_upload()
    long_ago = utcnow() - timedelta(days=8)
    for name, state in [
        (jobs.MAKE_COVER, JobState.DONE),
        (jobs.MAKE_COVER, JobState.DONE),  # the newest cover job: kept
        (jobs.VERIFY_LIBRARY, JobState.DONE),  # the last report: kept
        (jobs.MAKE_COVER, JobState.FAILED),  # failed: kept until retried
    ]:
        db.session.add(Job(name=name, args=[], state=state, attempts=1, created_at=long_ago, finished_at=long_ago))
    commit()
    oldest = db.session.scalars(select(Job).order_by(Job.id)).first()

    job = jobs.submit(jobs.HOURLY_CLEANUP)
    commit()
    db.session.refresh(job)
    assert job.state is JobState.DONE
    assert job.result == {"stale_removed": 1, "archives_expired": 0, "uploads_expired": 0, "jobs_pruned": 1}
    assert not leftover.path.exists()
    remaining = {(j.name, j.state) for j in db.session.scalars(select(Job))}
    assert oldest.id not in set(db.session.scalars(select(Job.id)))
    assert remaining == {
        (jobs.MAKE_COVER, JobState.DONE),
        (jobs.VERIFY_LIBRARY, JobState.DONE),
        (jobs.MAKE_COVER, JobState.FAILED),
        (jobs.HOURLY_CLEANUP, JobState.DONE),
    }


def test_a_starting_worker_fails_the_jobs_a_dead_worker_left_running(app, db):
    host = socket.gethostname()
    dead = Job(name=jobs.MAKE_COVER, args=[1], state=JobState.RUNNING, attempts=1, worker=f"{host}:{2**22 + 7}")
    alive = Job(name=jobs.MAKE_COVER, args=[2], state=JobState.RUNNING, attempts=1, worker=f"{host}:{os.getpid()}")
    elsewhere = Job(name=jobs.MAKE_COVER, args=[3], state=JobState.RUNNING, attempts=1, worker="other-host:1")
    db.session.add_all([dead, alive, elsewhere])
    commit()
    prepare(app)
    db.session.expire_all()
    assert (dead.state, dead.error_code) == (JobState.FAILED, "JOB_INTERRUPTED")
    assert alive.state is JobState.RUNNING and elsewhere.state is JobState.RUNNING


# --- the admin's page ------------------------------------------------------------------------


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    login(client, "admin")
    return client


def test_admin_sees_a_failed_job_with_its_error_and_retries_it(app, admin_client, user, db):
    app.config["JOBS_RETRIES"] = 0  # fail for good at the first error
    track = add_track(user, "cover.flac")
    stored = get_storage().local_path(track.storage_path)
    aside = stored.with_name("aside")
    stored.rename(aside)
    track.cover_pending, track.cover_path = True, None
    job = jobs.submit(jobs.MAKE_COVER, track.id)
    commit()
    db.session.refresh(job)
    assert job.state is JobState.FAILED

    page = admin_client.get("/admin/jobs").get_data(as_text=True)
    failed = page[page.index("<h2>Failed</h2>") :]
    assert "Cover thumbnail" in failed
    assert f"the track&#39;s file is missing from storage ({track.storage_path})" in failed
    assert f"/admin/jobs/{job.id}/retry" in failed

    aside.rename(stored)
    response = post_form(admin_client, "/admin/jobs", f"/admin/jobs/{job.id}/retry")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs"
    db.session.refresh(job)
    assert (job.state, job.attempts, job.error_code) == (JobState.DONE, 2, None)
    db.session.refresh(track)
    assert track.cover_path and not track.cover_pending
    page = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert "No job has failed." in page and "is queued again" in page

    # Only a failed job can be retried.
    response = post_form(admin_client, "/admin/jobs", f"/admin/jobs/{job.id}/retry")
    assert "Only a failed job can be retried; this one is done." in admin_client.get("/admin/jobs").get_data(
        as_text=True
    )
    assert post_form(admin_client, "/admin/jobs", "/admin/jobs/999999/retry").status_code == 404


def test_admin_runs_the_library_check_and_sees_its_report(app, admin_client, user, db):
    track = add_track(user, "tagged.mp3")
    get_storage().local_path(track.storage_path).unlink()
    assert "No check has finished yet." in admin_client.get("/admin/jobs").get_data(as_text=True)

    response = post_form(admin_client, "/admin/jobs", "/admin/jobs/verify-library", {"deep": "y"})
    assert response.status_code == 302
    job = the_job(jobs.VERIFY_LIBRARY)
    assert job.args == [True, False] and job.state is JobState.DONE
    page = admin_client.get("/admin/jobs").get_data(as_text=True)
    report = page[page.index("Last report") : page.index("<h2>Running</h2>")]
    # (The one stored file left is the track's waveform.)
    assert "<dt>Tracks</dt><dd>1</dd>" in report and "<dt>Stored files</dt><dd>1</dd>" in report
    assert "<dt>Contents compared (sha256)</dt><dd>yes</dd>" in report
    assert "<dt>Problems</dt><dd>1</dd>" in report
    assert "Missing audio file" in report and track.storage_path in report
    assert db.session.get(Track, track.id) is not None  # never rows


def test_users_and_anonymous_cannot_reach_the_jobs_pages(client, make_user, admin, db):
    job = jobs.submit(jobs.VERIFY_LIBRARY, False, False)
    commit()
    for url in JOB_URLS:
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login"), url
    for role in (Role.USER, Role.LISTENER):
        make_user(role.value, role=role)
        login(client, role.value)
        token = csrf_from(client, "/account")
        for url in JOB_URLS:
            assert client.get(url).status_code == 403, url
        for url in JOB_POST_URLS:
            response = client.post(url.format(id=job.id), data={"csrf_token": token, "fix": "y"})
            assert response.status_code == 403, url
        client.post("/auth/logout", data={"csrf_token": token})
    assert db.session.scalar(select(func.count(Job.id))) == 1  # nothing was started
