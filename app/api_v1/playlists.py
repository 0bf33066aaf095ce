"""Playlists through the same service as the pages (app/services/playlists.py):
only the owner changes one, another account's private playlist is 404, a
public one is read-only (403 on a change)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.api_v1 import schemas
from app.api_v1.auth import api_user
from app.api_v1.common import BEARER, limited, protected, track_data
from app.extensions import db
from app.models import Playlist, PlaylistVisibility
from app.services import accounts, playlists
from app.services.library import filtering
from app.unit_of_work import commit
from app.web.urls import external_url

bp = protected("v1_playlists", "Playlists: yours and public ones, entries, share links", "/playlists")
NOT_FOUND = {"schema": schemas.ErrorSchema, "description": "No such playlist (or another account's private one)"}
NOT_OWNED = {"schema": schemas.ErrorSchema, "description": "Another account's public playlist"}

# The API's names for the visibilities: "instance" is every account on this server.
TO_API = {PlaylistVisibility.PRIVATE: "private", PlaylistVisibility.PUBLIC: "instance", PlaylistVisibility.LINK: "link"}
FROM_API = {value: key for key, value in TO_API.items()}


def playlist_data(playlist: Playlist, owner: str, count: int, duration: float) -> dict[str, Any]:
    return {
        "id": playlist.id,
        "name": playlist.name,
        "description": playlist.description,
        "visibility": TO_API[playlist.visibility],
        "owner_id": playlist.owner_id,
        "owner": owner,
        "mine": playlist.owner_id == api_user().id,
        "track_count": count,
        "duration": duration,
        "created_at": playlist.created_at,
        "updated_at": playlist.updated_at,
    }


def detail(playlist: Playlist) -> dict[str, Any]:
    user_id = api_user().id
    views = playlists.entries(playlist, user_id)
    names = filtering.owner_names({playlist.owner_id} | {v.track.owner_id for v in views})
    data = playlist_data(playlist, names.get(playlist.owner_id, ""), len(views), sum(v.track.duration for v in views))
    data["entries"] = [
        {"entry_id": v.entry.id, "position": v.entry.position, "track": track_data(v.track, user_id, names)}
        for v in views
    ]
    shared = playlist.owner_id == user_id and playlist.visibility is PlaylistVisibility.LINK and playlist.share_token
    data["share_url"] = external_url("share.page", token=playlist.share_token) if shared else None
    return data


@bp.get("")
@bp.arguments(schemas.PlaylistQuerySchema, location="query")
@bp.response(200, schemas.PlaylistListSchema)
@bp.doc(security=BEARER)
@limited("read")
def list_playlists(args: dict[str, Any]) -> dict[str, Any]:
    """Your playlists and every account's public ones; owner= one account's, mine=true yours, search= by name."""
    user_id = api_user().id
    owner_id: int | None = None
    if args["mine"]:
        owner_id = user_id
    elif args.get("owner"):
        owner = accounts.find_by_username(args["owner"])
        owner_id = owner.id if owner is not None else -1
    found = playlists.find_playlists(user_id, owner_id=owner_id, q=args.get("search") or "")
    return {"data": [playlist_data(s.playlist, s.owner_name, s.track_count, s.duration) for s in found]}


@bp.post("")
@bp.arguments(schemas.PlaylistCreateSchema)
@bp.response(201, schemas.PlaylistDetailSchema)
@bp.doc(security=BEARER)
@limited("update")
def create(body: dict[str, Any]) -> dict[str, Any]:
    """A new playlist of yours."""
    playlist = playlists.create(api_user().id, body["name"], body["description"])
    playlists.set_visibility(playlist, FROM_API[body["visibility"]])
    commit()
    return detail(playlist)


@bp.response(200, schemas.PlaylistDetailSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.doc(security=BEARER)
def get(playlist_id: int) -> dict[str, Any]:
    """One playlist with the entries you may see; its share link if it is yours and shared by link."""
    return detail(playlists.get_visible_playlist(api_user().id, playlist_id))


@bp.arguments(schemas.PlaylistUpdateSchema)
@bp.response(200, schemas.PlaylistDetailSchema)
@bp.alt_response(403, **NOT_OWNED)
@bp.alt_response(404, **NOT_FOUND)
@bp.doc(security=BEARER)
@limited("update")
def update(body: dict[str, Any], playlist_id: int) -> dict[str, Any]:
    """Change the name, the description or the visibility (private, instance, link)."""
    playlist = playlists.get_own_playlist(api_user().id, playlist_id, lock=True)
    if "name" in body or "description" in body:
        playlists.update_details(
            playlist, body.get("name", playlist.name), body.get("description", playlist.description)
        )
    if "visibility" in body and FROM_API[body["visibility"]] is not playlist.visibility:
        playlists.set_visibility(playlist, FROM_API[body["visibility"]])
    commit()
    return detail(playlist)


@bp.response(204)
@bp.alt_response(403, **NOT_OWNED)
@bp.alt_response(404, **NOT_FOUND)
@bp.doc(security=BEARER)
@limited("delete")
def delete(playlist_id: int) -> None:
    """Delete a playlist of yours (its tracks stay)."""
    playlists.delete_playlist(playlists.get_own_playlist(api_user().id, playlist_id))
    commit()


@bp.post("/<int:playlist_id>/tracks")
@bp.arguments(schemas.PlaylistAddSchema)
@bp.response(200, schemas.PlaylistDetailSchema)
@bp.alt_response(403, **NOT_OWNED)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such playlist, or a track you cannot see")
@bp.doc(security=BEARER)
@limited("update")
def add_tracks(body: dict[str, Any], playlist_id: int) -> dict[str, Any]:
    """Append tracks, in order (the same track may appear twice)."""
    playlists.add_tracks(api_user().id, playlist_id, body["track_ids"])
    commit()
    db.session.expire_all()
    return detail(playlists.get_visible_playlist(api_user().id, playlist_id))


@bp.response(204)
@bp.alt_response(403, **NOT_OWNED)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such playlist or entry")
@bp.doc(security=BEARER)
@limited("update")
def remove_entry(playlist_id: int, entry_id: int) -> None:
    """Remove one entry (the later ones move up)."""
    playlists.remove_entry(api_user().id, playlist_id, entry_id)
    commit()


@bp.arguments(schemas.PlaylistMoveSchema)
@bp.response(200, schemas.PlaylistDetailSchema)
@bp.alt_response(403, **NOT_OWNED)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such playlist or entry")
@bp.doc(security=BEARER)
@limited("update")
def move_entry(body: dict[str, Any], playlist_id: int, entry_id: int) -> dict[str, Any]:
    """Move one entry to a position (1-based; past the end means last)."""
    playlists.move_entry(api_user().id, playlist_id, entry_id, body["position"])
    commit()
    return detail(playlists.get_visible_playlist(api_user().id, playlist_id))


@bp.route("/<int:playlist_id>")
class PlaylistItem(MethodView):
    """One rule for every method of the URL, so an id out of range is a plain 404 for each (not 405)."""

    get = staticmethod(get)
    patch = staticmethod(update)
    delete = staticmethod(delete)


@bp.route("/<int:playlist_id>/entries/<int:entry_id>")
class PlaylistEntryItem(MethodView):
    """One rule for every method of the URL, so an id out of range is a plain 404 for each (not 405)."""

    patch = staticmethod(move_entry)
    delete = staticmethod(remove_entry)
