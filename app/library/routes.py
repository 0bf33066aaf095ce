"""The music library: tracks, albums, artists, uploading, editing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.errors import or_abort, wants_json
from app.extensions import db
from app.library.forms import ActionForm, TrackForm, UploadForm
from app.library.uploads import max_upload_bytes
from app.models import Visibility
from app.services import library, listening
from app.services.storage import IncomingFile, get_storage
from app.services.tags import get_pool

bp = Blueprint("library", __name__)

SORT_LABELS = [
    ("title", "Title"),
    ("artist", "Artist"),
    ("album", "Album"),
    ("year", "Year"),
    ("duration", "Length"),
    ("added", "Added"),
]


def uploader_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.can_upload:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def parser_pool():
    cfg = current_app.config
    return get_pool(cfg["INGEST_WORKERS"], cfg["INGEST_TIMEOUT"], cfg["INGEST_MEMORY_MB"])


@bp.get("/")
def home() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("library.index"))
    return redirect(url_for("auth.login"))


@bp.get("/library")
@login_required
def index() -> str:
    query = library.TrackQuery(
        q=request.args.get("q", ""),
        sort=request.args.get("sort", "added"),
        order=request.args.get("order", ""),
        artist=request.args.get("artist", type=int),
        album=request.args.get("album", type=int),
        genre=request.args.get("genre", ""),
        page=request.args.get("page", 1, type=int),
    ).normalised()
    pagination = library.list_tracks(current_user.id, query)
    return render_template(
        "library/index.html",
        pagination=pagination,
        tracks=pagination.items,
        query=query,
        sorts=SORT_LABELS,
    )


@bp.get("/library/genres")
@login_required
def genres() -> str:
    return render_template("library/genres.html", genres=library.genres(current_user.id))


@bp.get("/library/albums")
@login_required
def albums() -> str:
    page = request.args.get("page", 1, type=int)
    q = request.args.get("q", "")
    items, total = library.list_albums(current_user.id, page, q)
    return render_template("library/albums.html", albums=items, total=total, page=page, per_page=48, q=q)


@bp.get("/library/albums/<int:album_id>")
@login_required
def album(album_id: int) -> str:
    summary, tracks = or_abort(library.get_album, current_user.id, album_id)
    return render_template("library/album.html", album=summary, tracks=tracks)


@bp.get("/library/artists")
@login_required
def artists() -> str:
    page = request.args.get("page", 1, type=int)
    items, total = library.list_artists(current_user.id, page)
    return render_template("library/artists.html", artists=items, total=total, page=page, per_page=100)


@bp.get("/library/artists/<int:artist_id>")
@login_required
def artist(artist_id: int) -> str:
    found, albums, count = or_abort(library.get_artist, current_user.id, artist_id)
    return render_template("library/artist.html", artist=found, albums=albums, track_count=count)


@bp.get("/library/tracks/<int:track_id>")
@login_required
def track(track_id: int) -> str:
    found = or_abort(library.get_visible_track, current_user.id, track_id)
    return render_template(
        "library/track.html",
        track=found,
        delete_form=ActionForm(),
        play_count=listening.play_count(current_user.id, found.id),
    )


@bp.get("/library/history")
@login_required
def history() -> str:
    return render_template("library/history.html", plays=listening.recent_plays(current_user.id))


@bp.route("/library/tracks/<int:track_id>/edit", methods=["GET", "POST"])
@login_required
def edit(track_id: int) -> Response | tuple[str, int]:
    found = or_abort(library.get_own_track, current_user.id, track_id)
    form = TrackForm(obj=found if request.method == "GET" else None)
    if request.method == "GET":
        form.visibility.data = found.visibility.value
    if form.validate_on_submit():
        library.update_track(
            found,
            visibility=Visibility(form.visibility.data),
            title=form.title.data,
            artist=form.artist.data,
            album=form.album.data,
            album_artist=form.album_artist.data,
            track_number=form.track_number.data,
            disc_number=form.disc_number.data,
            year=form.year.data,
            genre=form.genre.data,
        )
        db.session.commit()
        flash("The track is saved.", "success")
        return redirect(url_for("library.track", track_id=found.id))
    status = 200 if request.method == "GET" else 400
    return render_template("library/edit.html", track=found, form=form), status


@bp.post("/library/tracks/<int:track_id>/delete")
@login_required
def delete(track_id: int) -> Response:
    found = or_abort(library.get_own_track, current_user.id, track_id)
    title = found.title
    files = library.delete_track(found)
    db.session.commit()
    library.remove_files(get_storage(), files)
    flash(f"{title} is deleted.", "success")
    return redirect(url_for("library.index"))


@bp.route("/library/upload", methods=["GET", "POST"])
@login_required
@uploader_required
def upload() -> Response | str | tuple[Any, int]:
    max_bytes = max_upload_bytes()
    form = UploadForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("library/upload.html", form=form, max_bytes=max_bytes)
    results = []
    for part in request.files.getlist("files"):
        incoming = part.stream
        # A form sent with no file chosen carries one empty, nameless part.
        if not isinstance(incoming, IncomingFile) or (not part.filename and incoming.size == 0):
            continue
        results.append(
            library.add_file(
                get_storage(), parser_pool(), current_user, incoming, part.filename or "", max_bytes=max_bytes
            )
        )
    if wants_json():
        return jsonify({"results": [_result_json(r) for r in results]})
    if not results:
        flash("Choose one or more audio files first.", "error")
        return redirect(url_for("library.upload"))
    return render_template("library/upload_results.html", results=results, form=UploadForm(), max_bytes=max_bytes)


def _result_json(result: library.AddResult) -> dict[str, Any]:
    urls = {}
    if result.track is not None:
        urls = {"url": url_for("library.track", track_id=result.track.id)}
    return result.as_json(urls)
