"""The Music Cloud application factory: config, extensions, blueprints, errors, CLI."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import errors, security
from app import models as _models  # noqa: F401 - registers every table on db.metadata
from app.account.routes import bp as account_bp
from app.admin.routes import bp as admin_bp
from app.api.routes import bp as api_bp
from app.api_v1 import routes as api_v1
from app.auth.routes import bp as auth_bp
from app.cli import register_cli
from app.extensions import csrf, db, limiter, login_manager
from app.jobs import queue as jobs_queue
from app.language.routes import bp as language_bp
from app.library.routes import bp as library_bp
from app.ops import endpoints as ops_endpoints
from app.ops import logs
from app.playlists.routes import bp as playlists_bp
from app.services import credentials
from app.share.routes import bp as share_bp
from app.streaming.fastpath import StreamFastPath
from app.streaming.routes import bp as streaming_bp
from app.subsonic.fastpath import SubsonicStreamFastPath
from app.subsonic.routes import bp as subsonic_bp
from app.uploads.routes import bp as uploads_bp
from app.web import assets, client_config, filters, i18n, navigation, params, urls
from app.web.redaction import RedactingFilter
from app.web.sessions import load_user
from app.web.uploads import init_uploads
from config import BASE_DIR, INSTANCE_DIR, Config

# The longest a revoked session or track may keep playing behind nginx (STREAM_GRANT_SECONDS).
MAX_STREAM_GRANT_SECONDS = 60


def create_app(config: type[Config] | None = None, **overrides: Any) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    _load_config(app, config or Config, overrides)
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.logger.addFilter(RedactingFilter())  # no credential from a URL reaches the log
    params.register(app)  # before any route is added: every <int:id> is bounded
    _init_extensions(app)
    init_uploads(app)
    credentials.init_app(app)
    jobs_queue.init_app(app)
    _register_blueprints(app)
    errors.register(app)
    _stream_fast_path(app)
    security.register(app)
    filters.register(app)
    navigation.register(app)
    assets.register(app)
    client_config.register(app)
    urls.register(app)
    register_cli(app)
    if app.config.get("TRUSTED_PROXIES"):
        # Outermost, so everything inside sees the client's scheme and address.
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    ops_endpoints.init_app(app)  # outermost of all: every request is timed and gets its id
    return app


def _load_config(app: Flask, config: type[Config], overrides: dict[str, Any]) -> None:
    app.config.from_object(config)
    app.config.update(overrides)
    if not app.config.get("MAX_CONTENT_LENGTH"):
        # Larger requests get 413 before a byte of the body is read.
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_MB"] * 1_000_000
    if not app.config.get("SECRET_KEY"):
        if app.config["APP_ENV"] == "production":
            raise RuntimeError("SECRET_KEY is not set; production refuses to start without one.")
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    if app.config["APP_ENV"] == "production":
        _refuse_weak_key(app.config["SECRET_KEY"])
    if not 0 <= app.config["STREAM_GRANT_SECONDS"] <= MAX_STREAM_GRANT_SECONDS:
        # The bound on revocation: a larger value would let a player keep a revoked grant too long.
        raise RuntimeError(f"STREAM_GRANT_SECONDS must be between 0 and {MAX_STREAM_GRANT_SECONDS}.")
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)


def _instance_secret_key(instance: Path) -> str:
    """Development convenience: a random key kept in instance/secret_key."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


WEAK_KEYS = {"dev", "secret", "changeme", "change-me", "password", "secret-key", "development"}


def _refuse_weak_key(key: str) -> None:
    if len(key) < 32 or key.lower() in WEAK_KEYS or len(set(key)) < 10:
        raise RuntimeError(
            "SECRET_KEY is too weak for production: use at least 32 random characters, "
            'for example python -c "import secrets; print(secrets.token_hex(32))".'
        )


def _stream_fast_path(app: Flask) -> None:
    """Seeks skip the full Flask stack; behind nginx, its grant questions too."""
    if not app.config["STREAM_FAST_PATH"] and app.config["SEND_FILE_MODE"] != "x-accel":
        return
    with app.app_context():
        engine = db.engine
    fast_path = StreamFastPath(app, app.wsgi_app, engine, app.extensions["storage"])
    app.extensions["stream_fast_path"] = fast_path
    app.wsgi_app = fast_path  # type: ignore[method-assign]
    if app.config["STREAM_FAST_PATH"] and app.extensions["storage"].is_local:
        # The same for a player's seeks through the Subsonic API (token auth).
        app.wsgi_app = SubsonicStreamFastPath(app, app.wsgi_app, engine, app.extensions["storage"])  # type: ignore[method-assign]


def _engine_options(app: Flask) -> None:
    """Every pooled connection is checked before use (a database that restarted
    needs no app restart), and an unreachable PostgreSQL is given up on after
    DB_CONNECT_TIMEOUT seconds, so the page says 503 instead of hanging."""
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_pre_ping", True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", app.config["DB_CONNECT_TIMEOUT"])
        options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _init_extensions(app: Flask) -> None:
    _engine_options(app)
    db.init_app(app)
    i18n.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(library_bp)
    app.register_blueprint(uploads_bp, url_prefix="/library/uploads")
    app.register_blueprint(streaming_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(playlists_bp)
    app.register_blueprint(share_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(language_bp)
    app.register_blueprint(subsonic_bp, url_prefix="/rest")
    api_v1.init_app(app)
