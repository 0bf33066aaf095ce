"""Log lines as JSON (LOG_FORMAT=json), each with the id of the request it belongs to.

python-json-logger writes the records (message, level, logger, time, the
fields a caller passes in `extra`, exceptions as text): a maintained formatter
that already gets the corner cases of turning a LogRecord into JSON right.
Every finished line then goes through the same redaction as the plain logs
(app/web/redaction.py), so no password, token, share link or Subsonic
credential reaches a JSON log either, whatever field it was in.

Plain text stays the default (`make run`): nothing changes there.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from app.web.redaction import RedactingFilter, redact

LOG_FORMATS = ("text", "json")
# The request a thread is working on; set by app/ops/metrics.Instrumented.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# What an id from nginx ($request_id: 32 hex digits) or another proxy may look like.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")


def valid_request_id(value: str) -> bool:
    return bool(value) and _REQUEST_ID.fullmatch(value) is not None


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id (unless it carries one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or None
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, and any `extra` fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_HANDLER_NAME = "musiccloud-json"


def check_format(log_format: str) -> str:
    """The format, lower-cased; raises RuntimeError for anything but text or json."""
    value = (log_format or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be text or json, not {log_format!r}.")
    return value


def use_json(handler: logging.Handler) -> None:
    """Make `handler` write JSON lines with the request id (gunicorn's handlers, ours)."""
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RequestIdFilter())


def configure(log_format: str, level: str = "info") -> None:
    """With "json", every logger of the process writes JSON lines to stderr, through
    one root handler (replaced, not added, when the app is created again; removed
    when an app is created with "text")."""
    json_wanted = check_format(log_format) == "json"
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    if not json_wanted:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    use_json(handler)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
