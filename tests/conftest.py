"""Shared fixtures.

Every test that uses the database runs twice: on SQLite and on PostgreSQL
(127.0.0.1:5432, database `test`, a fresh schema per run). When PostgreSQL is
unreachable the PostgreSQL half is skipped with the reason, except in CI
(CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import EnvironBuilder, FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db as _db
from app.models import Role, User
from app.services import accounts
from config import TestConfig

DATA = Path(__file__).parent / "data"
PG_BASE_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct horse battery"


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


_PG_PROBLEM = _postgres_problem()


def require_postgres() -> None:
    if _PG_PROBLEM is None:
        return
    message = f"PostgreSQL not reachable at {PG_BASE_URL} ({_PG_PROBLEM})"
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
            _db.session.commit()
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
                _db.session.expire_all()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the whole run, with the models' tables."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        schema, url = new_pg_schema()
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(tmp_path_factory.mktemp("up")))
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()
    yield url
    if schema:
        drop_pg_schema(schema)


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app on the test database; every table is emptied afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        config = {"SQLALCHEMY_DATABASE_URI": database_url, "UPLOAD_FOLDER": str(tmp_path / "uploads")}
        config.update(overrides)
        app = create_app(TestConfig, **config)
        app.test_client_class = FreshContextClient
        apps.append(app)
        return app

    yield factory
    for app in apps[:1]:
        with app.app_context():
            _db.session.remove()
            for table in reversed(_db.metadata.sorted_tables):
                _db.session.execute(table.delete())
            _db.session.commit()
    for app in apps:
        with app.app_context():
            _db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask):
    return _db


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    def factory(username: str, password: str = PASSWORD, role: Role = Role.USER, **fields: object) -> User:
        user = accounts.create_user(username, password, role=role, rounds=4)
        for key, value in fields.items():
            setattr(user, key, value)
        _db.session.commit()
        return user

    return factory


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("admin", role=Role.ADMIN)


@pytest.fixture
def user(make_user: Callable[..., User], admin: User) -> User:
    return make_user("alice")


@pytest.fixture
def alice(client: FlaskClient, user: User) -> FlaskClient:
    """A client logged in as the user `alice`."""
    login(client, "alice")
    return client


@pytest.fixture
def bob(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    """A second account's client, logged in (for the two-user tests)."""
    make_user("bob")
    client = app.test_client()
    login(client, "bob")
    return client


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
