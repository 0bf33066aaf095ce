"""The app's job queue: Huey configured from the app, with every run recorded.

Each app gets its own Huey (`init_app`), so tests and tools that build several
apps never share one. Every task of app/jobs/tasks.py is registered through
`_recorded`: a run pushes an app context, marks its jobs row running, calls the
task with its plain arguments, commits, and records the outcome: done (with the
task's result), queued again for a retry (Huey retries it after a delay that
doubles each attempt), or failed for good (the admin may retry it).

Jobs are sent to Huey from the session's after_commit hook, so a worker always
finds the rows a job is about, and a rolled-back action sends nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey
from huey.api import Task, TaskWrapper
from huey.signals import SIGNAL_INTERRUPTED
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy import event, update
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db
from app.jobs import tasks
from app.models import Job, JobState
from app.models.types import utcnow
from app.services import jobs
from app.unit_of_work import commit

log = logging.getLogger(__name__)

QUEUE_NAME = "musiccloud"
QUEUE_SCHEMES = ("sqlite:///", "redis://", "rediss://", "unix://")
# Each retry waits this many times longer than the one before.
RETRY_BACKOFF = 2.0


class JobQueue:
    """One app's Huey and its tasks, by job name.

    Huey is created on first use: an app that never queues a job (a migration,
    a shell command) does not open, or create, the queue's file.
    """

    def __init__(self, app: Flask, url: str) -> None:
        self.app = app
        self.url = url
        self.tasks: dict[str, TaskWrapper] = {}
        self._huey: Huey | None = None
        self._lock = threading.Lock()

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                self._huey = self._create()
            return self._huey

    def send(self, job_id: int, name: str, args: list[Any]) -> None:
        """Put a recorded job on the queue, with the configured retries."""
        self.huey.enqueue(self._task(job_id, name, args))

    def send_many(self, jobs: list[tuple[int, str, list[Any]]]) -> None:
        """Put several recorded jobs on the queue in one write, in order.

        An import queues an analysis (and often a cover) job per track: one by one,
        SQLite's queue commits (and syncs) its file for each, which cost more than
        the rest of the import. Other backends and immediate mode send one by one.
        """
        huey = self.huey
        tasks = [self._task(*job) for job in jobs]
        storage = huey.storage
        plain = all(task.priority is None and not task.expires for task in tasks)
        if huey.immediate or not plain or not isinstance(storage, SqliteStorage | RedisStorage) or len(tasks) < 2:
            for task in tasks:
                huey.enqueue(task)
            return
        messages = [huey.serialize_task(task) for task in tasks]
        if isinstance(storage, RedisStorage):
            # The consumer pops from the right: pushing left in order keeps the order.
            storage.conn.lpush(storage.queue_key, *messages)
            return
        # The row SqliteStorage.enqueue writes, for every task in one transaction.
        with storage.db(commit=True) as cursor:
            cursor.executemany(
                "insert into task (queue, data, priority) values (?, ?, ?)",
                [(storage.name, storage.to_blob(message), 0) for message in messages],
            )

    def _task(self, job_id: int, name: str, args: list[Any]) -> Task:
        cfg = self.app.config
        return self.tasks[name].s(
            job_id,
            *args,
            retries=cfg["JOBS_RETRIES"],
            retry_delay=cfg["JOBS_RETRY_DELAY"],
            retry_backoff=RETRY_BACKOFF,
        )

    def _create(self) -> Huey:
        app = self.app
        huey = make_huey(self.url, immediate=app.config["JOBS_IMMEDIATE"])
        for name, function in tasks.TASKS.items():
            self.tasks[name] = huey.task(name=name, context=True)(_recorded(app, name, function))
        for periodic in tasks.PERIODIC:
            function = tasks.TASKS[periodic.job]
            run = _recorded(app, periodic.job, function, default_args=periodic.args)
            huey.periodic_task(periodic.schedule, name=periodic.name, context=True)(run)
        huey.signal(SIGNAL_INTERRUPTED)(_interrupted(app))
        return huey


def init_app(app: Flask) -> None:
    """The app's queue, from its configuration (the tasks are registered when Huey is created)."""
    url = queue_url(app)
    if not url.startswith(QUEUE_SCHEMES):
        raise RuntimeError(f"HUEY_URL must be sqlite:///path or redis://...; got {url!r}")
    app.extensions["jobs"] = JobQueue(app, url)


def get_queue() -> JobQueue:
    return current_app.extensions["jobs"]


def queue_url(app: Flask) -> str:
    """HUEY_URL when set; else a SQLite file beside a SQLite database (two databases
    never share a queue), else instance/jobs.db."""
    if app.config.get("HUEY_URL"):
        return app.config["HUEY_URL"]
    database = app.config["SQLALCHEMY_DATABASE_URI"].split("?", 1)[0]
    if database.startswith("sqlite:///") and len(database) > len("sqlite:///"):
        path = Path(database.removeprefix("sqlite:///"))
        return f"sqlite:///{path.with_name(path.stem + '-jobs.db')}"
    return f"sqlite:///{Path(app.instance_path) / 'jobs.db'}"


def make_huey(url: str, *, immediate: bool = False) -> Huey:
    """Huey on `url`: sqlite:///path (created on first use) or redis://... Results are
    not kept in Huey: outcomes live in the jobs table."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(QUEUE_NAME, url=url, immediate=immediate, results=False)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not immediate:  # immediate mode keeps its queue in memory
            path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=str(path), immediate=immediate, results=False)
    raise ValueError(f"HUEY_URL must be sqlite:///path or redis://...; got {url!r}")


def worker_id() -> str:
    """This process, as a jobs row names who runs it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _recorded(
    app: Flask, name: str, function: Callable[..., Any], default_args: tuple[Any, ...] = ()
) -> Callable[..., None]:
    """A Huey task body that runs `function` in an app context and records the run."""

    def run(job_id: int | None = None, *args: Any, task: Task) -> None:
        args = args or default_args
        with app.app_context():
            job_id = jobs.start(job_id, name, list(args), worker_id()).id
            commit()
            try:
                result = function(*args)
                jobs.succeed(job_id, result)
                commit()
            except Exception as exc:
                db.session.rollback()
                # Huey retries while task.retries is left, after task.retry_delay.
                retry_in = float(task.retry_delay or 0) if task.retries else None
                jobs.fail(job_id, jobs.JobError.of(exc), retry_in=retry_in)
                commit()
                raise

    run.__name__ = run.__qualname__ = name
    run.__doc__ = function.__doc__
    return run


def _interrupted(app: Flask) -> Callable[[str, Task], None]:
    """A worker stopping mid-job (SIGINT twice, a shutdown timeout): record the job as
    failed, so the admin sees it and may retry it."""

    def receiver(signal: str, task: Task) -> None:
        job_id = task.args[0] if task.args else None
        if job_id is None:
            return
        with app.app_context():
            jobs.fail(job_id, jobs.JobError.of(jobs.JobInterrupted()), retry_in=None)
            commit()

    return receiver


# --- sending after commit ---------------------------------------------------------------


@event.listens_for(db.session, "after_commit")
def _send_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the transaction may still roll back
    committed = jobs.committed_jobs(session)
    if not committed:
        return
    queue = get_queue()
    if len(committed) > 1:
        try:
            queue.send_many([(job.id, job.name, list(job.args)) for job in committed])
        except Exception:  # noqa: BLE001 - sent one by one below, where a failure is recorded per job
            log.warning("could not queue %d jobs at once; sending them one by one", len(committed))
        else:
            return
    for job in committed:
        try:
            queue.send(job.id, job.name, list(job.args))
        except Exception as exc:  # the action is committed: mark the job failed instead
            log.exception("could not queue job %s (%s)", job.id, job.name)
            _mark_unsent(job.id, exc)


@event.listens_for(db.session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        jobs.forget_submitted(session)


def _mark_unsent(job_id: int, exc: Exception) -> None:
    # The session is finishing its commit and cannot be used: a connection of its own.
    error = jobs.JobError("QUEUE_UNAVAILABLE", {}, f"{type(exc).__name__}: {exc}"[: jobs.ERROR_TEXT_MAX])
    with db.engine.begin() as conn:
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.FAILED,
                error_code=error.code,
                error_params=error.params,
                error_text=error.text,
                finished_at=utcnow(),
            )
        )
