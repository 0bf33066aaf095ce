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
account or a track made private stop a remembered yes within that bound,
never later than the cookie's own expiry (a deleted file at once: it is
opened anew for every request).

It declines anything with a query string but `quality=high|medium|low`
(with `&format=mp3` or `opus`): for those it sends the transcoded variant when
the cache holds it complete (the same preset choice and headers as the view),
and hands everything else to Flask, which starts or follows the encode. A
failure of its own is logged and handed to Flask, which answers with its
error handling.

Behind deploy/nginx.conf (SEND_FILE_MODE=x-accel) it also answers nginx's own
question, a "grant": may this session cookie hear this track? nginx asks with
an auth_request subrequest carrying the X-Musiccloud-Grant header (which it
strips from every client's request), keeps a yes for STREAM_GRANT_SECONDS
(X-Accel-Expires) and sends the file itself meanwhile, so a player seeking
reaches Python once in that time. The same lookup decides, asked afresh (a
yes this process remembers is not handed on, so nginx's copy never outlives
the bound); a yes names the
stored file and carries the headers the stream's answer needs, anything else
is a bare 403, whatever the reason, after which nginx sends the client's
request to the app as before: the client sees the app's own 401 or 404.

A track in an object store (S3_STREAM=proxy) gets a grant too: instead of a
file it names a presigned address of the object (X-Musiccloud-Store, its path
and query as signed), which nginx keeps with the grant and fetches each range
from. The address lives STORE_GRANT_URL_MARGIN seconds longer than nginx may
keep the grant, and at least as long as the hand-off's (PROXY_URL_SECONDS), so
nginx never holds an expired one.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import Engine
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_cookie
from werkzeug.wsgi import get_host

from app.ops.metrics import ENDPOINT
from app.security import global_headers
from app.services.errors import NotFound
from app.services.library.access import STREAM_LOOKUP
from app.services.storage import Storage
from app.services.tags import FORMATS
from app.services.transcode.cache import Variant, touch_if_stale
from app.services.transcode.presets import Preset, Quality, choose
from app.streaming.files import (
    CACHE_CONTROL,
    MissingFile,
    WSGIApp,
    handoff_headers,
    limit_stalls,
    plain_range,
    serve_audio,
)
from app.web import revocations
from app.web.params import parse_id
from app.web.sending import PROXY_URL_SECONDS
from app.web.sessions import split_cookie_id

_PATH = re.compile(r"^/stream/([0-9]{1,10})$")
# The player's transcoded stream: a cached variant is sent here, anything else by the view.
_QUALITY_QUERY = re.compile(r"^quality=(high|medium|low)(?:&format=(mp3|opus))?$")
# Set by nginx on its grant subrequest only (deploy/nginx.conf).
GRANT_HEADER = "HTTP_X_MUSICCLOUD_GRANT"
# What storage names a stored file (<user id>/<random name>.<ext>): nginx puts
# it in a path as it is, so anything else is left to the X-Accel-Redirect path,
# which quotes it.
_PLAIN_STORED_NAME = re.compile(r"^[0-9]+/[A-Za-z0-9_-]+\.([a-z0-9]+)$")
# Under a grant nginx sends the type its configuration gives the extension,
# this table (deploy/nginx.conf has a copy, and a test compares them); a track
# whose type is another (an older row) is left to the X-Accel-Redirect path,
# which sends the track's own.
GRANT_TYPES = dict(FORMATS.values())
log = logging.getLogger(__name__)
# Verified session cookies remembered, so a seek skips the signature check;
# a cookie's entry lives no longer than the cookie's own max age.
SESSION_CACHE_SIZE = 4096
GRANT_CACHE_SIZE = 4096
# A grant's presigned address outlives nginx's copy of the grant by at least
# this much: room for the clocks of the app servers and the store to differ.
STORE_GRANT_URL_MARGIN = 120


class Allowed(NamedTuple):
    """What sending a track needs, once the session may hear it; remembered until `expires`."""

    expires: float
    storage_path: str
    mime_type: str
    sha256: str
    format: str
    codec: str
    bitrate: int | None
    duration: float


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
        self.remembered: dict[tuple[str, int], Allowed] = {}
        self.mode = app.config["SEND_FILE_MODE"]
        self.fast_path = app.config["STREAM_FAST_PATH"]
        # nginx's grants only make sense when nginx sends the files.
        self.answers_grants = self.mode == "x-accel"
        # A grant for a track in an object store names a presigned address
        # nginx fetches; with S3_STREAM=redirect the client is sent away
        # instead, which only the app does.
        self.store_grants = app.config["S3_STREAM"] == "proxy"
        if not storage.is_local:
            # Files in an object store: the fast path sends local files, so it
            # says no and Flask answers (a presigned hand-off to nginx's /_s3/
            # location, or a ranged read).
            self.fast_path = False
        self.x_accel_prefix = app.config["X_ACCEL_PREFIX"]
        self.send_timeout = app.config["SEND_TIMEOUT"]
        self.trusted_hosts = app.config.get("TRUSTED_HOSTS")
        # Several app servers: a session ended on any of them ends what this
        # process remembered, at once (and nothing is remembered while Redis is away).
        url = revocations.events_url(app.config)
        self.listener = revocations.Listener(url, self._forget_all, self._forget_all) if url else None

    def _forget_all(self, *_: object) -> None:
        self.remembered.clear()

    def _may_remember(self) -> bool:
        return self.listener is None or self.listener.connected

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.listener is not None:
            self.listener.ensure_started()
        match = _PATH.match(environ.get("PATH_INFO", ""))
        track_id = parse_id(match.group(1)) if match else None
        if environ.get(GRANT_HEADER):
            environ[ENDPOINT] = "streaming.grant"
            return self._grant(environ, track_id)(environ, start_response)
        query = environ.get("QUERY_STRING")
        quality = _QUALITY_QUERY.match(query) if query else None
        if (
            self.fast_path
            and track_id is not None
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and (not query or quality)
            and self.serializer is not None
            and host_trusted(environ, self.trusted_hosts)
        ):
            try:
                response = self._answer(environ, track_id, quality)
            except Exception:
                # e.g. the database is down: Flask answers, with its error page.
                log.warning("stream fast path failed; Flask answers instead", exc_info=True)
                response = None
            if response is not None:
                environ[ENDPOINT] = "streaming.fast_path"  # its own latency label: a seek without Flask
                limit_stalls(environ, self.send_timeout)
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _allowed(self, cookie: str, track_id: int, *, remember: bool) -> Allowed | None:
        """The track if the session with this cookie may hear it: remembered (when
        `remember`), or asked of the database. A yes is remembered no longer than
        the cookie itself is valid."""
        now = time.time()
        remember = remember and self._may_remember()
        if remember:
            known = self.remembered.get((cookie, track_id))
            if known is not None and known.expires > now:
                return known
        session = self._session(cookie, now)
        if session is None:
            return None
        cookie_expires, user_id, token = session
        with self.engine.connect() as conn:
            row = conn.execute(STREAM_LOOKUP, {"uid": user_id, "tid": track_id}).first()
        if row is None or row.disabled or not hmac.compare_digest(row.session_token.encode(), token.encode()):
            return None
        allowed = Allowed(
            min(now + self.grant_seconds, cookie_expires),
            row.storage_path,
            row.mime_type,
            row.sha256,
            row.format,
            row.codec,
            row.bitrate,
            row.duration,
        )
        if remember and self.grant_seconds > 0:
            if len(self.remembered) >= GRANT_CACHE_SIZE:
                self.remembered.clear()
            self.remembered[cookie, track_id] = allowed
        return allowed

    def _answer(self, environ: dict, track_id: int, quality: re.Match | None = None) -> WSGIApp | None:
        cookie = parse_cookie(environ).get(self.cookie_name)
        if not cookie:
            return None
        row = self._allowed(cookie, track_id, remember=True)
        if row is None:
            return None
        preset = choose(row, Quality(quality.group(1)), opus=quality.group(2) != "mp3") if quality else None
        if preset is not None:
            return send_cached_variant(environ, self.storage, row, preset)
        answer = send_stored(environ, self.storage, row, mode=self.mode, x_accel_prefix=self.x_accel_prefix)
        if answer is None:
            # Deleted since the yes was remembered: Flask says what happened.
            self.remembered.pop((cookie, track_id), None)
        return answer

    def _grant(self, environ: dict, track_id: int | None) -> WSGIApp:
        """nginx's question: 200 with what serving the file needs (the stored
        file's name, the headers of the answer, how long nginx may keep the
        grant), or 403 for every kind of no, so the answer says nothing more
        than the app's own answer would."""
        allowed = None
        cookie = parse_cookie(environ).get(self.cookie_name)
        if (
            self.answers_grants
            and cookie
            and track_id is not None
            and self.serializer is not None
            and host_trusted(environ, self.trusted_hosts)
        ):
            try:
                allowed = self._allowed(cookie, track_id, remember=False)
            except Exception:
                # e.g. the database is down: the app answers the client itself, with its error page.
                log.warning("stream grant failed; nginx asks the app instead", exc_info=True)
        name = _PLAIN_STORED_NAME.match(allowed.storage_path) if allowed else None
        if allowed is None or name is None or GRANT_TYPES.get(name.group(1)) != allowed.mime_type:
            return fixed("403 Forbidden", [])
        # How long nginx may keep the yes: the bound, or less if the cookie expires sooner.
        keep = max(0, math.ceil(allowed.expires - time.time()))
        try:
            where = self._where(allowed.storage_path, keep)
        except Exception:
            # e.g. the store cannot be reached: the app answers the client itself.
            log.warning("stream grant failed; nginx asks the app instead", exc_info=True)
            where = None
        if where is None:
            return fixed("403 Forbidden", [])
        headers = [
            ("Cache-Control", CACHE_CONTROL),
            *extra_headers(environ),
            where,
            ("X-Accel-Expires", str(keep)),
        ]
        return fixed("200 OK", headers)

    def _where(self, rel: str, keep: int) -> tuple[str, str] | None:
        """The grant's header naming where nginx finds the bytes: the stored file
        (X-Musiccloud-File), or the path and query of a presigned address of the
        object in the store (X-Musiccloud-Store) that outlives `keep` seconds by
        STORE_GRANT_URL_MARGIN. None when nginx cannot send it under a grant."""
        holder = self.storage.locate(rel)
        if holder.is_local:
            return "X-Musiccloud-File", rel
        if not self.store_grants:
            return None
        url = holder.presigned_url(rel, max(PROXY_URL_SECONDS, keep + STORE_GRANT_URL_MARGIN))
        if not url:
            return None
        parts = urlsplit(url)
        return "X-Musiccloud-Store", f"{parts.path}?{parts.query}"

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


def extra_headers(environ: dict) -> tuple[tuple[str, str], ...]:
    """What the Flask view's response carries besides its own headers."""
    return (*global_headers(secure=environ.get("wsgi.url_scheme") == "https"), ("Vary", "Cookie"))


def fixed(status: str, headers: list[tuple[str, str]]) -> WSGIApp:
    """A response with no body of its own (the front server adds the file)."""

    def send(environ: dict, start_response: Callable) -> Iterable[bytes]:
        start_response(status, [*headers, ("Content-Length", "0")])
        return []

    return send


def host_trusted(environ: dict, trusted_hosts: list[str] | None) -> bool:
    """Whether the request's Host is one the app serves: an untrusted one goes to
    Flask, which answers 400 as for any page."""
    if not trusted_hosts:
        return True
    try:
        get_host(environ, trusted_hosts)
    except SecurityError:
        return False
    return True


def send_cached_variant(environ: dict, storage: Storage, row: Allowed, preset: Preset) -> WSGIApp | None:
    """A complete variant from the cache, as the view sends it (a plain range or
    serve_audio(), the variant's ETag, X-Content-Duration); None when the cache
    does not hold it complete (the view starts or follows the encode)."""
    variant = Variant(row.sha256, preset)
    try:
        path = storage.variant_path(variant.name)
    except NotFound:
        return None
    extra = (*extra_headers(environ), ("X-Content-Duration", f"{float(row.duration or 0):.3f}"))
    answer = plain_range(environ, path, preset.mime_type, variant.etag, extra)
    if answer is None:
        try:
            response = serve_audio(environ, path, preset.mime_type, variant.etag)
        except MissingFile:
            return None
        response.headers.extend(extra)
        answer = response
    touch_if_stale(path)
    return answer


def send_stored(environ: dict, storage: Storage, row: Any, *, mode: str, x_accel_prefix: str) -> WSGIApp | None:
    """The answer for a stored track the request may hear (`row` has its
    storage_path, mime_type and sha256), with what the view's response carries
    besides: in a hand-off mode the view's headers, else a plain range or
    serve_audio(). None when its file is gone (Flask says so)."""
    try:
        path = storage.local_path(row.storage_path)
    except NotFound:
        return None
    extra = extra_headers(environ)
    if mode != "python":
        headers = handoff_headers(mode, row.mime_type, row.storage_path, path, x_accel_prefix=x_accel_prefix)
        return fixed("200 OK", [*headers, *extra])
    answer = plain_range(environ, path, row.mime_type, row.sha256, extra)
    if answer is not None:
        return answer
    try:
        response = serve_audio(environ, path, row.mime_type, row.sha256)
    except MissingFile:
        return None
    response.headers.extend(extra)
    return response
