"""Security headers and cookie hardening applied to every response."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def register(app: Flask) -> None:
    app.after_request(_security_headers)
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)  # type: ignore[method-assign]


def _security_headers(response: Response) -> Response:
    for name, value in global_headers(secure=request.is_secure):
        response.headers.setdefault(name, value)
    return response


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HTTPS_SECURITY_HEADERS = (*SECURITY_HEADERS, ("Strict-Transport-Security", "max-age=31536000"))


def global_headers(*, secure: bool) -> tuple[tuple[str, str], ...]:
    """The headers every response carries (HSTS only over HTTPS). The one place
    to add a header to every answer: the Flask stack applies these after each
    request, and the seek fast path (app/streaming/fastpath.py), which answers
    without Flask, sends the same."""
    return HTTPS_SECURITY_HEADERS if secure else SECURITY_HEADERS


class SecureCookiesOverHttps:
    """WSGI middleware: every cookie is Secure when the request came over HTTPS.

    No setting to forget in production, and plain-HTTP development keeps
    working. It sits inside ProxyFix, so X-Forwarded-Proto from a trusted
    proxy counts. It sees the final headers, including the session cookie
    Flask writes after every after_request hook has run.
    """

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            headers = [
                (k, v + "; Secure" if k.lower() == "set-cookie" and "; secure" not in v.lower() else v)
                for k, v in headers
            ]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)
