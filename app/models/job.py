"""Background jobs as the admin sees them: what ran, what waits, what failed and why.

Huey (app/jobs/) keeps the queue itself; it knows pending tasks but neither
"running" nor a failure history one can query. This table records each job
the app submits (or Huey's scheduler starts) and is updated as it runs.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (also between a failed attempt and its retry)
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # every attempt failed; the admin may retry it


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        # The admin page lists each state newest first; the last report of a
        # kind of job is the newest finished one of that name.
        Index("ix_jobs_state_id", "state", "id"),
        Index("ix_jobs_name_state_id", "name", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # The task's plain arguments (ids, flags), as given to it.
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobState.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The last failure: a domain error's code and parameters, or the exception's text.
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the task returned (a library check's report), when it is worth keeping.
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    # "host:pid" of the process running it, so a worker that died can be told from a busy one.
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The next attempt's earliest start, while a failed attempt waits for its retry.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.name} {self.state}>"
