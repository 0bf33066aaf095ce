"""Albums, artists and genres, through the same browse services as the pages
and the Subsonic API (app/services/library/browse.py, lists.py)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.api_v1 import schemas
from app.api_v1.auth import api_user
from app.api_v1.common import BEARER, artwork_errors, artwork_part, limited, page_meta, protected, tracks_data
from app.services.library import artwork, browse, covers, filtering, lists
from app.services.library.browse import AlbumSummary
from app.services.storage import get_storage
from app.unit_of_work import committing

bp = protected("v1_library", "Albums, artists and genres", "")


def album_data(album: AlbumSummary) -> dict[str, Any]:
    return {
        "id": album.id,
        "title": album.title,
        "artist_id": album.artist_id,
        "artist": album.artist,
        "track_count": album.track_count,
        "duration": album.duration,
        "year": album.year,
    }


@bp.get("/albums")
@bp.arguments(schemas.AlbumQuerySchema, location="query")
@bp.response(200, schemas.AlbumListSchema)
@bp.doc(security=BEARER)
@limited("read")
def albums(args: dict[str, Any]) -> dict[str, Any]:
    """Albums with a track you may see, by title."""
    found, total = browse.list_albums(api_user().id, args["page"], args.get("search") or "", per_page=args["limit"])
    return {"data": [album_data(a) for a in found], "meta": page_meta(args["page"], args["limit"], total)}


@bp.get("/albums/<int:album_id>")
@bp.response(200, schemas.AlbumDetailSchema)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such album (or none of its tracks is yours to see)")
@bp.doc(security=BEARER)
def album(album_id: int) -> dict[str, Any]:
    """One album with its tracks you may see."""
    summary, tracks = browse.get_album(api_user().id, album_id)
    return dict(album_data(summary), tracks=tracks_data(tracks, api_user().id))


ALBUM_NOT_FOUND = {"schema": schemas.ErrorSchema, "description": "No such album (or none of its tracks you may see)"}
ALBUM_NOT_OWNED = {"schema": schemas.ErrorSchema, "description": "None of its tracks is yours (ALBUM_NOT_OWNED)"}


@bp.arguments(schemas.ArtworkFileSchema, location="multipart")
@bp.response(200, schemas.AlbumArtworkResultSchema)
@bp.alt_response(403, **ALBUM_NOT_OWNED)
@bp.alt_response(404, **ALBUM_NOT_FOUND)
@artwork_errors(bp)
@bp.doc(security=BEARER)
@limited("upload")
def put_album_artwork(files: dict[str, Any], album_id: int) -> dict[str, Any]:
    """Upload a cover picture for your tracks of an album (other accounts' tracks keep theirs)."""
    own = artwork.album_tracks(api_user().id, album_id)
    cover = artwork_part(files["artwork"])
    change = artwork.ArtworkChange(get_storage())
    with committing(change):
        artwork.apply_artwork(change, own, cover)
    covers.remove_files(get_storage(), change.leftovers())
    return {"album_id": album_id, "track_ids": change.tracks}


@bp.response(200, schemas.AlbumArtworkResultSchema)
@bp.alt_response(403, **ALBUM_NOT_OWNED)
@bp.alt_response(404, **ALBUM_NOT_FOUND)
@bp.doc(security=BEARER)
@limited("update")
def delete_album_artwork(album_id: int) -> dict[str, Any]:
    """Remove the uploaded cover picture of your tracks of an album: their files' own art
    is shown again. track_ids lists the tracks that had one."""
    own = artwork.album_tracks(api_user().id, album_id)
    change = artwork.ArtworkChange(get_storage())
    with committing(change):
        artwork.remove_artwork(change, own)
    covers.remove_files(get_storage(), change.leftovers())
    return {"album_id": album_id, "track_ids": change.tracks}


@bp.route("/albums/<int:album_id>/artwork")
class AlbumArtwork(MethodView):
    put = staticmethod(put_album_artwork)
    delete = staticmethod(delete_album_artwork)


@bp.get("/artists")
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.ArtistListSchema)
@bp.doc(security=BEARER)
@limited("read")
def artists(args: dict[str, Any]) -> dict[str, Any]:
    """Artists credited on a track you may see, by name."""
    found, total = browse.list_artists(api_user().id, args["page"], per_page=args["limit"])
    data = [{"id": a.id, "name": a.name, "track_count": a.track_count, "album_count": a.album_count} for a in found]
    return {"data": data, "meta": page_meta(args["page"], args["limit"], total)}


@bp.get("/artists/<int:artist_id>")
@bp.response(200, schemas.ArtistDetailSchema)
@bp.alt_response(404, schema=schemas.ErrorSchema, description="No such artist (or nothing of theirs to see)")
@bp.doc(security=BEARER)
def artist(artist_id: int) -> dict[str, Any]:
    """One artist with their albums and tracks you may see."""
    user_id = api_user().id
    found, albums_of, _count = browse.get_artist(user_id, artist_id)
    tracks = filtering.tracks_by_artist(user_id, found.id)
    return {
        "id": found.id,
        "name": found.name,
        "albums": [album_data(a) for a in albums_of],
        "tracks": tracks_data(tracks, user_id),
    }


@bp.get("/genres")
@bp.response(200, schemas.GenreListSchema)
@bp.doc(security=BEARER)
@limited("read")
def genres() -> dict[str, Any]:
    """Every genre among the tracks you may see, with counts."""
    rows = lists.genre_counts(api_user().id)
    return {"data": [{"name": g.name, "track_count": g.song_count, "album_count": g.album_count} for g in rows]}


@bp.get("/genres/<string:name>")
@bp.arguments(schemas.PageQuerySchema, location="query")
@bp.response(200, schemas.GenreDetailSchema)
@bp.doc(security=BEARER)
@limited("read")
def genre(args: dict[str, Any], name: str) -> dict[str, Any]:
    """A genre's tracks you may see (any case or accents), by title."""
    wanted = filtering.TrackFilter(
        page=args["page"], per_page=args["limit"], sort="title", order="asc", genre=name[:300]
    )
    found = filtering.filter_tracks(api_user().id, wanted)
    return {
        "name": name,
        "tracks": tracks_data(found.tracks, api_user().id),
        "meta": page_meta(found.page, found.per_page, found.total),
    }
