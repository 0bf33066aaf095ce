"""The seek path without the full Flask stack.

A player sends a new request for every seek, and a crowd of listeners sends
many. For GET and HEAD on /stream/<id> with a valid session cookie, this WSGI
middleware verifies the cookie exactly as Flask's session interface does, runs
the stream view's single query (session token and visibility in one indexed
lookup) with SQLAlchemy Core, and answers with the same serve_audio() as the
view. Anything else (no session, a wrong token, a track the user may not
hear, a hand-off mode) goes to the Flask app, which gives the proper 401, 404
or X-Accel answer; so this path can only ever say yes, never decide a no.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import Engine
from werkzeug.http import parse_cookie

from app.security import apply_security_headers
from app.services.errors import NotFound
from app.services.library import STREAM_LOOKUP
from app.services.storage import Storage
from app.streaming.files import serve_audio

_PATH = re.compile(r"^/stream/([1-9][0-9]{0,17})$")


class StreamFastPath:
    def __init__(self, app: Flask, wsgi_app: Callable, engine: Engine, storage: Storage) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.storage = storage
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if match and environ.get("REQUEST_METHOD") in ("GET", "HEAD") and self.serializer is not None:
            try:
                response = self._answer(environ, int(match.group(1)))
            except Exception:  # noqa: BLE001 - e.g. the database is down: Flask answers (with its error page)
                response = None
            if response is not None:
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict, track_id: int):
        cookie = parse_cookie(environ).get(self.cookie_name)
        if not cookie:
            return None
        try:
            session = self.serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        user_id, _, token = str(session.get("_user_id") or "").partition(":")
        if not user_id.isdigit() or not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(STREAM_LOOKUP, {"uid": int(user_id), "tid": track_id}).first()
        if row is None or row.disabled or not hmac.compare_digest(row.session_token.encode(), token.encode()):
            return None
        try:
            path = self.storage.path(row.storage_path)
        except NotFound:
            return None
        response = serve_audio(environ, path, row.mime_type, row.sha256)
        apply_security_headers(response.headers, secure=environ.get("wsgi.url_scheme") == "https")
        return response
