"""Headers, error pages and configuration that every page shares."""

from __future__ import annotations

import re

import pytest
import sqlalchemy.exc

from app import create_app
from config import Config, TestConfig, normalise_database_url
from tests.helpers import login


def test_security_headers_on_every_response(client, user):
    for url in ("/auth/login", "/missing", "/static/css/app.css"):
        with client.get(url) as response:
            check_headers(response)


def check_headers(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_use_no_inline_script(client, user):
    login(client, "alice")
    for url in ("/auth/login", "/library", "/account"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>" not in page
        assert "onclick=" not in page


@pytest.mark.parametrize(
    ("url", "method", "code", "text"),
    [
        ("/no/such/page", "get", 404, "There is nothing here."),
        ("/auth/logout", "get", 405, "does not accept that kind of request"),
    ],
)
def test_friendly_error_pages(client, url, method, code, text):
    response = getattr(client, method)(url)
    assert response.status_code == code
    page = response.get_data(as_text=True)
    assert text in page
    assert "Music Cloud" in page


def test_request_too_large_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "x" * 5000})
    assert response.status_code == 413
    assert "larger than this server accepts" in response.get_data(as_text=True)


def test_500_rolls_back_and_hides_the_traceback(make_app, db):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page


def test_json_errors_for_api_clients(client):
    response = client.get("/nowhere", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_production_refuses_missing_or_weak_secret_key(tmp_path):
    class Prod(Config):
        APP_ENV = "production"
        SECRET_KEY = None
        UPLOAD_FOLDER = str(tmp_path)

    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app(Prod)
    with pytest.raises(RuntimeError, match="too weak"):
        create_app(Prod, SECRET_KEY="changeme")
    app = create_app(Prod, SECRET_KEY="9f2c1e8a7b6d5c4f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c")
    assert app.config["SECRET_KEY"].startswith("9f2c")


def test_development_keeps_a_generated_key_in_instance(tmp_path, monkeypatch):
    class Dev(TestConfig):
        SECRET_KEY = None
        APP_ENV = "development"
        UPLOAD_FOLDER = str(tmp_path / "up")

    monkeypatch.setattr("app.factory.INSTANCE_DIR", tmp_path / "instance")
    first = create_app(Dev).config["SECRET_KEY"]
    second = create_app(Dev).config["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_forms(given, expected):
    assert normalise_database_url(given) == expected


def test_static_files_are_fingerprinted_and_cached_for_a_year(client):
    page = client.get("/auth/login").get_data(as_text=True)
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"', page).group(1)
    response = client.get(css)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]
    plain = client.get("/static/css/app.css")
    assert "31536000" not in (plain.headers.get("Cache-Control") or "")


def test_database_outage_page_renders_its_marked_text(alice, monkeypatch):
    """errors/unavailable.html is rendered from the Jinja environment, without
    render_template: its gettext calls and its language still work there."""

    def database_down(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr("app.services.library.browse.list_tracks", database_down)
    answer = alice.get("/library", headers={"Accept-Language": "en"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert '<html lang="en">' in page and "Back in a moment" in page and ">Try again</a>" in page
    answer = alice.get("/library", headers={"Accept-Language": "fr"})
    assert answer.status_code == 503 and '<html lang="fr">' in answer.get_data(as_text=True)
