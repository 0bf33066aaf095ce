"""Sending a transcoded variant, seekable at every stage of its encode.

- complete: the cached file goes through serve_audio(), exactly like an
  original (ranges, the variant's ETag, sendfile), with its real size;
- encoding (or just started): 200 with the size the CBR output will have
  (Content-Length estimated from duration x bitrate) and Accept-Ranges, its
  bytes read from the growing .part as ffmpeg writes them; a Range inside what
  exists (or about to exist) is a 206 from the .part; a Range beyond it starts
  a second ffmpeg at the time that byte stands for (-ss before -i) and sends
  its output as that range, padded or cut to the promised length;
- X-Content-Duration always.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Response, current_app, request
from werkzeug.wsgi import ClosingIterator

from app.services.audio_tools import ffmpeg_path
from app.services.errors import NotFound
from app.services.storage import Storage, get_storage
from app.services.transcode import cache
from app.services.transcode.cache import Limits, TranscodeBusy, TranscodeFailed, Variant
from app.services.transcode.presets import Preset
from app.streaming.files import CACHE_CONTROL, MissingFile, serve_audio
from app.streaming.ranges import Unsatisfiable, resolve_range
from app.web.sending import set_attachment

# A range starting this many seconds of audio past the encoded part waits for
# the encode (it gets there within a fraction of a second at 50x) rather than
# starting a second ffmpeg.
AHEAD_SECONDS = 10
FIRST_BYTES_TIMEOUT = 20.0


def send_variant(
    track,
    preset: Preset,
    user_id: int,
    *,
    download_name: str | None = None,
    time_offset: float = 0.0,
    estimate_length: bool = True,
) -> Response:
    """The track at `preset`. Raises TranscodeBusy, TranscodeFailed, MissingFile, FfmpegMissing."""
    storage = get_storage()
    source = _source_of(storage, track)
    ffmpeg, _source = ffmpeg_path(current_app.config["FFMPEG"])
    variant = Variant(track.sha256, preset)
    duration = float(track.duration or 0)
    lim = Limits.from_config(current_app.config)
    headers = {"X-Content-Duration": f"{duration:.3f}", "Cache-Control": CACHE_CONTROL, "Accept-Ranges": "bytes"}
    if time_offset > 0:
        return _from_time(
            storage, ffmpeg, source, variant, time_offset,
            user_id=user_id, lim=lim, duration=duration, headers=headers, estimate=estimate_length,
        )  # fmt: skip
    done = cache.ensure_encoding(
        storage, ffmpeg, source, variant, user_id=user_id, limits=lim, duration=duration, label=f"track {track.id}"
    )
    if done is None and download_name:
        done = _wait_complete(storage, variant, duration)
    if done is not None:
        response = serve_audio(request.environ, done, preset.mime_type, variant.etag)
        response.headers.update(headers)
        if download_name:
            set_attachment(response, download_name)
        return response
    return _growing(storage, ffmpeg, source, variant, user_id=user_id, lim=lim, duration=duration, headers=headers)


def _wait_complete(storage, variant: Variant, duration: float) -> Path:
    """A download is the finished file: follow the encode to its end (as a reader, so it goes on)."""
    follower = cache.Follower(storage, variant)
    try:
        while not follower.finished():
            follower.wait_for(follower.available + 1, timeout=1.0)
    finally:
        follower.close()
    done = cache.complete(storage, variant)
    if done is None:
        raise TranscodeFailed(reason=cache.failure(storage, variant) or "no output")
    return done


def _source_of(storage: Storage, track: Any) -> Path | str:
    """What ffmpeg reads: the file on this machine, or (a library in an object store)
    a presigned address it reads with ranges, valid for the longest encode allowed.
    Raises MissingFile."""
    try:
        holder = storage.locate(track.storage_path)
        if holder.is_local:
            source = holder.local_path(track.storage_path)
            if source.is_file():
                return source
        else:
            holder.stat(track.storage_path)
            url = holder.presigned_url(track.storage_path, 3600 + 2 * int(track.duration or 0))
            if url:
                return url
    except (FileNotFoundError, NotFound):
        pass
    current_app.logger.warning("track %s: its file %s is missing", track.id, track.storage_path)
    raise MissingFile


def _growing(storage, ffmpeg, source, variant, *, user_id, lim, duration, headers) -> Response:
    preset = variant.preset
    size = preset.estimated_size(duration)
    follower = cache.Follower(storage, variant)
    if not follower.wait_for(1, FIRST_BYTES_TIMEOUT):
        follower.close()
        done = cache.complete(storage, variant)
        if done is not None:  # finished (and renamed) between the checks
            response = serve_audio(request.environ, done, preset.mime_type, variant.etag)
            response.headers.update(headers)
            return response
        raise TranscodeFailed(reason=cache.failure(storage, variant) or "no output")
    try:
        span = resolve_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        follower.close()
        return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if request.if_range.etag or request.if_range.date:
        span = None  # no validator to match while the file grows: the whole of it
    status = 200
    first, last = 0, size - 1
    if span is not None:
        status = 206
        first, last = span
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    length = last - first + 1
    headers["Content-Length"] = str(length)
    closers = [follower.close]
    if request.method == "HEAD":
        body: Iterator[bytes] = iter(())
    elif first <= follower.available + AHEAD_SECONDS * preset.bytes_per_second():
        body = _exactly(follower.read(first, length), length)
    else:
        try:
            seek = cache.SeekEncode(
                storage, ffmpeg, source, variant, preset.time_at(first), user_id=user_id, limits=lim
            )
        except TranscodeBusy:
            # No slot for a second ffmpeg: the answer waits for the encode to get there.
            body = _exactly(follower.read(first, length), length)
        else:
            follower.close()
            closers = [seek.close]
            body = _exactly(seek.read(length), length)
    return _streamed(body, closers, status, preset.mime_type, headers)


def _from_time(storage, ffmpeg, source, variant, start, *, user_id, lim, duration, headers, estimate) -> Response:
    """Subsonic's timeOffset: the variant from `start` seconds, as a whole answer."""
    preset = variant.preset
    start = min(start, max(0.0, duration - 0.1))
    seek = cache.SeekEncode(storage, ffmpeg, source, variant, start, user_id=user_id, limits=lim)
    headers = {**headers, "X-Content-Duration": f"{max(0.0, duration - start):.3f}"}
    headers.pop("Accept-Ranges")
    if estimate:
        length = preset.estimated_size(duration - start)
        headers["Content-Length"] = str(length)
        body = _exactly(seek.read(length, with_headers=True), length)
    else:
        body = seek.read(1 << 40, with_headers=True)
    if request.method == "HEAD":
        body = iter(())
    return _streamed(body, [seek.close], 200, preset.mime_type, headers)


def _streamed(body: Iterator[bytes], closers: list, status: int, mime_type: str, headers: dict) -> Response:
    """A response whose body is passed to the server as it is, and whose
    `closers` run when the server is done with it (sent, or the client gone)."""
    return Response(
        ClosingIterator(body, closers), status=status, mimetype=mime_type, headers=headers, direct_passthrough=True
    )


def _exactly(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    """`length` bytes: the chunks, padded with silence-free zeros (which decoders
    skip as junk after the last frame) when the CBR estimate was a little long."""
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        yield chunk
    while sent < length:
        pad = min(64 * 1024, length - sent)
        sent += pad
        yield bytes(pad)
