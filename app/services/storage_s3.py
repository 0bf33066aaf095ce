"""Kept files in an S3-compatible object store (STORAGE_URL=s3://bucket/prefix).

The second implementation of app.services.storage.Storage, with the same names:
`<user id>/<random>.<ext>` and `<user id>/covers/<sha256>.jpg`, as keys under the
prefix. Uploads are received, hashed and checked by the tag reader in the local
UPLOAD_FOLDER/.incoming/ (a file is needed to read tags), then put to the bucket
by keep() (boto3's managed transfer: multipart past MULTIPART_THRESHOLD), before
the caller commits the rows: a failed put leaves no object (a partial multipart
upload is aborted by the transfer manager) and the caller's undo removes the
object of a failed commit. A crash between the put and the commit leaves an
object no row names, which the library check reports and removes (it lists
the bucket). An object store's put is durable when it returns, so
sync_user_folder() has nothing to do.

Errors: a key that does not exist is FileNotFoundError, as for a local file; a
store that cannot be reached or answers with a server error is
StorageUnavailable (503), never an unexpected exception.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import posixpath
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import Boto3Error, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from app.services.errors import NotFound
from app.services.storage import (
    CHUNK,
    INCOMING,
    PARTIAL,
    STAGING,
    WAVEFORM_SUFFIX,
    IncomingFile,
    LocalAreas,
    LocalStorage,
    PartialConflict,
    Storage,
    StorageError,
    StorageUnavailable,
    StoredFile,
    check_token,
    disk_failure,
    union,
)
from app.services.tags import FORMATS

MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
CONTENT_TYPES = {**dict(FORMATS.values()), "jpg": "image/jpeg"}
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _error_code(exc: Exception) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def _failure(exc: Exception, rel: str = "") -> OSError:
    """What a boto3 error means to the app: a missing object, or the store unavailable."""
    if _error_code(exc) in _MISSING:
        return FileNotFoundError(rel)
    return StorageUnavailable(reason=type(exc).__name__)


def _put_failure(exc: Exception) -> StorageError:
    """What a failed put means: the store refused it (a 4xx answer: STORE_FAILED), or
    could not be reached or failed itself (StorageUnavailable, a 503 a client retries)."""
    # boto3 raises S3UploadFailedError while handling the store's ClientError (not `from` it).
    cause = (exc.__cause__ or exc.__context__ or exc) if isinstance(exc, S3UploadFailedError) else exc
    if isinstance(cause, ClientError):
        status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if 400 <= status < 500 and status not in {408, 429}:
            return StorageError("STORE_FAILED", reason=_error_code(cause) or str(status))
    return StorageUnavailable(reason=type(cause).__name__)


def _client(config: Any, *, read_timeout: int, attempts: int) -> Any:
    """A boto3 S3 client for the configured store."""
    endpoint = config.get("S3_ENDPOINT_URL")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=config.get("S3_REGION") or "us-east-1",
        aws_access_key_id=config.get("S3_ACCESS_KEY_ID"),
        aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
        config=BotoConfig(
            signature_version="s3v4",
            # Self-hosted stores (SeaweedFS, MinIO, Garage) answer on one host name.
            s3={"addressing_style": "path" if endpoint else "auto"},
            connect_timeout=min(3, read_timeout),
            read_timeout=read_timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
        ),
    )


class S3Reader(io.RawIOBase):
    """A stored object as a seekable, readable file: each read after a seek streams
    from that offset with one ranged GetObject, so Werkzeug's range handling (which
    seeks to the first byte) fetches only the bytes it sends."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._size = size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._drop_body()
            self._pos = position
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        if self._body is None:
            try:
                answer = self._client.get_object(
                    Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{self._size - 1}"
                )
            except (BotoCoreError, ClientError) as exc:
                raise _failure(exc, self._key) from exc
            self._body = answer["Body"]
        try:
            data = self._body.read(len(buffer))
        except (BotoCoreError, OSError) as exc:
            self._drop_body()
            raise StorageUnavailable(reason=type(exc).__name__) from exc
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._drop_body()
        super().close()

    def _drop_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None


class S3Storage(LocalAreas, Storage):
    """Kept files as objects in a bucket, under a prefix, with the resumable uploads and
    the archives waiting for import; uploads received and checked locally first."""

    is_local = False

    def __init__(self, bucket: str, prefix: str, staging: str | Path, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # Uploads being received and checked: a local folder, as for LocalStorage.
        self.staging = LocalStorage(staging)
        # The transcode cache too (resumable uploads and archives: in the bucket, below).
        self.local_areas = self.staging
        self.client = client
        # /readyz asks with short timeouts and no retry, so a load balancer hears "no" quickly.
        self.probe_client = client
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, max_concurrency=4
        )

    @classmethod
    def from_config(cls, url: str, config: Any) -> S3Storage:
        """s3://bucket/prefix with S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID and
        S3_SECRET_ACCESS_KEY from the configuration (unset: boto3's environment)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"STORAGE_URL: not s3://bucket/prefix: {url!r}")
        store = cls(parts.netloc, parts.path, config["UPLOAD_FOLDER"], _client(config, read_timeout=30, attempts=2))
        store.probe_client = _client(config, read_timeout=2, attempts=1)
        return store

    def check(self) -> None:
        """The bucket answers (HEAD, within a few seconds, no retry) and the local staging folder is writable."""
        try:
            self.probe_client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(reason=type(exc).__name__) from exc
        self.staging.check()

    # --- names ------------------------------------------------------------------------
    def key(self, rel: str) -> str:
        """The object key of a stored name. Raises NotFound for a name the storage
        would never give (outside a user's folder, dot parts, NUL)."""
        if not rel or "\0" in rel or rel.startswith("/") or posixpath.normpath(rel) != rel:
            raise NotFound("FILE_NOT_FOUND")
        if not rel.split("/", 1)[0].isdigit() or "/" not in rel:
            raise NotFound("FILE_NOT_FOUND")
        return self.prefix + rel

    # --- receiving ------------------------------------------------------------------
    def incoming(self, max_bytes: int) -> IncomingFile:
        return self.staging.incoming(max_bytes)

    def copy_in(self, source: Path, max_bytes: int) -> IncomingFile:
        return self.staging.copy_in(source, max_bytes)

    def keep(self, incoming: IncomingFile, user_id: int, ext: str, *, sync: bool = True) -> str:
        """Put a received file to the bucket under a new random name; return the name.
        The local temporary file is gone afterwards, whatever happens."""
        if not ext.isalnum() or len(ext) > 5:
            incoming.discard()
            raise StorageError(reason=f"bad extension {ext!r}")
        incoming.finish()
        rel = f"{int(user_id)}/{secrets.token_urlsafe(12)}.{ext}"
        try:
            self._put(incoming.path, self.key(rel), ext)
        except StorageError:
            self.delete_many([rel])  # a put that failed late may have landed
            raise
        finally:
            incoming.discard()
        return rel

    def store_as(self, rel: str, incoming: IncomingFile) -> None:
        key = self.key(rel)
        incoming.finish()
        try:
            if incoming.error is not None:
                raise incoming.error
            self._put(incoming.path, key, rel.rpartition(".")[2])
        finally:
            incoming.discard()

    def _put(self, path: Path, key: str, ext: str) -> None:
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": CONTENT_TYPES.get(ext, "application/octet-stream")},
                Config=self.transfer,
            )
        except (BotoCoreError, ClientError, Boto3Error) as exc:
            raise _put_failure(exc) from exc
        except OSError as exc:  # the local file
            raise disk_failure(exc) from exc

    def sync_user_folder(self, user_id: int) -> None:
        """Nothing to do: a put is durable when it returns."""

    def save_cover(self, user_id: int, digest: str, data: bytes) -> str:
        if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise StorageError(reason="bad cover digest")
        rel = f"{int(user_id)}/covers/{digest}.jpg"
        # Put even when stored already: an object's time changes only by a new put, and a
        # picture saved again must look recent (see Storage.save_cover); a thumbnail is small.
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, ContentType="image/jpeg")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError("STORE_FAILED", reason=type(exc).__name__) from exc
        return rel

    def save_waveform(self, audio_rel: str, data: bytes) -> str:
        """Put the waveform as <audio name without extension>.waveform.json beside it."""
        stem, dot, _ext = audio_rel.rpartition(".")
        if not dot or "/" not in stem or "/covers/" in audio_rel:
            raise StorageError(reason="not an audio file's name")
        rel = stem + WAVEFORM_SUFFIX
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, ContentType="application/json")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError("STORE_FAILED", reason=type(exc).__name__) from exc
        return rel

    # --- reading ----------------------------------------------------------------------
    def stat(self, rel: str) -> StoredFile:
        key = self.key(rel)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _failure(exc, rel) from exc
        return StoredFile(rel, int(head["ContentLength"]), head["LastModified"].timestamp())

    def size(self, rel: str) -> int:
        return self.stat(rel).size

    def open(self, rel: str) -> BinaryIO:
        found = self.stat(rel)
        return io.BufferedReader(S3Reader(self.client, self.bucket, self.key(rel), found.size), CHUNK)  # type: ignore[return-value]

    def local_path(self, rel: str) -> Path:
        """Objects have no path on this machine."""
        raise NotFound("FILE_NOT_FOUND")

    @contextlib.contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """Download the object to a temporary file in the staging folder, for the `with` block."""
        with self._download(self.key(rel), rel) as path:
            yield path

    def presigned_url(self, rel: str, seconds: int, *, head: bool = False) -> str:
        """A GetObject URL signed for `seconds` (SigV4 allows up to 7 days); with
        `head`, a HeadObject one (the method is part of the signature)."""
        return self.client.generate_presigned_url(
            "head_object" if head else "get_object",
            Params={"Bucket": self.bucket, "Key": self.key(rel)},
            ExpiresIn=min(seconds, 7 * 24 * 3600),
        )

    # --- ZIP archives waiting for their import (shared: any worker may import) ----------
    def stage(self, incoming: IncomingFile, ext: str) -> str:
        """Put the archive to the bucket, for a worker on any server, and keep it in the
        local staging folder until its preview here has read it (staged_copy). A failed
        put leaves neither."""
        rel = self.staging.stage(incoming, ext)
        try:
            self._put(self.staging.staged_path(rel), self._staged_key(rel), ext)
        except StorageError:
            self.delete(rel)
            raise
        return rel

    def _staged_key(self, rel: str) -> str:
        self.staging.staged_path(rel)  # NotFound for a name stage() would not give
        return self.prefix + rel

    @contextlib.contextmanager
    def staged_copy(self, rel: str) -> Iterator[Path]:
        """The copy this server kept when it received the archive, or one fetched from
        the bucket; removed after the block either way (the bucket keeps the archive).
        Raises FileNotFoundError (no such archive), StorageUnavailable (the store away),
        StorageError (this disk could not take the copy)."""
        key = self._staged_key(rel)
        kept = self.staging.staged_path(rel)
        if kept.exists():
            try:
                yield kept
            finally:
                if self._has(key):  # else the only copy (staged before the bucket kept them)
                    kept.unlink(missing_ok=True)
            return
        with self._download(key, rel) as path:
            yield path

    def _has(self, key: str) -> bool:
        """Whether the bucket surely holds the key (False when it cannot say: a local copy
        is then kept, for the clean-up to remove once no import names it)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError):
            return False
        return True

    @contextlib.contextmanager
    def _download(self, key: str, rel: str) -> Iterator[Path]:
        """An object in a temporary file of .incoming/ for the block: one file, held with a
        shared lock meanwhile, so that the stale-upload clean-up leaves it alone however
        long the block lasts (a long import) and removes what a crash left."""
        path: Path | None = None
        fd = -1
        try:
            try:
                folder = self.staging.root / INCOMING
                folder.mkdir(parents=True, exist_ok=True)
                made, name = tempfile.mkstemp(prefix="copy-", suffix="-" + posixpath.basename(rel), dir=folder)
                os.close(made)
                path = Path(name)
                self.client.download_file(self.bucket, key, name, Config=self.transfer)
                # boto3 downloads beside the name and renames onto it: the file to lock is this one.
                fd = os.open(name, os.O_RDONLY)
                fcntl.flock(fd, fcntl.LOCK_SH)
            except (BotoCoreError, ClientError, Boto3Error) as exc:
                raise _failure(exc, rel) from exc
            except OSError as exc:  # this disk (full, failing)
                raise disk_failure(exc) from exc
            yield path
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
            if fd >= 0:
                os.close(fd)

    def list_staged(self) -> Iterator[StoredFile]:
        """The bucket's, and any this server's folder holds (a preview a crash cut short)."""
        yield from union(self._list(f"{STAGING}/"), self.staging.list_staged())

    # --- resumable uploads (shared: each piece may reach another server) ---------------
    # An upload is objects under .partial/<token>/: an empty one made at its creation,
    # and one per piece received, named by the offset it starts at (15 digits). Each
    # holds the file's bytes from its offset on, so the pieces that follow on from one
    # another from 0 are the bytes received, whichever server wrote them, even when two
    # requests wrote at the same offset (a client that retried while its first request
    # was still being saved): the later one replaces the earlier, or is skipped past.

    def _partial_folder(self, token: str) -> str:
        return f"{PARTIAL}/{check_token(token)}/"

    def _piece_key(self, token: str, offset: int) -> str:
        return f"{self.prefix}{self._partial_folder(token)}{offset:015d}"

    def _pieces(self, token: str) -> tuple[int, list[tuple[str, int, int]]]:
        """The bytes received and the pieces that hold them in order: (key, its first
        byte not in the pieces before it, its length). Raises NotFound."""
        folder = self._partial_folder(token)
        found = sorted(
            (int(name), piece.size, self.prefix + piece.rel)
            for piece in self._list(folder)
            if (name := piece.rel[len(folder) :]).isdigit()
        )
        if not found:
            raise NotFound("UPLOAD_NOT_FOUND")
        size, used = 0, []
        for start, length, key in found:
            if start <= size < start + length:
                used.append((key, size - start, length))
                size = start + length
        return size, used

    def partial_create(self, token: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._piece_key(token, 0), Body=b"")
        except (BotoCoreError, ClientError) as exc:
            raise _failure(exc) from exc

    def partial_size(self, token: str) -> int:
        return self._pieces(token)[0]

    def partial_append(self, token: str, offset: int, chunks: Iterator[bytes], limit: int) -> int:
        """Receive the piece into a local file, then put it whole (what arrived before a
        dropped connection too: the chunks then just stop)."""
        size, _ = self._pieces(token)
        if size != offset:
            raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=size)
        folder = self.staging.root / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="piece-", dir=folder)
        written = 0
        try:
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in chunks:
                        piece = chunk[: limit - written]
                        fh.write(piece)
                        written += len(piece)
                        if written >= limit:
                            break
            except OSError as exc:  # this disk (full, failing): nothing of the piece is kept
                raise disk_failure(exc) from exc
            if written:
                self._put(Path(tmp), self._piece_key(token, offset), "")
        finally:
            Path(tmp).unlink()
        return offset + written

    def partial_take(self, token: str, length: int, max_bytes: int) -> IncomingFile:
        """The pieces, one after the other, in a received file here (they stay until
        partial_delete(), once the file is kept). Each is read only as far as the listing
        said, and the whole must be `length` bytes: a piece saved late over another (a
        shorter one) makes it a PartialConflict at the offset the pieces now reach, for
        the client to send from again."""
        size, used = self._pieces(token)
        if size != length:
            raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=size)
        incoming = self.staging.incoming(max_bytes)
        try:
            for key, first, end in used:
                body = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{end - 1}")["Body"]
                with contextlib.closing(body):
                    for chunk in body.iter_chunks(CHUNK):
                        incoming.write(chunk)
        except (BotoCoreError, ClientError) as exc:
            incoming.discard()
            if _error_code(exc) == "InvalidRange":  # a piece replaced by a shorter one meanwhile
                raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=self.partial_size(token)) from exc
            error = _failure(exc)
            if isinstance(error, FileNotFoundError):  # removed by another server meanwhile
                raise NotFound("UPLOAD_NOT_FOUND") from exc
            raise error from exc
        except BaseException:
            incoming.discard()
            raise
        if incoming.size != length:  # a piece replaced by a shorter one after the listing
            incoming.discard()
            raise PartialConflict("UPLOAD_OFFSET_MISMATCH", offset=self.partial_size(token))
        return incoming

    def partial_delete(self, token: str) -> None:
        self.staging.partial_delete(token)  # one begun when this folder kept them
        with contextlib.suppress(NotFound):
            self._delete_prefix(self._partial_folder(token))

    def list_partials(self) -> Iterator[StoredFile]:
        """One entry per upload (its token): the bytes of its pieces, its latest piece's time."""
        uploads: dict[str, tuple[int, float]] = {}
        for piece in self._list(f"{PARTIAL}/"):
            token = piece.rel.split("/", 2)[1]
            size, modified = uploads.get(token, (0, 0.0))
            uploads[token] = (size + piece.size, max(modified, piece.modified))
        bucket = (StoredFile(token, size, modified) for token, (size, modified) in sorted(uploads.items()))
        yield from union(bucket, self.staging.list_partials())  # and those begun when this folder kept them

    # --- deleting and checking --------------------------------------------------------
    def delete(self, rel: str | None) -> None:
        if not rel:
            return
        staged = rel.startswith(STAGING + "/")
        try:
            key = self._staged_key(rel) if staged else self.key(rel)
        except NotFound:
            return
        if staged:
            self.staging.delete(rel)  # this server's copy
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            error = _failure(exc, rel)
            if not isinstance(error, FileNotFoundError):
                raise error from exc

    def delete_user(self, user_id: int) -> None:
        self._delete_prefix(f"{int(user_id)}/")

    def list_files(self) -> Iterator[StoredFile]:
        for found in self._list(""):
            if found.rel.split("/", 1)[0].isdigit():
                yield found

    def list_incoming(self) -> Iterator[StoredFile]:
        return self.staging.list_incoming()

    def remove_incoming(self, rel: str) -> None:
        self.staging.remove_incoming(rel)

    def _list(self, under: str) -> Iterator[StoredFile]:
        """The objects whose names (keys without the prefix) begin with `under`."""
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + under):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(self.prefix) :]
                    yield StoredFile(rel, int(item["Size"]), item["LastModified"].timestamp())
        except (BotoCoreError, ClientError) as exc:
            raise _failure(exc) from exc

    def _delete_prefix(self, under: str) -> None:
        keys = [self.prefix + found.rel for found in self._list(under)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except (BotoCoreError, ClientError) as exc:
                raise _failure(exc) from exc
