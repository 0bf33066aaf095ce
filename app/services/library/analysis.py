"""Measuring a track after upload: loudness, waveform, ReplayGain tags and the decoded length.

A background job (app/jobs/tasks.py) runs `analyse_track` once a file is added
(and `flask reprocess` for tracks added before). One ffmpeg process decodes the
file once; a filter graph splits the signal in two:

- EBU R128 (`ebur128`) at the file's own rate gives the integrated loudness
  (LUFS); the same signal, oversampled four times (`aresample`) and read by
  `astats`, gives the true peak (dBTP, ITU-R BS.1770's method); both are printed
  on ffmpeg's log;
- a mono 4 kHz copy in 16-bit samples comes back on a pipe, where it is reduced
  to min/max pairs as it arrives (the waveform) and counted (the decoded length).

The ReplayGain tags are read by the tag reader's sandboxed processes. A file
ffmpeg cannot decode gives a failed analysis with the reason, on the track;
the owner may run it again.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import resource
import subprocess
import sys
import threading
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import AnalysisState, Track
from app.models.types import utcnow
from app.services import audio_tools, jobs
from app.services.errors import DomainError, NotFound
from app.services.library import access
from app.services.storage import Storage
from app.services.tags import ParserPool, ReplayGain, UnsupportedAudio

# The waveform: this many min/max pairs at most, from a mono copy at this rate.
WAVEFORM_PIXELS = 1000
WAVEFORM_RATE = 4000
# The peaks are first kept per block, about this many for the length the tags
# claim, then merged into pixels once the real length is known. A file far
# longer than it claims doubles its blocks whenever they pass BLOCKS_MAX, so
# memory stays bounded whatever it decodes to.
BLOCKS_TARGET = 20_000
BLOCKS_MAX = 200_000
# The container's length is replaced when decoding finds it off by more than this.
DURATION_TOLERANCE = 1.0
# ReplayGain 2.0's reference level, as EBU R128 loudness.
REFERENCE_LUFS = -18.0
# An ffmpeg run may use this much memory.
FFMPEG_MEMORY = 1024 * 1024 * 1024
READ_CHUNK = 64 * 1024
LOG_LINES = 400
DETAIL_MAX = 500

_INTEGRATED = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-?inf)\s*LUFS", re.IGNORECASE)
_PEAK = re.compile(r"Peak level dB:\s*(-?[\d.]+|-?inf)", re.IGNORECASE)
# The true peak: the signal four times oversampled (176.4 kHz from 44.1 kHz), in
# float so that peaks between samples above full scale are kept, and its highest
# sample. ebur128's own true peak (peak=true) resamples to 192 kHz with a longer
# filter and costs about twice the CPU of everything else the analysis does
# together; this filter reads within 0.1 dB of it on band-limited music and at
# most 0.5 dB under on full-band noise, within BS.1770's own tolerance for a
# four-times oversampling meter.
OVERSAMPLING = 4
OVERSAMPLING_FILTER = 16
_STATS = "astats=measure_overall=Peak_level:measure_perchannel=none"


def ffmpeg_path() -> str:
    """The ffmpeg to run (audio_tools.ffmpeg_path: FFMPEG when configured, else the
    imageio-ffmpeg wheel's). Raises AnalysisFailed(FFMPEG_UNAVAILABLE) when neither exists."""
    try:
        return audio_tools.ffmpeg_path(current_app.config.get("FFMPEG"))[0]
    except audio_tools.FfmpegMissing as exc:
        raise AnalysisFailed("FFMPEG_UNAVAILABLE", detail=str(exc)[:DETAIL_MAX]) from None


class AnalysisFailed(DomainError):
    """The file could not be measured: UNDECODABLE_AUDIO (ffmpeg's words in `detail`),
    ANALYSIS_TOO_SLOW, FFMPEG_UNAVAILABLE or TRACK_FILE_MISSING."""

    code = "ANALYSIS_FAILED"
    status = 422


@dataclass
class Measurement:
    """What one decoding pass found."""

    loudness: float | None  # integrated, LUFS (None: too quiet to measure)
    peak: float | None  # true peak, dBTP (sample peak, dBFS, when measured without true peak)
    duration: float  # seconds of decoded audio
    waveform: dict[str, Any] = field(default_factory=dict)


class Peaks:
    """Min/max of 16-bit mono samples per block, fed as the bytes arrive."""

    def __init__(self, block: int, limit: int = BLOCKS_MAX) -> None:
        self.block = block
        self.limit = limit
        self.mins: list[int] = []
        self.maxs: list[int] = []
        self.samples = 0
        self._rest = b""

    def feed(self, data: bytes) -> None:
        data = self._rest + data
        usable = len(data) // (2 * self.block) * (2 * self.block)
        self._rest = data[usable:]
        if usable:
            self._add(data[:usable])

    def finish(self) -> None:
        rest = self._rest[: len(self._rest) // 2 * 2]
        self._rest = b""
        if rest:
            self._add(rest)

    def _add(self, data: bytes) -> None:
        samples = array("h")
        samples.frombytes(data)
        if sys.byteorder == "big":
            samples.byteswap()
        view = memoryview(samples)
        block = self.block
        for start in range(0, len(samples), block):
            part = view[start : start + block]
            self.mins.append(min(part))
            self.maxs.append(max(part))
        self.samples += len(samples)
        if len(self.mins) >= self.limit and len(self.mins) % 2 == 0:
            # Every block is whole here (feed() passes whole blocks only): merge pairs.
            self.mins = [min(pair) for pair in zip(self.mins[::2], self.mins[1::2], strict=True)]
            self.maxs = [max(pair) for pair in zip(self.maxs[::2], self.maxs[1::2], strict=True)]
            self.block *= 2

    def waveform(self, pixels: int, rate: int) -> dict[str, Any]:
        """The BBC audiowaveform JSON layout (version 2, one channel, 8-bit values)."""
        blocks = len(self.mins)
        per_pixel = max(1, math.ceil(blocks / pixels))  # blocks in one pixel
        data: list[int] = []
        for start in range(0, blocks, per_pixel):
            data.append(min(self.mins[start : start + per_pixel]) >> 8)
            data.append(max(self.maxs[start : start + per_pixel]) >> 8)
        return {
            "version": 2,
            "channels": 1,
            "sample_rate": rate,
            "samples_per_pixel": per_pixel * self.block,
            "bits": 8,
            "length": len(data) // 2,
            "data": data,
        }


def measure(
    path: Path,
    *,
    ffmpeg: str,
    timeout: float,
    claimed_duration: float = 0.0,
    sample_rate: int | None = None,
    true_peak: bool = True,
) -> Measurement:
    """Decode `path` once: loudness, peak, decoded length and waveform.

    Raises AnalysisFailed: UNDECODABLE_AUDIO (ffmpeg failed or found no audio),
    ANALYSIS_TOO_SLOW (past `timeout` seconds) or FFMPEG_UNAVAILABLE.
    """
    expected = max(1, int(claimed_duration * WAVEFORM_RATE))
    peaks = Peaks(block=max(1, expected // BLOCKS_TARGET))
    # The rate the tags claim; a hostile or missing one is taken as 48 kHz.
    rate = sample_rate if sample_rate and 8000 <= sample_rate <= 192_000 else 48_000
    oversample = (
        f"aresample={rate * OVERSAMPLING}:filter_size={OVERSAMPLING_FILTER},aformat=sample_fmts=flt,"
        if true_peak
        else ""
    )
    graph = (
        f"[0:a:0]asplit=2[loud][wave];"
        f"[loud]ebur128=framelog=verbose,aformat=sample_fmts=flt,{oversample}{_STATS}[measured];"
        # A short resampling filter: min/max for a picture need no fine anti-aliasing,
        # and the default one costs ffmpeg a third of a second more per 4 minutes.
        f"[wave]aformat=channel_layouts=mono,aresample={WAVEFORM_RATE}:filter_size=4,aformat=sample_fmts=s16[samples]"
    )
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-threads", "1",
        "-i", str(path), "-filter_complex", graph, "-filter_complex_threads", "1",
        "-map", "[measured]", "-f", "null", "-",
        "-map", "[samples]", "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    try:
        process = subprocess.Popen(  # noqa: S603 - our ffmpeg, a stored file's path
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise AnalysisFailed("FFMPEG_UNAVAILABLE", detail=f"{ffmpeg}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError, ValueError):  # a hostile file may not take all memory
        resource.prlimit(process.pid, resource.RLIMIT_AS, (FFMPEG_MEMORY, FFMPEG_MEMORY))
    # Only the end of the log matters (the summary, or the last complaint); a broken
    # file may make ffmpeg complain about every frame, so no more is kept.
    log: deque[bytes] = deque(maxlen=LOG_LINES)
    assert process.stdout is not None and process.stderr is not None
    reader = threading.Thread(target=log.extend, args=(process.stderr,), daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(OSError):
            process.kill()

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        while chunk := process.stdout.read(READ_CHUNK):
            peaks.feed(chunk)
        returncode = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()
    text = b"".join(log).decode("utf-8", "replace")
    if timed_out.is_set():
        raise AnalysisFailed("ANALYSIS_TOO_SLOW", seconds=int(timeout))
    peaks.finish()
    loudness, peak = _number(_INTEGRATED, text), _number(_PEAK, text)
    if returncode != 0 or peaks.samples == 0 or not _INTEGRATED.search(text):
        raise AnalysisFailed("UNDECODABLE_AUDIO", detail=_last_error(text))
    return Measurement(
        loudness=None if loudness is None or loudness <= -70 else loudness,
        peak=peak,
        duration=peaks.samples / WAVEFORM_RATE,
        waveform=peaks.waveform(WAVEFORM_PIXELS, WAVEFORM_RATE),
    )


def _number(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.findall(text)
    if not found or "inf" in found[-1]:
        return None
    return float(found[-1])


def _last_error(text: str) -> str:
    """ffmpeg's last complaint (the line that says why), without its [component @ 0x...] prefix."""
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Input #", "Stream #", "Duration:"))]
    complaints = [line for line in lines if re.search(r"error|invalid|could not|no such|not found|fail", line, re.I)]
    return (complaints or lines or ["no audio decoded"])[-1][:DETAIL_MAX]


# --- the job's work ----------------------------------------------------------------------


def queue_analysis(track: Track) -> None:
    """Mark the track pending and queue its analysis (sent when the caller commits)."""
    track.analysis_state = AnalysisState.PENDING
    track.analysis_error = track.analysis_detail = None
    jobs.submit(jobs.ANALYSE_TRACK, track.id)


def queue_analyses(tracks: list[Track]) -> None:
    """queue_analysis() for several tracks, their jobs recorded in one flush."""
    for track in tracks:
        track.analysis_state = AnalysisState.PENDING
        track.analysis_error = track.analysis_detail = None
    jobs.submit_many(jobs.ANALYSE_TRACK, [(track.id,) for track in tracks])


def reprocess(owner_id: int | None = None) -> int:
    """Queue the analysis of every track (or one account's); return how many (flushed)."""
    query = select(Track).order_by(Track.id)
    if owner_id is not None:
        query = query.where(Track.owner_id == owner_id)
    count = 0
    for track in db.session.scalars(query):
        queue_analysis(track)
        count += 1
    db.session.flush()
    return count


def analyse_track(
    store: Storage,
    pool: ParserPool,
    track_id: int,
    *,
    timeout: float,
    true_peak: bool = True,
    ffmpeg: str | None = None,
) -> dict[str, Any] | None:
    """Measure a stored track and record the results on it (flushed, not committed).

    A track that is gone is skipped (None). A file that cannot be measured leaves the
    track failed with the reason, and the job done: running it again would only fail
    again, until the owner asks. Returns what was found, as the job's result.
    """
    track = db.session.get(Track, track_id)
    if track is None:
        return None
    try:
        ffmpeg = ffmpeg or ffmpeg_path()
        try:
            with store.local_copy(track.storage_path) as path:
                if not path.is_file():
                    raise FileNotFoundError(track.storage_path)
                found = measure(
                    path,
                    ffmpeg=ffmpeg,
                    timeout=timeout,
                    claimed_duration=track.duration,
                    sample_rate=track.sample_rate,
                    true_peak=true_peak,
                )
        except (FileNotFoundError, NotFound):
            raise AnalysisFailed("TRACK_FILE_MISSING", path=track.storage_path) from None
    except AnalysisFailed as exc:
        track.analysis_state = AnalysisState.FAILED
        track.analysis_error = exc.code
        # ffmpeg's words, or the one figure the message names (a path, seconds).
        detail = next((exc.params[k] for k in ("detail", "path", "seconds") if exc.params.get(k)), "")
        track.analysis_detail = str(detail)[:DETAIL_MAX] or None
        track.analysed_at = utcnow()
        db.session.flush()
        return {"state": "failed", "code": exc.code, "detail": track.analysis_detail}
    try:
        gain = pool.replaygain(path)
    except UnsupportedAudio:
        gain = ReplayGain()  # the tags are unreadable now; the measurement stands
    data = json.dumps(found.waveform, separators=(",", ":")).encode()
    track.waveform_path = store.save_waveform(track.storage_path, data)
    track.loudness, track.true_peak = _rounded(found.loudness), _rounded(found.peak)
    track.rg_track_gain, track.rg_track_peak = gain.track_gain, gain.track_peak
    track.rg_album_gain, track.rg_album_peak = gain.album_gain, gain.album_peak
    if abs(found.duration - track.duration) > DURATION_TOLERANCE:
        # A VBR MP3 without a Xing header, or a header that lies: the decoded length wins.
        track.duration = round(found.duration, 3)
        track.bitrate = round(track.size_bytes * 8 / found.duration) if found.duration > 0 else track.bitrate
    track.analysis_state = AnalysisState.DONE
    track.analysis_error = track.analysis_detail = None
    track.analysed_at = utcnow()
    db.session.flush()
    update_album_loudness(track.owner_id, track.album_id)
    return {
        "state": "done",
        "loudness": track.loudness,
        "true_peak": track.true_peak,
        "duration": track.duration,
        "replaygain": track.rg_track_gain is not None,
    }


def update_album_loudness(owner_id: int, album_id: int) -> float | None:
    """The loudness of an owner's measured tracks of an album together, recorded on each.

    The tracks' energies are averaged by their length: what measuring them played one
    after the other gives, short of the gating across track boundaries.
    """
    rows = db.session.execute(
        select(Track.id, Track.loudness, Track.duration).where(
            Track.owner_id == owner_id, Track.album_id == album_id, Track.loudness.is_not(None)
        )
    ).all()
    seconds = sum(duration for _, _, duration in rows)
    if not rows or seconds <= 0:
        return None
    energy = sum(duration * 10 ** (loudness / 10) for _, loudness, duration in rows) / seconds
    album = round(10 * math.log10(energy), 2)
    for track in db.session.scalars(select(Track).where(Track.id.in_([row[0] for row in rows]))):
        track.album_loudness = album
    db.session.flush()
    return album


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- what the player applies --------------------------------------------------------------

# Gains are kept within these bounds (dB): a near-silent track is not raised by 50 dB.
GAIN_MIN, GAIN_MAX = -24.0, 12.0


def _clamp(gain: float) -> float:
    return round(min(GAIN_MAX, max(GAIN_MIN, gain)), 2)


def playback_gain(track: Track) -> dict[str, Any] | None:
    """The gains the player applies (dB) and where they come from: the file's ReplayGain
    tags when it has them, else the measured loudness against REFERENCE_LUFS. None before
    the analysis (or when nothing could be measured)."""
    if track.rg_track_gain is not None:
        track_gain, source = track.rg_track_gain, "replaygain"
    elif track.loudness is not None:
        track_gain, source = REFERENCE_LUFS - track.loudness, "loudness"
    else:
        return None
    if track.rg_album_gain is not None:
        album_gain = track.rg_album_gain
    elif track.album_loudness is not None and track.rg_track_gain is None:
        album_gain = REFERENCE_LUFS - track.album_loudness
    else:
        album_gain = track_gain
    return {"track": _clamp(track_gain), "album": _clamp(album_gain), "source": source}


# --- asking for it -----------------------------------------------------------------------


class WaveformNotFound(NotFound):
    code = "WAVEFORM_NOT_FOUND"


class AnalysisNotFailed(DomainError):
    """Only a failed (or never run) analysis is started again by its owner."""

    code = "ANALYSIS_NOT_FAILED"
    status = 409


def waveform_of(user_id: int, track_id: int) -> str:
    """The stored waveform's name of a track the user may see.

    Raises NotFound (TRACK_NOT_FOUND: not visible) or WaveformNotFound (not measured yet).
    """
    row = db.session.execute(
        select(Track.waveform_path).where(Track.id == track_id, access.visible_to(user_id))
    ).first()
    if row is None:
        raise NotFound("TRACK_NOT_FOUND")
    if row[0] is None:
        raise WaveformNotFound(track_id=track_id)
    return row[0]


def retry_analysis(user_id: int, track_id: int) -> Track:
    """The owner runs a failed analysis again (sent when the caller commits).

    Raises NotFound, Forbidden (not the owner) or AnalysisNotFailed.
    """
    track = access.get_own_track(user_id, track_id)
    if track.analysis_state not in (AnalysisState.FAILED, None):
        raise AnalysisNotFailed(state=track.analysis_state.value)
    queue_analysis(track)
    db.session.flush()
    return track
