"""Receiving uploads: multipart file parts stream straight into the uploads folder; and the
web helpers every upload route shares (limits, who may upload, a ZIP archive's preview)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, Request, abort, current_app, g, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.services import storage
from app.services.errors import DomainError
from app.services.library import archives
from app.services.library.archives import is_archive_name
from app.services.library.quotas import MB, FileTooLarge
from app.services.storage import IncomingFile, StorageError, get_storage
from app.services.tags import ParserPool, pool_for
from app.unit_of_work import commit
from app.web.messages import message


def max_upload_bytes() -> int:
    """The per-file limit, MAX_UPLOAD_MB in bytes (1 MB = 1,000,000 bytes, as shown to users)."""
    return int(current_app.config["MAX_UPLOAD_MB"] * MB)


def max_archive_bytes() -> int:
    """The limit of one ZIP archive uploaded for import, ZIP_MAX_UPLOAD_MB in bytes."""
    return int(current_app.config["ZIP_MAX_UPLOAD_MB"] * MB)


def max_artwork_bytes() -> int:
    """The limit of one uploaded cover picture, ARTWORK_MAX_MB in bytes."""
    return int(current_app.config["ARTWORK_MAX_MB"] * MB)


def parser_pool() -> ParserPool:
    """This process's tag readers, with the configured limits."""
    return pool_for(current_app.config)


def uploader_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only accounts that may upload (not listeners): 403 for the others."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.can_upload:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@dataclass
class ArchiveResult:
    """A ZIP archive sent with an upload: its preview, or why it has none."""

    name: str
    import_id: int | None = None
    error: DomainError | None = None

    @property
    def url(self) -> str | None:
        return url_for("library.archive_import", import_id=self.import_id) if self.import_id else None

    def data(self) -> dict[str, Any]:
        if self.import_id is None or self.error is not None:
            error = self.error or DomainError()
            return {"name": self.name, "status": "rejected", "message": message(error), "code": error.code}
        return {"name": self.name, "status": "archive", "url": self.url, "message": _("review what it holds")}


def preview_archive(
    incoming: IncomingFile, filename: str, record: Callable[[ArchiveResult], None] | None = None
) -> ArchiveResult:
    """Stage a received ZIP archive and record its preview: one action, committed here
    (with what `record` adds, given the result). On failure nothing is committed."""
    store = get_storage()
    try:
        found = archives.preview(store, current_user, incoming, filename, archives.limits_for(current_app.config))
    except (archives.ArchiveError, FileTooLarge, StorageError) as exc:
        db.session.rollback()
        return ArchiveResult(filename, error=exc)
    result = ArchiveResult(filename, import_id=found.id)
    staged = archives.StagedArchive(store, found.archive_path or "")
    if record is not None:
        try:
            record(result)
        except BaseException:
            db.session.rollback()
            staged.abandon()
            raise
    commit(staged)
    return result


class UploadRequest(Request):
    """Werkzeug puts file parts over 500 KB in the system temp folder; ours go to
    the uploads folder's .incoming/ (same file system, so keeping one is a
    rename), hashed and size-checked as they arrive."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IncomingFile:
        # A ZIP archive is held to its own limit; what it holds, to MAX_UPLOAD_MB each; a
        # picture sent to an artwork address, to ARTWORK_MAX_MB (past it only counted, not written).
        if self.path.endswith("/artwork"):
            limit = max_artwork_bytes()
        elif filename and is_archive_name(filename):
            limit = max_archive_bytes()
        else:
            limit = max_upload_bytes()
        incoming = get_storage().incoming(max_bytes=limit)
        g.setdefault("incoming_files", []).append(incoming)
        return incoming


def init_uploads(app: Flask) -> None:
    storage.init_app(app)
    app.request_class = UploadRequest
    app.teardown_request(_discard_incoming)


def _discard_incoming(exc: BaseException | None) -> None:
    # Whatever was not kept (or the request died half way): no temporary file stays.
    for incoming in g.pop("incoming_files", []):
        incoming.discard()
