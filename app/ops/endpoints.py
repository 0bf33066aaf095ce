"""/healthz, /readyz and /metrics, answered before Flask.

Load balancers probe a server by its address, so the probes answer whatever
the Host header (Flask would refuse a host outside TRUSTED_HOSTS), with no
login, no session and no database work for /healthz. Their bodies are small
JSON objects that name components, never a host, a path or an error message.

/metrics is for Prometheus: from this machine (a loopback address, with no
X-Forwarded-For, X-Real-IP or Forwarded header, so a request that came
through a proxy on this machine does not count as local), or from anywhere
with `Authorization: Bearer <METRICS_TOKEN>`. Anyone else gets the app's own
404 page, as for an address that does not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable, Iterable

from flask import Flask, request

from app.ops import metrics, readiness
from app.security import global_headers

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def init_app(app: Flask) -> None:
    """Wrap app.wsgi_app, last of all: the probes, then the request id and metrics outermost."""
    app.wsgi_app = OpsEndpoints(app, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = metrics.Instrumented(app, app.wsgi_app)  # type: ignore[method-assign]
    app.url_value_preprocessor(_name_endpoint)


def _name_endpoint(endpoint: str | None, values: dict | None) -> None:
    """Flask's endpoint name labels the request's metrics (runs for every request, matched or not)."""
    request.environ[metrics.ENDPOINT] = endpoint or "unmatched"


class OpsEndpoints:
    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        token = app.config.get("METRICS_TOKEN") or ""
        self.metrics_token = token.encode()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz", "/metrics") or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        if path == "/healthz":
            environ[metrics.ENDPOINT] = "ops.healthz"
            return _answer(environ, start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            environ[metrics.ENDPOINT] = "ops.readyz"
            checks = readiness.check_all(self.app)
            failed = [name for name, ok in checks.items() if not ok]
            body = {"status": "unavailable" if failed else "ok", "checks": _named(checks), "failed": failed}
            return _answer(environ, start_response, "503 Service Unavailable" if failed else "200 OK", body)
        if not self._may_scrape(environ):
            return self.wsgi_app(environ, start_response)  # the app's 404 page
        environ[metrics.ENDPOINT] = "ops.metrics"
        data, content_type = metrics.exposition(self.app)
        return _send(environ, start_response, "200 OK", data, content_type)

    def _may_scrape(self, environ: dict) -> bool:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if self.metrics_token and authorization.startswith("Bearer "):
            return hmac.compare_digest(authorization.removeprefix("Bearer ").strip().encode(), self.metrics_token)
        return _loopback(environ.get("REMOTE_ADDR", "")) and not any(environ.get(h) for h in PROXY_HEADERS)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a Unix socket has no address: behind a proxy, so not "this machine"


def _named(checks: dict[str, bool]) -> dict[str, str]:
    return {name: "ok" if ok else "failed" for name, ok in checks.items()}


def _answer(environ: dict, start_response: Callable, status: str, body: dict) -> Iterable[bytes]:
    return _send(environ, start_response, status, json.dumps(body).encode(), "application/json")


def _send(environ: dict, start_response: Callable, status: str, data: bytes, content_type: str) -> Iterable[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        *global_headers(secure=environ.get("wsgi.url_scheme") == "https"),
    ]
    start_response(status, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]
