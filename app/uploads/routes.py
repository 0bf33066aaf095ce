"""Resumable uploads: the tus 1.0.0 protocol (core, creation, expiration, termination).

POST creates an upload (Upload-Length, Upload-Metadata with the file's name), HEAD
tells how many bytes the server holds, PATCH sends a piece at that offset, DELETE
drops it. When the last byte arrives the file is added like any upload; GET answers
JSON with the offset and, once finished, the result the upload page shows. The
session cookie and a CSRF token (X-CSRFToken header) authenticate, as for /api.
No tus server for Flask is maintained, so this is ours: a few headers over the storage's
.partial/ area (see app/services/library/resumable.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import ClientDisconnected

from app.models import ResumableUpload
from app.services.errors import DomainError
from app.services.library import adding, archives, resumable
from app.services.storage import CHUNK, StorageUnavailable, get_storage
from app.unit_of_work import commit, committing
from app.web.messages import message
from app.web.serializers import add_result_data
from app.web.uploads import max_archive_bytes, max_upload_bytes, parser_pool, preview_archive, uploader_required

bp = Blueprint("uploads", __name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"


@bp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> tuple[Response, int]:
    body: dict[str, object] = {"code": error.code, "message": message(error)}
    if "offset" in error.params:
        body["offset"] = error.params["offset"]
    return jsonify(body), error.status


@bp.before_request
def _tus_version() -> tuple[Response, int] | None:
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        response = jsonify({"code": "TUS_VERSION", "message": "Tus-Resumable: 1.0.0 is required"})
        response.headers["Tus-Version"] = TUS_VERSION
        return response, 412
    return None


def _limit(filename: str) -> int:
    return max_archive_bytes() if archives.is_archive_name(filename) else max_upload_bytes()


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated "key base64value" pairs."""
    found = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
    return found


def _expires(upload: ResumableUpload) -> str:
    return format_datetime(upload.expires_at, usegmt=True)


@bp.route("/", methods=["OPTIONS"])
@login_required
def options() -> tuple[str, int, dict[str, str]]:
    headers = {"Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size": str(max_archive_bytes())}
    return "", 204, headers


@bp.post("/")
@login_required
@uploader_required
def create() -> tuple[str, int, dict[str, str]]:
    length = request.headers.get("Upload-Length", "")
    if not length.isdigit() or len(length) > 15:
        raise resumable.BadUploadLength(length=length[:20])
    filename = _metadata(request.headers.get("Upload-Metadata", "")).get("filename", "") or "unnamed file"
    upload, undo = resumable.create(
        get_storage(),
        current_user,
        filename,
        int(length),
        max_bytes=_limit(filename),
        lifetime=timedelta(hours=current_app.config["UPLOAD_RESUME_HOURS"]),
    )
    commit(undo)
    location = url_for("uploads.upload", token=upload.id)
    return "", 201, {"Location": location, "Upload-Expires": _expires(upload), "Upload-Offset": "0"}


@bp.route("/<token>", methods=["HEAD", "GET"])
@login_required
def upload(token: str) -> Response:
    found = resumable.get_own(current_user.id, token)
    at = resumable.offset(get_storage(), found)
    if request.method == "GET" and found.result is None and at == found.length:
        # Every byte arrived but adding the file failed (the object store away): again now.
        if not current_user.can_upload:
            abort(403)
        _finish(found)
    response = jsonify({"offset": at, "length": found.length, "result": found.result})
    response.headers.update(
        {"Upload-Offset": str(at), "Upload-Length": str(found.length), "Upload-Expires": _expires(found)}
    )
    return response


def _body() -> Iterator[bytes]:
    """The request's body in chunks, ending early (not failing) when the client goes away."""
    stream = request.stream
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    except (ClientDisconnected, OSError):
        return


@bp.patch("/<token>")
@login_required
@uploader_required
def patch(token: str) -> tuple[str, int, dict[str, str]]:
    found = resumable.get_own(current_user.id, token)
    if request.mimetype != "application/offset+octet-stream":
        return "", 415, {}
    at = request.headers.get("Upload-Offset", "")
    if not at.isdigit() or len(at) > 15:
        raise resumable.BadUploadLength(offset=at[:20])
    store = get_storage()
    new_offset = resumable.append(store, found, int(at), _body())
    if new_offset == found.length:
        _finish(found)
    return "", 204, {"Upload-Offset": str(new_offset), "Upload-Expires": _expires(found)}


def _finish(found: ResumableUpload) -> None:
    """The last byte arrived: add the file like any upload (an archive gets its preview),
    recording the outcome in the same transaction. The object store away meanwhile is a
    503 that loses nothing: the bytes stay until the outcome is committed, and the
    client's next request for the result tries again."""
    if not resumable.lock_unfinished(found):
        return  # another request finished it meanwhile
    store = get_storage()
    name, path_hints = adding.split_relative_path(found.filename)
    incoming = resumable.take(store, found, _limit(name))
    if archives.is_archive_name(name):
        archive = preview_archive(incoming, name, record=lambda done: resumable.record_result(found, done.data()))
        if isinstance(archive.error, StorageUnavailable):
            raise archive.error
        if archive.error is not None and resumable.lock_unfinished(found):  # the preview rolled back
            resumable.record_result(found, archive.data())
            commit()
    else:
        batch = adding.AddBatch(store)
        with committing(batch):
            added = adding.add_file(
                store,
                parser_pool(),
                current_user,
                incoming,
                name,
                batch=batch,
                max_bytes=max_upload_bytes(),
                path_hints=path_hints,
            )
            if isinstance(added.error, StorageUnavailable):
                raise added.error
            if added.outcome is not adding.AddOutcome.ADDED and not resumable.lock_unfinished(found):
                return  # its rollback let go of the row, and another request finished it meanwhile
            resumable.record_result(found, add_result_data(added))
    with contextlib.suppress(OSError):  # the store away: the hourly clean-up removes them later
        store.partial_delete(found.id)


@bp.delete("/<token>")
@login_required
@uploader_required
def terminate(token: str) -> tuple[str, int]:
    found = resumable.get_own(current_user.id, token)
    gone = resumable.terminate(get_storage(), found)
    commit()
    with contextlib.suppress(OSError):  # the store away: the hourly clean-up removes it later
        get_storage().partial_delete(gone)
    return "", 204
