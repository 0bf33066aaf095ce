"""Uploads that can be resumed (the tus protocol): one row per file being received.

The bytes received so far live in the storage's .partial/ area; how many there
are is the file's size there (the storage's word, not a column that could
disagree with it). When the last byte arrives the file is added like any
upload and `result` keeps what became of it, for the client to ask.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class ResumableUpload(db.Model):
    __tablename__ = "resumable_uploads"
    __table_args__ = (Index("ix_resumable_uploads_owner_id", "owner_id"),)

    # A random token: the upload's URL, and its file's name in .partial/.
    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The name the client gave (a path inside a chosen folder keeps its folders, as hints).
    filename: Mapped[str] = mapped_column(String(1000))
    length: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Once complete: the upload's outcome as the upload API reports it.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
