"""Plain helpers the tests share: the real login form, library files, ports, PostgreSQL schemas.

Fixtures live in conftest.py, which imports what it needs from here; test
modules import from here, never from conftest.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import socket
import time
import uuid
import wave
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import has_app_context
from flask.testing import EnvironBuilder, FlaskClient
from sqlalchemy import create_engine, text

from app.extensions import db
from app.models import Track, User, Visibility
from app.services import accounts
from app.services.library import adding
from app.services.storage import get_storage
from app.services.tags import get_pool
from app.unit_of_work import commit

DATA = Path(__file__).parent / "data"
PASSWORD = "correct horse battery"
PG_BASE_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


# --- forms, through the real pages ------------------------------------------------------

_CSRF_RE = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_from(client: FlaskClient, url: str) -> str:
    """The CSRF token of the first form on the page at url."""
    response = client.get(url)
    match = _CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD, remember: bool = False, next_url: str = ""):
    """Log in through the real form, CSRF token and all."""
    token = csrf_from(client, "/auth/login")
    data = {"username": username, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data=data)


def post_form(client: FlaskClient, page: str, action: str, data: dict | None = None, **kwargs: object):
    """Post to action with the CSRF token taken from page, as a browser would."""
    payload = dict(data or {})
    payload["csrf_token"] = csrf_from(client, page)
    return client.post(action, data=payload, **kwargs)


class FreshContextClient(FlaskClient):
    """A test client whose every request gets its own application context.

    Flask reuses an application context that is already pushed (the `app`
    fixture keeps one open for the test's own queries), which would share `g`
    and the database session between requests in a way no real server does.
    Before each request the test's pending changes are committed, and after it
    the test's objects are expired so they show what the request wrote.
    """

    # buffered=True: the response body is read and closed, as a server would
    # (open files are not left to the garbage collector).
    def open(self, *args, buffered=True, follow_redirects=False, **kwargs):
        if has_app_context():
            db.session.commit()
        request = None
        if not args or isinstance(args[0], str):
            # Build the request here so its body can be closed afterwards: a
            # body over 500 kB is spooled to a temporary file the stock client
            # leaves open.
            kwargs["environ_base"] = self._copy_environ(kwargs.get("environ_base", {}))
            builder = EnvironBuilder(self.application, *args, **kwargs)
            try:
                request = builder.get_request()
            finally:
                builder.close()
            args, kwargs = (request,), {}
        ctx = self.application.app_context()
        ctx.push()
        try:
            return super().open(*args, buffered=buffered, follow_redirects=follow_redirects, **kwargs)
        finally:
            ctx.pop()
            if request is not None:
                request.environ["wsgi.input"].close()
            if has_app_context():
                db.session.expire_all()


# --- the library ------------------------------------------------------------------------


def add_track(
    owner: User, name: str, visibility: Visibility = Visibility.PRIVATE, content: bytes | None = None
) -> Track:
    """Add tests/data/<name> (or `content`) to owner's library through the upload service."""
    store = get_storage()
    incoming = store.incoming(max_bytes=10**9)
    incoming.write(content if content is not None else (DATA / name).read_bytes())
    batch = adding.AddBatch(store)
    result = adding.add_file(
        store, get_pool(2, 30, 1024), owner, incoming, name, batch=batch, max_bytes=10**9, visibility=visibility
    )
    commit(batch)
    assert result.outcome is adding.AddOutcome.ADDED, result
    # Jobs the commit sent (the cover's thumbnail) ran at once, in a session of their own.
    db.session.refresh(result.track)
    return result.track


def owner_with_track(app, name: str, *others: str) -> tuple[FlaskClient, User, Track]:
    """Inside app's context: the account alice (and the accounts `others`), alice's
    track made from tests/data/<name>, and a client logged in as alice."""
    owner = accounts.create_user("alice", PASSWORD, rounds=4)
    for other in others:
        accounts.create_user(other, PASSWORD, rounds=4)
    db.session.commit()
    track = add_track(owner, name)
    client = app.test_client()
    login(client, "alice")
    return client, owner, track


# --- ports, for the servers a test starts -----------------------------------------------


def redis_test_url(variable: str, database: int) -> str:
    """The Redis a test may empty: $variable when set, else a database of the local
    server of its own for each test process (pytest-xdist's workers gw0, gw1...
    count down from `database`), so two processes never clear each other's keys."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return os.environ.get(variable) or f"redis://127.0.0.1:6379/{database - index}"


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> bool:
    """Whether something listens on 127.0.0.1:port within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


# --- PostgreSQL -------------------------------------------------------------------------


@functools.cache
def _postgres_problem() -> str | None:
    try:
        engine = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def require_postgres() -> None:
    """Skip the test when PostgreSQL is unreachable; fail it instead in CI (CI=true)."""
    problem = _postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL not reachable at {PG_BASE_URL} ({problem})"
    if IN_CI:
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    pytest.skip(message)


def new_pg_schema() -> tuple[str, str]:
    """Create an empty schema; return (schema, URL whose search_path is that schema)."""
    require_postgres()
    schema = f"mc_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_BASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        # Extensions are per database; public stays on the path so the trigram
        # operators resolve from every test schema.
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
    engine.dispose()
    return schema, f"{PG_BASE_URL}?options=-csearch_path%3D{schema},public"


def drop_pg_schema(schema: str) -> None:
    engine = create_engine(PG_BASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


class _TableReader(HTMLParser):
    """The body rows of the <table data-table=NAME> of a page, as the texts of their cells,
    those hidden from screen readers (aria-hidden, a bar's drawing) left out."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.depth, self.rows, self.cell = name, 0, [], None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table" and ("data-table", self.name) in attrs:
            self.depth = 1
        elif self.depth and tag == "tbody":
            self.depth = 2
        elif self.depth == 2 and tag == "tr":
            self.rows.append([])
        elif self.depth == 2 and tag in {"td", "th"}:
            self.cell = None if ("aria-hidden", "true") in attrs else ""

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag == "table":
            self.depth = 0
        elif self.cell is not None and tag in {"td", "th"}:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def table_rows(page: str, name: str) -> list[list[str]]:
    """The rows of a chart's or a page's table `data-table=name` (fails when it is missing)."""
    assert f'data-table="{name}"' in page, f"no table {name}"
    reader = _TableReader(name)
    reader.feed(page)
    return reader.rows


def noise_wav(path: Path, megabytes: int) -> bytes:
    """A WAV file of about `megabytes` MB of noise (so that any misplaced byte shows); its bytes."""
    frames = megabytes * 1_000_000 // 4
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(secrets.token_bytes(frames * 4))
    return path.read_bytes()
