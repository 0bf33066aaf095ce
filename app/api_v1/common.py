"""What the REST API's endpoint modules share: the protected blueprint (token
and media type checks), the JSON shape of a track, page metadata, the artwork part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from flask import current_app, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from app.api_v1 import schemas
from app.api_v1.auth import authenticate, bearer_token
from app.api_v1.errors import ApiError
from app.extensions import db, limiter
from app.models import Track
from app.services import credentials
from app.services.library import artwork, filtering
from app.services.storage import IncomingFile
from app.services.tags import Cover
from app.unit_of_work import commit
from app.web.uploads import max_artwork_bytes, parser_pool

# The spec's security scheme: every operation but sign-in needs a Bearer token.
BEARER = [{"bearerAuth": []}]


class MultipartParser(FlaskParser):
    """webargs' Flask parser with a `multipart` location: a multipart/form-data body's
    text fields and files together, so one schema describes (and checks) the whole body."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Any, schema: Any) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)


class V1Blueprint(Blueprint):
    """flask-smorest's Blueprint, with the `multipart` location documented as a
    multipart/form-data request body."""

    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING: ClassVar[dict[str, str]] = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }


def protected(name: str, description: str, url_prefix: str) -> Blueprint:
    """A blueprint whose every operation needs a token (documented as such)."""
    blp = V1Blueprint(name, __name__, url_prefix="/api/v1" + url_prefix, description=description)
    blp.before_request(_authenticate)
    blp.before_request(_check_media_type)
    return blp


BODY_TYPES = ("application/json", "multipart/form-data")


def _check_media_type() -> None:
    """A body the API cannot read is 415, not silently an empty change."""
    has_body = bool(request.content_length or request.headers.get("Transfer-Encoding"))
    if request.method in ("POST", "PUT", "PATCH") and has_body and request.mimetype not in BODY_TYPES:
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", _("Send JSON (application/json) or, for uploads, multipart/form-data.")
        )


def _authenticate() -> None:
    authenticate()
    if db.session.dirty:
        # The token's last-use stamp (at most once a minute), apart from the action.
        commit()


def track_data(track: Track, user_id: int, names: dict[int, str] | None = None) -> dict[str, Any]:
    names = names if names is not None else filtering.owner_names({track.owner_id})
    return {
        "id": track.id,
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "album_artist": track.album_artist,
        "track_number": track.track_number,
        "disc_number": track.disc_number,
        "year": track.year,
        "genre": track.genre,
        "description": track.description,
        "tags": list(track.tags or []),
        "bpm": track.bpm,
        "key": track.musical_key,
        "licence": track.licence,
        "allow_download": track.allow_download,
        "duration": track.duration,
        "format": track.format,
        "codec": track.codec,
        "mime_type": track.mime_type,
        "bitrate": track.bitrate,
        "sample_rate": track.sample_rate,
        "channels": track.channels,
        "size_bytes": track.size_bytes,
        "visibility": track.visibility.value,
        "owner_id": track.owner_id,
        "uploader": names.get(track.owner_id),
        "artist_id": track.artist_id,
        "album_id": track.album_id,
        "mine": track.owner_id == user_id,
        "processing_status": "processing" if track.cover_pending else "ready",
        "artwork_uploaded": track.artwork_uploaded,
        "created_at": track.uploaded_at,
        "updated_at": track.modified_at,
    }


def tracks_data(tracks: list[Track], user_id: int) -> list[dict[str, Any]]:
    names = filtering.owner_names({t.owner_id for t in tracks})
    return [track_data(t, user_id, names) for t in tracks]


def page_meta(page: int, per_page: int, total: int) -> dict[str, Any]:
    pages = -(-total // per_page) if total else 0
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": pages,
        "has_next": page < pages,
        "has_prev": page > 1,
    }


# --- per-token rate limits ------------------------------------------------------------------


def _token_key() -> str:
    """Limits count per token (its hash, so no secret is a storage key); without one, per address."""
    token = bearer_token()
    return "api-token:" + credentials.key_hash(token)[:32] if token else "api-addr:" + (request.remote_addr or "")


def limited(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The token's limit for this kind of request (API_LIMIT_READ, _UPDATE,
    _UPLOAD or _DELETE), shared by every endpoint of the kind and, through the
    limiter's storage (Redis when configured), by every process."""
    setting = f"API_LIMIT_{kind.upper()}"
    return limiter.shared_limit(lambda: current_app.config[setting], scope=f"api-v1-{kind}", key_func=_token_key)


def artwork_part(part: Any) -> Cover:
    """The thumbnail of a request's `artwork` part. Raises ArtworkRejected (413, 415)."""
    incoming = getattr(part, "stream", None)  # a text field of that name is no file
    if not isinstance(incoming, IncomingFile):
        raise ApiError(400, "BAD_REQUEST", _("Send the picture as the multipart field `artwork`."))
    return artwork.check_picture(parser_pool(), incoming, max_artwork_bytes())


ARTWORK_ERRORS = (
    (413, "The picture is too large (ARTWORK_TOO_LARGE) or has too many pixels (ARTWORK_TOO_MANY_PIXELS)"),
    (415, "Not a whole JPEG, PNG or WebP picture (ARTWORK_INVALID)"),
)


def artwork_errors(blp: Blueprint) -> Any:
    """Documents an artwork upload's refusals on an operation."""

    def decorate(view: Any) -> Any:
        for status, description in ARTWORK_ERRORS:
            view = blp.alt_response(status, schema=schemas.ErrorSchema, description=description)(view)
        return view

    return decorate
