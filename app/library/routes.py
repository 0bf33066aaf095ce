"""The music library: tracks, albums, artists, uploading, editing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_timezone, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.errors import wants_json
from app.library.forms import (
    ActionForm,
    ArtworkForm,
    BulkEditForm,
    LikeForm,
    RatingForm,
    TrackForm,
    UploadForm,
    licence_name,
)
from app.models import AnalysisState, ImportState, Track, Visibility
from app.services import likes, listening, mixes, playlists, recommend, stars, track_meta, track_stats
from app.services.errors import DomainError
from app.services.library import (
    access,
    adding,
    analysis,
    archives,
    artwork,
    browse,
    bulk,
    covers,
    duplicates,
    editing,
    quotas,
)
from app.services.storage import IncomingFile, get_storage
from app.unit_of_work import commit, committing, retrying
from app.web.discovery import explain
from app.web.messages import message
from app.web.params import id_arg, int_arg, page_arg
from app.web.redirects import back_to
from app.web.sending import send_waveform
from app.web.serializers import add_result_data, track_data
from app.web.uploads import (
    ArchiveResult,
    max_archive_bytes,
    max_artwork_bytes,
    max_upload_bytes,
    parser_pool,
    preview_archive,
    uploader_required,
)

bp = Blueprint("library", __name__)

SORT_LABELS = [
    ("title", _l("Title")),
    ("artist", _l("Artist")),
    ("album", _l("Album")),
    ("year", _l("Year")),
    ("duration", _l("Length")),
    ("added", _l("Added")),
]
FACET_LABELS = [("genre", _l("Genre")), ("artist", _l("Artist")), ("format", _l("Format")), ("decade", _l("Decade"))]


@bp.get("/")
def home() -> Response | str:
    """The library's first page with the "For you" mixes above it (the page loads them from
    the For you page, so the library does not wait for them); visitors go to the login page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return _library_page(home=True)


@bp.get("/library")
@login_required
def index() -> str:
    return _library_page(home=False)


def _mixes_data(found: list[recommend.Mix]) -> list[dict[str, Any]]:
    return [
        {"kind": m.kind, "label": m.label, "tracks": m.tracks, "data": [track_data(t) for t in m.tracks]} for m in found
    ]


def _library_page(*, home: bool) -> str:
    query = browse.TrackQuery(
        q=request.args.get("q", ""),
        sort=request.args.get("sort", ""),
        order=request.args.get("order", ""),
        artist=id_arg("artist"),
        album=id_arg("album"),
        genre=request.args.get("genre", ""),
        tag=request.args.get("tag", ""),
        format=request.args.get("format", ""),
        decade=int_arg("decade", None, low=0, high=9990),
        page=page_arg(),
    ).normalised()
    pagination = browse.list_tracks(current_user.id, query)
    sorts = [(key, str(label)) for key, label in SORT_LABELS]
    if query.q:
        sorts.insert(0, (browse.RELEVANCE, _("Relevance")))
    return render_template(
        "library/index.html",
        pagination=pagination,
        tracks=pagination.items,
        favourites=playlists.favourite_ids(current_user.id, [t.id for t in pagination.items]),
        likes=likes.state(current_user.id, [t.id for t in pagination.items]),
        query=query,
        bulk_form=ActionForm(),
        last_bulk=bulk.last_edit(current_user.id),
        sorts=sorts,
        facet_labels=FACET_LABELS,
        # The home page's mixes (loaded by the page from For you): on its plain first page
        # only, not on a search or a filter.
        home=home and not query.filtered and query.page == 1,
    )


def _bulk_ids() -> list[int]:
    """The selection a bulk action works on: ticked rows, or every own track a list's query
    matches ("select all N results"), or the ids a bulk page carried over."""
    if request.form.get("all") == "1":
        query = browse.TrackQuery(
            q=request.form.get("q", ""),
            sort=request.form.get("sort", "added"),
            order=request.form.get("order", ""),
            artist=int(v) if (v := request.form.get("artist", "")).isdigit() else None,
            album=int(v) if (v := request.form.get("album", "")).isdigit() else None,
            genre=request.form.get("genre", ""),
            tag=request.form.get("tag", ""),
            format=request.form.get("format", ""),
            decade=int(v) if (v := request.form.get("decade", "")).isdigit() and len(v) <= 4 else None,
        )
        return browse.own_matching_ids(current_user.id, query, bulk.MAX_TRACKS)
    raw = request.form.getlist("track") or request.form.get("ids", "").split(",")
    return bulk.own_ids(current_user.id, [int(v) for v in raw if v.isdigit() and len(v) < 12])


def _bulk_form(ids: list[int]) -> BulkEditForm:
    form = BulkEditForm(ids=",".join(map(str, ids)))
    # Only a path on this site, whatever was posted (it becomes a link).
    form.next.data = back_to(url_for("library.index"))
    choices = [("", _("No playlist"))] + [(str(p.id), p.name) for p in playlists.own_playlists(current_user.id)]
    form.playlist.choices = choices
    return form


@bp.post("/library/bulk")
@login_required
def bulk_choose() -> Response | str:
    """The selected tracks: what to change on all of them."""
    if not ActionForm().validate_on_submit():
        abort(400)
    ids = _bulk_ids()
    if not ids:
        flash(_("Tick the tracks to change first (only your own tracks can be changed)."), "error")
        return redirect(back_to(url_for("library.index")))
    return render_template("library/bulk.html", form=_bulk_form(ids), count=len(ids))


@bp.post("/library/bulk/apply")
@login_required
def bulk_apply() -> Response | str | tuple[str, int]:
    ids = _bulk_ids()
    form = _bulk_form(ids)
    if not form.validate_on_submit() or not ids:
        return render_template("library/bulk.html", form=form, count=len(ids)), 400
    action = request.form.get("action", "edit")
    if action == "delete":
        if not request.form.get("confirm"):
            return render_template("library/bulk_delete.html", form=form, count=len(ids))
        user_id = current_user.id
        files = retrying(lambda: bulk.delete_tracks(user_id, ids))
        covers.remove_files(get_storage(), files)
        flash(ngettext("%(num)s track deleted.", "%(num)s tracks deleted.", len(ids)), "success")
        return redirect(url_for("library.index"))
    changes = {k: getattr(form, k).data for k in bulk.TAG_FIELDS if getattr(form, k).data not in (None, "")}
    if form.visibility.data in {v.value for v in Visibility}:
        changes["visibility"] = form.visibility.data
    playlist_id = int(form.playlist.data) if form.playlist.data and form.playlist.data.isdigit() else None
    if not changes and playlist_id is None:
        form.artist.errors = [_("Fill in at least one field, or choose a playlist.")]
        return render_template("library/bulk.html", form=form, count=len(ids)), 400
    user_id = current_user.id

    def apply() -> list[str]:
        done = []
        if changes:
            changed = bulk.edit(user_id, ids, changes)
            done.append(ngettext("%(num)s track changed.", "%(num)s tracks changed.", changed))
        if playlist_id is not None:
            added = bulk.add_to_playlist(user_id, ids, playlist_id)
            done.append(
                ngettext("%(num)s track added to the playlist.", "%(num)s tracks added to the playlist.", added)
            )
        return done

    # Run again from the start when the database asks (an album another request created
    # at the same moment as this edit's).
    done = retrying(apply)
    flash(" ".join(done), "success")
    return redirect(url_for("library.index"))


@bp.post("/library/bulk/undo")
@login_required
def bulk_undo() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    user_id = current_user.id
    restored = retrying(lambda: bulk.undo(user_id))
    flash(
        ngettext("Undone: %(num)s track is as it was.", "Undone: %(num)s tracks are as they were.", restored), "success"
    )
    return redirect(url_for("library.index"))


@bp.get("/library/for-you")
@login_required
def for_you() -> str:
    """Mixes from the user's listening: a daily mix per taste, rediscover, new for you, as
    the mixes job stored them (computed and stored now for a listener who has none yet)."""
    # Two first visits at once store the same mixes twice: the second runs again and reads them.
    found = retrying(lambda: mixes.for_you(current_user.id))
    return render_template("library/for_you.html", mixes=_mixes_data(found))


@bp.get("/library/genres")
@login_required
def genres() -> str:
    return render_template("library/genres.html", genres=browse.genres(current_user.id))


@bp.get("/library/albums")
@login_required
def albums() -> str:
    page = page_arg()
    q = request.args.get("q", "")
    items, total = browse.list_albums(current_user.id, page, q)
    return render_template("library/albums.html", albums=items, total=total, page=page, per_page=48, q=q)


@bp.get("/library/albums/<int:album_id>")
@login_required
def album(album_id: int) -> str:
    summary, tracks = browse.get_album(current_user.id, album_id)
    favourites = playlists.favourite_ids(current_user.id, [t.id for t in tracks])
    own = [t for t in tracks if t.owner_id == current_user.id]
    return render_template(
        "library/album.html",
        album=summary,
        own_tracks=len(own),
        own_uploaded=any(t.artwork_uploaded for t in own),
        artwork_form=ArtworkForm(),
        max_artwork=max_artwork_bytes(),
        tracks=tracks,
        disc_count=browse.disc_count(tracks),
        favourites=favourites,
        likes=likes.state(current_user.id, [t.id for t in tracks]),
        starred=bool(stars.album_star_times(current_user.id, [album_id])),
        rating=stars.ratings(current_user.id, "album", [album_id]).get(album_id, 0),
    )


@bp.get("/library/artists")
@login_required
def artists() -> str:
    page = page_arg()
    items, total = browse.list_artists(current_user.id, page)
    return render_template("library/artists.html", artists=items, total=total, page=page, per_page=100)


@bp.get("/library/artists/<int:artist_id>")
@login_required
def artist(artist_id: int) -> str:
    found, albums, count = browse.get_artist(current_user.id, artist_id)
    return render_template(
        "library/artist.html",
        artist=found,
        albums=albums,
        track_count=count,
        own_count=browse.own_artist_track_count(current_user.id, artist_id),
        starred=bool(stars.artist_star_times(current_user.id, [artist_id])),
    )


# Similar tracks listed on a track's page.
SIMILAR_ON_PAGE = 10


@bp.get("/library/tracks/<int:track_id>")
@login_required
def track(track_id: int) -> str:
    found = access.get_visible_track(current_user.id, track_id)
    return render_template(
        "library/track.html",
        track=found,
        track_json=track_data(found),
        analysis_problem=_analysis_problem(found),
        favourite=bool(playlists.favourite_ids(current_user.id, [found.id])),
        like=likes.state(current_user.id, [found.id]).get(found.id, likes.NEITHER),
        similar=[
            {"track": s.track, "why": explain(s)} for s in recommend.similar_to(current_user.id, found, SIMILAR_ON_PAGE)
        ],
        delete_form=ActionForm(),
        licence_name=licence_name,
        play_count=listening.play_count(current_user.id, found.id),
        rating=stars.ratings(current_user.id, "track", [found.id]).get(found.id, 0),
        figures=track_stats.track_stats(found.id, found.owner_id == current_user.id, get_timezone()),
    )


@bp.get("/library/tracks/<int:track_id>/waveform.json")
@login_required
def waveform(track_id: int) -> Response:
    """The track's waveform (BBC waveform-data JSON); 404 until it is measured."""
    return send_waveform(analysis.waveform_of(current_user.id, track_id))


@bp.post("/library/tracks/<int:track_id>/analyse")
@login_required
def analyse(track_id: int) -> Response:
    """The owner runs a failed analysis again."""
    if not ActionForm().validate_on_submit():
        abort(400)
    analysis.retry_analysis(current_user.id, track_id)
    commit()
    flash(_("The track is being measured again."), "success")
    return redirect(url_for("library.track", track_id=track_id))


def _analysis_problem(found: Track) -> str | None:
    """Why the track's analysis failed, as a sentence (the stored detail fills its one figure)."""
    if found.analysis_state is not AnalysisState.FAILED:
        return None
    detail = found.analysis_detail or ""
    error = DomainError(found.analysis_error or analysis.AnalysisFailed.code, path=detail, seconds=detail)
    return message(error)


@bp.post("/library/albums/<int:album_id>/star")
@login_required
def star_album(album_id: int) -> Response:
    """Star (star=1) or unstar an album; the same stars the Subsonic API reads."""
    if not ActionForm().validate_on_submit():
        abort(400)
    user_id, on = current_user.id, request.form.get("star") == "1"
    retrying(lambda: stars.set_album_star(user_id, album_id, on))
    return redirect(back_to(url_for("library.album", album_id=album_id)))


@bp.post("/library/artists/<int:artist_id>/star")
@login_required
def star_artist(artist_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    user_id, on = current_user.id, request.form.get("star") == "1"
    retrying(lambda: stars.set_artist_star(user_id, artist_id, on))
    return redirect(back_to(url_for("library.artist", artist_id=artist_id)))


@bp.post("/library/tracks/<int:track_id>/like")
@login_required
def like(track_id: int) -> Response:
    """Like, dislike or clear (the forms on rows and the track page; the player uses /api)."""
    form = LikeForm()
    if not form.validate_on_submit():
        abort(400)
    user_id, value = current_user.id, form.value.data
    now = retrying(lambda: likes.set_state(user_id, track_id, value))
    if wants_json():
        return jsonify({"track_id": track_id, "like": now})
    return redirect(back_to(url_for("library.track", track_id=track_id)))


@bp.post("/library/<any(track, album):kind>s/<int:ident>/rating")
@login_required
def rate(kind: str, ident: int) -> Response:
    """Rate a track or album 1 to 5; 0 clears the rating."""
    form = RatingForm()
    if not form.validate_on_submit() or form.rating.data is None:
        abort(400)
    user_id, rating = current_user.id, form.rating.data
    retrying(lambda: stars.set_rating(user_id, kind, ident, rating))
    return redirect(back_to(url_for(f"library.{kind}", **{f"{kind}_id": ident})))


@bp.get("/library/history")
@login_required
def history() -> str:
    plays = listening.recent_plays(current_user.id)
    favourites = playlists.favourite_ids(current_user.id, [track.id for _, track in plays])
    like_states = likes.state(current_user.id, [track.id for _, track in plays])
    return render_template("library/history.html", plays=plays, favourites=favourites, likes=like_states)


@bp.route("/library/tracks/<int:track_id>/edit", methods=["GET", "POST"])
@login_required
def edit(track_id: int) -> Response | tuple[str, int]:
    found = access.get_own_track(current_user.id, track_id)
    form = TrackForm(obj=found if request.method == "GET" else None)
    if request.method == "GET":
        form.visibility.data = found.visibility.value
        form.tags.data = ", ".join(found.tags or [])
    if form.validate_on_submit():
        user_id = current_user.id

        def save() -> None:
            # Found again when the database asks for a second run (two saves at once).
            track = access.get_own_track(user_id, track_id)
            editing.set_metadata(
                track,
                description=form.description.data,
                tags=track_meta.split_tags(form.tags.data or ""),
                bpm=form.bpm.data,
                musical_key=form.musical_key.data,
                licence=form.licence.data if form.licence.data in track_meta.LICENCES else track.licence,
                allow_download=form.allow_download.data,
            )
            editing.update_track(
                track,
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

        retrying(save)
        flash(_("The track is saved."), "success")
        return redirect(url_for("library.track", track_id=track_id))
    status = 200 if request.method == "GET" else 400
    return (
        render_template(
            "library/edit.html", track=found, form=form, artwork_form=ArtworkForm(), max_artwork=max_artwork_bytes()
        ),
        status,
    )


@bp.post("/library/tracks/<int:track_id>/artwork")
@login_required
def track_artwork(track_id: int) -> Response:
    """The owner uploads a picture as the track's cover."""
    found = artwork.track_for_artwork(current_user.id, track_id)
    return _upload_artwork([found], url_for("library.edit", track_id=found.id))


@bp.post("/library/tracks/<int:track_id>/artwork/delete")
@login_required
def remove_track_artwork(track_id: int) -> Response:
    """The owner goes back to the cover embedded in the file."""
    found = artwork.track_for_artwork(current_user.id, track_id)
    return _remove_artwork([found], url_for("library.edit", track_id=found.id))


@bp.post("/library/albums/<int:album_id>/artwork")
@login_required
def album_artwork(album_id: int) -> Response:
    """A picture as the cover of the user's own tracks of the album."""
    own = artwork.album_tracks(current_user.id, album_id)
    return _upload_artwork(own, url_for("library.album", album_id=album_id), album=True)


@bp.post("/library/albums/<int:album_id>/artwork/delete")
@login_required
def remove_album_artwork(album_id: int) -> Response:
    own = artwork.album_tracks(current_user.id, album_id)
    return _remove_artwork(own, url_for("library.album", album_id=album_id))


def _upload_artwork(tracks: list[Track], back: str, *, album: bool = False) -> Response:
    form = ArtworkForm()
    if not form.validate_on_submit():
        abort(400)
    part = request.files.get("artwork")
    incoming = part.stream if part is not None else None
    # A form sent with no file chosen carries one empty, nameless part.
    if not isinstance(incoming, IncomingFile) or (not part.filename and incoming.size == 0):
        flash(_("Choose a picture first."), "error")
        return redirect(back)
    change = artwork.ArtworkChange(get_storage())
    try:
        with committing(change):
            artwork.set_artwork(change, parser_pool(), tracks, incoming, max_artwork_bytes())
    except DomainError as exc:
        flash(message(exc), "error")
        return redirect(back)
    covers.remove_files(get_storage(), change.leftovers())
    if album:
        saved = ngettext(
            "The artwork is saved for your %(num)s track of this album.",
            "The artwork is saved for your %(num)s tracks of this album.",
            len(tracks),
        )
    else:
        saved = _("The artwork is saved.")
    flash(saved, "success")
    return redirect(back)


def _remove_artwork(tracks: list[Track], back: str) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    change = artwork.ArtworkChange(get_storage())
    with committing(change):
        artwork.remove_artwork(change, tracks)
    covers.remove_files(get_storage(), change.leftovers())
    if change.tracks:
        flash(_("The uploaded artwork is removed: the cover embedded in the file is shown again."), "success")
    else:
        flash(_("There is no uploaded artwork to remove."), "error")
    return redirect(back)


@bp.post("/library/tracks/<int:track_id>/delete")
@login_required
def delete(track_id: int) -> Response:
    user_id = current_user.id

    def remove() -> tuple[str, list[str]]:
        # Again from the start when the database asks (an album it empties filled meanwhile).
        found = access.get_own_track(user_id, track_id)
        return found.title, editing.delete_track(found)

    title, files = retrying(remove)
    covers.remove_files(get_storage(), files)
    flash(_("%(title)s is deleted.", title=title), "success")
    return redirect(url_for("library.index"))


@bp.route("/library/upload", methods=["GET", "POST"])
@login_required
@uploader_required
def upload() -> Response | str | tuple[Any, int]:
    max_bytes = max_upload_bytes()
    form = UploadForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template(
            "library/upload.html",
            form=form,
            max_bytes=max_bytes,
            max_archive=max_archive_bytes(),
            audio_extensions=sorted(adding.AUDIO_EXTENSIONS),
            imports=archives.recent_imports(current_user.id),
            limits=quotas.limits_for(current_user),
            usage=quotas.usage_of(current_user),
        )
    results = []
    archives_sent: list[ArchiveResult] = []
    for part in request.files.getlist("files"):
        incoming = part.stream
        # A form sent with no file chosen carries one empty, nameless part.
        if not isinstance(incoming, IncomingFile) or (not part.filename and incoming.size == 0):
            continue
        if archives.is_archive_name(part.filename or ""):
            archives_sent.append(preview_archive(incoming, part.filename or ""))
            continue
        # Each file is its own action: one bad file never undoes the others,
        # and the database's write lock is held for one file at a time.
        batch = adding.AddBatch(get_storage())
        # From a chosen or dropped folder the name is its path there: the folders are hints.
        name, path_hints = adding.split_relative_path(part.filename or "")
        with committing(batch):
            adding.add_file(
                get_storage(),
                parser_pool(),
                current_user,
                incoming,
                name,
                batch=batch,
                max_bytes=max_bytes,
                path_hints=path_hints,
            )
        results.extend(batch.results)
    if wants_json():
        data = [add_result_data(r) for r in results] + [a.data() for a in archives_sent]
        return jsonify({"results": data})
    if len(archives_sent) == 1 and not results and archives_sent[0].import_id is not None:
        return redirect(url_for("library.archive_import", import_id=archives_sent[0].import_id))
    if not results and not archives_sent:
        flash(_("Choose one or more audio files first."), "error")
        return redirect(url_for("library.upload"))
    return render_template(
        "library/upload_results.html", results=results, archives=archives_sent, form=UploadForm(), max_bytes=max_bytes
    )


@bp.get("/library/duplicates")
@login_required
def duplicate_groups() -> str:
    """Likely duplicates in your library: keep one, keep both, or keep the better quality."""
    groups = duplicates.likely_duplicates(current_user.id)
    return render_template("library/duplicates.html", groups=groups, form=ActionForm(), limit=duplicates.MAX_GROUPS)


@bp.post("/library/duplicates")
@login_required
def resolve_duplicates() -> Response | str:
    """First a page that says what will be deleted; with `confirm`, it is done."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if request.form.get("all_best"):
        groups = duplicates.likely_duplicates(current_user.id)
        decisions = {g.key: duplicates.KEEP_BEST for g in groups}
    else:
        decisions = {k.removeprefix("keep-"): v for k, v in request.form.items() if k.startswith("keep-")}
    decided = duplicates.plan(current_user.id, decisions)
    if not decided.delete and not decided.keep_both:
        flash(_("Choose what to keep in at least one group."), "error")
        return redirect(url_for("library.duplicate_groups"))
    if not request.form.get("confirm"):
        return render_template("library/duplicates_confirm.html", plan=decided, decisions=decisions, form=ActionForm())
    files = duplicates.carry_out(current_user.id, decided)
    commit()
    covers.remove_files(get_storage(), files)
    flash(
        ngettext("%(num)s track deleted.", "%(num)s tracks deleted.", len(decided.delete))
        + " "
        + ngettext("%(num)s group kept whole.", "%(num)s groups kept whole.", len(decided.keep_both)),
        "success",
    )
    return redirect(url_for("library.duplicate_groups"))


# One rule for both methods: with two, a bad id POSTed would be 405 instead of 404.
@bp.route("/library/imports/<int:import_id>", methods=["GET", "POST"])
@login_required
@uploader_required
def archive_import(import_id: int) -> str | Response:
    """An archive's preview (tick what to import) or, once confirmed, its import's progress;
    POST confirms the preview (or cancels it)."""
    if request.method == "POST":
        return _confirm_import(import_id)
    found = archives.get_own_import(current_user.id, import_id)
    summary = archives.summary(found, current_user) if found.state is ImportState.PREVIEW else None
    return render_template(
        "library/import.html",
        imp=found,
        summary=summary,
        form=ActionForm(),
        limits=archives.limits_for(current_app.config),
        max_archive=max_archive_bytes(),
    )


def _confirm_import(import_id: int) -> Response:
    found = archives.get_own_import(current_user.id, import_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    chosen = {int(v) for v in request.form.getlist("entry") if v.isdigit() and len(v) < 9}
    leftover = archives.cancel(found) if request.form.get("cancel") else archives.confirm(found, chosen)
    commit()
    if leftover:  # after the commit, at best: what it leaves, the hourly clean-up removes
        get_storage().delete_many([leftover])
    if found.state is ImportState.CANCELLED:
        flash(_("Nothing was imported from %(name)s.", name=found.original_filename), "info")
        return redirect(url_for("library.upload"))
    return redirect(url_for("library.archive_import", import_id=found.id))
