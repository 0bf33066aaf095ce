"""The seek path without the full Flask stack.

A player sends a new request for every seek, and a crowd of listeners sends
many. For GET and HEAD on /stream/<id> with a valid session cookie, this WSGI
middleware verifies the cookie exactly as Flask's session interface does
(remembering cookies it verified, until they expire), runs the stream view's
single query (session token and visibility in one indexed lookup) with
SQLAlchemy Core, and answers: in a hand-off mode with the view's
X-Accel-Redirect or X-Sendfile headers, else a plain range with plain_range()
(the same headers as the view, no Response object), the rest with the view's
serve_audio(). Everything else (no session, a wrong token, a track the user
may not hear) goes to the Flask app, which gives the proper 401 or 404; so
this path can only ever say yes, never decide a no.

A yes is remembered for STREAM_GRANT_SECONDS per session cookie and track
(in this process), so the seeks that follow a first request cost neither the
signature check nor the query: logging out, a changed password, a disabled
account or a track made private or deleted stop a remembered yes within that
bound (a deleted file at once: it is opened anew for every request). Behind
nginx, deploy/nginx.conf keeps the same bound.

It declines anything with a query string (a later `?format=` or `?quality=`
must never be answered with the original file), and a failure of its own is
logged and handed to Flask, which answers with its error handling.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import Engine
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_cookie
from werkzeug.wsgi import get_host

from app.security import global_headers
from app.services.errors import NotFound
from app.services.library.access import STREAM_LOOKUP
from app.services.storage import Storage
from app.streaming.files import MissingFile, WSGIApp, handoff_headers, limit_stalls, plain_range, serve_audio
from app.web.params import parse_id
from app.web.sessions import split_cookie_id

_PATH = re.compile(r"^/stream/([0-9]{1,10})$")
log = logging.getLogger(__name__)
# Verified session cookies remembered, so a seek skips the signature check;
# a cookie's entry lives no longer than the cookie's own max age.
SESSION_CACHE_SIZE = 4096
GRANT_CACHE_SIZE = 4096


class Grant(NamedTuple):
    """What sending a track needs, remembered after a yes."""

    expires: float
    storage_path: str
    mime_type: str
    sha256: str


class StreamFastPath:
    def __init__(self, app: Flask, wsgi_app: Callable, engine: Engine, storage: Storage) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.storage = storage
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        self.sessions: dict[str, tuple[float, int, str]] = {}
        self.grant_seconds = app.config["STREAM_GRANT_SECONDS"]
        self.grants: dict[tuple[str, int], Grant] = {}
        self.mode = app.config["SEND_FILE_MODE"]
        self.x_accel_prefix = app.config["X_ACCEL_PREFIX"]
        self.send_timeout = app.config["SEND_TIMEOUT"]
        self.trusted_hosts = app.config.get("TRUSTED_HOSTS")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        track_id = parse_id(match.group(1)) if match else None
        if (
            track_id is not None
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and not environ.get("QUERY_STRING")
            and self.serializer is not None
            and self._host_trusted(environ)
        ):
            try:
                response = self._answer(environ, track_id)
            except Exception:
                # e.g. the database is down: Flask answers, with its error page.
                log.warning("stream fast path failed; Flask answers instead", exc_info=True)
                response = None
            if response is not None:
                limit_stalls(environ, self.send_timeout)
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict, track_id: int) -> WSGIApp | None:
        cookie = parse_cookie(environ).get(self.cookie_name)
        if not cookie:
            return None
        row = self._grant(cookie, track_id)
        if row is None:
            return None
        try:
            path = self.storage.local_path(row.storage_path)
        except NotFound:
            self.grants.pop((cookie, track_id), None)
            return None
        # What the Flask view's response carries besides its own headers.
        extra = (*global_headers(secure=environ.get("wsgi.url_scheme") == "https"), ("Vary", "Cookie"))
        if self.mode != "python":
            headers = handoff_headers(
                self.mode, row.mime_type, row.storage_path, path, x_accel_prefix=self.x_accel_prefix
            )
            return _fixed("200 OK", [*headers, *extra])
        answer = plain_range(environ, path, row.mime_type, row.sha256, extra)
        if answer is None:
            try:
                response = serve_audio(environ, path, row.mime_type, row.sha256)
            except MissingFile:
                # Deleted since the yes was remembered: Flask says what happened.
                self.grants.pop((cookie, track_id), None)
                return None
            response.headers.extend(extra)
            answer = response
        return answer

    def _host_trusted(self, environ: dict) -> bool:
        # An untrusted Host goes to Flask, which answers 400 as for any page.
        if not self.trusted_hosts:
            return True
        try:
            get_host(environ, self.trusted_hosts)
        except SecurityError:
            return False
        return True

    def _grant(self, cookie: str, track_id: int) -> Grant | None:
        """The track if this session may hear it: remembered, or asked of the database.
        A yes is remembered no longer than the cookie itself is valid."""
        now = time.time()
        grant = self.grants.get((cookie, track_id))
        if grant is not None and grant.expires > now:
            return grant
        session = self._session(cookie, now)
        if session is None:
            return None
        cookie_expires, user_id, token = session
        with self.engine.connect() as conn:
            row = conn.execute(STREAM_LOOKUP, {"uid": user_id, "tid": track_id}).first()
        if row is None or row.disabled or not hmac.compare_digest(row.session_token.encode(), token.encode()):
            return None
        grant = Grant(min(now + self.grant_seconds, cookie_expires), row.storage_path, row.mime_type, row.sha256)
        if self.grant_seconds > 0:
            if len(self.grants) >= GRANT_CACHE_SIZE:
                self.grants.clear()
            self.grants[cookie, track_id] = grant
        return grant

    def _session(self, cookie: str, now: float) -> tuple[float, int, str] | None:
        """(expiry, user id, session token) from a valid session cookie."""
        known = self.sessions.get(cookie)
        if known is not None and known[0] > now:
            return known
        try:
            session, signed_at = self.serializer.loads(cookie, max_age=self.max_age, return_timestamp=True)
        except BadSignature:
            return None
        parsed = split_cookie_id(session.get("_user_id"))
        if parsed is None:
            return None
        if len(self.sessions) >= SESSION_CACHE_SIZE:
            self.sessions.clear()
        known = (signed_at.timestamp() + self.max_age, *parsed)
        self.sessions[cookie] = known
        return known


def _fixed(status: str, headers: list[tuple[str, str]]) -> WSGIApp:
    """A response with no body of its own (the front server adds the file)."""

    def send(environ: dict, start_response: Callable) -> Iterable[bytes]:
        start_response(status, [*headers, ("Content-Length", "0")])
        return []

    return send
