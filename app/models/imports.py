"""ZIP archives being imported: the preview the user confirms, then the job's progress.

The archive waits in the storage's staging area from upload to the end of its
import. Each entry of the archive is one item of `entries` (JSON): what the
preview found (its path, size, whether it will be added, is a duplicate or is
skipped and why) and, once the import has handled it, its outcome. The import
job commits outcomes with the tracks they created, so a job that stops part
way resumes at the first entry without an outcome.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class ImportState(enum.StrEnum):
    PREVIEW = "preview"  # uploaded and read; waiting for the user to confirm
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the archive could not be read at all
    CANCELLED = "cancelled"  # the user said no, or the preview expired


class ArchiveImport(db.Model):
    __tablename__ = "archive_imports"
    __table_args__ = (Index("ix_archive_imports_owner_id_id", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[ImportState] = mapped_column(
        Enum(ImportState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=ImportState.PREVIEW,
        index=True,
    )
    original_filename: Mapped[str] = mapped_column(String(300))
    # The archive in the storage's staging area; None once it is removed.
    archive_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    archive_size: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Progress, as the page shows it.
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Uncompressed bytes extracted so far (held to ZIP_MAX_UNCOMPRESSED_MB across restarts).
    extracted_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    current: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def active(self) -> bool:
        return self.state in (ImportState.QUEUED, ImportState.RUNNING)
