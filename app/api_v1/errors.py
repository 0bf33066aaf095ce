"""The REST API's error dialect: {"error": {"code", "message", "details"}} with
the fitting status, for domain errors, HTTP errors (routing, validation, rate
limits, sizes) and outages alike. app/errors.py sends every error under
/api/v1/ here, so even a URL no view matches answers in this shape."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.services.errors import DomainError
from app.web.messages import message

PREFIX = "/api/v1/"

# The stable code of each HTTP status, when no domain error names a better one.
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def applies() -> bool:
    """Whether the current request is the REST API's (its errors take this shape)."""
    return request.path.startswith(PREFIX) or request.path == PREFIX.rstrip("/")


def error_response(status: int, code: str, text: str, details: Any = None) -> Response:
    response = jsonify({"error": {"code": code, "message": text, "details": details}})
    response.status_code = status
    return response


def domain_error(error: DomainError) -> Response:
    return error_response(error.status, error.code, message(error), error.params or None)


def http_error(error: HTTPException, text: str) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    # webargs (through flask-smorest) puts the fields' problems in data["messages"].
    details = data.get("messages") if isinstance(data, dict) else None
    details = getattr(error, "details", None) or details
    code = getattr(error, "api_code", None) or HTTP_CODES.get(status, f"HTTP_{status}")
    response = error_response(status, code, text, details)
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


class ApiError(HTTPException):
    """An HTTP error with the API's own code (UNAUTHORIZED, INSUFFICIENT_SCOPE ...)
    and a message; app/errors.py renders it."""

    def __init__(self, status: int, api_code: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.code = status
        self.api_code = api_code
        self.detail = description
        self._extra_headers = headers or {}
        self.details: Any = None

    def with_details(self, details: Any) -> ApiError:
        self.details = details
        return self

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), *self._extra_headers.items()]
