"""The seek path of the Subsonic API without the full Flask stack.

A player seeking through /rest/stream sends its token (u, t, s) with every
request. For GET and HEAD on /rest/stream (or stream.view) this WSGI
middleware checks the request exactly as app/subsonic/auth.py does, with
SQLAlchemy Core, and answers like app/streaming/fastpath.py: the view's
hand-off headers, a plain range, or serve_audio(). It only ever says yes:
anything else goes to the Flask view unchanged, which then gives the answer
and does the bookkeeping itself. It hands over when:

- the query is anything but v, c, f (xml or json), id, u, t and s, each once
  (a password, an API key, maxBitRate, format, timeOffset, ...: transcoding
  and every other credential form stay with the view);
- the address or the username is blocked by the login limits (the same
  counters as sign_in_blocked()), so a blocked username never gets a yes;
- the account is unknown or disabled, or no app password of it matches the
  token (the view counts the failure against the login limits);
- the matching app password's last-use stamp is due (the view writes it);
- it starts playing a track (a GET without a Range, or of "bytes=0-"): the
  view notes what is playing now, for getNowPlaying; seeks stay here;
- the track is not visible to the account (access.py's visible_to());
- anything fails.

Nothing is remembered but decrypted app passwords, keyed by their
ciphertext: every request reads the credential rows afresh, so revoking an
app password or disabling the account stops the very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from urllib.parse import parse_qsl

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from sqlalchemy import Engine, Row, and_, bindparam, select

from app.models import AppPassword, Track, User
from app.models.types import utcnow
from app.ops.metrics import ENDPOINT
from app.services import accounts
from app.services.credentials import clean_client
from app.services.library.access import STREAM_COLUMNS, visible_to
from app.services.storage import Storage
from app.streaming.fastpath import host_trusted, send_stored
from app.streaming.files import WSGIApp, limit_stalls
from app.streaming.ranges import starts_playing
from app.subsonic import objects
from app.subsonic.auth import MAX_CREDENTIAL
from app.web import login_limits

PATHS = ("/rest/stream", "/rest/stream.view")
# What the fast path understands; any other parameter is the view's.
KNOWN = frozenset(("v", "c", "f", "id", "u", "t", "s"))
REQUIRED = ("id", "u", "t", "s")
# mark_used() stamps a credential used more than 60 seconds ago; hand over a
# little earlier, so the view is the one that writes it.
STAMP_DUE = timedelta(seconds=55)
PLAIN_CACHE_SIZE = 4096
_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
log = logging.getLogger(__name__)

# In one indexed lookup: the account's app passwords in match_token()'s order,
# if the account is enabled, each with the track if the account may hear it
# (access.py's rule); no row when it may not.
SEEK_LOOKUP = (
    select(
        User.id.label("user_id"),
        AppPassword.secret_encrypted,
        AppPassword.last_used_at,
        AppPassword.last_client,
        *STREAM_COLUMNS,
    )
    .select_from(User)
    .join(AppPassword, AppPassword.user_id == User.id)
    .join(Track, and_(Track.id == bindparam("tid"), visible_to(User.id)))
    .where(User.username_key == bindparam("key"), User.disabled.is_(False))
    .order_by(AppPassword.id)
)


class SubsonicStreamFastPath:
    def __init__(self, app: Flask, wsgi_app: Callable, engine: Engine, storage: Storage) -> None:
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.storage = storage
        self.config = app.config
        self.cipher: Fernet = app.extensions["app_password_cipher"]
        self.plain: dict[str, str | None] = {}
        self.mode = app.config["SEND_FILE_MODE"]
        self.x_accel_prefix = app.config["X_ACCEL_PREFIX"]
        self.send_timeout = app.config["SEND_TIMEOUT"]
        self.trusted_hosts = app.config.get("TRUSTED_HOSTS")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in PATHS and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                response = self._answer(environ)
            except Exception:
                log.warning("Subsonic stream fast path failed; Flask answers instead", exc_info=True)
                response = None
            if response is not None:
                environ[ENDPOINT] = "subsonic.stream_fast_path"
                limit_stalls(environ, self.send_timeout)
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict) -> WSGIApp | None:
        row = self._allowed(environ)
        if row is None:
            return None
        return send_stored(environ, self.storage, row, mode=self.mode, x_accel_prefix=self.x_accel_prefix)

    def _allowed(self, environ: dict) -> Row | None:
        """The SEEK_LOOKUP row (the track's columns) when the view would send it
        without writing anything; None for everything else."""
        params = _params(environ.get("QUERY_STRING", ""))
        if (
            params is None
            or not host_trusted(environ, self.trusted_hosts)
            or starts_playing(environ.get("REQUEST_METHOD"), environ.get("HTTP_RANGE"))
        ):
            return None
        parsed = objects.parse_kind(params["id"])
        username, token, salt = params["u"], params["t"], params["s"]
        if (
            parsed is None
            or parsed[0] != "track"
            or not _HEX.match(token.strip())
            or max(len(username), len(token), len(salt)) > MAX_CREDENTIAL
            or login_limits.blocked_outside_a_request(self.config, environ.get("REMOTE_ADDR", ""), username)
        ):
            return None
        with self.engine.connect() as conn:
            rows = conn.execute(SEEK_LOOKUP, {"key": accounts.username_key(username), "tid": parsed[1]}).all()
        return self._match(rows, token, salt, params.get("c"))

    def _match(self, rows: list[Row], token: str, salt: str, client: str | None) -> Row | None:
        """The row of the first app password matching the token (as match_token()
        picks it) when it needs no stamp; None otherwise."""
        wanted = token.strip().lower().encode("ascii", "replace")
        for row in rows:
            plain = self._plain(row.secret_encrypted)
            if plain is None:
                continue
            digest = hashlib.md5((plain + salt).encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
            if hmac.compare_digest(digest.encode(), wanted):
                due = (
                    row.last_used_at is None
                    or utcnow() - row.last_used_at > STAMP_DUE
                    or row.last_client != clean_client(client)
                )
                return None if due else row
        return None

    def _plain(self, ciphertext: str) -> str | None:
        if ciphertext in self.plain:
            return self.plain[ciphertext]
        try:
            plain: str | None = self.cipher.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError):
            plain = None
        if len(self.plain) >= PLAIN_CACHE_SIZE:
            self.plain.clear()
        self.plain[ciphertext] = plain
        return plain


def _params(query: str) -> Mapping[str, str] | None:
    """The query's parameters when the fast path understands all of them, each once."""
    # Raw non-ASCII bytes are decoded by Werkzeug as UTF-8, by parse_qsl as Latin-1: the view's.
    if not query or len(query) > 4 * MAX_CREDENTIAL or not query.isascii():
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not KNOWN.issuperset(params):
        return None
    if any(not params.get(name) for name in REQUIRED) or params.get("f", "xml") not in ("xml", "json"):
        return None
    return params
