"""Serving benchmark: the serving table of issue 11, every column measured in one run.

    python bench/stream_bench.py [--quick] [--gunicorn-args '-k sync --threads 1'] [--listeners 200,500,1000]

Sets up its own instance in a temporary folder, with a generated corpus
imported by `flask import`: six 5 MB MP3s and a 43 MB FLAC for the seeks,
ranges and downloads, and twelve 8-second MP3s at 320 kbps for the slow
listeners only (so that every listener changes track several times in a
run). Then starts one server per column on 127.0.0.1, each in its own
processes:
  - nginx:    nginx alone serving the files with sendfile, the reference;
  - python:   gunicorn with deploy/gunicorn.conf.py, the app sending the bytes;
  - x-accel:  the same with SEND_FILE_MODE=x-accel behind deploy/nginx.conf
              without its seek grants (every request asks the app);
  - new seek: deploy/nginx.conf as it comes: nginx keeps the app's yes for a
              seek (a grant) and sends the following ones itself.
Rows, in every column:
  - seek: one client, random 256 KiB ranges, time to first byte;
  - random 256 KiB ranges with 1, 8, 32 and 64 clients (wrk): requests/s and
    share of nginx's; every status and length checked by wrk, a sample's
    bytes compared with the file while the load runs;
  - server CPU seconds per GiB served with 64 clients: utime + stime of the
    server's processes (gunicorn's master and workers, nginx's master and
    workers where nginx is in the path) before and after, divided by what
    wrk read;
  - full downloads of the FLAC with 1 and 8 clients;
  - slow listeners at 200, 500 and 1,000 (bench/listeners.py, in a process
    of its own): stalled over 1 s, never served, seeks p50 and p99;
  - memory of every server process, sampled every 0.5 s, as RSS and PSS
    sums: at rest, peak during the largest listener run, and 60 s after it.
Then the issue's budgets, met or not. The load generators run on the same
cores as the servers and take CPU from them; the output says so. Every load
is bounded in time and in requests, and nothing is asserted.
Needs Debian's nginx and wrk (`make bench-deps`).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "deploy"))
CHUNK = 256 * 1024
RANGE_CLIENTS = (1, 8, 32, 64)
MAX_REQUESTS_PER_WRK_THREAD = 250_000
SAMPLE_EVERY = 0.5  # seconds between memory samples
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
LABELS = {
    "nginx": "nginx (files directly)",
    "python": "Python serving",
    "x-accel": "X-Accel behind nginx",
    "new seek": "new seek path",
}

import listeners  # noqa: E402
import nginx_local  # noqa: E402
from common import (  # noqa: E402
    flask,
    free_port,
    gunicorn,
    instance_env,
    login_cookie,
    process_tree,
    rss_pss_mb,
    synthesize,
    wait_port,
)

Target = tuple[str, int, Path]  # URL path, size, file on disk
SHORT_TITLE = "Short"  # the listeners' tracks


def make_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i in range(6):  # ~5 MB MP3s at 320 kbps
        noise = f"anoisesrc=d=125:c=pink:seed={i}"
        synthesize(noise, folder / f"bench{i}.mp3", "-ac", "2", "-b:a", "320k", "-metadata", f"title=Bench {i}")
    noise = "anoisesrc=d=490:c=white:seed=9"  # ~43 MB
    options = ("-ac", "2", "-ar", "44100", "-sample_fmt", "s16", "-metadata", "title=Bench FLAC")
    synthesize(noise, folder / "big.flac", *options)
    for i in range(12):  # ~320 KB: 8 s for a listener at 40 KB/s
        noise = f"anoisesrc=d=8:c=pink:seed={100 + i}"
        options = ("-ac", "2", "-b:a", "320k", "-metadata", f"title={SHORT_TITLE} {i}")
        synthesize(noise, folder / f"short{i}.mp3", *options)


@dataclass
class Server:
    """One column: where it listens, what it serves, and the processes it costs."""

    name: str
    port: int
    targets: list[Target]  # seeks, ranges and downloads
    tracks: list[tuple[str, int]]  # the listeners' short tracks: URL path, size
    processes: list[subprocess.Popen]

    def pids(self) -> list[int]:
        pids = []
        for process in self.processes:
            pids += [process.pid, *(pid for level in process_tree(process.pid).values() for pid in level)]
        return pids


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes, user and system, from /proc/<pid>/stat. Children
    that exited and were waited for count too (cutime, cstime), so a worker replaced
    during a run keeps its share."""
    ticks = 0
    for pid in pids:
        try:
            # The command name is in parentheses and may hold spaces; fields 14-17 follow it.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def settle(servers: list[Server], limit: float = 15) -> bool:
    """Wait until the servers use under 5% of a core (at most `limit` seconds), so
    that what a load left behind (downloads wrk abandoned, listeners' connections
    still being closed) is not charged to the next one. False if they never did."""
    deadline = time.monotonic() + limit
    pids = [pid for server in servers for pid in server.pids()]
    before = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pids)
        if now - before < 0.025:
            return True
        before = now
    return False


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu() -> float:
    """CPU seconds of this process and everything it started: the servers, the load
    generators (wrk, ffmpeg and flask included once they have exited and been waited for)."""
    me = os.getpid()
    return cpu_seconds([me, *(pid for level in process_tree(me).values() for pid in level)])


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
    return {"median": statistics.median(times), "p99": percentile(times, 0.99), "errors": errors}


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


def ranges(server: Server, cookie: str, *, clients: int, duration: int, tmp: Path) -> dict:
    """wrk with `clients` connections doing random 256 KiB ranges for `duration` seconds;
    meanwhile one more connection fetches ranges and compares their bytes with the file.
    Also the server's CPU time over the run and the GiB wrk read."""
    targets = server.targets
    script = tmp / f"ranges-{server.port}.lua"
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
        client, rng = Client(server.port, cookie), random.Random(server.port)
        while not stop.wait(0.2):
            path, size, file = rng.choice(targets)
            start = rng.randrange(0, size - CHUNK)
            _, status, body = client.range_ttfb(path, start)
            checked["sampled"] += 1
            checked["wrong"] += status != 206 or body != read_span(file, start)

    pids = server.pids()
    cpu_before = cpu_seconds(pids)
    verifier = threading.Thread(target=verify)
    verifier.start()
    try:
        out = run_wrk(
            ["-t", str(min(2, clients)), "-c", str(clients), "-d", f"{duration}s", "--latency", "-s", str(script)],
            server.port,
        )
    finally:
        stop.set()
        verifier.join()
    cpu = cpu_seconds(pids) - cpu_before
    rps, wrk_errors = wrk_rate(out)
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    return {
        "rps": rps,
        "errors": wrk_errors + checked["wrong"],
        "sampled": checked["sampled"],
        "p99": f"{p99.group(1)}{p99.group(2)}" if p99 else "?",
        "cpu": cpu,
        "gib": wrk_bytes(read.group(1), read.group(2)) / 2**30,
    }


def wrk_rate(out: str) -> tuple[float, int]:
    """wrk's requests per second, and its errors: socket errors and answers not 2xx or 3xx."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return rps, socket_errors + non2xx


def wrk_bytes(value: str, unit: str) -> float:
    """wrk's byte counts ("4.01GB") are binary multiples."""
    return float(value) * 1024 ** ["B", "KB", "MB", "GB", "TB"].index(unit.upper())


def run_wrk(args: list[str], port: int) -> str:
    done = subprocess.run(
        ["wrk", *args, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True, timeout=300
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
    out = run_wrk(["-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds}s", "-s", str(script)], port)
    match = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    return wrk_bytes(match.group(1), match.group(2)) / 1e6


def memory(pids: list[int]) -> tuple[float, float]:
    """RSS and PSS sums of these processes, MB."""
    figures = [rss_pss_mb(pid) for pid in pids]
    return sum(rss for rss, _ in figures), sum(pss for _, pss in figures)


class MemorySampler:
    """Every 0.5 s, in a thread, the RSS and PSS sums of each server's processes."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.samples: list[tuple[float, dict[str, tuple[float, float]]]] = []
        self.failure: Exception | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)  # never holds up an exit
        self.thread.start()

    def _run(self) -> None:
        pids: dict[str, list[int]] = {}
        first = time.monotonic()
        try:
            for count in range(sys.maxsize):
                if self.stop.wait(max(0.0, first + count * SAMPLE_EVERY - time.monotonic())):
                    return
                if count % 4 == 0:  # a scan of /proc costs more than the samples; the trees rarely change
                    pids = {server.name: server.pids() for server in self.servers}
                self.samples.append((time.monotonic(), {name: memory(p) for name, p in pids.items()}))
        except Exception as exc:  # noqa: BLE001 - handed to the main thread by close()
            self.failure = exc

    def peak(self, name: str, start: float, end: float) -> tuple[float, float]:
        window = [sample[name] for at, sample in self.samples if start <= at <= end]
        return max(rss for rss, _ in window), max(pss for _, pss in window)

    def at(self, name: str, when: float) -> tuple[float, float]:
        """The first sample at or after `when`."""
        return next(sample[name] for at, sample in self.samples if at >= when)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.failure is not None:
            raise RuntimeError("the memory sampler stopped") from self.failure


def start_servers(
    tmp: Path, env: dict[str, str], gunicorn_args: str, started: list[subprocess.Popen]
) -> dict[str, tuple[int, list[subprocess.Popen]]]:
    """Start every column's processes (each is added to `started` at once, to be
    stopped whatever happens); return each column's port and processes."""
    uploads = tmp / "uploads"
    accel_env = dict(env, SEND_FILE_MODE="x-accel", TRUSTED_PROXIES="1")

    def nginx(name: str, app_port: int, port: int, **options: object) -> subprocess.Popen:
        folder = tmp / f"nginx-{name}"
        folder.mkdir()
        conf = nginx_local.render(folder, app_port, port, uploads, **options)
        process = subprocess.Popen([NGINX_BIN, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    app_ports: list[int] = []

    def app(port: int, environment: dict[str, str], *extra: str) -> subprocess.Popen:
        process = gunicorn(environment, port, *extra)
        started.append(process)
        app_ports.append(port)
        return process

    ports = {name: free_port() for name in LABELS}
    # The reference is a server block of its own nginx; the site render() always
    # writes listens on a port nobody uses.
    direct = f"""server {{ listen 127.0.0.1:{ports["nginx"]};
        location /files/ {{ alias {uploads.resolve()}/; sendfile on; tcp_nopush on; }} }}"""
    columns = {"nginx": (ports["nginx"], [nginx("direct", free_port(), free_port(), extra_servers=direct)])}
    columns["python"] = (ports["python"], [app(ports["python"], env, *shlex.split(gunicorn_args))])
    accel_port = free_port()
    columns["x-accel"] = (
        ports["x-accel"],
        [
            app(accel_port, accel_env),
            nginx("x-accel", accel_port, ports["x-accel"], grants=False),
        ],
    )
    seek_app_port = free_port()
    columns["new seek"] = (
        ports["new seek"],
        [app(seek_app_port, accel_env), nginx("new-seek", seek_app_port, ports["new seek"])],
    )
    # The app servers behind nginx too: nginx answers before they have booted.
    for port in [*(port for port, _ in columns.values()), *app_ports]:
        wait_port(port)
    return columns


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per range and download run")
    parser.add_argument("--seeks", type=int, default=400)
    parser.add_argument(
        "--listeners",
        type=lambda text: sorted(int(n) for n in text.split(",")),
        default=[200, 500, 1000],
        help="comma-separated listener counts; memory peaks are taken during the largest",
    )
    parser.add_argument("--listen-seconds", type=int, default=20)
    parser.add_argument("--after-seconds", type=int, default=60, help="memory 'after': this long after the load")
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help="extra gunicorn options for the python column, e.g. '--worker-class sync --threads 1' to compare",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="for development: 200 listeners only, 10 s each, memory after 10 s, 3 s loads, 100 seeks",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.seeks, args.listeners, args.listen_seconds, args.after_seconds = 3, 100, [200], 10, 10
    return args


@dataclass
class Measured:
    names: list[str]  # the columns measured
    seeks: dict[str, dict]
    loads: dict[str, dict[int, dict]]  # server, clients
    fetches: dict[str, list[float]]  # server: MB/s with 1 and 8 clients
    download_mb: float
    slow: dict[str, dict[int, listeners.Result]]  # server, listeners
    listen_cores: dict[str, dict[int, float]]  # server, listeners: the server's CPU seconds per second
    at_rest: dict[str, tuple[float, float]]  # MB RSS, PSS
    peaks: dict[str, tuple[float, float]]
    after: dict[str, tuple[float, float]]
    unsettled: list[str]  # loads that began while a server was still busy with the last one
    others: float  # CPU seconds the machine spent on anything but this benchmark
    seconds: float


STARTED = time.monotonic()


def progress(phase: str) -> None:
    print(f"{phase} ... ({time.monotonic() - STARTED:.0f} s)", file=sys.stderr)


def measure(args: argparse.Namespace, tmp: Path, procs: list[subprocess.Popen]) -> Measured:  # noqa: PLR0915
    busy_before, own_before, began = machine_busy(), own_cpu(), time.monotonic()
    progress("Generating the corpus")
    make_corpus(tmp / "corpus")
    uploads = tmp / "uploads"
    env = instance_env(tmp)
    flask(env, "import", str(tmp / "corpus"), "--user", "bench")
    columns = start_servers(tmp, env, args.gunicorn_args, procs)

    # Log in once; the same cookie works for every app server (one database, one key).
    cookie = login_cookie(columns["python"][0])
    query = "select id, storage_path, size_bytes, title from tracks"
    rows = sqlite3.connect(tmp / "bench.db").execute(query).fetchall()
    long_rows = [r for r in rows if not r[3].startswith(SHORT_TITLE)]
    short_rows = [r for r in rows if r[3].startswith(SHORT_TITLE)]
    servers = []
    for name, (port, processes) in columns.items():
        url = (lambda i, p: f"/files/{p}") if name == "nginx" else (lambda i, p: f"/stream/{i}")
        long_targets = [(url(i, p), size, uploads / p) for i, p, size, _ in long_rows]
        servers.append(Server(name, port, long_targets, [(url(i, p), size) for i, p, size, _ in short_rows], processes))
    big = max(range(len(long_rows)), key=lambda i: long_rows[i][2])
    unsettled: list[str] = []

    def quiet(before: str) -> None:
        if not settle(servers):
            unsettled.append(before)

    quiet("the memory at rest")
    sampler = MemorySampler(servers)

    progress("Seeks")
    seeks = {s.name: seek_latency(s.port, cookie, s.targets, args.seeks) for s in servers}
    progress("Ranges")
    loads: dict[str, dict[int, dict]] = {}
    for server in servers:
        loads[server.name] = {}
        for clients in RANGE_CLIENTS:
            quiet(f"{clients} clients' ranges ({server.name})")
            loads[server.name][clients] = ranges(server, cookie, clients=clients, duration=args.duration, tmp=tmp)
    progress("Downloads")
    fetches: dict[str, list[float]] = {}
    for server in servers:
        fetches[server.name] = []
        for clients in (1, 8):
            quiet(f"downloads with {clients} clients ({server.name})")
            path = server.targets[big][0]
            fetches[server.name].append(
                downloads(server.port, cookie, path, clients=clients, seconds=args.duration, tmp=tmp)
            )
    progress("Slow listeners")
    slow: dict[str, dict[int, listeners.Result]] = {}
    listen_cores: dict[str, dict[int, float]] = {}
    windows: dict[str, tuple[float, float]] = {}  # the largest run of each server
    # The listeners run in a process of their own: their event loop is busy, and
    # the memory sampler's thread would hold it up and lengthen the seeks measured.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as generator:
        for server in servers:
            slow[server.name], listen_cores[server.name] = {}, {}
            for count in args.listeners:
                quiet(f"{count} listeners ({server.name})")
                pids, start = server.pids(), time.monotonic()
                cpu_before = cpu_seconds(pids)
                run = generator.submit(listeners.run, server.port, cookie, server.tracks, count, args.listen_seconds)
                slow[server.name][count] = run.result()
                windows[server.name] = (start, time.monotonic())
                listen_cores[server.name][count] = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - start)
            # Its memory "after" is sampled while the next server runs its listeners:
            # separate processes, and it saves a minute a column.
    last_end = max(end for _, end in windows.values())
    time.sleep(max(0.0, last_end + args.after_seconds + SAMPLE_EVERY - time.monotonic()))
    sampler.close()
    others = machine_busy() - busy_before - (own_cpu() - own_before)
    names = [server.name for server in servers]
    return Measured(
        names=names,
        seeks=seeks,
        loads=loads,
        fetches=fetches,
        download_mb=long_rows[big][2] / 1e6,
        slow=slow,
        listen_cores=listen_cores,
        at_rest=sampler.samples[0][1],
        peaks={name: sampler.peak(name, *windows[name]) for name in names},
        after={name: sampler.at(name, windows[name][1] + args.after_seconds) for name in names},
        unsettled=unsettled,
        others=others,
        seconds=time.monotonic() - began,
    )


def errors(count: int) -> str:
    return f", {count} errors" if count else ""


def ms(value: float, unit: str = "") -> str:
    """A seek's time; listeners.py counts a seek that failed or timed out as infinite."""
    return "failed" if value == float("inf") else f"{value:.1f}{unit}"


def report(args: argparse.Namespace, m: Measured) -> None:
    largest = args.listeners[-1]
    ngx32 = m.loads["nginx"][32]["rps"]

    def per_server(cell: Callable[[str], str]) -> list[str]:
        return [cell(name) for name in m.names]

    def mb(figures: tuple[float, float]) -> str:
        return f"{figures[0]:.0f} / {figures[1]:.0f}"

    rows = [
        [
            "Seek, first byte p50 / p99, ms (one client)",
            *per_server(
                lambda n: f"{m.seeks[n]['median']:.2f} / {m.seeks[n]['p99']:.2f}{errors(m.seeks[n]['errors'])}"
            ),
        ],
        [
            f"Random {CHUNK // 1024} KiB ranges, 32 clients: requests/s (share of nginx)",
            *per_server(
                lambda n: (
                    f"{m.loads[n][32]['rps']:,.0f} ({m.loads[n][32]['rps'] / ngx32:.0%})"
                    f"{errors(m.loads[n][32]['errors'])}"
                )
            ),
        ],
        [
            "Server CPU-s per GiB served, 64 clients",
            *per_server(lambda n: f"{m.loads[n][64]['cpu'] / m.loads[n][64]['gib']:.2f}"),
        ],
    ]
    for count in args.listeners:
        rows += [
            [
                f"{count:,} listeners: stalled over 1 s (never got a byte)",
                *per_server(lambda n, c=count: f"{m.slow[n][c].stalled} ({m.slow[n][c].never_served})"),
            ],
            [
                f"{count:,} listeners: seeks p50 / p99, ms",
                *per_server(lambda n, c=count: f"{ms(m.slow[n][c].seek_median)} / {ms(m.slow[n][c].seek_p99)}"),
            ],
        ]
    rows += [
        ["Memory at rest, MB RSS / PSS", *per_server(lambda n: mb(m.at_rest[n]))],
        [f"Memory peak during {largest:,} listeners, MB RSS / PSS", *per_server(lambda n: mb(m.peaks[n]))],
        [f"Memory {args.after_seconds} s after, MB RSS / PSS", *per_server(lambda n: mb(m.after[n]))],
    ]
    table(
        "Serving (issue 11). Memory sums every server process: gunicorn's master and workers, and nginx's"
        " where it serves. gunicorn preloads the app and forks its workers, so the RSS sum counts the"
        " shared pages once in every process; the PSS sum splits them and is what the machine spends.",
        ["", *(LABELS[n] for n in m.names)],
        rows,
    )
    table(
        f"Random {CHUNK // 1024} KiB ranges for {args.duration} s each (wrk): requests/s (share of nginx's),"
        " and errors",
        ["server", *(f"{c} client{'s' * (c > 1)}" for c in RANGE_CLIENTS), "p99 latency at 32", "bytes compared"],
        [
            [
                LABELS[n],
                *(
                    f"{r[c]['rps']:,.0f} ({r[c]['rps'] / m.loads['nginx'][c]['rps']:.0%}){errors(r[c]['errors'])}"
                    for c in RANGE_CLIENTS
                ),
                r[32]["p99"],
                f"{sum(x['sampled'] for x in r.values())} ranges",
            ]
            for n, r in m.loads.items()
        ],
    )
    dl = m.fetches["nginx"]
    table(
        f"Full downloads of the {m.download_mb:.0f} MB FLAC for {args.duration} s (wrk)",
        ["server", "1 client MB/s", "8 clients MB/s", "share of nginx (1 / 8)"],
        [
            [LABELS[n], f"{one:,.0f}", f"{eight:,.0f}", f"{one / dl[0]:.0%} / {eight / dl[1]:.0%}"]
            for n, (one, eight) in m.fetches.items()
        ],
    )
    table(
        f"Slow listeners (bench/listeners.py): 40 KB/s each for {args.listen_seconds} s, a new connection per"
        " 8 s track, one more client seeking every second (so a run's p99 is its slowest seek or two); server"
        " cores: the server's CPU seconds per second of the run",
        [
            "server",
            "listeners",
            "stalled over 1 s",
            "never got a byte",
            "errors",
            "tracks",
            "longest wait s",
            "seeks (failed)",
            "server cores",
        ],
        [
            [
                LABELS[n],
                f"{c:,}",
                r.stalled,
                r.never_served,
                r.errors,
                r.tracks,
                f"{r.worst_wait:.2f}",
                f"{len(r.seeks)} ({sum(t == float('inf') for t in r.seeks)})",
                f"{m.listen_cores[n][c]:.2f}",
            ]
            for n, by_count in m.slow.items()
            for c, r in by_count.items()
        ],
    )


def budgets(args: argparse.Namespace, m: Measured) -> None:
    largest = args.listeners[-1]
    ngx32 = m.loads["nginx"][32]["rps"]
    apps = [name for name in m.names if name != "nginx"]
    rows: list[tuple[str, str, bool | None]] = []
    for name in apps:
        r = m.slow[name][largest]
        rows.append(
            (
                f"{largest:,} listeners: none stalled over 1 s or failed, seeks p99 < 50 ms ({LABELS[name]})",
                f"{r.stalled} stalled, {r.errors} failed, p99 {ms(r.seek_p99, ' ms')}",
                r.stalled == 0 and r.errors == 0 and r.seek_p99 < 50,
            )
        )
    py = m.loads["python"]
    seek = m.loads["new seek"]
    rows += [
        (
            "Python serving, 32 clients: at least 0.3 of nginx's requests/s",
            f"{py[32]['rps'] / ngx32:.2f}",
            py[32]["rps"] >= 0.3 * ngx32,
        ),
        (
            "Python serving, 64 clients: at most 2 CPU-s per GiB",
            f"{py[64]['cpu'] / py[64]['gib']:.2f}",
            py[64]["cpu"] / py[64]["gib"] <= 2,
        ),
        (
            "new seek path, 32 clients: at least 0.8 of nginx's requests/s",
            f"{seek[32]['rps'] / ngx32:.2f}",
            seek[32]["rps"] >= 0.8 * ngx32,
        ),
    ]
    for name in apps:
        peak, after = m.peaks[name], m.after[name]
        rows += [
            (
                f"peak memory during {largest:,} listeners < 250 MB PSS ({LABELS[name]})",
                f"{peak[1]:.0f} MB PSS ({peak[0]:.0f} MB RSS)",
                peak[1] < 250,
            ),
            (
                f"memory {args.after_seconds} s after < 200 MB PSS ({LABELS[name]})",
                f"{after[1]:.0f} MB PSS ({after[0]:.0f} MB RSS)",
                after[1] < 200,
            ),
        ]
    table(
        "Budgets",
        ["budget", "measured", "met"],
        [[b, measured, "not measured" if ok is None else "yes" if ok else "**no**"] for b, measured, ok in rows],
    )


def main() -> None:
    args = parse_args()
    # Stopped by a supervisor (timeout, kill): still stop the servers and remove the instance.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("wrk", "ffmpeg"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: make bench-deps")
    if not Path(NGINX_BIN).exists():
        sys.exit("nginx is needed: make bench-deps")
    tmp = Path(tempfile.mkdtemp(prefix="mc-stream-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        measured = measure(args, tmp, procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nServing, measured in one run of {time.monotonic() - STARTED:.0f} s. Columns: nginx serving the files"
        f" directly; gunicorn with deploy/gunicorn.conf.py {args.gunicorn_args} (the app sending the bytes);"
        " the app with X-Accel-Redirect behind deploy/nginx.conf without its grants; the new seek path"
        " (deploy/nginx.conf as shipped: nginx keeps the app's yes and sends the seeks itself)."
    )
    print(
        f"The load generators (wrk, the listeners' asyncio process, the byte checks) run on the same"
        f" {os.cpu_count()} cores as the servers and take CPU from them. CPU time not charged to this benchmark"
        f" (other programs, and kernel work charged to no process): {measured.others:.0f} s over"
        f" {measured.seconds:.0f} s, {measured.others / measured.seconds / (os.cpu_count() or 1):.0%} of the machine."
    )
    if measured.others / measured.seconds / (os.cpu_count() or 1) > 0.1:
        print(
            "Other work shared the machine during this run: every figure is lower than on a quiet machine, and"
            " columns measured at different times were disturbed differently. Rerun when the machine is quiet."
        )
    if measured.unsettled:
        print(f"A server was still busy 15 s after the previous load, before: {'; '.join(measured.unsettled)}.")
    report(args, measured)
    budgets(args, measured)


if __name__ == "__main__":
    main()
