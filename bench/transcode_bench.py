"""Transcoding benchmark: the budgets of issue 13's transcoding half, in one run.

    python bench/transcode_bench.py [--trials 15]

Sets up its own instance in a temporary folder with one 4-minute stereo FLAC
(pink noise at 44.1 kHz, about 1,000 kbit/s, imported with `flask import`)
and a gunicorn (deploy/gunicorn.conf.py) on 127.0.0.1, with the ffmpeg the app
runs (imageio-ffmpeg's unless FFMPEG is set). Rows:
  - first audio byte of Opus 128 from the FLAC, on a fresh variant (the cache
    emptied before each trial): p50 and p95, budget 300 ms at p95;
  - a seek to the last quarter on the first play: the first request starts
    the encode, then a Range at 80 % of the estimated size (a second ffmpeg
    from that time): first byte p50 and p95, budget 500 ms at p95;
  - encoding speed: the app's own ffmpeg command for Opus 128 (and MP3 320),
    one at a time, as x real time (budget 50x), and with TRANSCODE_MAX_JOBS at once;
  - seeks of the untranscoded FLAC (random 256 KiB ranges, the fast path)
    idle and while TRANSCODE_MAX_JOBS encodes run at the cache's niceness: budget
    2x idle (and, for reference, the same encodes at the server's priority);
  - a complete cached variant: random 256 KiB ranges of it against the same
    of the original (fast path, and through Flask with ?quality=original),
    budget 1.5x.
The machine is shared: figures are compared within this run, nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, flask, free_port, gunicorn, instance_env, login_cookie, wait_port

sys.path.insert(0, str(ROOT))
from app.services.audio_tools import ffmpeg_path
from app.services.transcode.cache import ffmpeg_command, niced
from app.services.transcode.presets import PRESETS
from tests.audio import synthesize

SECONDS = 240
RANGE = 256 * 1024


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def first_byte(
    port: int, path: str, cookie: str, headers: dict | None = None
) -> tuple[float, int, http.client.HTTPConnection]:
    """Seconds to the first body byte, the status, and the open connection (the caller closes it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, **(headers or {})})
    response = conn.getresponse()
    response.read(1)
    return time.perf_counter() - started, response.status, conn


def range_latency(port: int, path: str, cookie: str, size: int, n: int) -> list[float]:
    """Time to the whole of n random 256 KiB ranges, one connection each."""
    times = []
    for _ in range(n):
        first = random.randrange(0, max(1, size - RANGE))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie, "Range": f"bytes={first}-{first + RANGE - 1}"})
        response = conn.getresponse()
        body = response.read()
        times.append(time.perf_counter() - started)
        conn.close()
        assert response.status == 206 and len(body) == RANGE, (response.status, len(body))
    return times


def empty_cache(uploads: Path) -> None:
    folder = uploads / ".variants"
    deadline = time.time() + 30
    while folder.is_dir() and any(f.suffix == ".part" for f in folder.iterdir()):
        if time.time() > deadline:
            break
        time.sleep(0.05)  # an abandoned encode stops within TRANSCODE_ABANDON_SECONDS
    if folder.is_dir():
        for f in folder.iterdir():
            if f.suffix in (".opus", ".mp3", ".failed"):
                f.unlink()


def encode_speed(ffmpeg: str, source: Path, preset: str, at_once: int) -> tuple[float, float]:
    """x real time of one encode (each, when `at_once` run together): by the
    wall clock, and by the CPU time it used (what a machine shared with other
    work still gives it)."""
    command = niced(ffmpeg_command(ffmpeg, source, PRESETS[preset]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(at_once)]
    for proc in procs:
        proc.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / at_once
    return SECONDS / wall, SECONDS / cpu


def main() -> None:  # noqa: PLR0915 - one run, read top to bottom like the table it prints
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    ffmpeg = ffmpeg_path(os.environ.get("FFMPEG") or None)[0]
    max_jobs = int(os.environ.get("TRANSCODE_MAX_JOBS") or os.cpu_count() or 2)
    folder = Path(tempfile.mkdtemp(prefix="transcode-bench-"))
    try:
        music = folder / "music"
        music.mkdir()
        source = music / "four minutes.flac"
        os.environ["FFMPEG"] = ffmpeg
        synthesize(f"anoisesrc=d={SECONDS}:c=pink:a=0.25", source, "-ac", "2", "-ar", "44100", "-c:a", "flac")
        env = instance_env(folder, TRANSCODE_MAX_PER_USER="100", TRANSCODE_ABANDON_SECONDS="0.5", LOG_LEVEL="warning")
        flask(env, "import", str(music), "--user", "bench")
        port = free_port()
        server = gunicorn(env, port)
        try:
            wait_port(port)
            cookie = login_cookie(port)
            uploads = folder / "uploads"
            original = "/stream/1"
            medium = "/stream/1?quality=medium"
            size = source.stat().st_size
            print(f"ffmpeg: {ffmpeg}; {os.cpu_count()} cores; TRANSCODE_MAX_JOBS={max_jobs}; "
                  f"source {size / 1e6:.1f} MB, {SECONDS} s")  # fmt: skip

            # 1. First audio byte of a fresh Opus 128 variant.
            firsts = []
            for _ in range(args.trials):
                empty_cache(uploads)
                elapsed, status, conn = first_byte(port, medium, cookie)
                assert status == 200, status
                firsts.append(elapsed)
                conn.close()
            # 2. A seek to the last quarter on the first play.
            seeks = []
            estimate = PRESETS["opus-128"].estimated_size(SECONDS)
            for _ in range(args.trials):
                empty_cache(uploads)
                _elapsed, status, conn = first_byte(port, medium, cookie)
                far = int(estimate * (0.75 + random.random() * 0.2))
                elapsed, status, seek = first_byte(port, medium, cookie, {"Range": f"bytes={far}-"})
                assert status == 206, status
                seeks.append(elapsed)
                seek.close()
                conn.close()
            empty_cache(uploads)

            # 3. Encoding speed, the app's command.
            runs = [encode_speed(ffmpeg, source, "opus-128", 1) for _ in range(3)]
            opus1, opus1_cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            runs = [encode_speed(ffmpeg, source, "mp3-320", 1) for _ in range(3)]
            mp31, mp31_cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            opusn, _cpu = encode_speed(ffmpeg, source, "opus-128", max_jobs)

            # 4. Untranscoded seeks, idle and under TRANSCODE_MAX_JOBS encodes.
            idle = range_latency(port, original, cookie, size, 40)

            def under_load(command: list[str]) -> list[float]:
                stop = threading.Event()

                def load() -> None:
                    while not stop.is_set():
                        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

                workers = [threading.Thread(target=load, daemon=True) for _ in range(max_jobs)]
                for w in workers:
                    w.start()
                time.sleep(1)
                latencies = range_latency(port, original, cookie, size, 40)
                stop.set()
                for w in workers:
                    w.join()
                return latencies

            encode = ffmpeg_command(ffmpeg, source, PRESETS["opus-128"])
            # As the cache runs its encodes (at a lower priority than the server), and for
            # reference the same encodes at the server's priority.
            busy = under_load(niced(encode))
            busy_plain = under_load(encode)

            # 5. A complete cached variant against the original.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/stream/1/download?quality=medium", headers={"Cookie": cookie})
            variant_size = len(conn.getresponse().read())
            conn.close()
            cached = range_latency(port, medium, cookie, variant_size, 60)
            plain = range_latency(port, original, cookie, size, 60)
            flask_original = range_latency(port, "/stream/1?quality=original", cookie, size, 60)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    print()
    print(f"{'row':58} {'p50':>8} {'p95':>8}  budget")
    print(f"{'first byte, Opus 128 from FLAC (fresh variant)':58} {ms(p(firsts, .5)):>8} {ms(p(firsts, .95)):>8}  "
          f"300 ms p95: {'met' if p(firsts, .95) < 0.3 else 'MISSED'}")  # fmt: skip
    print(f"{'seek to the last quarter on the first play':58} {ms(p(seeks, .5)):>8} {ms(p(seeks, .95)):>8}  "
          f"500 ms p95: {'met' if p(seeks, .95) < 0.5 else 'MISSED'}")  # fmt: skip
    print(f"encoding speed, wall clock: Opus 128 {opus1:.0f}x, MP3 320 {mp31:.0f}x real time (one at a time), "
          f"Opus 128 {opusn:.0f}x each with {max_jobs} at once; "
          f"budget 50x: {'met' if opus1 >= 50 else 'MISSED'}")  # fmt: skip
    print(f"encoding speed, per CPU second: Opus 128 {opus1_cpu:.0f}x, MP3 320 {mp31_cpu:.0f}x; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    fine = lambda v: f"{v * 1000:.2f} ms"  # noqa: E731
    ratio = p(busy, 0.5) / p(idle, 0.5)
    print(f"{'untranscoded 256 KiB seek, idle':58} {fine(p(idle, 0.5)):>8} {fine(p(idle, 0.95)):>8}")
    print(f"{f'untranscoded 256 KiB seek, {max_jobs} encodes running':58} {fine(p(busy, .5)):>8} "
          f"{fine(p(busy, .95)):>8}  within 2x: {ratio:.2f}x {'met' if ratio <= 2 else 'MISSED'}")  # fmt: skip
    print(f"{'  the same encodes at the server priority (reference)':58} {fine(p(busy_plain, .5)):>8} "
          f"{fine(p(busy_plain, .95)):>8}  {p(busy_plain, 0.5) / p(idle, 0.5):.2f}x")  # fmt: skip
    ratio = p(cached, 0.5) / p(plain, 0.5)
    print(f"{'complete cached variant, 256 KiB seek':58} {ms(p(cached, .5)):>8} {ms(p(cached, .95)):>8}  "
          f"within 1.5x of the original: {ratio:.2f}x {'met' if ratio <= 1.5 else 'MISSED'}")  # fmt: skip
    print(f"{'original, 256 KiB seek (fast path)':58} {ms(p(plain, 0.5)):>8} {ms(p(plain, 0.95)):>8}")
    print(f"{'original, 256 KiB seek through Flask (?quality=original)':58} "
          f"{ms(p(flask_original, .5)):>8} {ms(p(flask_original, .95)):>8}")  # fmt: skip


if __name__ == "__main__":
    main()
