"""Secrets out of the logs: what a URL or header carries that would let a reader
of the log in (share-link tokens, signed URLs, Subsonic credentials, API
tokens, app passwords) is replaced before a line is written.

Used by gunicorn's access and error logs (deploy/gunicorn.conf.py) and the
app's own logger (app/factory.py).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# Share links: /s/<token>, and everything under it.
_SHARE_PATH = re.compile(r"(/s/)[^/?#\s\"]+")
# Query parameters that are credentials: the share stream's signature, the
# Subsonic API's password, token, salt and key, and any token or password.
SECRET_PARAMS = ("sig", "p", "t", "s", "apiKey", "api_key", "token", "access_token", "password", "key")
_SECRET_QUERY = re.compile(r"([?&;](?:" + "|".join(re.escape(p) for p in SECRET_PARAMS) + r")=)[^&;#\s\"]*")
_AUTH_HINT = re.compile(r"(?i)bearer |basic ")
_AUTH_VALUE = re.compile(r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """The text with every credential it carries in a URL or header replaced."""
    # Most lines (a seek: "GET /stream/12 HTTP/1.1") hold nothing to redact;
    # they cost a few substring tests, not three regular expressions.
    if not text or not ("/s/" in text or "=" in text or _AUTH_HINT.search(text)):
        return text
    text = _SHARE_PATH.sub(r"\1" + REDACTED, text)
    text = _SECRET_QUERY.sub(r"\1" + REDACTED, text)
    return _AUTH_VALUE.sub(r"\1" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the finished message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
