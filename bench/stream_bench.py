"""Streaming benchmark: the app against nginx serving the same files, in one run.

    python bench/stream_bench.py [--duration 10] [--listeners 200] [--listen-seconds 30]

Sets up its own instance in a temporary folder (a generated corpus of six
5 MB MP3s and a 43 MB FLAC, imported with `flask import`), then starts, on
127.0.0.1 only:
  - python:  gunicorn with deploy/gunicorn.conf.py, the app sending the bytes;
  - x-accel: the same with SEND_FILE_MODE=x-accel behind deploy/nginx.conf;
  - nginx:   nginx serving the same files directly with sendfile.
For each it measures seek latency (one client, time to first byte), random
256 KiB ranges with 1, 8, 32 and 64 clients (wrk; every response's status
and length checked, a sample's bytes compared with the file while the load
runs), full downloads with 1 and 8 clients, slow listeners (N clients each
pulling a track at 40 KB/s while one more seeks every second), and the
app's memory (RSS of gunicorn's master and workers) at rest and at peak in
each phase. Every load is bounded in time and in requests. Prints Markdown
tables with each figure's ratio to nginx, then the issue's budgets.
Needs Debian's nginx and wrk (`make bench-deps`).
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import shlex
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
sys.path.insert(0, str(ROOT / "deploy"))
CHUNK = 256 * 1024
RANGE_CLIENTS = (1, 8, 32, 64)
MAX_REQUESTS_PER_WRK_THREAD = 250_000
LISTEN_RATE = 40_000  # bytes/s: a 320 kbps stream
SUPYSONIC_RPS = 219  # the figure for 32 clients on this machine
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"

import nginx_local  # noqa: E402
from common import (  # noqa: E402
    flask,
    free_port,
    gunicorn,
    instance_env,
    login_cookie,
    synthesize,
    tree_rss_mb,
    wait_port,
)

Target = tuple[str, int, Path]  # URL path, size, file on disk


def make_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i in range(6):  # ~5 MB MP3s at 320 kbps
        noise = f"anoisesrc=d=125:c=pink:seed={i}"
        synthesize(noise, folder / f"bench{i}.mp3", "-ac", "2", "-b:a", "320k", "-metadata", f"title=Bench {i}")
    noise = "anoisesrc=d=490:c=white:seed=9"  # ~43 MB
    options = ("-ac", "2", "-ar", "44100", "-sample_fmt", "s16", "-metadata", "title=Bench FLAC")
    synthesize(noise, folder / "big.flac", *options)


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


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


def seek_latency(port: int, cookie: str, targets: list[Target], runs: int) -> dict:
    """`runs` random 256 KiB ranges on one connection, every 20th compared with the file."""
    client, rng, times, errors = Client(port, cookie), random.Random(1), [], 0
    for i in range(runs):
        path, size, file = rng.choice(targets)
        start = rng.randrange(0, size - CHUNK)
        ttfb, status, body = client.range_ttfb(path, start)
        times.append(ttfb * 1000)
        if status != 206 or len(body) != CHUNK or (i % 20 == 0 and body != read_span(file, start)):
            errors += 1
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": percentile(times, 0.95),
        "p99": percentile(times, 0.99),
        "errors": errors,
    }


def read_span(file: Path, start: int) -> bytes:
    with file.open("rb") as fh:
        fh.seek(start)
        return fh.read(CHUNK)


# Bounded in time (wrk -d) and in requests (each wrk thread stops after
# `limit`). Status and socket errors are counted by wrk; bytes are compared
# by a sampler.
WRK_RANGES = """
local paths = {%(paths)s}
local sizes = {%(sizes)s}
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  sent = 0
end
function request()
  sent = sent + 1
  if sent > %(limit)d then wrk.thread:stop() end
  local i = math.random(#paths)
  local start = math.random(0, sizes[i] - %(chunk)d)
  return wrk.format("GET", paths[i], {["Range"] = "bytes=" .. start .. "-" .. (start + %(chunk)d - 1),
                                      ["Cookie"] = "%(cookie)s"})
end
"""


def ranges(port: int, cookie: str, targets: list[Target], *, clients: int, duration: int, tmp: Path) -> dict:
    """wrk with `clients` connections doing random 256 KiB ranges for `duration` seconds;
    meanwhile one more connection fetches ranges and compares their bytes with the file."""
    script = tmp / f"ranges-{port}.lua"
    script.write_text(
        WRK_RANGES
        % {
            "paths": ", ".join(f'"{p}"' for p, _, _ in targets),
            "sizes": ", ".join(str(s) for _, s, _ in targets),
            "chunk": CHUNK,
            "cookie": cookie,
            "limit": MAX_REQUESTS_PER_WRK_THREAD,
        }
    )
    checked = {"sampled": 0, "wrong": 0}
    stop = threading.Event()

    def verify() -> None:
        client, rng = Client(port, cookie), random.Random(port)
        while not stop.wait(0.2):
            path, size, file = rng.choice(targets)
            start = rng.randrange(0, size - CHUNK)
            _, status, body = client.range_ttfb(path, start)
            checked["sampled"] += 1
            checked["wrong"] += status != 206 or body != read_span(file, start)

    verifier = threading.Thread(target=verify)
    verifier.start()
    try:
        out = run_wrk(
            ["-t", str(min(2, clients)), "-c", str(clients), "-d", f"{duration}s", "--latency", "-s", str(script)],
            port,
            "/",
        )
    finally:
        stop.set()
        verifier.join()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    return {
        "rps": rps,
        "mbps": rps * CHUNK / 1e6,
        "errors": socket_errors + non2xx + checked["wrong"],
        "sampled": checked["sampled"],
        "p99": f"{p99.group(1)}{p99.group(2)}" if p99 else "?",
    }


def run_wrk(args: list[str], port: int, path: str) -> str:
    done = subprocess.run(
        ["wrk", *args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


WRK_DOWNLOADS = """
function init(args) sent = 0 end
function request()
  sent = sent + 1
  if sent > %(limit)d then wrk.thread:stop() end
  return wrk.format("GET", "%(path)s", {["Cookie"] = "%(cookie)s"})
end
"""


def downloads(port: int, cookie: str, path: str, *, clients: int, seconds: int, tmp: Path) -> float:
    """Full-file download throughput (MB/s) with `clients` connections (wrk), bounded
    in time and in requests like the ranges."""
    script = tmp / f"downloads-{port}.lua"
    script.write_text(WRK_DOWNLOADS % {"path": path, "cookie": cookie, "limit": MAX_REQUESTS_PER_WRK_THREAD})
    out = run_wrk(["-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds}s", "-s", str(script)], port, "/")
    match = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1.073741824e3}[unit.upper()]


def slow_listeners(port: int, cookie: str, targets: list[Target], listeners: int, seconds: int) -> dict:
    """`listeners` clients each pull a whole track at 40 KB/s for `seconds`, with a small
    receive buffer (as over a real network, the server cannot push the file ahead),
    while one more client seeks once a second. A listener stalls when a read waits
    over a second."""
    stop_at = time.monotonic() + seconds
    worst: list[float] = []
    failures: list[str] = []

    def listen(index: int) -> None:
        path = targets[index % len(targets)][0]
        try:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
            started, received, longest = time.monotonic(), 0, 0.0
            while time.monotonic() < stop_at:
                ahead = received - LISTEN_RATE * (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(min(ahead / LISTEN_RATE, max(0.0, stop_at - time.monotonic())))
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
        "seek_p99": percentile(seeks, 0.99),
        "seeks": len(seeks),
    }


class Memory:
    """Samples the app servers' RSS every 100 ms; keeps the peak per phase."""

    def __init__(self, procs: dict[str, subprocess.Popen]) -> None:
        self.procs = procs
        self.at_rest = {name: tree_rss_mb(p.pid) for name, p in procs.items()}
        self.peaks: dict[str, dict[str, float]] = {}
        self.phase = "rest"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            phase = self.peaks.setdefault(self.phase, dict.fromkeys(self.procs, 0.0))
            for name, p in self.procs.items():
                phase[name] = max(phase[name], tree_rss_mb(p.pid))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def main() -> None:  # noqa: PLR0915 - a benchmark reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per range and download run")
    parser.add_argument("--seeks", type=int, default=400)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--listen-seconds", type=int, default=30)
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help="extra gunicorn options for the python server, e.g. '--worker-class sync --threads 1' to compare",
    )
    args = parser.parse_args()
    for tool in ("wrk", "ffmpeg"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: make bench-deps")
    if not Path(NGINX_BIN).exists():
        sys.exit("nginx is needed: make bench-deps")
    tmp = Path(tempfile.mkdtemp(prefix="mc-stream-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        print("Generating the corpus ...", file=sys.stderr)
        make_corpus(tmp / "corpus")
        uploads = tmp / "uploads"
        env = instance_env(tmp)
        flask(env, "import", str(tmp / "corpus"), "--user", "bench")

        py_port, xa_port, nginx_port, direct_port = free_port(), free_port(), free_port(), free_port()
        app = gunicorn(env, py_port, *shlex.split(args.gunicorn_args))
        accel = gunicorn(dict(env, SEND_FILE_MODE="x-accel", TRUSTED_PROXIES="1"), xa_port)
        procs += [app, accel]
        direct = f"""server {{ listen 127.0.0.1:{direct_port};
            location /files/ {{ alias {uploads}/; sendfile on; tcp_nopush on; }} }}"""
        conf = nginx_local.render(tmp, xa_port, nginx_port, uploads, extra_servers=direct)
        procs.append(
            subprocess.Popen([NGINX_BIN, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        for port in (py_port, xa_port, nginx_port, direct_port):
            wait_port(port)

        # Log in once; the same cookie works for both app servers (one database, one key).
        cookie = login_cookie(py_port)
        rows = sqlite3.connect(tmp / "bench.db").execute("select id, storage_path, size_bytes from tracks").fetchall()
        app_targets = [(f"/stream/{i}", size, uploads / p) for i, p, size in rows]
        servers = {
            "python": (py_port, app_targets),
            "x-accel": (nginx_port, app_targets),
            "nginx": (direct_port, [(f"/files/{p}", size, uploads / p) for _, p, size in rows]),
        }
        memory = Memory({"python": app, "x-accel": accel})
        big = max(range(len(rows)), key=lambda i: rows[i][2])

        print("Seeks ...", file=sys.stderr)
        memory.phase = "seeks and ranges"
        seeks = {name: seek_latency(port, cookie, targets, args.seeks) for name, (port, targets) in servers.items()}
        print("Ranges ...", file=sys.stderr)
        loads = {
            name: {c: ranges(port, cookie, targets, clients=c, duration=args.duration, tmp=tmp) for c in RANGE_CLIENTS}
            for name, (port, targets) in servers.items()
        }
        print("Downloads ...", file=sys.stderr)
        memory.phase = f"downloads of the {rows[big][2] / 1e6:.0f} MB file"
        fetches = {
            name: [downloads(port, cookie, targets[big][0], clients=n, seconds=args.duration, tmp=tmp) for n in (1, 8)]
            for name, (port, targets) in servers.items()
        }
        time.sleep(5)  # let the servers finish the downloads wrk abandoned when its time ran out
        print("Slow listeners ...", file=sys.stderr)
        memory.phase = "slow listeners"
        slow = {
            name: slow_listeners(port, cookie, targets, args.listeners, args.listen_seconds)
            for name, (port, targets) in servers.items()
        }
        memory.close()

        print(
            f"\nServers: python = gunicorn (deploy/gunicorn.conf.py {args.gunicorn_args}), the app sending the bytes;"
        )
        print("x-accel = the app with SEND_FILE_MODE=x-accel behind deploy/nginx.conf; nginx = nginx alone.")
        ngx = seeks["nginx"]
        table(
            f"Seek: one client, random {CHUNK // 1024} KiB range, time to first byte ({args.seeks} requests)",
            ["server", "median ms", "p95 ms", "p99 ms", "errors", "median / nginx's"],
            [
                [
                    n,
                    f"{s['median']:.2f}",
                    f"{s['p95']:.2f}",
                    f"{s['p99']:.2f}",
                    s["errors"],
                    f"{s['median'] / ngx['median']:.1f}x",
                ]
                for n, s in seeks.items()
            ],
        )
        table(
            f"Random {CHUNK // 1024} KiB ranges for {args.duration} s each (wrk): requests/s, errors, share of nginx",
            ["server", *(f"{c} client{'s' * (c > 1)}" for c in RANGE_CLIENTS), "p99 latency at 32", "bytes compared"],
            [
                [
                    n,
                    *(
                        f"{r[c]['rps']:,.0f} ({r[c]['errors']} errors, {r[c]['rps'] / loads['nginx'][c]['rps']:.0%})"
                        for c in RANGE_CLIENTS
                    ),
                    r[32]["p99"],
                    f"{sum(x['sampled'] for x in r.values())} ranges",
                ]
                for n, r in loads.items()
            ],
        )
        dl = fetches["nginx"]
        table(
            f"Full downloads of the {rows[big][2] / 1e6:.0f} MB FLAC for {args.duration} s (wrk)",
            ["server", "1 client MB/s", "8 clients MB/s", "share of nginx (1 / 8)"],
            [
                [n, f"{one:,.0f}", f"{eight:,.0f}", f"{one / dl[0]:.0%} / {eight / dl[1]:.0%}"]
                for n, (one, eight) in fetches.items()
            ],
        )
        table(
            f"Slow listeners: {args.listeners} clients at 40 KB/s for {args.listen_seconds} s,"
            " one more seeking every second",
            ["server", "stalled over 1 s", "longest wait s", "seek median ms", "seek p99 ms"],
            [
                [n, r["stalled"], f"{r['worst']:.2f}", f"{r['seek_median']:.1f}", f"{r['seek_p99']:.1f}"]
                for n, r in slow.items()
            ],
        )
        phases = list(memory.peaks)
        table(
            "App memory: RSS of gunicorn's master and 2 workers, MB",
            ["server", "at rest", *(f"peak, {p}" for p in phases)],
            [[n, f"{memory.at_rest[n]:.0f}", *(f"{memory.peaks[p][n]:.0f}" for p in phases)] for n in memory.procs],
        )
        peak = max(v for p in memory.peaks.values() for v in p.values())
        py32 = loads["python"][32]
        budgets = [
            (
                "seek median under 2 ms, p99 under 10 ms (python)",
                f"{seeks['python']['median']:.2f} / {seeks['python']['p99']:.2f} ms",
                seeks["python"]["median"] < 2 and seeks["python"]["p99"] < 10,
            ),
            (
                f"32 clients: 5x Supysonic's {SUPYSONIC_RPS}/s, no errors (python)",
                f"{py32['rps']:,.0f}/s = {py32['rps'] / SUPYSONIC_RPS:.1f}x, {py32['errors']} errors",
                py32["rps"] >= 5 * SUPYSONIC_RPS and py32["errors"] == 0,
            ),
        ]
        for name in ("python", "x-accel"):
            r = slow[name]
            budgets.append(
                (
                    f"{args.listeners} listeners, none stalled; seek p99 under 50 ms ({name})",
                    f"{r['stalled']} stalled, {r['seek_p99']:.1f} ms",
                    r["stalled"] == 0 and r["seek_p99"] < 50,
                )
            )
        xa = fetches["x-accel"]
        budgets += [
            (
                "downloads at 90% of nginx or more (x-accel)",
                f"{xa[0] / dl[0]:.0%} / {xa[1] / dl[1]:.0%}",
                xa[0] >= 0.9 * dl[0] and xa[1] >= 0.9 * dl[1],
            ),
            ("all workers under 250 MB RSS at peak", f"{peak:.0f} MB", peak < 250),
        ]
        table("Budgets", ["budget", "measured", "met"], [[b, m, "yes" if ok else "**no**"] for b, m, ok in budgets])
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
