"""Resumable uploads (the tus 1.0 protocol's core, creation, expiration and termination).

A client creates an upload with the file's length, sends it in pieces, and after a
dropped connection asks how much arrived and goes on from there. The bytes wait in
the storage's .partial/ area and count against no quota until the last one arrives;
then the file is added like any upload (or, for a ZIP archive, previewed). An upload
not finished within UPLOAD_RESUME_HOURS is removed by the hourly clean-up.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import InvalidRequestError

from app.extensions import db
from app.models import ResumableUpload, User
from app.models.types import utcnow
from app.services.errors import DomainError, NotFound
from app.services.library import quotas
from app.services.library.archives import is_archive_name
from app.services.library.quotas import FileTooLarge
from app.services.storage import IncomingFile, Storage

# Unfinished uploads one account may have at once (each holds disk space until it expires).
MAX_PENDING = 200


class UploadNotFound(NotFound):
    code = "UPLOAD_NOT_FOUND"


class TooManyUploads(DomainError):
    code = "TOO_MANY_UPLOADS"
    status = 429


class BadUploadLength(DomainError):
    code = "UPLOAD_LENGTH_INVALID"
    status = 400


class NewUpload:
    """A created upload's empty file, removed again if the creation's commit fails."""

    def __init__(self, store: Storage, token: str) -> None:
        self.store = store
        self.token = token

    def prepare_commit(self) -> None:
        pass

    def abandon(self) -> None:
        self.store.partial_delete(self.token)


def create(
    store: Storage, owner: User, filename: str, length: int, *, max_bytes: int, lifetime: timedelta
) -> tuple[ResumableUpload, NewUpload]:
    """Start an upload of `length` bytes (flushed; commit with the NewUpload as the undo).

    The owner's limits are checked before a byte is sent: the declared length against the
    largest file and the storage left, and the month's uploads (for a ZIP archive only
    those: what it holds is checked in its preview).

    Raises BadUploadLength, FileTooLarge (past `max_bytes`), TooManyUploads, or what
    quotas.check() raises.
    """
    if length < 1:
        raise BadUploadLength(length=length)
    limits = quotas.limits_for(owner)
    usage = quotas.usage_of(owner) if limits.counts_usage else None
    quotas.check(limits, usage, size=None if is_archive_name(filename) else length)
    if length > max_bytes:
        raise FileTooLarge(size_bytes=length, limit_bytes=max_bytes)
    pending = db.session.scalar(
        select(func.count(ResumableUpload.id)).where(
            ResumableUpload.owner_id == owner.id,
            ResumableUpload.result.is_(None),
            ResumableUpload.expires_at > utcnow(),
        )
    )
    if pending >= MAX_PENDING:
        raise TooManyUploads(limit=MAX_PENDING)
    token = secrets.token_urlsafe(24)
    store.partial_create(token)
    upload = ResumableUpload(
        id=token, owner_id=owner.id, filename=filename[:1000], length=length, expires_at=utcnow() + lifetime
    )
    db.session.add(upload)
    db.session.flush()
    return upload, NewUpload(store, token)


def get_own(owner_id: int, token: str) -> ResumableUpload:
    """The owner's upload, unexpired. Raises UploadNotFound."""
    upload = db.session.get(ResumableUpload, token) if len(token) <= 43 else None
    if upload is None or upload.owner_id != owner_id or upload.expires_at <= utcnow():
        raise UploadNotFound()
    return upload


def offset(store: Storage, upload: ResumableUpload) -> int:
    """The bytes the server holds (all of them once the upload is complete)."""
    if upload.result is not None:
        return upload.length
    try:
        return store.partial_size(upload.id)
    except NotFound:
        # Removed by a request that has just added the file: wait for its commit
        # (PostgreSQL), and it is complete.
        if not lock_unfinished(upload):
            return upload.length
        raise UploadNotFound() from None


def append(store: Storage, upload: ResumableUpload, at: int, chunks: Iterator[bytes]) -> int:
    """Write a piece at offset `at`; return the new offset. What arrived before a dropped
    connection is kept. Raises UploadNotFound, PartialConflict."""
    if upload.result is not None:
        raise UploadNotFound()
    try:
        return store.partial_append(upload.id, at, chunks, limit=upload.length - at)
    except NotFound:
        raise UploadNotFound() from None


def take(store: Storage, upload: ResumableUpload, max_bytes: int) -> IncomingFile:
    """The complete upload as a received file, for add_file() or an archive's preview;
    its bytes in the store go once the outcome is committed (the caller's partial_delete).
    Raises UploadNotFound, or PartialConflict when fewer bytes are there after all (a
    piece saved late over another, on another server: the client sends from `offset`)."""
    try:
        return store.partial_take(upload.id, upload.length, max_bytes)
    except NotFound:
        raise UploadNotFound() from None


def lock_unfinished(upload: ResumableUpload) -> bool:
    """Lock the upload's row until the transaction ends (PostgreSQL: another server
    finishing it at the same time waits); whether it is still unfinished. Raises
    UploadNotFound when it was removed meanwhile."""
    try:
        db.session.refresh(upload, with_for_update=True)
    except InvalidRequestError as exc:
        if "Could not refresh instance" not in str(exc):
            raise
        raise UploadNotFound() from None  # the row is gone (terminated, expired)
    return upload.result is None


def record_result(upload: ResumableUpload, result: dict[str, Any]) -> None:
    """Keep what became of the finished file (the upload API's answer), for the client to ask."""
    upload.result = result
    db.session.flush()


def terminate(store: Storage, upload: ResumableUpload) -> str:
    """Drop an upload (flushed); returns its token, whose partial file the caller removes
    after committing."""
    db.session.delete(upload)
    db.session.flush()
    return upload.id


def expire(store: Storage, now: datetime | None = None) -> int:
    """Remove expired uploads and partial files without a row (a crash between creating the
    file and committing its row, after an hour); return how many files went. Commits."""
    now = now or utcnow()
    expired = list(db.session.scalars(select(ResumableUpload.id).where(ResumableUpload.expires_at <= now)))
    if expired:
        db.session.execute(delete(ResumableUpload).where(ResumableUpload.id.in_(expired)))
    db.session.commit()
    for token in expired:
        store.partial_delete(token)
    known = set(db.session.scalars(select(ResumableUpload.id)))
    loose_cutoff = time.time() - 3600
    loose = [f.rel for f in store.list_partials() if f.rel not in known and f.modified < loose_cutoff]
    for token in loose:
        with contextlib.suppress(OSError):
            store.partial_delete(token)
    return len(expired) + len(loose)
