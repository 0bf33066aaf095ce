"""Subsonic answers in XML (the default) and JSON (`f=json`), from one tree.

A handler returns a dict such as {"album": {"id": "al-1", "song": [{...}]}}.
In JSON it is the `subsonic-response` object as it is. In XML a dict is an
element whose plain values are attributes, whose dict values are child
elements, and whose lists are repeated child elements (a list of plain
values gives elements with text, as `versions` of an extension); a "value"
key is the element's text (a genre's name, a lyric).
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from flask import Response

NAMESPACE = "http://subsonic.org/restapi"
API_VERSION = "1.16.1"
SERVER_TYPE = "musiccloud"
SERVER_VERSION = "1.0"

# Error codes (the Subsonic API's, with OpenSubsonic's 41-44).
GENERIC = 0
MISSING_PARAMETER = 10
WRONG_CREDENTIALS = 40
TOKEN_AUTH_NOT_SUPPORTED = 41
AUTH_NOT_SUPPORTED = 42
CONFLICTING_AUTH = 43
INVALID_API_KEY = 44
NOT_AUTHORIZED = 50
NOT_FOUND = 70


class SubsonicError(Exception):
    """An error the API answers with its envelope (HTTP 200)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _envelope(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if value is None:
            continue
        if key == "value":
            element.text = _text(value)
        elif isinstance(value, dict):
            _fill(SubElement(element, key), value)
        elif isinstance(value, list):
            for item in value:
                child = SubElement(element, key)
                if isinstance(item, dict):
                    _fill(child, item)
                else:
                    child.text = _text(item)
        else:
            element.set(key, _text(value))


def _clean_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _clean_json(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_clean_json(v) for v in data]
    return data


def render(body: dict[str, Any] | None, fmt: str, *, status: str = "ok") -> Response:
    """The answer in the format the client asked for (`xml` or `json`)."""
    payload = {**_envelope(status), **(body or {})}
    if fmt == "json":
        text = json.dumps({"subsonic-response": _clean_json(payload)}, ensure_ascii=False, separators=(",", ":"))
        return Response(text, mimetype="application/json")
    root = Element("subsonic-response", {"xmlns": NAMESPACE})
    _fill(root, payload)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8", xml_declaration=False)
    return Response(xml, content_type="text/xml; charset=utf-8")


def render_error(error: SubsonicError, fmt: str) -> Response:
    return render({"error": {"code": error.code, "message": error.message}}, fmt, status="failed")
