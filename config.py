"""Configuration: defaults, overridden by environment variables.

Every variable is documented in the README's configuration table.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return int(value)


def _list(name: str) -> list[str] | None:
    """A comma-separated list; None when unset (no restriction)."""
    items = [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
    return items or None


def normalise_database_url(url: str) -> str:
    """Accept the URL forms hosting providers hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'musiccloud.db'}"
    return normalise_database_url(url)


def _ratelimit_storage() -> str:
    explicit = os.environ.get("RATELIMIT_STORAGE_URI", "").strip()
    if explicit:
        return explicit
    redis = os.environ.get("REDIS_URL", "").strip()
    if redis:
        return redis
    return f"sqlite:///{INSTANCE_DIR / 'ratelimits.db'}"


class Config:
    # "development" (the default) or "production"; production refuses to start
    # without a strong SECRET_KEY.
    APP_ENV = os.environ.get("APP_ENV", "development").strip().lower()
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    # The key app passwords are encrypted with (derived with HKDF); unset, it is
    # derived from SECRET_KEY. Changing whichever is used makes every app
    # password stop working (devices must be given new ones).
    APP_PASSWORD_KEY = os.environ.get("APP_PASSWORD_KEY") or None

    SQLALCHEMY_DATABASE_URI = _database_url()
    # Pooled connections are checked before use (pool_pre_ping, set by the
    # factory with a connect timeout), so the app recovers by itself when the
    # database comes back; they are also recycled before a server would drop
    # them idle. A pool big enough for the worker's busy threads: a connection opened
    # past it is closed after one request, and opening one is not free.
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_recycle": 1800,
        "pool_size": _int("DB_POOL_SIZE", 16),
        "max_overflow": _int("DB_POOL_OVERFLOW", 32),
        # A request waits at most this long for a free connection, then 503.
        "pool_timeout": 4,
    }
    # Seconds before an unreachable database is an outage: the page says so
    # (503 with Retry-After) within about this long, and never a 500.
    DB_CONNECT_TIMEOUT = _int("DB_CONNECT_TIMEOUT", 3)

    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(BASE_DIR / "uploads")
    MAX_UPLOAD_MB = _int("MAX_UPLOAD_MB", 500)
    # The largest cover picture (JPEG, PNG or WebP) an owner may upload for a track or an album.
    ARTWORK_MAX_MB = _int("ARTWORK_MAX_MB", 10)
    # Where kept files live: unset, in UPLOAD_FOLDER; "s3://bucket/prefix", in an
    # S3-compatible object store (UPLOAD_FOLDER then only holds uploads being
    # received and checked). The store's address, region and keys: S3_ENDPOINT_URL
    # (unset: AWS), S3_REGION, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (unset:
    # boto3's own environment, AWS_ACCESS_KEY_ID ... or an instance role).
    STORAGE_URL = os.environ.get("STORAGE_URL", "").strip() or None
    # While a library moves (`flask storage migrate --to` the new STORAGE_URL): where it
    # was (a folder or s3://...). New files go to STORAGE_URL, reads fall back here.
    STORAGE_FALLBACK_URL = os.environ.get("STORAGE_FALLBACK_URL", "").strip() or None
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL", "").strip() or None
    S3_REGION = os.environ.get("S3_REGION", "").strip() or None
    S3_ACCESS_KEY_ID = os.environ.get("S3_ACCESS_KEY_ID") or None
    S3_SECRET_ACCESS_KEY = os.environ.get("S3_SECRET_ACCESS_KEY") or None
    # How a track in the store reaches a client: "proxy" (the app, or nginx with
    # SEND_FILE_MODE=x-accel through S3_PROXY_PREFIX, fetches it: clients only
    # talk to this host) or "redirect" (a 302 to a presigned URL that outlives
    # the track: twice its duration, at least an hour).
    S3_STREAM = os.environ.get("S3_STREAM", "proxy").strip().lower()
    S3_PROXY_PREFIX = os.environ.get("S3_PROXY_PREFIX", "/_s3/")
    ALLOW_REGISTRATION = _bool("ALLOW_REGISTRATION", True)
    # ZIP archives (upload a .zip, review what it holds, confirm): the archive
    # itself may be this large (it also has to fit in MAX_REQUEST_MB), hold at
    # most this many entries, and unpack to at most this much in all, as its
    # directory declares it and as the bytes are counted while extracting.
    ZIP_MAX_UPLOAD_MB = _int("ZIP_MAX_UPLOAD_MB", 2000)
    # The largest listening history file an import reads (it is parsed in memory).
    HISTORY_IMPORT_MAX_MB = _int("HISTORY_IMPORT_MAX_MB", 20)
    ZIP_MAX_ENTRIES = _int("ZIP_MAX_ENTRIES", 5000)
    ZIP_MAX_UNCOMPRESSED_MB = _int("ZIP_MAX_UNCOMPRESSED_MB", 4000)
    # An archive left unconfirmed, or an unfinished upload, is removed after this long.
    UPLOAD_RESUME_HOURS = _int("UPLOAD_RESUME_HOURS", 24)
    # One request may carry many files (the form without JavaScript); each file
    # is held to MAX_UPLOAD_MB, the whole request to MAX_REQUEST_MB.
    MAX_REQUEST_MB = _int("MAX_REQUEST_MB", 2000)

    # Tag parsing runs in worker processes with these limits.
    INGEST_WORKERS = _int("INGEST_WORKERS", 2)
    INGEST_TIMEOUT = float(os.environ.get("INGEST_TIMEOUT", "10"))
    INGEST_MEMORY_MB = _int("INGEST_MEMORY_MB", 1024)
    # A tag-reading process unused this long is stopped (they start again on
    # the next upload, in well under a second); 0 keeps them.
    INGEST_IDLE_SECONDS = float(os.environ.get("INGEST_IDLE_SECONDS", "60"))

    BCRYPT_ROUNDS = _int("BCRYPT_ROUNDS", 12)

    # ffmpeg, for measuring loudness and waveforms: this executable when set, else
    # the one the imageio-ffmpeg wheel ships. An analysis taking longer than
    # ANALYSIS_TIMEOUT seconds fails. ANALYSIS_TRUE_PEAK off measures the sample
    # peak instead of the true peak (4x oversampled), which costs far less CPU.
    FFMPEG = os.environ.get("FFMPEG") or None
    ANALYSIS_TIMEOUT = float(os.environ.get("ANALYSIS_TIMEOUT", "300"))
    ANALYSIS_TRUE_PEAK = _bool("ANALYSIS_TRUE_PEAK", True)

    # Background jobs (Huey): the queue (sqlite:///path or redis://...; unset:
    # a SQLite file beside a SQLite database, else instance/jobs.db), the
    # worker threads of `flask worker`, and retries with a growing delay
    # (JOBS_RETRY_DELAY seconds, doubled each attempt). JOBS_IMMEDIATE runs a
    # job at once in the process that submits it (tests).
    HUEY_URL = (os.environ.get("HUEY_URL") or os.environ.get("REDIS_URL") or "").strip() or None
    # Several app servers: ended sessions (logout, new password, disabled account)
    # are announced on this Redis, so every process forgets the stream grants it
    # remembered for them at once (app/web/revocations.py).
    SESSION_EVENTS_URL = (os.environ.get("SESSION_EVENTS_URL") or os.environ.get("REDIS_URL") or "").strip() or None
    # Where each user's transcode slots (TRANSCODE_MAX_PER_USER) are counted across app
    # servers (services/transcode/cache.py); unset: each machine counts its own.
    TRANSCODE_SLOTS_URL = (os.environ.get("TRANSCODE_SLOTS_URL") or os.environ.get("REDIS_URL") or "").strip() or None
    JOBS_IMMEDIATE = _bool("JOBS_IMMEDIATE", False)
    JOBS_WORKERS = _int("JOBS_WORKERS", 2)
    JOBS_RETRIES = _int("JOBS_RETRIES", 3)
    JOBS_RETRY_DELAY = float(os.environ.get("JOBS_RETRY_DELAY", "30"))

    # How audio bytes leave the server: "python" (the app streams them, with
    # ranges), "x-accel" (nginx serves them from X_ACCEL_PREFIX, an internal
    # location) or "x-sendfile" (Apache's mod_xsendfile).
    SEND_FILE_MODE = os.environ.get("SEND_FILE_MODE", "python").strip().lower()
    X_ACCEL_PREFIX = os.environ.get("X_ACCEL_PREFIX", "/_media/")
    # Seconds a client may read nothing of an audio file being sent before the
    # connection is dropped (a paused player that holds its connection would
    # hold a socket and an open file for ever). Players reconnect with a range
    # when they resume. nginx's send_timeout does the same behind nginx.
    SEND_TIMEOUT = _int("SEND_TIMEOUT", 60)
    # Seeks (GET/HEAD /stream/<id> with a session cookie and no query string)
    # answered by a WSGI middleware before Flask; off, Flask answers them all.
    STREAM_FAST_PATH = _bool("STREAM_FAST_PATH", True)
    # How long a yes to "may this session hear this track" is remembered, so a
    # player's seeks skip the check: by each app process, and behind
    # deploy/nginx.conf (x-accel) by nginx, which then sends the seeks without
    # asking Python (a "grant"). It is also how long a logout, a password
    # change, a disabled account or a track made private may take to stop a
    # player already listening (0 to 60; 0 checks every request).
    STREAM_GRANT_SECONDS = _int("STREAM_GRANT_SECONDS", 30)
    # How long a signed stream URL from the REST API's stream-url plays (6 hours).
    STREAM_URL_SECONDS = _int("STREAM_URL_SECONDS", 6 * 3600)
    # How long a token from POST /api/v1/auth/token lasts (1 hour).
    API_SIGN_IN_TOKEN_SECONDS = _int("API_SIGN_IN_TOKEN_SECONDS", 3600)

    # Transcoding (the "Sound quality" section of the README). FFMPEG names the
    # ffmpeg to run (a path or a name on PATH); unset, the one in the
    # imageio-ffmpeg wheel. At most TRANSCODE_MAX_JOBS ffmpeg processes at once
    # on this machine (default: its cores) and TRANSCODE_MAX_PER_USER for one
    # account; the variant cache is trimmed to TRANSCODE_CACHE_MB, least
    # recently used first. An encode nobody listens to any more stops after
    # TRANSCODE_ABANDON_SECONDS.
    FFMPEG = os.environ.get("FFMPEG", "").strip() or None
    TRANSCODE_MAX_JOBS = _int("TRANSCODE_MAX_JOBS", os.cpu_count() or 2)
    TRANSCODE_MAX_PER_USER = _int("TRANSCODE_MAX_PER_USER", 2)
    TRANSCODE_CACHE_MB = _int("TRANSCODE_CACHE_MB", 2048)
    # The admin's dashboard adds up every listen and track of the instance: each web
    # process keeps its figures this many seconds (0: counted on every view).
    DASHBOARD_CACHE_SECONDS = _int("DASHBOARD_CACHE_SECONDS", 60)
    TRANSCODE_ABANDON_SECONDS = float(os.environ.get("TRANSCODE_ABANDON_SECONDS", "3"))

    # Rate limits (Flask-Limiter), counted where every process sees them:
    # Redis when configured, else a SQLite file the processes of this machine
    # share (app/web/ratelimits.py). Never memory:// behind several processes.
    RATELIMIT_STORAGE_URI = _ratelimit_storage()
    # Keeps the counters of several instances apart in one Redis.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # Flask-Limiter would stamp its window on every limited response (a
    # Retry-After of 900 s on a 503 during an outage); the 429 page sets its
    # own Retry-After from the limit instead (app/errors.py).
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "20 per minute;200 per hour")
    LOGIN_LIMIT_PER_USERNAME = os.environ.get("LOGIN_LIMIT_PER_USERNAME", "10 per 15 minutes")
    # The REST API's limits per token (Flask-Limiter syntax), in the same storage.
    API_LIMIT_READ = os.environ.get("API_LIMIT_READ", "100 per minute")
    API_LIMIT_UPDATE = os.environ.get("API_LIMIT_UPDATE", "20 per minute")
    API_LIMIT_UPLOAD = os.environ.get("API_LIMIT_UPLOAD", "30 per hour")
    API_LIMIT_DELETE = os.environ.get("API_LIMIT_DELETE", "10 per hour")
    REGISTER_LIMIT_PER_IP = os.environ.get("REGISTER_LIMIT_PER_IP", "10 per hour")
    # Share links: pages and their audio requests per address (a listener
    # seeking makes many requests; a guesser makes far more).
    SHARE_LIMIT_PER_IP = os.environ.get("SHARE_LIMIT_PER_IP", "300 per minute")

    # Number of reverse proxies in front of the app whose X-Forwarded-* headers
    # are trusted (0: none; 1: nginx on the same box).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    # Host names the app answers to (Flask's TRUSTED_HOSTS; a request for any
    # other Host is 400). Unset: any host (development).
    TRUSTED_HOSTS = _list("TRUSTED_HOSTS")
    # The address people reach the app at (https://music.example.org): every
    # absolute link (share links, playlist exports) is built from it, never
    # from the request's Host header.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "").strip().rstrip("/") or None

    # Operations (the "Operations" part of the README). LOG_FORMAT: text (the
    # default) or json, one object per line with the request's id. METRICS_TOKEN:
    # the Bearer token that opens /metrics to another machine (unset: only from
    # this one). READY_TIMEOUT: seconds /readyz waits for its checks;
    # READY_CACHE_SECONDS: how long one check's answer serves every probe.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "info").strip().lower()
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    READY_TIMEOUT = float(os.environ.get("READY_TIMEOUT", "3"))
    READY_CACHE_SECONDS = float(os.environ.get("READY_CACHE_SECONDS", "1"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "mc_session"
    REMEMBER_COOKIE_NAME = "mc_remember"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Languages (Flask-Babel): catalogues in translations/, compiled by
    # `make translations` (the run and test commands do it).
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")


class TestConfig(Config):
    TESTING = True
    APP_ENV = "testing"
    SECRET_KEY = "test-secret-key-not-for-production-use-0123456789"  # noqa: S105 - tests only
    BCRYPT_ROUNDS = 4
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    # Each probe checks afresh (test_operations.py tests the shared answer).
    READY_CACHE_SECONDS = 0.0
    ALLOW_REGISTRATION = True
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Jobs run as they are submitted, so a test sees their effect at once (tests
    # about the queue itself run a real consumer instead).
    JOBS_IMMEDIATE = True
    HUEY_URL = None  # never a developer's REDIS_URL
    DASHBOARD_CACHE_SECONDS = 0  # a test sees what it just added (one test turns it on)
    SESSION_EVENTS_URL = None
    TRANSCODE_SLOTS_URL = None
