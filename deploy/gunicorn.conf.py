"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`
(`make serve`, and `make run` on 127.0.0.1:5000).

Two processes (one per core), each running gunicorn's threaded worker with
two changes (app/serving.py): audio files are sent by the process's event
loop with non-blocking sendfile, not by a thread per listener, and a closing
connection never makes the process wait for the client.

Chosen by measuring, on this 2-core box, 1,000 listeners that each read a
track at 40 KB/s through a 16 KiB buffer and open a new connection per 8 s
track while one more client seeks every second (bench/listeners.py, 25 s),
then 32 clients doing random 256 KiB ranges (wrk; CPU per request of the
server's processes), every server with the app's stream fast path:
  gthread as shipped, 2 x 256 threads: 1,000 of 1,000 listeners stalled over
      a second, 395 never got a byte, a seek waited 4 s at the median (the
      blocking graceful close on the worker's main thread); 0.55-0.60 ms of
      CPU per range request;
  gevent workers, 2 x 2,000 connections: no listener stalled in a quiet run,
      900 of 1,000 in a run beside other work; 0.85 ms per range request;
  granian 2.8 (WSGI, Rust HTTP): no wsgi.file_wrapper, so every file is read
      through Python; 1.1 ms per range request;
  app.serving.ThreadWorker, 2 x 32 threads: no listener stalled in any run,
      seeks 7.7 ms at p99 in bench/stream_bench.py; 0.39-0.40 ms per range
      request.
Memory was alike: 120-137 MB PSS summed over master and workers at peak.
"""

import gc
import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# gunicorn's threaded worker with two changes (app/serving.py): audio files
# are sent by each worker's event loop, not by a thread per listener, and a
# closing connection never makes the worker wait. Threads run the app's own
# work (a page, a query, the headers of a stream), so a few are enough; a
# listener costs a socket and an open file, and WEB_CONNECTIONS of them (plus
# idle kept-alive connections) fit in each worker.
worker_class = "app.serving.ThreadWorker"
threads = int(os.environ.get("WEB_THREADS", "32"))
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "2000"))
# A worker whose main loop stops answering for 2 minutes is replaced (long
# uploads and downloads run on threads and do not count). The app drops a
# client that reads nothing of a file for SEND_TIMEOUT seconds; an idle
# kept-alive connection is closed after 5 s; a restart waits 30 s for
# requests in flight.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# LOG_FORMAT=json: every line (gunicorn's access and error logs, the app's) is a
# JSON object with the request's id (app/ops/logs.py); text is the default.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()

# Prometheus metrics from forked workers (app/ops/metrics.py): each process
# counts in its own files in PROMETHEUS_MULTIPROC_DIR, and /metrics sums them.
# Unset, a private folder is made for this server and removed when it stops.
# It must be set before prometheus_client is imported (by the preloaded app),
# and emptied when the server starts: old files would add a previous run's counts.
# (This file is read again on a HUP; the folder stays, and so do the counts.)
_made_metrics_dir = None
if "prometheus_client" not in sys.modules:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _made_metrics_dir = tempfile.mkdtemp(prefix="musiccloud-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_dir
    _metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for _old in _metrics_dir.glob("*.db"):
        _old.unlink()
# Workers' heartbeat files in memory, so a slow disk never looks like a hung worker.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - gunicorn's own heartbeat, not data


# The app is imported once, in the master, and the workers are forked from it:
# the imported modules' memory is shared between the processes (copy on write)
# instead of each worker importing its own copy. Measured with
# bench/memory_bench.py (2 workers, SQLite), the PSS summed over every process
# (shared pages split among their users: what the machine spends) went from
# 127 to 75 MB at rest, and from 193 to 174 MB after 12 uploads (4 parser
# processes each time). The RSS sum grows instead (164 to 198 MB at rest): it
# counts the shared pages once in every process. Starting is also a fail-fast check: a bad SECRET_KEY
# stops the master, not a loop of dying workers. A new version of the code
# needs a restart; a HUP only replaces the workers.
# No max_requests: recycling a worker cuts its listeners' streams after
# graceful_timeout, and a worker at rest does not grow (threads start on
# demand; at 200 listeners the sum grew by about 20 MB, bench/stream_bench.py).
preload_app = True


def when_ready(server: object) -> None:
    """At start-up, remove temporary upload files older than an hour: what a
    worker killed in the middle of an upload left (the library check and the
    job worker's hourly cleanup remove them too)."""
    from app.services.library.check import remove_stale_incoming  # noqa: PLC0415 - the app is loaded by then
    from app.services.storage import get_storage  # noqa: PLC0415

    flask_app = server.app.wsgi()  # type: ignore[attr-defined] - the preloaded app
    with flask_app.app_context():
        removed = remove_stale_incoming(get_storage())
    if removed:
        server.log.info("Removed %d stale temporary upload files.", len(removed))  # type: ignore[attr-defined]


def pre_fork(server: object, worker: object) -> None:
    """Keep the garbage collector off the master's objects in the workers: a
    collection writes to every object it visits, which would copy the shared
    pages into each worker."""
    gc.freeze()


def post_fork(server: object, worker: object) -> None:
    """No database connection crosses the fork: the engine was created in the
    master (by the app factory), so each worker starts its pool afresh, leaving
    any connection the master holds to the master (SQLAlchemy's advice for
    os.fork). The tag-parser pool resets itself after a fork (services/tags.py)."""
    from app.extensions import db  # noqa: PLC0415 - the app is imported by then; this module is read first

    flask_app = worker.app.wsgi()  # type: ignore[attr-defined] - the preloaded app, not a new one
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def child_exit(server: object, worker: object) -> None:
    """A worker that stopped (or was killed) no longer counts in the live gauges
    (active streams); its counters stay in the totals."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - the app loaded it, with the folder set

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """Remove the metrics folder this server made for itself."""
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)


class MusicCloudLogger(Logger):
    """gunicorn's logger, with two changes. Credentials in URLs and headers
    (share tokens, signatures, Subsonic passwords and tokens, API keys) are
    redacted in the access and error logs (app/web/redaction.py). A client
    dropped for reading nothing of an audio file for SEND_TIMEOUT seconds (a
    paused player) is one line, not a traceback: the app sets that timeout on
    purpose."""

    def setup(self, cfg: object) -> None:
        # Imported here: this file is read before the app's folder is on the path.
        from app.web.redaction import RedactingFilter, redact  # noqa: PLC0415

        super().setup(cfg)
        self.redact = redact
        self.error_log.addFilter(RedactingFilter())
        self.json = LOG_FORMAT == "json"
        if self.json:
            from app.ops.logs import use_json  # noqa: PLC0415

            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                use_json(handler)
        # Only what the access log's format writes is redacted: the default
        # writes the request line and the referer, not the cookie, and a seek
        # should not pay for redacting what nobody reads.
        log_format = cfg.access_log_format  # type: ignore[attr-defined]
        self.redacted_atoms = tuple(
            name
            for name in ("r", "U", "q", "f", "{referer}i", "{authorization}i", "{cookie}i")
            if f"%({name})" in log_format
        )

    def atoms(self, resp: object, req: object, environ: dict, request_time: object) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in self.redacted_atoms:
            if isinstance(atoms.get(name), str):
                atoms[name] = self.redact(atoms[name])
        return atoms

    def access(self, resp: object, req: object, environ: dict, request_time: object) -> None:
        """As JSON: the request's fields and id (credentials redacted); else gunicorn's line."""
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        path = self.redact((atoms["U"] or "") + (f"?{atoms['q']}" if atoms["q"] else ""))
        fields = {
            "request_id": environ.get("musiccloud.request_id"),
            "pid": os.getpid(),
            "method": atoms["m"],
            "path": path,
            "status": resp.status_code,  # type: ignore[attr-defined]
            "bytes": resp.sent,  # type: ignore[attr-defined]
            "duration_ms": round(request_time.total_seconds() * 1000, 2),  # type: ignore[attr-defined]
            "remote_addr": atoms["h"],
            "user_agent": atoms["a"],
            "referer": self.redact(atoms["f"]),
        }
        self.access_log.info("%s %s %s", atoms["m"], path, resp.status_code, extra=fields)  # type: ignore[attr-defined]

    def exception(self, msg: str, *args: object, **kwargs: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError) and msg.startswith("Socket error"):
            self.info("Dropped a client that stopped reading (SEND_TIMEOUT).")
            return
        super().exception(msg, *args, **kwargs)


logger_class = MusicCloudLogger


def _error_with_security_headers(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers (a request line or headers too large, a
    malformed request) with the headers every answer of the app carries."""
    from app.security import global_headers  # noqa: PLC0415 - see MusicCloudLogger.setup

    body = (
        f"<!doctype html><title>{html.escape(reason)}</title><h1>{html.escape(reason)}</h1><p>{html.escape(mesg)}</p>\n"
    )
    headers = "".join(f"{name}: {value}\r\n" for name, value in global_headers(secure=False))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body.encode())}\r\n{headers}\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body.encode())


# gunicorn answers these before any application code runs; its workers call
# util.write_error, so that is where the headers go in.
gunicorn_util.write_error = _error_with_security_headers
