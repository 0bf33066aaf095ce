"""Prometheus metrics (prometheus_client), and the WSGI layer that measures every request.

Under gunicorn the app is loaded once and forked into several workers, so each
worker counts in its own files under PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, set up by deploy/gunicorn.conf.py) and
/metrics adds them up, whichever worker answers. Without that folder (tests,
`flask` commands) the counts live in the process.

What is measured, and where:
- every request, the stream fast paths included (this layer wraps them): a
  count by endpoint, method and status, and its latency by endpoint. The
  latency runs until the app has its status and headers: for a page, the
  page; for audio, the time before the first byte (how long a seek takes),
  not the length of the track;
- active streams: audio bodies (GET, 200 or 206, Content-Type audio/*) being
  sent by this server, until the last byte is out or the client is gone, also
  when the worker's event loop sends the file after the app has returned
  (app/serving.py). With SEND_FILE_MODE=x-accel nginx sends the bytes and the
  app answers headers only, so nginx's own figures count those;
- transcodes started (counted where a job slot is taken) and running (the
  slots busy on this machine, read at scrape time), job queue depth (read
  from the queue at scrape time), storage errors by kind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from app.ops.logs import REQUEST_ID, valid_request_id

# The environ keys of a request's endpoint name (set by Flask, app/ops/endpoints.py,
# or by a fast path that answers it) and of its id.
ENDPOINT = "musiccloud.endpoint"
REQUEST_ID_KEY = "musiccloud.request_id"

REQUESTS = Counter(
    "musiccloud_http_requests_total",
    "Requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "musiccloud_http_request_duration_seconds",
    "Time until the app has a request's status and headers (for audio: before the first byte), by endpoint.",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ACTIVE_STREAMS = Gauge(
    "musiccloud_active_streams", "Audio bodies being sent by this server now.", multiprocess_mode="livesum"
)
TRANSCODES_STARTED = Counter("musiccloud_transcodes_started_total", "ffmpeg transcodes started.")
STORAGE_ERRORS = Counter(
    "musiccloud_storage_errors_total",
    "Storage failures that reached a request: unavailable (the object store) or failed (a write).",
    ["kind"],
)


def storage_error(kind: str) -> None:
    """Count one storage failure of `kind` ("unavailable" or "failed")."""
    STORAGE_ERRORS.labels(kind).inc()


def transcode_started() -> None:
    TRANSCODES_STARTED.inc()


class Instrumented:
    """The outermost WSGI layer: a request id for every request, then its count,
    latency and, for audio, its place among the active streams."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app
        # The X-Request-ID of a request is taken as it comes only from a proxy the
        # app trusts (nginx sets it, replacing any the client sent); otherwise made here.
        self.trust_request_id = bool(app.config.get("TRUSTED_PROXIES"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "") if self.trust_request_id else ""
        # 32 hex digits, like nginx's $request_id (a fifth of what uuid4() costs).
        request_id = given if valid_request_id(given) else os.urandom(16).hex()
        environ[REQUEST_ID_KEY] = request_id
        REQUEST_ID.set(request_id)
        answer: list[Any] = []

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            headers.append(("X-Request-ID", request_id))
            answer[:] = (status, headers)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, respond)
        status, headers = answer if answer else ("500", [])
        endpoint = environ.get(ENDPOINT, "unmatched")
        method = environ.get("REQUEST_METHOD", "")
        code = status.split(" ", 1)[0]
        _child(LATENCY, endpoint).observe(time.perf_counter() - started)
        _child(REQUESTS, endpoint, method if method in _METHODS else "other", code).inc()
        if method == "GET" and code in ("200", "206") and _is_audio(headers):
            return _counted_stream(body)
        return body


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
# Each labelled series, found once: prometheus_client's labels() checks and
# copies its arguments on every call, a good part of what a seek pays here.
_CHILDREN: dict[tuple, Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def _is_audio(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if len(name) == 12 and name.lower() == "content-type":  # the length first: most headers are not it
            return value.startswith("audio/")
    return False


def _counted_stream(body: Iterable[bytes]) -> Iterable[bytes]:
    """`body`, counted among the active streams until it is sent or dropped."""
    ACTIVE_STREAMS.inc()
    finished = _Once(ACTIVE_STREAMS.dec)
    add = getattr(body, "when_finished", None)
    if add is not None:
        # The worker's file wrapper (app/serving.py): returned as it is, so the worker
        # can still hand the file to its event loop, which says when it is sent.
        add(finished)
        return body
    return _ClosingBody(body, finished)


class _Once:
    __slots__ = ("done", "function")

    def __init__(self, function: Callable[[], None]) -> None:
        self.function = function
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.function()


class _ClosingBody:
    """A body that calls `finished` when the server closes it (PEP 3333: always, sent or not)."""

    def __init__(self, body: Iterable[bytes], finished: Callable[[], None]) -> None:
        self.body = body
        self.finished = finished

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finished()


# --- exposition ------------------------------------------------------------------------


class ScrapeTime(Collector):
    """Figures read when /metrics is asked, not counted by the workers: the job
    queue's depth and the transcodes running on this machine."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # Imported here: the services import this module to count.
        from app.jobs.queue import get_queue  # noqa: PLC0415
        from app.services.storage import get_storage  # noqa: PLC0415
        from app.services.transcode.cache import Limits, busy_slots  # noqa: PLC0415

        with self.app.app_context():
            depth = GaugeMetricFamily("musiccloud_job_queue_depth", "Jobs waiting in the queue for a worker.")
            try:
                depth.add_metric([], get_queue().huey.pending_count())
            except Exception:  # a queue that cannot be read is left out, not a failed scrape
                self.app.logger.warning("the job queue could not be read for /metrics", exc_info=True)
            else:
                yield depth
            running = GaugeMetricFamily("musiccloud_transcodes_running", "ffmpeg transcodes running on this machine.")
            try:
                running.add_metric([], busy_slots(get_storage(), Limits.from_config(self.app.config)))
            except Exception:  # as above
                self.app.logger.warning("the transcode slots could not be read for /metrics", exc_info=True)
            else:
                yield running


def exposition(app: Flask) -> tuple[bytes, str]:
    """The text Prometheus scrapes, summed over every worker when there are several."""
    from prometheus_client import CONTENT_TYPE_LATEST  # noqa: PLC0415

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(ScrapeTime(app))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Default(Collector):
    """This process's own metrics (no multiprocess folder)."""

    def collect(self) -> Iterator[Any]:
        return REGISTRY.collect()
