"""Helpers shared by the benchmarks: loopback ports, process memory, a fresh instance, test audio."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))  # the test audio helper lives in tests/audio.py

from tests.audio import synthesize  # noqa: E402, F401 - re-exported: the benchmarks import it from here

PASSWORD = "bench password"  # noqa: S105 - a throwaway account in a temporary instance


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[max(0, int(len(times) * 0.95) - 1)]


def budget_tables(description: str, run, title: str) -> None:
    """The main() of a request-latency benchmark at --tracks tracks on each --db:
    run(backend, tracks, runs) gives rows (backend, label, times in ms, budget or
    None[, matches]); they are printed as one Markdown table, a verdict per budget."""
    import argparse  # noqa: PLC0415 - only the benchmarks with a table need it
    import statistics  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.db.split(","):
        rows += run(backend.strip(), args.tracks, args.runs)
    matches = any(len(row) > 4 for row in rows)
    print(f"\n{title} at {args.tracks} tracks, server time in ms\n")
    print(f"| database | request |{' matches |' if matches else ''} median | p95 | budget (p95) |")
    print(f"|---|---|{'---|' if matches else ''}---|---|---|")
    for backend, label, times, budget, *found in rows:
        verdict = "-" if budget is None else f"{budget} {'ok' if p95(times) < budget else '**over**'}"
        counted = f" {found[0]} |" if matches else ""
        print(f"| {backend} | {label} |{counted} {statistics.median(times):.1f} | {p95(times):.1f} | {verdict} |")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its direct children (gunicorn's master and workers), in MB."""
    pids, total = [pid], 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def process_tree(pid: int) -> dict[int, list[int]]:
    """Every descendant of `pid` by depth (1: children, 2: grandchildren ...), from /proc.

    Scans each process's parent rather than /proc/<pid>/task/<tid>/children,
    which lists only the children that one thread started (gunicorn workers
    start tag parsers from request threads).
    """
    parents: dict[int, int] = {}
    # Not Path.glob("[0-9]*/stat"): it stats each match, and a process that ends
    # meanwhile raises ProcessLookupError from inside the glob.
    for folder in Path("/proc").iterdir():
        if not folder.name.isdigit():
            continue
        try:
            # The command name is in parentheses and may hold spaces; the parent follows it.
            fields = (folder / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents[int(folder.name)] = int(fields[1])
    tree: dict[int, list[int]] = {}
    level, depth = [pid], 0
    while level:
        depth += 1
        level = sorted(child for child, parent in parents.items() if parent in level)
        if level:
            tree[depth] = level
    return tree


def rss_pss_mb(pid: int) -> tuple[float, float]:
    """A process's resident set and proportional set size (shared pages split among
    their users), in MB, from /proc/<pid>/smaps_rollup; zeros once it is gone."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(" ")
            if key in values:
                values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values["Rss:"] / 1024, values["Pss:"] / 1024


def instance_env(folder: Path, **extra: str) -> dict[str, str]:
    """Environment for a fresh instance kept in `folder` (SQLite), migrated, with a user `bench`."""
    env = dict(
        os.environ,
        FLASK_APP="wsgi.py",
        DATABASE_URL=f"sqlite:///{folder / 'bench.db'}",
        UPLOAD_FOLDER=str(folder / "uploads"),
        SECRET_KEY="bench-" + "k" * 40,
        RATELIMIT_ENABLED="false",
        **extra,
    )
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "bench", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    return env


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[float, str]:
    """Run a `flask` command; return its wall time and output."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def login_cookie(port: int) -> str:
    """Log `bench` in through the real form; return the session cookie ("name=value")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/auth/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    conn.request(
        "POST",
        "/auth/login",
        body=f"username=bench&password={PASSWORD.replace(' ', '+')}&csrf_token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 302:
        raise RuntimeError(f"login failed: {response.status}")
    return response.getheader("Set-Cookie").split(";")[0]


def gunicorn(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen:
    """gunicorn as the README recommends (deploy/gunicorn.conf.py) on 127.0.0.1:port, its logs discarded."""
    return subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "-b",
            f"127.0.0.1:{port}",
            *extra,
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
