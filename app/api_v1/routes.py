"""The REST API's endpoints. Thin, as every route here: validate (the schemas),
call one service, commit once, answer. Errors are DomainErrors or ApiErrors,
rendered by app/api_v1/errors.py through app/errors.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Api, Blueprint
from marshmallow import ValidationError

from app.api_v1 import schemas
from app.api_v1.admin import bp as admin_bp
from app.api_v1.auth import api_user, require_uploader
from app.api_v1.common import (
    BEARER,
    artwork_errors,
    artwork_part,
    limited,
    page_meta,
    protected,
    track_data,
    tracks_data,
)
from app.api_v1.errors import ApiError
from app.api_v1.library import bp as library_bp
from app.api_v1.playlists import bp as playlists_bp
from app.api_v1.plays import bp as plays_bp
from app.api_v1.search import bp as search_bp
from app.extensions import csrf, db, limiter
from app.models import AccessScope, Track, Visibility
from app.models.types import utcnow
from app.security import CONTENT_SECURITY_POLICY
from app.services import accounts, credentials, recommend, stream_links
from app.services.library import access, adding, artwork, covers, editing, filtering
from app.services.storage import IncomingFile, get_storage
from app.services.track_meta import MetadataInvalid
from app.unit_of_work import Together, commit, committing, retrying
from app.web import login_limits
from app.web.discovery import explain
from app.web.uploads import max_upload_bytes, parser_pool
from app.web.urls import external_url


class V1Api(Api):
    """flask-smorest's Api, leaving the app's own error handlers in place (they
    render /api/v1 errors in the API's shape, and every other page as before)."""

    ERROR_SCHEMA = schemas.ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


api = V1Api()


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Music Cloud API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(
        app,
        spec_kwargs={
            "servers": [{"url": "/"}],
            "info": {"description": "Music Cloud's public REST API. Send a personal access token as a Bearer token."},
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blp in (auth_bp, tracks_bp, library_bp, search_bp, playlists_bp, plays_bp, admin_bp):
        csrf.exempt(blp)  # no cookie is accepted here, so there is no cross-site request to forge
        api.register_blueprint(blp)
    app.add_url_rule("/api/docs", "api_docs", docs)


def docs() -> Any:
    """A readable page of the OpenAPI document (vendored Swagger UI)."""
    response = current_app.make_response(render_template("api_v1/docs.html"))
    # Swagger UI sets inline styles; this page alone allows them (no user content is shown on it).
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response


# --- sign-in ------------------------------------------------------------------------------

auth_bp = Blueprint("v1_auth", __name__, url_prefix="/api/v1/auth", description="Tokens for scripts")


def user_data(user: Any) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role.value, "created_at": user.created_at}


def _token_answer(user: Any, scope: AccessScope) -> dict[str, Any]:
    expires = utcnow() + timedelta(seconds=current_app.config["API_SIGN_IN_TOKEN_SECONDS"])
    row, plain = credentials.create_access_token(user, credentials.SIGN_IN_TOKEN_NAME, scope, expires)
    return {
        "token": plain,
        "token_type": "Bearer",
        "scope": row.scope.value,
        "expires_at": row.expires_at,
        "user": user_data(user),
    }


@auth_bp.post("/token")
@auth_bp.arguments(schemas.SignInSchema)
@auth_bp.response(201, schemas.TokenSchema)
@auth_bp.alt_response(401, schema=schemas.ErrorSchema, description="Wrong username or password")
@auth_bp.alt_response(429, schema=schemas.ErrorSchema, description="Too many failed sign-ins")
def sign_in(body: dict[str, Any]) -> dict[str, Any]:
    """A short-lived token for a username and password (rate limited like the login form)."""
    username = body["username"]
    if login_limits.sign_in_blocked(username):
        raise ApiError(
            429,
            "RATE_LIMITED",
            _("Too many failed sign-ins. Wait a few minutes, then try again."),
            {"Retry-After": "60"},
        )
    try:
        user = accounts.authenticate(username, body["password"], rounds=current_app.config["BCRYPT_ROUNDS"])
    except accounts.InvalidCredentials:
        db.session.rollback()
        login_limits.count_failed_sign_in(username)
        raise
    answer = _token_answer(user, AccessScope(body["scope"]))
    commit()
    return answer


@auth_bp.post("/register")
@auth_bp.arguments(schemas.RegisterSchema)
@auth_bp.response(201, schemas.TokenSchema)
@auth_bp.alt_response(403, schema=schemas.ErrorSchema, description="Registration is closed")
@auth_bp.alt_response(409, schema=schemas.ErrorSchema, description="The username is taken")
@auth_bp.alt_response(429, schema=schemas.ErrorSchema, description="Too many accounts made from this address")
# The registration form's limit per address (REGISTER_LIMIT_PER_IP), counted in its own scope.
@limiter.shared_limit(lambda: current_app.config["REGISTER_LIMIT_PER_IP"], scope="api-v1-register")
def register(body: dict[str, Any]) -> dict[str, Any]:
    """Create an account (when registration is open) and sign it in."""
    user = accounts.register(
        body["username"],
        body["password"],
        registration_default=current_app.config["ALLOW_REGISTRATION"],
        rounds=current_app.config["BCRYPT_ROUNDS"],
    )
    answer = _token_answer(user, AccessScope.WRITE)
    commit()
    return answer


# --- tracks ---------------------------------------------------------------------------------

tracks_bp = protected("v1_tracks", "Tracks: list, filter, upload, update, delete, stream", "/tracks")
NOT_FOUND = {"schema": schemas.ErrorSchema, "description": "No such track (or another account's private one)"}


@tracks_bp.get("")
@tracks_bp.arguments(schemas.TrackQuerySchema, location="query")
# Documented, not dumped through the schema: the hottest list answers in the
# shape track_data() already gives (dates as ISO 8601, as the schema's).
@tracks_bp.alt_response(200, schema=schemas.TrackListSchema, success=True)
@tracks_bp.doc(security=BEARER)
@limited("read")
def list_tracks(args: dict[str, Any]) -> Response:
    """Tracks you may see, filtered, sorted and paginated."""
    sort = args["sort"]
    order = args.get("order") or ("asc" if sort in ("title", "artist") else "desc")
    wanted = filtering.TrackFilter(
        page=args["page"],
        per_page=args["limit"],
        sort=sort,
        order=order,
        artist=args.get("artist"),
        album=args.get("album"),
        genre=args.get("genre"),
        tags=args.get("tags") or [],
        bpm_min=args.get("bpm_min"),
        bpm_max=args.get("bpm_max"),
        key=args.get("key"),
        min_duration=args.get("min_duration"),
        max_duration=args.get("max_duration"),
        format=args.get("format"),
        uploader=args.get("uploader"),
        search=args.get("search"),
        mine=args["mine"],
    )
    found = filtering.filter_tracks(api_user().id, wanted)
    meta = page_meta(found.page, found.per_page, found.total)
    meta.update(sort=sort, order=order, filters=found.filters)
    data = [
        dict(t, created_at=t["created_at"].isoformat(), updated_at=t["updated_at"].isoformat())
        for t in tracks_data(found.tracks, api_user().id)
    ]
    return jsonify({"data": data, "meta": meta})


@tracks_bp.arguments(schemas.TrackGetQuerySchema, location="query")
@tracks_bp.response(200, schemas.TrackDetailSchema)
@tracks_bp.alt_response(404, **NOT_FOUND)
@tracks_bp.doc(security=BEARER)
def get_track(args: dict[str, Any], track_id: int) -> dict[str, Any]:
    """One track; include=stats adds its play and like counts, include=related tracks like it."""
    user_id = api_user().id
    found = access.get_visible_track(user_id, track_id)
    data = track_data(found, user_id)
    include = set((args.get("include") or "").split(","))
    if "stats" in include:
        stats = filtering.track_stats(user_id, found.id)
        data["stats"] = {"plays": stats.plays, "your_plays": stats.your_plays, "likes": stats.likes}
    if "related" in include:
        # The recommender's similar tracks (co-listening and content), as on the track page.
        similar = recommend.similar_to(user_id, found, RELATED_LIMIT)
        related = tracks_data([s.track for s in similar], user_id)
        data["related"] = [{**t, "why": explain(s)} for t, s in zip(related, similar, strict=True)]
    return data


RELATED_LIMIT = 10
UPDATABLE = ("title", "artist", "album", "album_artist", "genre", "track_number", "disc_number", "year")


# The API's names of the richer metadata, and the columns that hold them.
METADATA = {
    "description": "description",
    "tags": "tags",
    "bpm": "bpm",
    "key": "musical_key",
    "licence": "licence",
    "allow_download": "allow_download",
}


def _state(found: Track) -> dict[str, Any]:
    state = {key: getattr(found, key) for key in UPDATABLE}
    state.update({name: getattr(found, column) for name, column in METADATA.items()})
    state["tags"] = list(found.tags or [])
    state["visibility"] = found.visibility.value
    return state


def _apply_update(found: Track, changes_wanted: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply a validated partial update; return what changed, old and new."""
    before = _state(found)
    tags = {key: changes_wanted[key] for key in UPDATABLE if key in changes_wanted}
    metadata = {column: changes_wanted[name] for name, column in METADATA.items() if name in changes_wanted}
    try:
        editing.set_metadata(found, **metadata)
    except MetadataInvalid as exc:
        raise ApiError(422, "VALIDATION_FAILED", _("Some fields are invalid.")).with_details(
            {"json": {exc.field if exc.field != "musical_key" else "key": [exc.code]}}
        ) from None
    visibility = Visibility(changes_wanted.get("visibility", found.visibility.value))
    editing.update_track(found, visibility=visibility, **tags)
    after = _state(found)
    return {key: {"old": before[key], "new": after[key]} for key in before if before[key] != after[key]}


@tracks_bp.arguments(schemas.TrackUpdateSchema)
@tracks_bp.response(200, schemas.TrackUpdateResultSchema)
@tracks_bp.alt_response(403, schema=schemas.ErrorSchema, description="Another account's track")
@tracks_bp.alt_response(404, **NOT_FOUND)
@tracks_bp.doc(security=BEARER)
@limited("update")
def update_track(body: dict[str, Any], track_id: int) -> dict[str, Any]:
    """Change some of a track's tags or its visibility (the owner only)."""
    user_id = api_user().id

    def change() -> tuple[Track, dict[str, dict[str, Any]]]:
        found = access.get_own_track(user_id, track_id)
        return found, _apply_update(found, body)

    # Run again from the start when the database asks: two updates of one track's free
    # tags at once both replace its tag rows, and the second insert clashes.
    found, changes = retrying(change)
    return {"track": track_data(found, user_id), "changes": changes}


@tracks_bp.response(204)
@tracks_bp.alt_response(403, schema=schemas.ErrorSchema, description="Another account's track")
@tracks_bp.alt_response(404, **NOT_FOUND)
@tracks_bp.doc(security=BEARER)
@limited("delete")
def delete_track(track_id: int) -> None:
    """Delete a track and its file (the owner, or an admin)."""
    user = api_user()
    user_id, is_admin = user.id, user.is_admin

    def remove() -> list[str]:
        found = access.get_visible_track(user_id, track_id) if not is_admin else db.session.get(Track, track_id)
        if found is None:
            raise access.NotFound("TRACK_NOT_FOUND")
        if found.owner_id != user_id and not is_admin:
            raise access.Forbidden("TRACK_NOT_OWNED")
        return editing.delete_track(found)

    # Run again from the start when the database asks: the album this deletion empties may
    # have just received another track (a move committed meanwhile), and is then kept.
    files = retrying(remove)
    covers.remove_files(get_storage(), files)


@tracks_bp.post("")
@tracks_bp.arguments(schemas.UploadSchema, location="multipart")
@tracks_bp.response(201, schemas.UploadResultSchema)
@tracks_bp.alt_response(409, schema=schemas.ErrorSchema, description="The same file is already in your library")
@tracks_bp.alt_response(
    403,
    schema=schemas.UploadLimitErrorSchema,
    description="UPLOAD_NOT_ALLOWED (a listener's account); UPLOAD_LIMIT_MONTHLY: the role's uploads per month"
    " are used up (details: limit, count, restarts_on); UPLOAD_LIMIT_STORAGE: the file would go past the"
    " role's storage (details: limit_bytes, used_bytes, size_bytes)",
)
@tracks_bp.alt_response(
    413,
    schema=schemas.UploadLimitErrorSchema,
    description="FILE_TOO_LARGE (the server's limit), UPLOAD_LIMIT_FILE_SIZE (the role's largest file; details:"
    " limit_bytes, size_bytes), QUOTA_EXCEEDED (the account's own quota; details: used_bytes, quota_bytes),"
    " ARTWORK_TOO_LARGE or ARTWORK_TOO_MANY_PIXELS (the artwork part)",
)
@tracks_bp.alt_response(
    422,
    schema=schemas.UploadLimitErrorSchema,
    description="UPLOAD_LIMIT_DURATION: the track is longer than the role allows (details: limit_minutes,"
    " duration_minutes); VALIDATION_FAILED: bad metadata",
)
@tracks_bp.alt_response(
    415, schema=schemas.ErrorSchema, description="Not a supported audio file, or artwork no picture (ARTWORK_INVALID)"
)
@tracks_bp.doc(security=BEARER)
@limited("upload")
def upload_track(body: dict[str, Any]) -> dict[str, Any]:
    """Upload one audio file (multipart field `file`), with optional JSON `metadata` overriding its tags
    and an optional cover picture `artwork` replacing the file's own art."""
    require_uploader()
    overrides = _metadata(body.get("metadata"))
    part = body["file"]
    # A text field of that name is no file.
    incoming = getattr(part, "stream", None)
    if not isinstance(incoming, IncomingFile):
        raise ApiError(400, "BAD_REQUEST", _("Send the audio file as the multipart field `file`."))
    # The picture is checked first: a refused one adds nothing.
    cover = artwork_part(body["artwork"]) if "artwork" in body else None
    user = api_user()
    store = get_storage()
    batch = adding.AddBatch(store)
    change = artwork.ArtworkChange(store)
    with committing(Together(batch, change)):
        result = adding.add_file(
            store, parser_pool(), user, incoming, part.filename or "", batch=batch, max_bytes=max_upload_bytes()
        )
        if result.outcome is adding.AddOutcome.ADDED and result.track is not None:
            if overrides:
                _apply_update(result.track, overrides)
            if cover is not None:
                artwork.apply_artwork(change, [result.track], cover)
    if result.outcome is adding.AddOutcome.DUPLICATE and result.track is not None:
        raise ApiError(409, "DUPLICATE_TRACK", _("This file is already in your library."), None).with_details(
            {"track_id": result.track.id}
        )
    if result.error is not None:
        raise result.error
    assert result.track is not None
    data = track_data(result.track, user.id)
    return {"track": data, "processing_status": data["processing_status"]}


@tracks_bp.arguments(schemas.ArtworkFileSchema, location="multipart")
@tracks_bp.response(200, schemas.TrackResultSchema)
@tracks_bp.alt_response(403, schema=schemas.ErrorSchema, description="Another account's track")
@tracks_bp.alt_response(404, **NOT_FOUND)
@artwork_errors(tracks_bp)
@tracks_bp.doc(security=BEARER)
@limited("upload")
def put_track_artwork(files: dict[str, Any], track_id: int) -> dict[str, Any]:
    """Upload a cover picture for a track (the owner only), in place of the file's own art
    or of an earlier upload."""
    user_id = api_user().id
    found = artwork.track_for_artwork(user_id, track_id)
    cover = artwork_part(files["artwork"])
    change = artwork.ArtworkChange(get_storage())
    with committing(change):
        artwork.apply_artwork(change, [found], cover)
    covers.remove_files(get_storage(), change.leftovers())
    return {"track": track_data(found, user_id)}


@tracks_bp.response(200, schemas.TrackResultSchema)
@tracks_bp.alt_response(403, schema=schemas.ErrorSchema, description="Another account's track")
@tracks_bp.alt_response(404, **NOT_FOUND)
@tracks_bp.doc(security=BEARER)
@limited("update")
def delete_track_artwork(track_id: int) -> dict[str, Any]:
    """Remove a track's uploaded cover picture: the file's own art is shown again
    (processing_status is "processing" until its thumbnail is made)."""
    user_id = api_user().id
    found = artwork.track_for_artwork(user_id, track_id)
    change = artwork.ArtworkChange(get_storage())
    with committing(change):
        artwork.remove_artwork(change, [found])
    covers.remove_files(get_storage(), change.leftovers())
    return {"track": track_data(found, user_id)}


@tracks_bp.route("/<int:track_id>/artwork")
class TrackArtwork(MethodView):
    put = staticmethod(put_track_artwork)
    delete = staticmethod(delete_track_artwork)


def _metadata(raw: str | None) -> dict[str, Any]:
    """The upload's JSON metadata, validated like a track update (422 when it is not)."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ApiError(422, "VALIDATION_FAILED", _("metadata is not valid JSON.")) from None
    if not isinstance(parsed, dict):
        raise ApiError(422, "VALIDATION_FAILED", _("metadata must be a JSON object."))
    try:
        return schemas.TrackUpdateSchema().load(parsed)
    except ValidationError as exc:
        raise ApiError(422, "VALIDATION_FAILED", _("metadata has invalid fields.")).with_details(
            {"metadata": exc.messages}
        ) from None


@tracks_bp.get("/<int:track_id>/stream-url")
@tracks_bp.arguments(schemas.StreamUrlQuerySchema, location="query")
@tracks_bp.response(200, schemas.StreamUrlSchema)
@tracks_bp.alt_response(404, **NOT_FOUND)
@tracks_bp.doc(security=BEARER)
def stream_url(query: dict[str, Any], track_id: int) -> dict[str, Any]:
    """A signed URL that plays the track without headers or cookies, until it
    expires: the original, or a transcoded copy at `quality` (seekable as well)."""
    user_id = api_user().id
    found = access.get_visible_track(user_id, track_id)
    sig, expires = stream_links.sign(found.id, user_id)
    extra = {key: query[key] for key in ("quality", "format") if query.get(key) and query[key] != "original"}
    return {"url": external_url("streaming.stream", track_id=found.id, sig=sig, **extra), "expires_at": expires}


@tracks_bp.route("/<int:track_id>")
class TrackItem(MethodView):
    """One rule for every method of the URL, so an id out of range is a plain 404 for each (not 405)."""

    get = staticmethod(get_track)
    patch = staticmethod(update_track)
    delete = staticmethod(delete_track)
