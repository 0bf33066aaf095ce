"""Friendly error pages; a 500 rolls the session back and never shows a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, abort, current_app, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.services.errors import Forbidden, NotFound

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    401: ("Log in needed", "You need to log in to get this."),
    403: ("Not allowed", "Your account is not allowed to open this page."),
    404: ("Not found", "There is nothing here. The link may be old, or the item was deleted."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than this server accepts."),
    416: ("Range not satisfiable", "The requested range is outside the file."),
    429: ("Slow down", "Too many attempts in a short time. Wait a moment and try again."),
    500: ("Something went wrong", "The server hit an error. Nothing was changed; please try again."),
}


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def or_abort(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a service; its NotFound becomes a 404 and its Forbidden a 403."""
    try:
        return fn(*args, **kwargs)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render_error(code: int, detail: str | None = None) -> tuple[str | dict, int]:
    title, message = MESSAGES.get(code, (f"Error {code}", "The request failed."))
    if wants_json() or request.path.startswith("/api/"):
        return {"error": title, "message": detail or message, "status": code}, code
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


def _csrf_error(error: CSRFError):
    return render_error(400, "The form had expired or was sent from elsewhere. Reload the page and try again.")


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    # An exception of the app's own may say more than the code's message (`detail`).
    body, code = render_error(error.code, getattr(error, "detail", None))
    response = app_response(body, code)
    # Keep headers such as Allow (405) and Retry-After (429).
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _unexpected_error(error: Exception):
    db.session.rollback()
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    body, code = render_error(500)
    return app_response(body, code)


def app_response(body: str | dict, code: int) -> Response:
    return make_response(body, code)
