"""Real server processes for the browser and serving tests: gunicorn as production runs it.

conftest.py's `start_gunicorn` fixture is the way tests start one; `flask`
runs the instance's commands (migrations, accounts, imports) beforehand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
SECRET_KEY = "live-server-tests-" + "s" * 40


def server_env(database_url: str, uploads: Path, **settings: str) -> dict[str, str]:
    """The environment of an instance on database_url and uploads (for its flask commands
    and its gunicorn): small and quick (one worker, cheap password hashes), plus `settings`."""
    return {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": database_url,
        "UPLOAD_FOLDER": str(uploads),
        "SECRET_KEY": SECRET_KEY,
        "BCRYPT_ROUNDS": "4",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "8",
        # Each instance counts its own rate limits (not the checkout's instance/ file).
        "RATELIMIT_STORAGE_URI": f"sqlite:///{uploads.parent / 'ratelimits.db'}",
        **settings,
    }


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a `flask` command in the instance `env` describes; return its output. Fails the test
    (with the command's output) when the command fails."""
    done = subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=env, input=stdin, text=True, capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Gunicorn:
    """A running gunicorn: where it answers, its process and the file it logs to."""

    url: str
    port: int
    process: subprocess.Popen
    log: Path


@contextmanager
def gunicorn(env: dict[str, str], log_dir: Path) -> Iterator[Gunicorn]:
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port, for the length of the block.

    Its output goes to log_dir/gunicorn-<port>.log. Fails the test (with the log) when it does
    not start; raises subprocess.TimeoutExpired, after killing it, when it does not stop
    within 10 seconds of SIGTERM.
    """
    port = free_port()
    log = log_dir / f"gunicorn-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while not wait_for_port(port, seconds=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start on port {port}:\n{log.read_text()}")
            yield Gunicorn(f"http://127.0.0.1:{port}", port, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
