"""Receiving uploads: multipart file parts stream straight into the uploads folder."""

from __future__ import annotations

from flask import Flask, Request, current_app, g

from app.services import storage
from app.services.library.archives import is_archive_name
from app.services.library.quotas import MB
from app.services.storage import IncomingFile, get_storage
from app.services.tags import ParserPool, pool_for


def max_upload_bytes() -> int:
    """The per-file limit, MAX_UPLOAD_MB in bytes (1 MB = 1,000,000 bytes, as shown to users)."""
    return int(current_app.config["MAX_UPLOAD_MB"] * MB)


def max_archive_bytes() -> int:
    """The limit of one ZIP archive uploaded for import, ZIP_MAX_UPLOAD_MB in bytes."""
    return int(current_app.config["ZIP_MAX_UPLOAD_MB"] * MB)


def parser_pool() -> ParserPool:
    """This process's tag readers, with the configured limits."""
    return pool_for(current_app.config)


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
        # A ZIP archive is held to its own limit; what it holds, to MAX_UPLOAD_MB each.
        limit = max_archive_bytes() if filename and is_archive_name(filename) else max_upload_bytes()
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
