"""gunicorn as production runs it (deploy/gunicorn.conf.py: the app preloaded in the
master, workers forked from it): every worker has its own database connections
and its own tag parsers, and the parsers stop when idle."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import DATA
from tests.servers import flask, log_in, request, server_env, upload


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from every thread: workers start parsers on request threads)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def open_files(pid: int) -> set[str]:
    files = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            files.add(str(fd.readlink()))
        except FileNotFoundError:
            continue
    return files


def test_preloaded_workers_use_their_own_connections_and_parsers(tmp_path, start_gunicorn):
    database = str(tmp_path / "serve.db")
    url, uploads = f"sqlite:///{database}", tmp_path / "uploads"
    settings = {"WEB_WORKERS": "2", "WEB_THREADS": "4", "INGEST_IDLE_SECONDS": "3", "LOG_LEVEL": "warning"}
    env = server_env(url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "owner", stdin="serving password\n" * 2)
    server = start_gunicorn(url, uploads, **settings)
    master, port = server.process.pid, server.port

    cookie = log_in(port, "owner", "serving password")
    result = upload(port, cookie, "tagged.flac", (DATA / "tagged.flac").read_bytes())
    assert result["status"] == "added", result
    assert result["track"]["title"] == "Flac Tone"
    parsers = [p for worker in children(master) for p in children(worker)]
    assert parsers, "the upload's parser process is not a worker's child"

    status, _, body = request(port, f"/stream/{result['track']['id']}", headers={"Cookie": cookie})
    assert status == 200
    assert body == (DATA / "tagged.flac").read_bytes()

    # The app was imported in the master, but only the workers ever connected.
    assert database not in open_files(master)
    assert any(database in open_files(worker) for worker in children(master))

    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{p}").exists() for p in parsers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in parsers), "idle parsers were not stopped"
    assert len(children(master)) == 2  # the workers themselves stay
