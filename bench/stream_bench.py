"""Streaming benchmark: seeks and random 256 KiB ranges, the app against nginx.

    python bench/stream_bench.py [--duration 15] [--clients 32]

Sets up its own instance in a temporary folder (a generated corpus imported
with `flask import`), then starts, on 127.0.0.1 only:
  - gunicorn as deploy/gunicorn.conf.py recommends, the app streaming (python);
  - gunicorn with SEND_FILE_MODE=x-accel behind nginx (x-accel);
  - nginx serving the same files directly with sendfile (nginx).
It prints seek latency (one client, time to first byte) and the throughput of
`wrk` doing random 256 KiB ranges with N clients for a fixed time, with the
errors counted, and the app's memory. Needs Debian's nginx and wrk.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CHUNK = 256 * 1024

from common import flask, free_port, gunicorn, instance_env, login_cookie, tree_rss_mb, wait_port  # noqa: E402


def make_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    common = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    for i in range(6):  # ~5 MB MP3s at 320 kbps
        subprocess.run(
            [
                *common,
                "-i",
                f"anoisesrc=d=125:c=pink:seed={i}",
                "-ac",
                "2",
                "-b:a",
                "320k",
                "-metadata",
                f"title=Bench {i}",
                str(folder / f"bench{i}.mp3"),
            ],
            check=True,
        )
    subprocess.run(
        [
            *common,
            "-i",
            "anoisesrc=d=250:c=white:seed=9",
            "-ac",
            "2",
            "-ar",
            "44100",  # ~43 MB FLAC
            "-sample_fmt",
            "s16",
            "-metadata",
            "title=Bench FLAC",
            str(folder / "big.flac"),
        ],
        check=True,
    )


class Client:
    """One keep-alive connection; measures time to the first body byte."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def range_ttfb(self, path: str, start: int) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers={"Range": f"bytes={start}-{start + CHUNK - 1}", "Cookie": self.cookie})
        response = self.conn.getresponse()
        first = response.read(1)
        ttfb = time.perf_counter() - started
        body = first + response.read()
        return ttfb, response.status, body


def seek_latency(port: int, cookie: str, targets: list[tuple[str, int, Path]], runs: int) -> dict:
    client, rng, times, errors = Client(port, cookie), random.Random(1), [], 0
    for i in range(runs):
        path, size, file = rng.choice(targets)
        start = rng.randrange(0, size - CHUNK)
        ttfb, status, body = client.range_ttfb(path, start)
        times.append(ttfb * 1000)
        if status != 206 or (i % 20 == 0 and body != file.read_bytes()[start : start + CHUNK]):
            errors += 1
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "p99": times[int(len(times) * 0.99) - 1],
        "errors": errors,
    }


def wrk(  # noqa: PLR0917 - one call site, in a benchmark
    port: int, cookie: str, targets: list[tuple[str, int, Path]], clients: int, duration: int, tmp: Path
) -> dict:
    script = tmp / f"ranges-{port}.lua"
    paths = ", ".join(f'"{p}"' for p, _, _ in targets)
    sizes = ", ".join(str(s) for _, s, _ in targets)
    script.write_text(
        f"local paths = {{{paths}}}\nlocal sizes = {{{sizes}}}\n"
        "math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n"
        "request = function()\n  local i = math.random(#paths)\n"
        f"  local start = math.random(0, sizes[i] - {CHUNK})\n"
        f'  return wrk.format("GET", paths[i], {{["Range"] = "bytes=" .. start .. "-" .. (start + {CHUNK - 1}),'
        f' ["Cookie"] = "{cookie}"}})\nend\n'
    )
    threads = min(2, clients)
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    return {
        "rps": rps,
        "mbps": rps * CHUNK / 1e6,
        "errors": socket_errors + non2xx,
        "p99": f"{p99.group(1)}{p99.group(2)}" if p99 else "?",
    }


def slow_listeners(
    port: int, cookie: str, targets: list[tuple[str, int, Path]], listeners: int, seconds: int, *, rate: int = 40_000
) -> dict:
    """`listeners` clients each pull a whole track at `rate` bytes/s for `seconds`, while one
    more client seeks once a second. A listener stalls when a read waits over a second."""
    stop_at = time.monotonic() + seconds
    worst: list[float] = []
    failures: list[str] = []

    def listen(index: int) -> None:
        path = targets[index % len(targets)][0]
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
            started, received, longest = time.monotonic(), 0, 0.0
            while time.monotonic() < stop_at:
                ahead = received - rate * (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(min(ahead / rate, max(0.0, stop_at - time.monotonic())))
                    continue
                waited = time.monotonic()
                chunk = sock.recv(8192)
                longest = max(longest, time.monotonic() - waited)
                if not chunk:
                    break
                received += len(chunk)
            sock.close()
            worst.append(longest)
        except OSError as exc:
            failures.append(str(exc))

    threads = [threading.Thread(target=listen, args=(i,)) for i in range(listeners)]
    for t in threads:
        t.start()
        time.sleep(0.005)  # a crowd arriving, not one burst
    client, rng, seeks = Client(port, cookie), random.Random(3), []
    while time.monotonic() < stop_at - 1:
        path, size, _ = rng.choice(targets)
        ttfb, status, _ = client.range_ttfb(path, rng.randrange(0, size - CHUNK))
        seeks.append(ttfb * 1000 if status == 206 else float("inf"))
        time.sleep(1)
    for t in threads:
        t.join()
    seeks.sort()
    return {
        "stalled": sum(1 for w in worst if w > 1.0) + len(failures),
        "worst": max(worst or [0]),
        "seek_median": statistics.median(seeks),
        "seek_max": seeks[-1],
        "seeks": len(seeks),
    }


def downloads(port: int, cookie: str, path: str, clients: int, seconds: int) -> float:
    """Full-file download throughput (MB/s) with `clients` connections (wrk)."""
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, clients)),
            "-c",
            str(clients),
            "-d",
            f"{seconds}s",
            "-H",
            f"Cookie: {cookie}",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", done.stdout)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(unit.upper(), 1) * (1.048576 if unit != "B" else 1)


def main() -> None:  # noqa: PLR0915 - a benchmark reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seeks", type=int, default=400)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--listen-seconds", type=int, default=30)
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "ffmpeg"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is needed: apt-get install nginx-light wrk ffmpeg")
    tmp = Path(tempfile.mkdtemp(prefix="mc-stream-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        print("Generating the corpus ...", file=sys.stderr)
        make_corpus(tmp / "corpus")
        uploads = tmp / "uploads"
        env = instance_env(tmp)
        flask(env, "import", str(tmp / "corpus"), "--user", "bench")

        py_port, xa_port, nginx_direct, nginx_app = free_port(), free_port(), free_port(), free_port()
        procs.append(gunicorn(env, py_port))
        procs.append(gunicorn(dict(env, SEND_FILE_MODE="x-accel", TRUSTED_PROXIES="1"), xa_port))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        conf = tmp / "nginx.conf"
        conf.write_text(f"""
user root; worker_processes 2; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path {tmp}/nginx-body; proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fcgi; uwsgi_temp_path {tmp}/nginx-uwsgi; scgi_temp_path {tmp}/nginx-scgi;
  upstream app {{ server 127.0.0.1:{xa_port}; keepalive 64; }}
  server {{ listen 127.0.0.1:{nginx_direct}; location /files/ {{ alias {uploads}/; }} }}
  server {{
    listen 127.0.0.1:{nginx_app};
    location /_media/ {{ internal; alias {uploads}/; }}
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; }}
  }}
}}
""")
        procs.append(subprocess.Popen(["nginx", "-c", str(conf)], **quiet))
        for port in (py_port, xa_port, nginx_direct, nginx_app):
            wait_port(port)

        # Log in once; the same cookie works for both app servers (one database, one key).
        cookie = login_cookie(py_port)

        rows = sqlite3.connect(tmp / "bench.db").execute("select id, storage_path, size_bytes from tracks").fetchall()
        app_targets = [(f"/stream/{i}", size, uploads / p) for i, p, size in rows]
        direct_targets = [(f"/files/{p}", size, uploads / p) for _, p, size in rows]

        servers = [
            ("app, Python streaming (gunicorn)", py_port, app_targets, procs[0]),
            ("app, X-Accel-Redirect behind nginx", nginx_app, app_targets, procs[1]),
            ("nginx alone (sendfile)", nginx_direct, direct_targets, None),
        ]
        rest = {name: tree_rss_mb(p.pid) for name, _, _, p in servers if p}
        peaks = dict(rest)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for name, _, _, p in servers:
                    if p:
                        peaks[name] = max(peaks[name], tree_rss_mb(p.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        seeks = {name: seek_latency(port, cookie, targets, args.seeks) for name, port, targets, _ in servers}
        loads = {
            name: wrk(port, cookie, targets, args.clients, args.duration, tmp) for name, port, targets, _ in servers
        }
        big = max(range(len(rows)), key=lambda i: rows[i][2])
        fetches = {
            name: [downloads(port, cookie, targets[big][0], n, max(5, args.duration // 2)) for n in (1, 8)]
            for name, port, targets, _ in servers
        }
        time.sleep(5)  # let the servers finish the downloads wrk abandoned when its time ran out
        slow = {
            name: slow_listeners(port, cookie, targets, args.listeners, args.listen_seconds)
            for name, port, targets, _ in servers
        }
        stop.set()
        sampler.join()

        nginx_rps = loads["nginx alone (sendfile)"]["rps"]
        print(f"\nSeek: one client, random {CHUNK // 1024} KiB range, time to first byte ({args.seeks} requests)\n")
        print("| server | median ms | p95 ms | p99 ms | errors |\n|---|---|---|---|---|")
        for name, s in seeks.items():
            print(f"| {name} | {s['median']:.2f} | {s['p95']:.2f} | {s['p99']:.2f} | {s['errors']} |")
        print(f"\nRandom {CHUNK // 1024} KiB ranges: {args.clients} clients for {args.duration} s (wrk)\n")
        print("| server | requests/s | MB/s | p99 latency | errors | share of nginx |\n|---|---|---|---|---|---|")
        for name, r in loads.items():
            print(
                f"| {name} | {r['rps']:.0f} | {r['mbps']:.0f} | {r['p99']} | {r['errors']} | "
                f"{r['rps'] / nginx_rps:.0%} |"
            )
        nginx_dl = fetches["nginx alone (sendfile)"]
        print(f"\nFull downloads of a {rows[big][2] / 1e6:.0f} MB FLAC (wrk)\n")
        print("| server | 1 client MB/s | 8 clients MB/s | share of nginx (1 / 8) |\n|---|---|---|---|")
        for name, (one, eight) in fetches.items():
            print(f"| {name} | {one:.0f} | {eight:.0f} | {one / nginx_dl[0]:.0%} / {eight / nginx_dl[1]:.0%} |")
        print(
            f"\nSlow listeners: {args.listeners} clients at 40 KB/s for {args.listen_seconds} s, one more seeking"
            " every second\n"
        )
        print("| server | stalled over 1 s | longest wait s | seek median ms | seek worst ms |\n|---|---|---|---|---|")
        for name, r in slow.items():
            print(f"| {name} | {r['stalled']} | {r['worst']:.2f} | {r['seek_median']:.1f} | {r['seek_max']:.1f} |")
        print("\nApp memory (RSS of gunicorn master and workers)\n")
        print("| server | at rest MB | peak MB |\n|---|---|---|")
        for name, at_rest in rest.items():
            print(f"| {name} | {at_rest:.0f} | {peaks[name]:.0f} |")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
