"""Pre-encoding: a user's favourites and own playlists kept in the variant cache at
the quality they chose, for phones that download ahead.

A listener who turns it on (their account page) gets a PREENCODE job; so does one
who hearts a track or adds tracks to a playlist while it is on, and the nightly
PREENCODE_ALL job queues one for everybody who has it on, so whatever was missed
(an encode that gave way, a new upload hearted elsewhere) is caught up.

The job goes through the same code as a listener's first request
(cache.ensure_encoding: one ffmpeg per variant, .part renamed when complete), so
a finished variant is then served like a stored file. It is background work:
- one pre-encode at a time on a machine (a flock on `slot-preencode`), one
  ffmpeg at a time in it; a job that finds another running leaves its listener to
  that one (noted in `slot-preencode-users`) instead of waiting, so no job worker
  waits on another's encodes;
- it starts an encode only when a job slot stays free for listeners after it
  takes one (with TRANSCODE_MAX_JOBS = 1: only when no ffmpeg runs), and no
  listener has been refused a slot for a few seconds;
- when a listener is refused a slot while it encodes, its ffmpeg stops at once
  (the partial file goes) and it waits for calm again; past `Pace.max_wait` the
  job ends and leaves the rest to the next run.
Tracks that need no encode (Original quality, or a lossy source no larger than
the preset: never transcoded upwards) are skipped, and so are complete variants.

The variants of opted-in users' tracks are "pinned": the cache trim removes them
only after every other variant (cache.evict).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import or_, select, union

from app.extensions import db
from app.models import Favourite, Job, JobState, Playlist, PlaylistEntry, Track, User
from app.services import jobs
from app.services.errors import DomainError, NotFound
from app.services.library.access import visible_to
from app.services.storage import Storage
from app.services.transcode import cache
from app.services.transcode.cache import Limits, TranscodeBusy, TranscodeFailed, Variant
from app.services.transcode.presets import BadQuality, Quality, choose, parse_quality

# The per-user slots pre-encoding takes (user ids start at 1): never a listener's.
BACKGROUND_USER = 0
LOCK_NAME = "slot-preencode"
# The users whose pre-encode jobs found another one running, for that one to take.
NOTE_NAME = "slot-preencode-users"
# Times one track's encode gives way to listeners and starts again before the job ends.
MAX_YIELDS = 20


@dataclass(frozen=True)
class Pace:
    """How pre-encoding gives way to listeners (seconds)."""

    calm: float = 10.0  # since the last listener refused a slot, before an encode starts
    max_wait: float = 120.0  # for a free slot before the job ends
    poll: float = 0.1


@dataclass(frozen=True)
class Progress:
    """How much of a user's pre-encoding is done: `ready` of `total` tracks at `quality`."""

    ready: int
    total: int
    quality: Quality


def is_on(user: User) -> bool:
    return bool(user.preencode_favourites or user.preencode_playlists)


class WantedTrack(NamedTuple):
    """The columns pre-encoding needs of a track (the trim reads every opted-in user's)."""

    id: int
    sha256: str
    storage_path: str
    format: str
    codec: str
    bitrate: int | None
    duration: float | None


def wanted_tracks(user: User) -> list[WantedTrack]:
    """The tracks the user wants pre-encoded (favourites and/or own playlists' entries)
    that they can still hear, each once."""
    parts = []
    if user.preencode_favourites:
        parts.append(select(Favourite.track_id.label("track_id")).where(Favourite.user_id == user.id))
    if user.preencode_playlists:
        parts.append(
            select(PlaylistEntry.track_id.label("track_id"))
            .join(Playlist, Playlist.id == PlaylistEntry.playlist_id)
            .where(Playlist.owner_id == user.id)
        )
    if not parts:
        return []
    ids = (union(*parts) if len(parts) > 1 else parts[0]).subquery()
    columns = (Track.id, Track.sha256, Track.storage_path, Track.format, Track.codec, Track.bitrate, Track.duration)
    rows = db.session.execute(
        select(*columns).where(Track.id.in_(select(ids.c.track_id)), visible_to(user.id)).order_by(Track.id)
    )
    return [WantedTrack(*row) for row in rows]


FORMATS = ("opus", "mp3")


def variant_for(track: Track | WantedTrack, quality: Quality, fmt: str = "opus") -> Variant | None:
    """The variant a player asking for `quality` in `fmt` gets (None: the original is sent
    as it is). Opus: what the web player and apps asking for Opus get at Medium and Low;
    MP3: what apps asking for MP3 (or a Subsonic maxBitRate without a format) get."""
    preset = choose(track, quality, opus=fmt != "mp3")
    return None if preset is None else Variant(track.sha256, preset)


def _format(user: User) -> str:
    return user.preencode_format if user.preencode_format in FORMATS else "opus"


def _quality(user: User) -> Quality:
    try:
        return Quality(user.preencode_quality)
    except ValueError:
        return Quality.LOW


def progress(storage: Storage, user: User) -> Progress | None:
    """None when the user has pre-encoding off. A track that is sent as it is counts as ready."""
    if not is_on(user):
        return None
    quality = _quality(user)
    tracks = wanted_tracks(user)
    fmt = _format(user)
    ready = sum(1 for track in tracks if _ready(storage, variant_for(track, quality, fmt)))
    return Progress(ready, len(tracks), quality)


def _ready(storage: Storage, variant: Variant | None) -> bool:
    return variant is None or storage.variant_path(variant.name).is_file()


def pinned_variants() -> set[str]:
    """The names of the variants every active opted-in user wants kept (for the cache trim)."""
    users = db.session.scalars(
        select(User).where(
            or_(User.preencode_favourites.is_(True), User.preencode_playlists.is_(True)), User.disabled.is_(False)
        )
    )
    names: set[str] = set()
    for user in users:
        quality = _quality(user)
        for track in wanted_tracks(user):
            variant = variant_for(track, quality, _format(user))
            if variant is not None:
                names.add(variant.name)
    return names


def default_quality(user: User) -> str:
    """What the settings form offers: the chosen quality once it is on, else the
    metered preset (what a phone on mobile data plays), unless that is Original."""
    if is_on(user) or user.quality_metered == Quality.ORIGINAL:
        return _quality(user).value
    return user.quality_metered


class BadFormat(DomainError):
    code = "BAD_FORMAT"
    status = 400


def set_preencode(user: User, *, favourites: bool, playlists: bool, quality: str, fmt: str = "opus") -> None:
    """Turn pre-encoding of the user's favourites and/or playlists on or off, at `quality`
    (High, Medium or Low) in `fmt` (opus or mp3); when on, their pre-encoding is queued (sent when the caller
    commits). Off unpins their variants: the next cache trim treats them like any other.
    Raises BadQuality (Original needs no pre-encoding) or BadFormat."""
    chosen = parse_quality(quality)
    if chosen is Quality.ORIGINAL:
        raise BadQuality(quality=quality[:20])
    if fmt not in FORMATS:
        raise BadFormat(format=fmt[:20])
    user.preencode_format = fmt
    user.preencode_favourites = bool(favourites)
    user.preencode_playlists = bool(playlists)
    user.preencode_quality = chosen.value
    db.session.flush()
    if is_on(user):
        queue(user.id)


# --- queueing ----------------------------------------------------------------------------


def queue(user_id: int) -> None:
    """Queue the user's pre-encoding (sent when the caller commits), unless it is queued already."""
    queued = db.session.scalars(select(Job.args).where(Job.name == jobs.PREENCODE, Job.state == JobState.QUEUED))
    if any(list(args or []) == [user_id] for args in queued):
        return
    jobs.submit(jobs.PREENCODE, user_id)


def note_added(user_id: int, *, favourite: bool = False, playlist: bool = False) -> None:
    """A track was hearted (`favourite`) or added to one of the user's playlists: queue
    their pre-encoding when they have it on for that kind."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    if (favourite and user.preencode_favourites) or (playlist and user.preencode_playlists):
        queue(user_id)


def queue_all() -> int:
    """Queue the pre-encoding of every active user who has it on (nightly catch-up)."""
    users = list(
        db.session.scalars(
            select(User.id)
            .where(
                or_(User.preencode_favourites.is_(True), User.preencode_playlists.is_(True)), User.disabled.is_(False)
            )
            .order_by(User.id)
        )
    )
    if users:
        jobs.submit_many(jobs.PREENCODE, [(user_id,) for user_id in users])
    return len(users)


# --- the job -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """What encoding one track needs, read before the encodes begin."""

    track_id: int
    storage_path: str
    duration: float
    variant: Variant | None


def run(storage: Storage, ffmpeg: str, user_id: int, limits: Limits, pace: Pace = Pace()) -> dict[str, int]:
    """The PREENCODE job: encode what the user wants and the cache lacks, one track at
    a time, giving way to listeners. Returns what it did.

    One job encodes on a machine at a time. A job that finds another one running does
    not wait for it: it leaves its user to that one (`handed_over`), which takes every
    user so left after its own before it ends."""
    result = {"tracks": 0, "encoded": 0, "ready": 0, "as_is": 0, "failed": 0, "postponed": 0, "handed_over": 0}
    machine = _take_machine(storage, user_id)
    if machine is None:
        result["handed_over"] = 1
        return result
    try:
        users = [user_id]
        while users:
            for each in dict.fromkeys(users):
                if not _run_user(storage, ffmpeg, each, limits, pace, result=result):
                    return result  # the machine stayed busy: the rest waits for the next run
            users = _left_to_us(storage, machine)
    finally:
        machine.release()
    return result


class _Machine:
    """The machine's pre-encode lock, held until released (once)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _take_machine(storage: Storage, user_id: int) -> _Machine | None:
    """The machine's pre-encode lock, or None when another job holds it: the user is then
    noted for that job. Both are done under the note's own lock, as the holder's last look
    at the note and its release of the lock are, so no user is noted after that look."""
    with _note_locked(storage) as note:
        fd = os.open(storage.variant_path(LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            os.write(note, f"{int(user_id)}\n".encode())
            return None
        return _Machine(fd)


def _left_to_us(storage: Storage, machine: _Machine) -> list[int]:
    """The users other jobs left to this one since it last looked (the note emptied); when
    there are none, the machine's lock is released before the note's."""
    with _note_locked(storage) as note:
        os.lseek(note, 0, os.SEEK_SET)
        text = b""
        while chunk := os.read(note, 65536):
            text += chunk
        os.ftruncate(note, 0)
        users = [int(line) for line in text.split() if line.isdigit()]
        if not users:
            machine.release()
        return users


@contextlib.contextmanager
def _note_locked(storage: Storage) -> Iterator[int]:
    fd = os.open(storage.variant_path(NOTE_NAME), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _run_user(
    storage: Storage, ffmpeg: str, user_id: int, limits: Limits, pace: Pace, *, result: dict[str, int]
) -> bool:
    """Encode one user's missing variants, adding to `result`; False when the machine
    stayed busy past pace.max_wait (the rest is counted as postponed)."""
    user = db.session.get(User, user_id)
    if user is None or user.disabled or not is_on(user):
        return True
    quality = _quality(user)
    fmt = _format(user)
    items = [
        _Item(t.id, t.storage_path, float(t.duration or 0), variant_for(t, quality, fmt)) for t in wanted_tracks(user)
    ]
    # The encodes take minutes: no read transaction stays open meanwhile.
    db.session.rollback()
    result["tracks"] += len(items)
    todo = []
    for item in items:
        if item.variant is None:
            result["as_is"] += 1
        elif _ready(storage, item.variant):  # not cache.complete(): looking is not using it
            result["ready"] += 1
        else:
            todo.append(item)
    for i, item in enumerate(todo):
        outcome = _encode(storage, ffmpeg, item, limits, pace)
        result[outcome] += 1
        if outcome == "postponed":
            result["postponed"] += len(todo) - i - 1
            return False
    return True


def _may_start(storage: Storage, limits: Limits, pace: Pace) -> bool:
    """A slot is free for a background encode: one stays free for listeners after it
    takes one (or, with a single slot, nobody uses it), and nobody was refused lately."""
    busy = cache.busy_slots(storage, limits)
    free = busy == 0 if limits.max_jobs <= 1 else busy + 1 < limits.max_jobs
    return free and time.time() - cache.last_refusal(storage) >= pace.calm


def _source(storage: Storage, item: _Item) -> Path | str | None:
    """What ffmpeg reads (the local file, or a presigned address), None when the file is gone."""
    try:
        holder = storage.locate(item.storage_path)
        if holder.is_local:
            path = holder.local_path(item.storage_path)
            return path if path.is_file() else None
        holder.stat(item.storage_path)
        return holder.presigned_url(item.storage_path, 3600 + 2 * int(item.duration)) or None
    except (FileNotFoundError, NotFound):
        return None


def _encode(storage: Storage, ffmpeg: str, item: _Item, limits: Limits, pace: Pace) -> str:
    """Encode one variant: "encoded", "ready" (someone else finished it), "failed" or
    "postponed". After giving way to a listener it waits for calm and starts again (at
    most MAX_YIELDS times)."""
    variant = item.variant
    assert variant is not None
    source = _source(storage, item)
    if source is None:
        return "failed"
    for _attempt in range(MAX_YIELDS + 1):
        if not _wait_for_calm(storage, limits, pace):
            return "postponed"
        stop = threading.Event()
        started = time.time()
        try:
            done = cache.ensure_encoding(
                storage, ffmpeg, source, variant, user_id=BACKGROUND_USER, limits=limits,
                duration=item.duration, label=f"track {item.track_id}", stop=stop,
            )  # fmt: skip
        except TranscodeBusy:
            time.sleep(pace.poll * 5)  # a listener took the slot first
            continue
        except TranscodeFailed:
            return "failed"
        if done is not None:
            return "ready"
        outcome = _follow(storage, variant, stop, started, pace)
        if outcome != "yielded":
            return outcome
    return "postponed"


def _wait_for_calm(storage: Storage, limits: Limits, pace: Pace) -> bool:
    """Wait (up to pace.max_wait) until a background encode may start; whether it may."""
    waiting_since = time.monotonic()
    while not _may_start(storage, limits, pace):
        if time.monotonic() - waiting_since > pace.max_wait:
            return False
        time.sleep(pace.poll * 5)
    return True


def _follow(storage: Storage, variant: Variant, stop: threading.Event, started: float, pace: Pace) -> str:
    """Wait for the variant's encode to end, stopping ours when a listener is refused a slot."""
    # Ours, or a listener's encode of the same variant: followed to its end either way.
    while cache.encoding(storage, variant):
        if cache.last_refusal(storage) >= started:
            stop.set()  # a listener waits for a slot: ours goes (unless a listener reads this one)
        time.sleep(pace.poll)
    if cache.complete(storage, variant) is not None:
        return "encoded"
    if cache.failure(storage, variant) is not None:
        return "failed"
    return "yielded" if stop.is_set() else "postponed"
