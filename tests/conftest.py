"""Shared fixtures.

Every test that uses the database runs twice: on SQLite and on PostgreSQL
(127.0.0.1:5432, database `test`, a fresh schema per run). When PostgreSQL is
unreachable the PostgreSQL half is skipped with the reason, except in CI
(CI=true), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db as _db
from app.models import Role, User
from app.services import accounts
from config import TestConfig
from tests.helpers import PASSWORD, FreshContextClient, drop_pg_schema, login, new_pg_schema
from tests.seaweed import TEST_BUCKET, Seaweed, new_prefix, seaweed
from tests.servers import Gunicorn, gunicorn, server_env


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


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    """A real S3-compatible store (SeaweedFS) for the run; skipped without it, except in CI."""
    with seaweed(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture
def s3_settings(seaweedfs: Seaweed) -> dict[str, str]:
    """The settings of an app keeping its files under a new prefix of the test store's
    bucket (SeaweedFS gives every bucket volumes of its own: one bucket for the run)."""
    return seaweedfs.settings(TEST_BUCKET, new_prefix())


@pytest.fixture
def storage_settings() -> dict[str, str]:
    """Extra settings of every app make_app builds: none here (local files). A test
    module that runs on both backends overrides it (tests/seaweed.py `both_storages`)."""
    return {}


@pytest.fixture
def make_app(database_url: str, tmp_path: Path, storage_settings: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build an app on the test database; every table is emptied afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        config = {"SQLALCHEMY_DATABASE_URI": database_url, "UPLOAD_FOLDER": str(tmp_path / "uploads")}
        config.update(storage_settings)
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


@pytest.fixture(scope="module")
def start_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn as production runs it (deploy/gunicorn.conf.py) on a free loopback port.

    `start_gunicorn(database_url, uploads, **settings)` waits until it answers and returns
    its URL, port, process and log file; `settings` are extra environment (SEND_FILE_MODE ...).
    Every server a module starts is stopped after its last test.
    """
    logs = tmp_path_factory.mktemp("gunicorn")
    with ExitStack() as running:

        def start(database_url: str, uploads: Path, **settings: str) -> Gunicorn:
            return running.enter_context(gunicorn(server_env(database_url, uploads, **settings), logs))

        yield start
