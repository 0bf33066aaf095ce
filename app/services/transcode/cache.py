"""The variant cache: one ffmpeg per variant, readers that follow it as it grows.

A variant is a track's file at a preset, named `<sha256>-<preset>.<ext>` in
the storage's variant area. Its life:

- absent: the first request takes the variant's lock (`.lock`, an exclusive
  flock the encoding thread holds until ffmpeg is done) and a job slot, opens
  `.part` and starts ffmpeg writing into it (to a pipe: ffmpeg never seeks
  back to rewrite a header, so every byte it writes is final);
- encoding: any request, in any process on this machine, that finds the lock
  held reads the `.part` as it grows (a reader holds a shared flock on
  `.readers` while it sends); the encoder stops ffmpeg and removes the `.part`
  when no reader has been there for TRANSCODE_ABANDON_SECONDS;
- complete: `.part` is renamed onto the variant (readers keep their open
  file), which from then on is sent like any stored file;
- failed: ffmpeg's complaint goes to the log and to `.failed` (so the next
  request answers at once instead of starting it again), the `.part` goes.

Locks are flocks: the kernel drops them when a process dies, so a crash
never leaves a variant locked or a slot taken. Job slots are flocks on
`slot-all-<i>` (TRANSCODE_MAX_JOBS of them) and `slot-u<user>-<j>`
(TRANSCODE_MAX_PER_USER), which holds across the processes of one machine.
With several app servers (TRANSCODE_SLOTS_URL, by default REDIS_URL), a user's
slots are leases in Redis instead (redis-py's locks), counted across every server:
a lease lasts SLOT_LEASE_SECONDS and is renewed while its ffmpeg runs, so a slot
of a server that died comes back within that time. Redis out of reach, each
machine counts its own again (and says so in the log). The machine's own slots
(TRANSCODE_MAX_JOBS) stay flocks: they share out its cores.

Background encodes (pre-encoding, app/services/transcode/preencode.py) take the
same slots but give way to listeners: a listener refused a slot leaves a mark
(`slot-refused`, its time), and a background encode stops, as if abandoned,
when it is given a `stop` event that is set while nobody reads it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.lock

from app.extensions import redis_client
from app.ops import metrics
from app.services.errors import DomainError
from app.services.storage import Storage
from app.services.transcode.presets import Preset

log = logging.getLogger(__name__)
FAILED_MEMORY = 600.0  # seconds a failure is remembered before the next request tries again
CHUNK = 64 * 1024
# The niceness of the encodes into the cache (0 normal, 19 the lowest priority): they run
# far ahead of playback, so the requests the server answers meanwhile go first.
ENCODE_NICENESS = 10
# coreutils' nice starts the encode at that niceness, every thread of it (setpriority on a
# started ffmpeg would miss the threads it has already made).
_NICE = shutil.which("nice")


def niced(command: list[str]) -> list[str]:
    """An encode's command as the cache runs it: at ENCODE_NICENESS."""
    return [_NICE, "-n", str(ENCODE_NICENESS), *command] if _NICE else command


class TranscodeBusy(DomainError):
    """Every job slot (all of them, or the user's) is taken: try again in `retry_after` seconds."""

    code = "TRANSCODE_BUSY"
    status = 429


class TranscodeFailed(DomainError):
    """ffmpeg could not convert the file (a damaged or hostile file)."""

    code = "TRANSCODE_FAILED"
    status = 422


@dataclass(frozen=True)
class Limits:
    max_jobs: int
    max_per_user: int
    abandon_seconds: float = 3.0
    retry_after: int = 5
    shared_url: str | None = None  # Redis, where the users' slots are counted across servers

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        return cls(
            max_jobs=config["TRANSCODE_MAX_JOBS"],
            max_per_user=config["TRANSCODE_MAX_PER_USER"],
            abandon_seconds=config["TRANSCODE_ABANDON_SECONDS"],
            shared_url=config.get("TRANSCODE_SLOTS_URL"),
        )


@dataclass(frozen=True)
class Variant:
    """The names of one track at one preset."""

    sha256: str
    preset: Preset

    @property
    def name(self) -> str:
        return f"{self.sha256}-{self.preset.name}.{self.preset.ext}"

    @property
    def etag(self) -> str:
        return f"{self.sha256}-{self.preset.name}"


SLOT_LEASE_SECONDS = 30


class Slots:
    """Job slots held by one ffmpeg: one of all, one of its user's (a flock, or a lease in
    Redis, renewed by a thread of its own until released)."""

    def __init__(self, fds: list[int], leases: list[redis.lock.Lock] | None = None) -> None:
        self._fds = fds
        self._leases = leases or []
        self._released = threading.Event()
        if self._leases:
            threading.Thread(target=self._renew, name="transcode-slot-lease", daemon=True).start()

    def _renew(self) -> None:
        while not self._released.wait(SLOT_LEASE_SECONDS / 3):
            for lease in self._leases:
                try:
                    lease.reacquire()
                except redis.RedisError as exc:
                    log.warning("transcode slot: its lease in Redis could not be renewed: %s", exc)

    def release(self) -> None:
        self._released.set()
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)  # closing drops the flock
        leases, self._leases = self._leases, []
        for lease in leases:
            with contextlib.suppress(redis.RedisError):  # gone already: it ran out
                lease.release()


def _shared_slot(url: str, user_id: int, count: int) -> redis.lock.Lock | None:
    """A lease on one of the user's `count` slots, counted across servers; None when all
    are taken. Raises redis.RedisError when Redis cannot be reached."""
    client = redis_client(url)
    for j in range(max(0, count)):
        lease = client.lock(
            f"musiccloud:transcode-slot:u{int(user_id)}:{j}",
            timeout=SLOT_LEASE_SECONDS,
            blocking=False,
            thread_local=False,  # renewed by another thread
        )
        if lease.acquire():
            return lease
    return None


def _try_flock(path: Path, mode: int) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _reader_lock(path: Path) -> int:
    """A shared lock on a variant's readers file, waited for: the encoder only
    ever holds it exclusively for an instant, to see whether anyone reads."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


REFUSED_MARK = "slot-refused"


def take_slots(storage: Storage, limits: Limits, user_id: int, *, background: bool = False) -> Slots:
    """A global and a per-user job slot. Raises TranscodeBusy. A listener refused because
    the machine's slots are all taken (not a `background` encode, and not a listener at
    their own per-user limit, which a background encode's giving way would not help) is
    marked for background encodes to give way."""
    taken: list[int] = []
    leases: list[redis.lock.Lock] = []
    for prefix, count in (("all", limits.max_jobs), (f"u{int(user_id)}", limits.max_per_user)):
        if prefix != "all" and limits.shared_url:
            try:
                lease = _shared_slot(limits.shared_url, user_id, count)
            except redis.RedisError as exc:
                log.warning("transcode slots: Redis cannot be reached (%s); this machine counts its own", exc)
            else:
                if lease is None:
                    Slots(taken).release()
                    raise TranscodeBusy(retry_after=limits.retry_after)
                leases.append(lease)
                continue
        for i in range(max(0, count)):
            fd = _try_flock(storage.variant_path(f"slot-{prefix}-{i}"), fcntl.LOCK_EX)
            if fd is not None:
                taken.append(fd)
                break
        else:
            Slots(taken).release()
            if not background and prefix == "all":
                with contextlib.suppress(OSError):
                    storage.variant_path(REFUSED_MARK).touch()
            raise TranscodeBusy(retry_after=limits.retry_after)
    metrics.transcode_started()  # every ffmpeg holds slots, so every start passes here
    return Slots(taken, leases)


def last_refusal(storage: Storage) -> float:
    """When a listener was last refused a slot (time.time(); 0 when never)."""
    try:
        return storage.variant_path(REFUSED_MARK).stat().st_mtime
    except OSError:
        return 0.0


def busy_slots(storage: Storage, limits: Limits) -> int:
    """How many ffmpeg processes run now (on this machine)."""
    busy = 0
    for i in range(limits.max_jobs):
        fd = _try_flock(storage.variant_path(f"slot-all-{i}"), fcntl.LOCK_SH)
        if fd is None:
            busy += 1
        else:
            os.close(fd)
    return busy


def ffmpeg_command(ffmpeg: str, source: Path, preset: Preset, start: float = 0.0) -> list[str]:
    """Decode `source` from `start` seconds (seeking the input, -ss before -i) into `preset` on stdout."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start > 0:
        command += ["-ss", f"{start:.3f}"]
    command += ["-i", str(source), *preset.ffmpeg_output()]
    if start > 0 and preset.muxer == "ogg":
        # Granule positions carry on from the seek point, so the pages fit the whole stream's timeline.
        command += ["-output_ts_offset", f"{start:.3f}"]
    return [*command, "pipe:1"]


class Encoder:
    """The thread that runs one variant's ffmpeg into its .part and finishes it."""

    def __init__(
        self, storage: Storage, ffmpeg: str, source: Path, variant: Variant, *, lock_fd: int, slots: Slots,
        limits: Limits, duration: float, label: str, stop: threading.Event | None = None,
    ) -> None:  # fmt: skip
        self.storage = storage
        self.variant = variant
        # A background encode: it goes on with nobody reading, until `stop` is set.
        self.stop = stop
        self.lock_fd = lock_fd
        self.slots = slots
        self.limits = limits
        self.label = label
        self.part = storage.variant_path(variant.name + ".part")
        self.final = storage.variant_path(variant.name)
        self.readers = storage.variant_path(variant.name + ".readers")
        # A stuck ffmpeg (a hostile file can make a decoder crawl) is stopped.
        self.deadline = time.monotonic() + 60 + duration
        # ffmpeg's complaints go to a file: a hostile input can make it write
        # more than a pipe holds, and nobody would read the pipe until the end.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the thread
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our ffmpeg, our arguments
                niced(ffmpeg_command(ffmpeg, source, variant.preset)),
                stdout=fd,
                stderr=self.errors,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            self.errors.close()
            raise
        finally:
            os.close(fd)
        self.thread = threading.Thread(target=self._run, name=f"transcode-{variant.preset.name}", daemon=True)
        self.thread.start()

    def _nobody_reads(self) -> bool:
        fd = _try_flock(self.readers, fcntl.LOCK_EX)
        if fd is None:
            return False
        os.close(fd)
        return True

    def _watch(self) -> str | None:
        """Wait for ffmpeg; the reason it had to be stopped, if it had to."""
        idle_since: float | None = None
        while True:
            try:
                self.process.wait(timeout=0.2)
                return None
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if not self._nobody_reads():
                idle_since = None
            elif self.stop is not None:
                if self.stop.is_set():
                    return "yielded"
            elif now - (idle_since := idle_since or now) >= self.limits.abandon_seconds:
                return "abandoned"
            if now > self.deadline:
                return "too slow"

    def _run(self) -> None:
        name = self.variant.preset.name
        try:
            reason = self._watch()
            if reason:
                self.process.kill()
                self.process.wait()
            if reason is None and self.process.returncode == 0 and self.part.stat().st_size > 0:
                self.part.replace(self.final)
                log.info("transcoded %s to %s", self.label, name)
                return
            if reason == "abandoned":
                log.info("transcode of %s to %s stopped: nobody is listening", self.label, name)
                return
            if reason == "yielded":
                log.info("pre-encoding of %s to %s stopped: listeners need the slot", self.label, name)
                return
            self.errors.seek(0, os.SEEK_END)
            self.errors.seek(max(0, self.errors.tell() - 4096))
            lines = self.errors.read().decode("utf-8", "replace").strip().splitlines()
            message = reason or (lines[-1][:300] if lines else f"ffmpeg exited with {self.process.returncode}")
            log.warning("transcode of %s to %s failed: %s", self.label, name, message)
            with contextlib.suppress(OSError):
                self.storage.variant_path(self.variant.name + ".failed").write_text(message)
        except Exception:
            log.exception("transcode of %s failed", self.label)
            with contextlib.suppress(Exception):
                self.process.kill()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.part.unlink()
            self.errors.close()
            self.slots.release()
            os.close(self.lock_fd)


def failure(storage: Storage, variant: Variant) -> str | None:
    """The recent failure of this variant's encode, if any (older ones are forgotten)."""
    path = storage.variant_path(variant.name + ".failed")
    try:
        if time.time() - path.stat().st_mtime < FAILED_MEMORY:
            return path.read_text()[:300]
        path.unlink()
    except (FileNotFoundError, OSError):
        pass
    return None


def complete(storage: Storage, variant: Variant) -> Path | None:
    """The finished variant's file (touched: it was just used), or None."""
    path = storage.variant_path(variant.name)
    try:
        os.utime(path)
    except FileNotFoundError:
        return None
    return path


def touch_if_stale(path: Path, older_than: float = 600.0) -> None:
    """Mark a variant as used for the LRU trim, at most once per `older_than` seconds."""
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > older_than:
            os.utime(path)


def encoding(storage: Storage, variant: Variant) -> bool:
    """Whether some process holds the variant's lock (its ffmpeg runs)."""
    fd = _try_flock(storage.variant_path(variant.name + ".lock"), fcntl.LOCK_SH)
    if fd is None:
        return True
    os.close(fd)
    return False


def ensure_encoding(
    storage: Storage, ffmpeg: str, source: Path, variant: Variant, *, user_id: int, limits: Limits,
    duration: float, label: str, stop: threading.Event | None = None,
) -> Path | None:  # fmt: skip
    """The finished file when there is one (None: an encode runs, started now
    if none did). Raises TranscodeFailed (a recent failure) or TranscodeBusy.

    With `stop`, an encode started here is background work (see Encoder)."""
    done = complete(storage, variant)
    if done is not None:
        return done
    lock_fd = _try_flock(storage.variant_path(variant.name + ".lock"), fcntl.LOCK_EX)
    if lock_fd is None:
        return None  # someone encodes it
    try:
        done = complete(storage, variant)
        if done is not None:
            os.close(lock_fd)
            return done
        failed = failure(storage, variant)
        if failed is not None:
            raise TranscodeFailed(reason=failed)
        slots = take_slots(storage, limits, user_id, background=stop is not None)
    except BaseException:
        os.close(lock_fd)
        raise
    try:
        Encoder(
            storage,
            ffmpeg,
            source,
            variant,
            lock_fd=lock_fd,
            slots=slots,
            limits=limits,
            duration=duration,
            label=label,
            stop=stop,
        )
    except BaseException:
        slots.release()
        os.close(lock_fd)
        raise
    return None


class Follower:
    """Reads a variant's .part as ffmpeg writes it, holding a reader's lock meanwhile."""

    def __init__(self, storage: Storage, variant: Variant) -> None:
        self.storage = storage
        self.variant = variant
        self.readers_fd = _reader_lock(storage.variant_path(variant.name + ".readers"))
        self.fh = None
        for name in (variant.name + ".part", variant.name):
            with contextlib.suppress(FileNotFoundError):
                self.fh = storage.variant_path(name).open("rb")
                break

    @property
    def available(self) -> int:
        """Bytes written so far."""
        return os.fstat(self.fh.fileno()).st_size if self.fh else 0

    def finished(self) -> bool:
        """Whether nothing more will be written (done, failed or abandoned)."""
        return not encoding(self.storage, self.variant)

    def wait_for(self, size: int, timeout: float) -> bool:
        """Wait until `size` bytes exist or the encode ends; whether they exist."""
        end = time.monotonic() + timeout
        while self.available < size:
            if self.finished() or time.monotonic() > end:
                return self.available >= size
            time.sleep(0.01)
        return True

    def read(self, first: int, length: int) -> Iterator[bytes]:
        """`length` bytes from offset `first` as they are written; fewer when the
        encode ends short (the caller pads)."""
        if self.fh is None:
            return
        self.fh.seek(first)
        left = length
        idle = 0
        while left > 0:
            data = self.fh.read(min(CHUNK, left))
            if data:
                idle = 0
                left -= len(data)
                yield data
                continue
            if self.finished():
                # The last bytes may have landed between the read and the check.
                data = self.fh.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data
                continue
            idle += 1
            time.sleep(0.01 if idle < 100 else 0.05)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        if self.readers_fd is not None:
            os.close(self.readers_fd)
            self.readers_fd = None


class SeekEncode:
    """An ffmpeg started from a time (a seek beyond what the variant's encode has
    reached), streamed straight to one client; it counts as a reader of the
    variant, so the main encode goes on meanwhile."""

    def __init__(
        self, storage: Storage, ffmpeg: str, source: Path, variant: Variant, start: float, *, user_id: int,
        limits: Limits,
    ) -> None:  # fmt: skip
        self.slots = take_slots(storage, limits, user_id)
        self.readers_fd = _reader_lock(storage.variant_path(variant.name + ".readers"))
        self.preset = variant.preset
        try:
            self.process = subprocess.Popen(  # noqa: S603
                ffmpeg_command(ffmpeg, source, variant.preset, start),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            self.close()
            raise

    def read(self, length: int, *, with_headers: bool = False) -> Iterator[bytes]:
        """`length` bytes of ffmpeg's output (fewer if it ends sooner). A range
        inside a file leaves out the Ogg header pages (OpusHead, OpusTags): the
        client has them from the start of the file; a whole answer keeps them."""
        stdout = self.process.stdout
        assert stdout is not None
        if self.preset.muxer == "ogg" and not with_headers:
            _skip_ogg_pages(stdout, 2)
        left = length
        while left > 0:
            data = stdout.read1(min(CHUNK, left)) if hasattr(stdout, "read1") else stdout.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data

    def close(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
            if process.stdout:
                process.stdout.close()
        if self.readers_fd is not None:
            os.close(self.readers_fd)
            self.readers_fd = None
        self.slots.release()


def _skip_ogg_pages(stream, count: int) -> None:
    for _ in range(count):
        header = stream.read(27)
        if len(header) < 27 or header[:4] != b"OggS":
            return
        lacing = stream.read(header[26])
        stream.read(sum(lacing))


def cache_bytes(storage: Storage) -> int:
    """What the finished and partial variants take."""
    return sum(f.size for f in storage.list_variants() if not f.rel.startswith("slot-"))


def evict(storage: Storage, cap_bytes: int, pinned: frozenset[str] | set[str] = frozenset()) -> dict[str, int]:
    """Least recently used complete variants go until the cache holds at most
    `cap_bytes`; partial files nobody writes any more and old failure notes go
    too. Lock files (empty) stay: removing one another process may be about to
    lock would let two encodes run. Returns what was removed.

    Variants named in `pinned` (pre-encoded for someone's phone) count against
    the cap like any other but go last: every unpinned one goes first, then,
    when the pinned alone are over the cap, the least recently used of them."""
    files = list(storage.list_variants())
    now = time.time()
    removed = {"variants": 0, "partial": 0, "bytes": 0, "pinned": 0}
    complete_files = []
    for f in files:
        if f.rel.startswith("slot-") or f.rel.endswith((".lock", ".readers")):
            continue
        if f.rel.endswith(".part"):
            variant_name = f.rel.removesuffix(".part")
            fd = _try_flock(storage.variant_path(variant_name + ".lock"), fcntl.LOCK_SH)
            if fd is not None:  # nobody encodes it: left by a crash
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    storage.variant_path(f.rel).unlink()
                removed["partial"] += 1
            continue
        if f.rel.endswith(".failed"):
            if now - f.modified > FAILED_MEMORY:
                with contextlib.suppress(FileNotFoundError):
                    storage.variant_path(f.rel).unlink()
            continue
        complete_files.append(f)
    total = sum(f.size for f in complete_files)
    for f in sorted(complete_files, key=lambda f: (f.rel in pinned, f.modified)):
        if total <= cap_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            storage.variant_path(f.rel).unlink()
        total -= f.size
        removed["variants"] += 1
        removed["bytes"] += f.size
        if f.rel in pinned:
            removed["pinned"] += 1
    return removed
