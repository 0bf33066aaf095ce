"""A worker killed in the middle of an upload leaves its partial file in
.incoming/; it must not stay there for ever. Against a real gunicorn: the file
is there after the kill, the library check (`flask verify-library --fix`)
removes it once it is an hour old, and so does the server's next start."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from tests.helpers import DATA, PASSWORD, wait_for_port
from tests.servers import csrf_token, flask, log_in, request, server_env

HOUR = 3600


def _workers(master: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == master:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def _partial_files(uploads: Path) -> list[Path]:
    folder = uploads / ".incoming"
    return [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []


def _wait(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_worker_killed_mid_upload_leaves_nothing_for_long(tmp_path, start_gunicorn):
    url, uploads = f"sqlite:///{tmp_path / 'crash.db'}", tmp_path / "uploads"
    settings = {"WEB_WORKERS": "1", "WEB_THREADS": "4"}
    env = server_env(url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    server = start_gunicorn(url, uploads, **settings)
    cookie = log_in(server.port, "alice", PASSWORD)
    _, headers, page = request(server.port, "/library/upload", headers={"Cookie": cookie})
    cookie = headers["set-cookie"].split(";")[0] if "set-cookie" in headers else cookie
    token = csrf_token(page)

    # An upload that announces 20 MB and sends the first 1 MB, then waits.
    boundary = "crashtestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.flac"\r\n'
        "Content-Type: audio/flac\r\n\r\n"
    ).encode()
    first_part = head + (DATA / "tagged.flac").read_bytes() + b"\0" * 1_000_000
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(
            (
                "POST /library/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {20_000_000}\r\nAccept: application/json\r\n\r\n"
            ).encode()
            + first_part
        )
        assert _wait(lambda: any(p.stat().st_size > 500_000 for p in _partial_files(uploads)))
        (worker,) = _workers(server.process.pid)
        os.kill(worker, signal.SIGKILL)  # the crash: no teardown, no cleanup
        assert _wait(lambda: worker not in _workers(server.process.pid) and len(_workers(server.process.pid)) == 1)
    finally:
        sock.close()
    assert wait_for_port(server.port)
    (partial,) = _partial_files(uploads)  # left behind by the crash

    # A fresh one is an upload that may still be arriving: the check leaves it alone.
    flask(env, "verify-library", "--fix")
    assert partial.exists()
    # An hour later it is stale: the check removes it.
    _age(partial, 2 * HOUR)
    output = flask(env, "verify-library", "--fix")
    assert "stale temporary file" in output
    assert _partial_files(uploads) == []

    # And a server starting removes what an earlier crash left.
    leftover = uploads / ".incoming" / "up-left-by-a-crash.part"
    leftover.write_bytes(b"partial upload")
    _age(leftover, 2 * HOUR)
    start_gunicorn(url, uploads, **settings)
    assert not leftover.exists()
