"""Signed, expiring stream URLs: what a plain player (no headers, no cookie) is
given to play one track for one user. The signature covers (track, user); the
expiry is the signature's age. /stream/<id>?sig= checks it, then the same
visibility rule and the account's state as every other request, so a track made
private or a disabled account stops the URL at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.models.types import utcnow

SALT = "music-cloud stream url"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def lifetime() -> int:
    return int(current_app.config.get("STREAM_URL_SECONDS", 6 * 3600))


def sign(track_id: int, user_id: int) -> tuple[str, datetime]:
    """The signature for the URL's `sig` parameter, and when it expires."""
    return _serializer().dumps([track_id, user_id]), utcnow() + timedelta(seconds=lifetime())


def user_for(sig: str, track_id: int) -> int | None:
    """The user a valid, unexpired signature for this track was made for, else None."""
    if not sig or len(sig) > 512:
        return None
    try:
        signed = _serializer().loads(sig, max_age=lifetime())
    except (BadSignature, SignatureExpired):
        return None
    if not (isinstance(signed, list) and len(signed) == 2 and signed[0] == track_id and isinstance(signed[1], int)):
        return None
    return signed[1]
