"""Memory of a production instance at rest, after uploads, and after the tag readers' idle time.

    python bench/memory_bench.py [--rounds 3] [--clients 4] [--idle-wait 90] [--gunicorn-args '--preload']

Starts gunicorn with deploy/gunicorn.conf.py as production does (APP_ENV=production,
a 64-hex-digit SECRET_KEY, rate limits on, the default workers and threads) on
127.0.0.1 only, on an SQLite instance in a temporary folder, and sums the
memory of every process it runs: the master, the web workers and the
tag-parser processes they start. Each figure is given twice, from
/proc/<pid>/smaps_rollup:
  - RSS counts every page a process maps, so pages that forked processes share
    (copy-on-write after gunicorn's preload, shared libraries) count once per
    process: the sum overstates what the machine spends;
  - PSS splits each shared page among its users: the sum is what the
    instance costs.
Phases:
  1. at rest: the workers booted, no request served yet;
  2. served pages: logged in through the real form, a few pages visited;
  3. after uploads: `--rounds` rounds of `--clients` real audio files (MP3
     with a cover, FLAC, Vorbis, Opus, AAC; made with ffmpeg) uploaded at
     once through the upload form, logged in, with the JSON Accept header;
  4. after idle: once the parser processes have stopped (INGEST_IDLE_SECONDS),
     or after `--idle-wait` seconds if they do not.
Every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    free_port,
    gunicorn,
    instance_env,
    login_cookie,
    process_tree,
    rss_pss_mb,
    synthesize,
    wait_port,
)
from upload_bench import Session, upload  # noqa: E402

FORMATS = [
    # extension, ffmpeg options
    ("mp3", ("-ac", "2", "-b:a", "192k")),
    ("flac", ("-ac", "2", "-sample_fmt", "s16")),
    ("ogg", ("-ac", "2", "-c:a", "libvorbis")),
    ("opus", ("-ac", "2", "-c:a", "libopus")),
    ("m4a", ("-ac", "2", "-c:a", "aac", "-b:a", "160k")),
]


def make_files(folder: Path, count: int) -> list[Path]:
    """`count` distinct tagged files of 20 s, cycling through the formats; the MP3s carry a cover."""
    cover = folder / "cover.jpg"
    synthesize("testsrc=s=600x600:d=1", cover, "-frames:v", "1")
    files = []
    for i in range(count):
        ext, options = FORMATS[i % len(FORMATS)]
        out = folder / f"track{i:02d}.{ext}"
        tags = ("-metadata", f"title=Memory {i}", "-metadata", "artist=Bench", "-metadata", "album=Memory Bench")
        art: tuple[str, ...] = ()
        if ext == "mp3":
            art = ("-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:v", "copy", "-disposition:v", "attached_pic")
        synthesize(f"sine=frequency={220 + 10 * i}:duration=20", out, *art, *options, *tags)
        files.append(out)
    return files


class Instance:
    """The processes of one gunicorn: master (depth 0), web workers (1), tag parsers (2)."""

    def __init__(self, master: int) -> None:
        self.master = master

    def roles(self) -> dict[str, list[int]]:
        tree = process_tree(self.master)
        return {"master": [self.master], "workers": tree.get(1, []), "parsers": tree.get(2, [])}

    def measure(self) -> dict[str, tuple[int, float, float]]:
        """Per role: processes, RSS MB, PSS MB."""
        out = {}
        for role, pids in self.roles().items():
            figures = [rss_pss_mb(pid) for pid in pids]
            out[role] = (len(pids), sum(f[0] for f in figures), sum(f[1] for f in figures))
        return out

    def settle(self, quiet: float = 2.0, limit: float = 60.0) -> None:
        """Wait until the process count and total RSS hold still for `quiet` seconds (at most `limit`)."""
        deadline = time.monotonic() + limit
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            figures = self.measure()
            now = (sum(v[0] for v in figures.values()), sum(v[1] for v in figures.values()))
            if last is None or now[0] != last[0] or abs(now[1] - last[1]) > 0.5:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.25)


def upload_round(port: int, cookies: dict[str, str], files: list[Path]) -> list[str]:
    """Upload `files` at once, one client each; return each upload's outcome."""
    outcomes = [""] * len(files)

    def send(i: int, path: Path) -> None:
        session = Session(port)
        session.cookies = dict(cookies)
        status, body, _, _ = upload(session, path)
        try:
            outcomes[i] = json.loads(body)["results"][0]["status"] if status == 200 else f"HTTP {status}"
        except (ValueError, KeyError, IndexError):
            outcomes[i] = f"HTTP {status}: {body[:80]!r}"

    threads = [threading.Thread(target=send, args=(i, path)) for i, path in enumerate(files)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return outcomes


def main() -> None:  # noqa: PLR0915 - a benchmark reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of simultaneous uploads")
    parser.add_argument("--clients", type=int, default=4, help="files uploaded at once in each round")
    parser.add_argument(
        "--idle-wait", type=float, default=90, help="seconds to wait, at most, for the parser processes to stop"
    )
    parser.add_argument("--gunicorn-args", default="", help="extra gunicorn arguments, e.g. '--preload'")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mc-memory-bench-"))
    server = None
    rows: list[tuple[str, dict[str, tuple[int, float, float]]]] = []
    try:
        files = make_files(tmp, args.rounds * args.clients)
        env = instance_env(tmp)
        # As production runs: a strong key (the factory refuses weak ones there), rate limits on.
        env.update(APP_ENV="production", SECRET_KEY=secrets.token_hex(32), RATELIMIT_ENABLED="true")
        port = free_port()
        server = gunicorn(env, port, *shlex.split(args.gunicorn_args))
        wait_port(port, 60)
        instance = Instance(server.pid)
        instance.settle()
        rows.append(("at rest", instance.measure()))

        session = Session(port)
        name, value = login_cookie(port).split("=", 1)
        session.cookies[name] = value
        for page in ("/library", "/library/upload", "/library/albums", "/playlists", "/account"):
            session.request("GET", page)
        session.csrf("/library/upload")  # the session holds its CSRF token before the clients copy it
        instance.settle()
        rows.append(("served pages", instance.measure()))

        outcomes: list[str] = []
        most_parsers = 0
        for r in range(args.rounds):
            outcomes += upload_round(port, session.cookies, files[r * args.clients : (r + 1) * args.clients])
            most_parsers = max(most_parsers, len(instance.roles()["parsers"]))
        instance.settle()
        rows.append(("after uploads", instance.measure()))

        deadline = time.monotonic() + args.idle_wait
        while instance.roles()["parsers"] and time.monotonic() < deadline:
            time.sleep(0.5)
        waited = args.idle_wait - max(0.0, deadline - time.monotonic())
        instance.settle()
        rows.append((f"after idle ({waited:.0f} s)", instance.measure()))

        added = outcomes.count("added")
        print(f"Uploads: {added} of {len(outcomes)} added ({', '.join(sorted(set(outcomes)))}); ", end="")
        print(f"at most {most_parsers} parser processes seen between rounds.")
        if args.gunicorn_args:
            print(f"gunicorn arguments: {args.gunicorn_args}")
        print("\nMemory of every process of the instance, MB (RSS counts shared pages once per process; PSS splits")
        print("them among the processes that share them, so the PSS sum is what the machine spends)\n")
        print("| phase | processes | RSS | PSS | master RSS / PSS | workers RSS / PSS | parsers RSS / PSS |")
        print("|---|---|---|---|---|---|---|")
        for phase, figures in rows:
            count = "+".join(str(figures[r][0]) for r in ("master", "workers", "parsers"))
            rss = sum(v[1] for v in figures.values())
            pss = sum(v[2] for v in figures.values())
            parts = [f"{figures[r][1]:.0f} / {figures[r][2]:.0f}" for r in ("master", "workers", "parsers")]
            print(f"| {phase} | {count} | {rss:.0f} | {pss:.0f} | " + " | ".join(parts) + " |")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
