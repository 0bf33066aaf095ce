"""Job records: background work as the admin sees it (the queue itself is Huey's, in app/jobs/).

A service that wants work done later calls `submit(name, *args)` with plain
values: the job's row is added to the caller's unit of work, and the job is
sent to the queue only when the caller commits (a worker must find the rows
the job is about), never when it rolls back. app/jobs/queue.py does the
sending and runs each job through `start`, `succeed` and `fail` here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Job, JobState
from app.models.types import utcnow
from app.services.errors import DomainError, NotFound

# The jobs there are. Tasks are registered under these names (app/jobs/tasks.py).
MAKE_COVER = "make_cover"
VERIFY_LIBRARY = "verify_library"
HOURLY_CLEANUP = "hourly_cleanup"
ANALYSE_TRACK = "analyse_track"
TRIM_VARIANTS = "trim_variants"
IMPORT_ARCHIVE = "import_archive"
UPDATE_RECOMMENDATIONS = "update_recommendations"
REBUILD_RECOMMENDATIONS = "rebuild_recommendations"
REBUILD_SEARCH_WORDS = "rebuild_search_words"
RECOUNT_ALBUM_PLAYS = "recount_album_plays"
REFRESH_MIXES = "refresh_mixes"
REFRESH_ALL_MIXES = "refresh_all_mixes"
PREENCODE = "preencode"
PREENCODE_ALL = "preencode_all"
REFRESH_DASHBOARD = "refresh_dashboard"

# Session.info key of the jobs to send when the session commits.
_TO_SEND = "jobs_to_send"
ERROR_TEXT_MAX = 2000


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"


class JobNotFailed(DomainError):
    """Only a failed job can be retried (a queued or running one is on its way)."""

    code = "JOB_NOT_FAILED"
    status = 409


class JobInterrupted(DomainError):
    """The worker stopped (or died) while the job ran."""

    code = "JOB_INTERRUPTED"


@dataclass(frozen=True)
class JobError:
    """A failure as the jobs table keeps it."""

    code: str | None
    params: dict[str, Any] | None
    text: str

    @classmethod
    def of(cls, exc: BaseException) -> JobError:
        if isinstance(exc, DomainError):
            return cls(exc.code, _plain(exc.params), str(exc)[:ERROR_TEXT_MAX])
        return cls(None, None, f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX])


def submit(name: str, *args: Any) -> Job:
    """Record a job and send it to the queue when the caller commits (flushed, not committed)."""
    job = Job(name=name, args=list(args), state=JobState.QUEUED, attempts=0)
    db.session.add(job)
    db.session.flush()
    db.session.info.setdefault(_TO_SEND, []).append(job)
    return job


def submit_many(name: str, args: list[tuple[Any, ...]]) -> list[Job]:
    """Record one job per argument tuple, flushed at once, sent when the caller commits
    (in one write to the queue: app/jobs/queue.py)."""
    recorded = [Job(name=name, args=list(one), state=JobState.QUEUED, attempts=0) for one in args]
    db.session.add_all(recorded)
    db.session.flush()
    db.session.info.setdefault(_TO_SEND, []).extend(recorded)
    return recorded


def retry(job_id: int) -> Job:
    """Queue a failed job again, with a fresh set of attempts, when the caller commits.

    Raises JobNotFound, or JobNotFailed when the job is not in the failed state.
    """
    job = db.session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id=job_id)
    if job.state is not JobState.FAILED:
        raise JobNotFailed(job_id=job_id, state=job.state.value)
    job.state = JobState.QUEUED
    job.finished_at = job.retry_at = None
    db.session.flush()
    db.session.info.setdefault(_TO_SEND, []).append(job)
    return job


def committed_jobs(session: Session) -> list[Job]:
    """The jobs a session's just-committed transaction submitted (taken: each is sent once).

    Jobs whose rows a savepoint rolled back are not among them.
    """
    jobs = session.info.pop(_TO_SEND, [])
    return [job for job in jobs if job in session and job.id is not None]


def forget_submitted(session: Session) -> None:
    """The transaction rolled back: none of its jobs are sent."""
    session.info.pop(_TO_SEND, None)


# --- running (called by the queue's task wrapper) ----------------------------------------


def start(job_id: int | None, name: str, args: list[Any], worker: str) -> Job:
    """Mark a job running (one more attempt). A job started by the scheduler, or whose row is
    gone, gets a new row."""
    job = db.session.get(Job, job_id) if job_id is not None else None
    if job is None:
        job = Job(name=name, args=list(args), attempts=0)
        db.session.add(job)
    job.state = JobState.RUNNING
    job.attempts += 1
    job.started_at = utcnow()
    job.finished_at = job.retry_at = None
    job.worker = worker
    db.session.flush()
    return job


def succeed(job_id: int, result: Any) -> None:
    job = db.session.get(Job, job_id)
    if job is None:
        return
    job.state = JobState.DONE
    job.result = _plain(result)
    job.error_code = job.error_params = job.error_text = None
    job.finished_at = utcnow()
    db.session.flush()


def fail(job_id: int, error: JobError, *, retry_in: float | None) -> None:
    """Record a failed attempt: queued again in `retry_in` seconds, or failed for good (None)."""
    job = db.session.get(Job, job_id)
    if job is None:
        return
    job.error_code, job.error_params, job.error_text = error.code, error.params, error.text
    if retry_in is None:
        job.state = JobState.FAILED
        job.finished_at = utcnow()
        job.retry_at = None
    else:
        job.state = JobState.QUEUED
        job.retry_at = utcnow() + timedelta(seconds=retry_in)
    db.session.flush()


def fail_lost(host: str, alive: Callable[[int], bool]) -> int:
    """Mark failed the jobs left "running" by processes of this host that no longer exist
    (a worker killed mid-job); return how many. The admin may retry them."""
    lost = 0
    running = db.session.scalars(select(Job).where(Job.state == JobState.RUNNING, Job.worker.startswith(host + ":")))
    for job in running:
        pid = (job.worker or "").rpartition(":")[2]
        if pid.isdigit() and not alive(int(pid)):
            fail(job.id, JobError.of(JobInterrupted()), retry_in=None)
            lost += 1
    return lost


# --- the admin's view --------------------------------------------------------------------


def jobs_in(state: JobState, limit: int = 100) -> list[Job]:
    """The newest `limit` jobs in a state."""
    return list(db.session.scalars(select(Job).where(Job.state == state).order_by(Job.id.desc()).limit(limit)))


def counts() -> dict[JobState, int]:
    rows = db.session.execute(select(Job.state, func.count()).group_by(Job.state))
    found = dict(rows.tuples().all())
    return {state: found.get(state, 0) for state in JobState}


def latest(name: str, *states: JobState) -> Job | None:
    """The newest job of that name (in one of `states`, when given)."""
    query = select(Job).where(Job.name == name)
    if states:
        query = query.where(Job.state.in_(states))
    return db.session.scalar(query.order_by(Job.id.desc()).limit(1))


def prune(older_than: timedelta) -> int:
    """Delete the records of jobs done before now - older_than, except the newest of each
    name (the last library check's report stays). Failed jobs stay until retried."""
    cutoff: datetime = utcnow() - older_than
    newest = select(func.max(Job.id)).where(Job.state == JobState.DONE).group_by(Job.name)
    result = db.session.execute(
        delete(Job).where(Job.state == JobState.DONE, Job.finished_at < cutoff, Job.id.not_in(newest))
    )
    return result.rowcount or 0


def _plain(value: Any) -> Any:
    """`value` as JSON can store it (sizes and dates as numbers and text)."""
    return json.loads(json.dumps(value, default=str))
