"""Friendly error pages, and the one handler that renders a service's DomainError.

A route that does not catch a domain error itself lets it reach
_domain_error(), which answers with the error's status and its message
(app/web/messages.py), as a page or as JSON. A 500 rolls the session back and
never shows a traceback.
"""

from __future__ import annotations

import contextlib
import math
import time

import sqlalchemy.exc
from flask import Flask, Response, current_app, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, NotFound, SecurityError

from app.api_v1 import errors as api_v1_errors
from app.extensions import db, limiter
from app.ops import metrics
from app.services.errors import DomainError
from app.services.storage import StorageError, StorageUnavailable
from app.streaming.files import StoreUnavailable
from app.web.assets import static_url
from app.web.messages import message

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Reload the page and try again.")),
    401: (_l("Log in needed"), _l("You need to log in to get this.")),
    403: (_l("Not allowed"), _l("Your account is not allowed to open this page.")),
    404: (_l("Not found"), _l("There is nothing here. The link may be old, or the item was deleted.")),
    405: (_l("Method not allowed"), _l("This address does not accept that kind of request.")),
    409: (_l("Conflict"), _l("That clashes with something that already exists.")),
    413: (_l("Too large"), _l("What you sent is larger than this server accepts.")),
    415: (_l("Not supported"), _l("This server cannot use that kind of file.")),
    416: (_l("Range not satisfiable"), _l("The requested range is outside the file.")),
    429: (_l("Slow down"), _l("Too many attempts in a short time. Wait a moment and try again.")),
    500: (_l("Something went wrong"), _l("The server hit an error. Nothing was changed; please try again.")),
    503: (
        _l("Back in a moment"),
        _l("The server cannot reach its database right now. Nothing was changed; try again in a few seconds."),
    ),
    507: (_l("No room"), _l("The server has no room to store that.")),
}


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(DomainError, _domain_error)
    for outage in DATABASE_OUTAGES:
        app.register_error_handler(outage, _database_unavailable)
    app.register_error_handler(StaleDataError, _deleted_meanwhile)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render_error(code: int, detail: str | None = None, error_code: str | None = None) -> tuple[str | dict, int]:
    if code in MESSAGES:
        title, text = (str(s) for s in MESSAGES[code])
    else:
        title, text = _("Error %(code)s", code=code), _("The request failed.")
    if detail is not None:
        detail = str(detail)  # a lazy text (MissingFile.detail) in the request's language
    if _json_wanted():
        return _json_error(code, title, detail or text, error_code), code
    return render_template("errors/error.html", code=code, title=title, message=detail or text), code


def _json_wanted() -> bool:
    return wants_json() or request.path.startswith("/api/")


def _json_error(code: int, title: str, text: str, error_code: str | None) -> dict:
    body: dict = {"error": title, "message": text, "status": code}
    if error_code:
        body["code"] = error_code
    return body


def _domain_error(error: DomainError):
    # The action did not happen: nothing of it may be committed by a later hook.
    db.session.rollback()
    if isinstance(error, StorageError):
        metrics.storage_error("unavailable" if isinstance(error, StorageUnavailable) else "failed")
    if api_v1_errors.applies():
        return api_v1_errors.domain_error(error)
    body, code = render_error(error.status, message(error), error.code)
    response = app_response(body, code)
    if "retry_after" in error.params:  # e.g. every transcoding slot is taken
        response.headers["Retry-After"] = str(error.params["retry_after"])
    return response


def _deleted_meanwhile(error: StaleDataError):
    """A row this request changes was deleted by another request at the same moment
    (an edit racing a delete): nothing of this one is kept, and the item is gone."""
    db.session.rollback()
    current_app.logger.info("changed a row deleted meanwhile: %s", error)
    gone = NotFound()
    gone.detail = _("It was deleted by another request while this one was being made; nothing was changed.")
    return _http_error(gone)


def _csrf_error(error: CSRFError):
    return render_error(400, _("The form had expired or was sent from elsewhere. Reload the page and try again."))


def _http_error(error: HTTPException):
    if isinstance(error, StoreUnavailable):  # a file the object store could not give
        metrics.storage_error("unavailable")
    if error.code is None or error.code < 400:
        return error
    if isinstance(error, SecurityError):
        # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page
        # with links either; a plain answer.
        return Response(
            _("Bad request: this server does not answer to that host name.") + "\n", 400, mimetype="text/plain"
        )
    # An exception of the app's own may say more than the code's message (`detail`).
    if api_v1_errors.applies():
        detail = getattr(error, "detail", None)
        text = str(detail) if detail is not None else str(MESSAGES.get(error.code, ("", _("The request failed.")))[1])
        response = api_v1_errors.http_error(error, text)
        code = error.code
    else:
        body, code = render_error(error.code, getattr(error, "detail", None))
        response = app_response(body, code)
        # Keep headers such as Allow (405) and Retry-After (429).
        for key, value in error.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
    if code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(_seconds_until_limit_resets())
    return response


def _seconds_until_limit_resets() -> int:
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, math.ceil(limit.reset_at - time.time()))


# What SQLAlchemy raises when the database cannot be reached or is busy past
# its timeout (refused, dropped, locked, no free pooled connection).
DATABASE_OUTAGES = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError)
RETRY_AFTER_SECONDS = 5


def _database_unavailable(error: Exception):
    """503 with Retry-After, as a page or the JSON error, built without the database."""
    with contextlib.suppress(Exception):
        db.session.rollback()
    current_app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, error)
    title, text = (str(s) for s in MESSAGES[503])
    if api_v1_errors.applies():
        response = api_v1_errors.error_response(503, "DATABASE_UNAVAILABLE", text)
    elif _json_wanted():
        response = make_response(_json_error(503, title, text, "DATABASE_UNAVAILABLE"), 503)
    else:
        stylesheet = static_url("css/app.css")
        page = current_app.jinja_env.get_template("errors/unavailable.html")
        body = page.render(code=503, title=title, message=text, stylesheet=stylesheet)
        response = make_response(body, 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _unexpected_error(error: Exception):
    db.session.rollback()
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if api_v1_errors.applies():
        return api_v1_errors.error_response(500, "INTERNAL_ERROR", str(MESSAGES[500][1]))
    body, code = render_error(500)
    return app_response(body, code)


def app_response(body: str | dict, code: int) -> Response:
    return make_response(body, code)
