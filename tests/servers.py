"""Real server processes for the browser and serving tests: gunicorn as production runs it.

conftest.py's `start_gunicorn` fixture is the way tests start one; `flask`
runs the instance's commands (migrations, accounts, imports) beforehand.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
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


# --- talking to a server over HTTP, as a browser or a script would ----------------------

_CSRF = re.compile(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
_SECRET = re.compile(rb'<code class="secret" translate="no">([^<]+)</code>')


def request(
    port: int, path: str, method: str = "GET", headers: dict | None = None, body: str | bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection to 127.0.0.1:port: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def csrf_token(page: bytes) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def try_login(port: int, username: str, password: str, host: str | None = None) -> tuple[int, str]:
    """Post the login form (its page and the post each on a new connection):
    (status, the session cookie the answer sets, or "")."""
    extra = {"Host": host} if host else {}
    _, headers, page = request(port, "/auth/login", headers=extra)
    cookie = headers["set-cookie"].split(";")[0]
    form = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": csrf_token(page)})
    status, headers, _ = request(
        port,
        "/auth/login",
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, **extra},
        form,
    )
    return status, headers.get("set-cookie", "").split(";")[0]


def log_in(port: int, username: str, password: str, host: str | None = None) -> str:
    """Log in through the form; the session cookie."""
    status, cookie = try_login(port, username, password, host)
    assert status == 302, f"login answered {status}"
    return cookie


def upload_form(token: str, name: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    """The upload form's multipart body with one file, and the headers that go with it
    (asking for the JSON answer)."""
    boundary = secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Accept": "application/json", "Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload_page(port: int, cookie: str, host: str | None = None) -> tuple[str, str]:
    """The upload page's session cookie (the session now holds a CSRF token) and that token."""
    extra = {"Host": host} if host else {}
    _, got, page = request(port, "/library/upload", headers={"Cookie": cookie, **extra})
    return (got["set-cookie"].split(";")[0] if "set-cookie" in got else cookie), csrf_token(page)


def upload(port: int, cookie: str, name: str, content: bytes, host: str | None = None) -> dict:
    """Upload one file through the upload form, asking for JSON; its result."""
    extra = {"Host": host} if host else {}
    cookie, token = upload_page(port, cookie, host)
    body, form_headers = upload_form(token, name, content)
    headers = {"Cookie": cookie, **form_headers, **extra}
    status, _, answer = request(port, "/library/upload", "POST", headers, body)
    assert status == 200, answer[:300]
    return json.loads(answer)["results"][0]


def new_credential(port: int, cookie: str, path: str, prefix: str, name: str) -> str:
    """Make an app password or API key through the account page, as a person would."""
    _, headers, page = request(port, "/account", headers={"Cookie": cookie})
    cookie = headers["set-cookie"].split(";")[0] if "set-cookie" in headers else cookie
    form = urllib.parse.urlencode({f"{prefix}-name": name, "csrf_token": csrf_token(page)})
    status, _, page = request(
        port, path, "POST", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form
    )
    assert status == 200, page[:300]
    return _SECRET.search(page).group(1).decode()
