"""Running the jobs: Huey's own consumer, with the app created once per process.

`run_worker` is `flask worker`: production runs it as its own service, `make
run` starts it beside the development server. `start_in_thread` runs the same
consumer from a thread of the calling process (the tests that watch a job go
through a real queue).
"""

from __future__ import annotations

import logging
import os
import socket

from flask import Flask
from huey.consumer import Consumer

from app.jobs.queue import JobQueue
from app.services import jobs
from app.services.library import archives
from app.services.library.check import remove_stale_incoming
from app.services.storage import get_storage
from app.unit_of_work import commit

log = logging.getLogger(__name__)

# Seconds a stopping worker lets running jobs finish before it interrupts them.
SHUTDOWN_TIMEOUT = 60.0
# An idle worker looks for new jobs at least this often (SQLite is polled; Redis blocks).
MAX_POLL_DELAY = 2.0


class ThreadConsumer(Consumer):
    """Huey's consumer started from a thread other than the main one, which may not
    install signal handlers; stop it with stop(graceful=True)."""

    def _set_signal_handlers(self) -> None:
        pass


def prepare(app: Flask) -> None:
    """What a worker does before its first job: remove uploads' temporary files a crash
    left behind, and mark failed the jobs that workers of this host died running."""
    with app.app_context():
        removed = remove_stale_incoming(get_storage())
        lost = jobs.fail_lost(socket.gethostname(), _alive)
        commit()
        # An archive import whose job just failed that way goes on where it stopped.
        resumed = archives.resume_interrupted()
        commit()
    if removed:
        log.info("removed %d stale temporary upload files", len(removed))
    if lost:
        log.warning("%d jobs were left running by a worker that stopped; marked failed", lost)
    if resumed:
        log.info("%d archive imports resumed", resumed)


def run_worker(app: Flask, *, workers: int, periodic: bool = True) -> None:
    """Process jobs until SIGTERM or SIGINT (either lets running jobs finish, for up to
    SHUTDOWN_TIMEOUT seconds; a second one stops at once)."""
    queue: JobQueue = app.extensions["jobs"]
    if queue.huey.immediate:
        raise RuntimeError("JOBS_IMMEDIATE is set: jobs run where they are submitted, not in a worker.")
    prepare(app)
    consumer = queue.huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=periodic,
        max_delay=MAX_POLL_DELAY,
        graceful_signal="TERM",  # systemd stops services with SIGTERM
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    consumer.run()


def start_in_thread(app: Flask, *, workers: int = 1) -> ThreadConsumer:
    """A consumer working in threads of this process, without periodic tasks."""
    queue: JobQueue = app.extensions["jobs"]
    consumer = ThreadConsumer(
        queue.huey, workers=workers, worker_type="thread", periodic=False, initial_delay=0.05, max_delay=0.2
    )
    consumer.start()
    return consumer


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True
