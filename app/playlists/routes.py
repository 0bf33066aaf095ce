"""Playlists and favourites."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from app.errors import wants_json
from app.models import PlaylistVisibility
from app.playlists.forms import (
    ActionForm,
    AddForm,
    EntryForm,
    ImportForm,
    MoveForm,
    PlayerExportForm,
    PlaylistForm,
    SharingForm,
)
from app.services import credentials, likes, playlists, stars
from app.services.errors import NotFound
from app.services.library import access, browse
from app.subsonic.responses import API_VERSION
from app.unit_of_work import commit, retrying
from app.web.messages import message
from app.web.params import parse_id
from app.web.redirects import back_to
from app.web.sending import set_attachment
from app.web.urls import external_url

bp = Blueprint("playlists", __name__)

M3U_MAX_BYTES = 2_000_000


@bp.before_request
@login_required
def _require_login() -> None:
    return None


@bp.get("/playlists")
def index() -> str:
    own, others = playlists.list_playlists(current_user.id)
    return render_template("playlists/index.html", own=own, others=others, form=PlaylistForm())


@bp.post("/playlists")
def create() -> Response | tuple[str, int]:
    form = PlaylistForm()
    if form.validate_on_submit():
        playlist = playlists.create(current_user.id, form.name.data, form.description.data or "")
        commit()
        flash(_("Playlist %(name)s created.", name=playlist.name), "success")
        return redirect(url_for("playlists.show", playlist_id=playlist.id))
    own, others = playlists.list_playlists(current_user.id)
    return render_template("playlists/index.html", own=own, others=others, form=form), 400


@bp.get("/playlists/<int:playlist_id>")
def show(playlist_id: int) -> str:
    playlist = playlists.get_visible_playlist(current_user.id, playlist_id)
    views = playlists.entries(playlist, current_user.id)
    return render_template(
        "playlists/show.html",
        playlist=playlist,
        views=views,
        total=sum(v.track.duration for v in views),
        owner=playlist.owner_id == current_user.id,
        form=ActionForm(),
        player_export=_player_export_form(),
    )


@bp.route("/playlists/<int:playlist_id>/edit", methods=["GET", "POST"])
def edit(playlist_id: int) -> Response | tuple[str, int]:
    playlist = playlists.get_own_playlist(current_user.id, playlist_id)
    form = PlaylistForm(obj=playlist if request.method == "GET" else None)
    sharing = SharingForm(visibility=playlist.visibility.value, expires=playlist.share_expires_at)
    if form.validate_on_submit():
        playlists.update_details(playlist, form.name.data, form.description.data or "")
        commit()
        flash(_("The playlist is saved."), "success")
        return redirect(url_for("playlists.show", playlist_id=playlist.id))
    status = 200 if request.method == "GET" else 400
    return render_template(
        "playlists/edit.html", playlist=playlist, form=form, sharing=sharing, action=ActionForm()
    ), status


@bp.post("/playlists/<int:playlist_id>/sharing")
def sharing(playlist_id: int) -> Response:
    playlist = playlists.get_own_playlist(current_user.id, playlist_id)
    form = SharingForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("playlists.edit", playlist_id=playlist.id))
    expires = form.expires.data.replace(tzinfo=UTC) if form.expires.data else None
    playlists.set_visibility(playlist, PlaylistVisibility(form.visibility.data), expires)
    commit()
    flash(_("Sharing is updated."), "success")
    return redirect(url_for("playlists.edit", playlist_id=playlist.id))


@bp.post("/playlists/<int:playlist_id>/revoke")
def revoke(playlist_id: int) -> Response:
    playlist = playlists.get_own_playlist(current_user.id, playlist_id)
    if ActionForm().validate_on_submit():
        playlists.revoke_link(playlist)
        commit()
        flash(_("The link no longer works. The playlist is private again."), "success")
    return redirect(url_for("playlists.edit", playlist_id=playlist.id))


@bp.route("/playlists/<int:playlist_id>/delete", methods=["GET", "POST"])
def delete(playlist_id: int) -> Response | str:
    playlist = playlists.get_own_playlist(current_user.id, playlist_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        name = playlist.name
        playlists.delete_playlist(playlist)
        commit()
        flash(_("Playlist %(name)s is deleted.", name=name), "success")
        return redirect(url_for("playlists.index"))
    return render_template("playlists/delete.html", playlist=playlist, form=form)


@bp.post("/playlists/<int:playlist_id>/remove")
def remove(playlist_id: int) -> Response:
    form = EntryForm()
    if not form.validate_on_submit():
        abort(400)
    retrying(lambda: playlists.remove_entry(current_user.id, playlist_id, form.entry.data))
    if wants_json():
        return jsonify({"removed": True})
    return redirect(url_for("playlists.show", playlist_id=playlist_id))


@bp.post("/playlists/<int:playlist_id>/move")
def move(playlist_id: int) -> Response:
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    retrying(lambda: playlists.move_entry(current_user.id, playlist_id, form.entry.data, form.position.data))
    if wants_json():
        return jsonify({"moved": True})
    return redirect(url_for("playlists.show", playlist_id=playlist_id) + f"#entry-{form.entry.data}")


@bp.route("/playlists/add", methods=["GET", "POST"])
def add() -> Response | tuple[str, int]:
    """Add a track (?track=) or an album (?album=) to one of the user's playlists or a new one."""
    form = AddForm(
        formdata=request.form if request.method == "POST" else None,
        track=request.args.get("track", ""),
        album=request.args.get("album", ""),
        next=request.args.get("next", ""),
    )
    own = playlists.own_playlists(current_user.id)
    form.playlist.choices = [SelectChoice(str(p.id), p.name) for p in own]
    track_ids = _tracks_to_add(form.track.data, form.album.data)
    if request.method == "POST" and form.validate_on_submit():
        new_name = (form.new_name.data or "").strip()
        chosen = parse_id(form.playlist.data)

        def add_to_playlist() -> tuple[int, str, int]:
            # One action, committed once (and run again on a clash with a concurrent edit).
            if new_name:
                target = playlists.create(current_user.id, new_name)
            elif chosen is not None:
                target = playlists.get_own_playlist(current_user.id, chosen)
            else:
                raise playlists.PlaylistError("PLAYLIST_CHOICE_REQUIRED")
            return target.id, target.name, playlists.add_tracks(current_user.id, target.id, track_ids)

        try:
            target_id, target_name, count = retrying(add_to_playlist)
        except playlists.PlaylistError as exc:
            form.new_name.errors.append(message(exc))
        else:
            done = ngettext(
                "Added %(num)s track to %(name)s.", "Added %(num)s tracks to %(name)s.", count, name=target_name
            )
            if wants_json():
                return jsonify({"added": count, "playlist": target_id, "message": done})
            flash(done, "success")
            return redirect(back_to(url_for("playlists.show", playlist_id=target_id)))
    status = 200 if request.method == "GET" else 400
    return render_template("playlists/add.html", form=form, count=len(track_ids)), status


def _tracks_to_add(track: str, album: str) -> list[int]:
    """The track ids named by the request, all visible to the user, or 404."""
    if (track_id := parse_id(track)) is not None:
        return [access.get_visible_track(current_user.id, track_id).id]
    if (album_id := parse_id(album)) is not None:
        _, tracks = browse.get_album(current_user.id, album_id)
        return [t.id for t in tracks]
    raise NotFound


def _player_export_form() -> PlayerExportForm:
    form = PlayerExportForm()
    form.app_password.choices = [SelectChoice(row.id, row.name) for row in credentials.app_passwords(current_user.id)]
    return form


def _m3u8_file(name: str, body: str) -> Response:
    response = Response(body, mimetype="audio/x-mpegurl")
    response.headers["Content-Type"] = "audio/x-mpegurl; charset=utf-8"
    set_attachment(response, name.replace("/", "-").replace("\\", "-") + ".m3u8")
    return response


@bp.get("/playlists/<int:playlist_id>.m3u8")
def export(playlist_id: int) -> Response:
    """The playlist with the web player's stream URLs (they need the browser's session)."""
    playlist = playlists.get_visible_playlist(current_user.id, playlist_id)
    views = playlists.entries(playlist, current_user.id)
    body = playlists.m3u8(views, lambda track_id: external_url("streaming.stream", track_id=track_id))
    return _m3u8_file(playlist.name, body)


@bp.post("/playlists/<int:playlist_id>/export-for-players")
def export_for_players(playlist_id: int) -> Response:
    """The playlist for any player (VLC, mpv): each URL is the Subsonic API's
    stream with the app password's token and a fresh salt, so it plays without a
    session and stops once that app password is revoked. A POST with a CSRF
    token: the file carries a credential."""
    playlist = playlists.get_visible_playlist(current_user.id, playlist_id)
    form = _player_export_form()
    if not form.validate_on_submit():
        flash(_("Choose one of your app passwords, or create one on your account page first."), "error")
        return redirect(url_for("playlists.show", playlist_id=playlist.id))
    tokens = credentials.salted_tokens(current_user.id, form.app_password.data)
    username = current_user.username

    def stream_url(track_id: int) -> str:
        salt, token = tokens()
        return external_url(
            "subsonic.dispatch",
            name="stream.view",
            id=track_id,
            u=username,
            t=token,
            s=salt,
            v=API_VERSION,
            c="m3u8",
        )

    return _m3u8_file(playlist.name, playlists.m3u8(playlists.entries(playlist, current_user.id), stream_url))


@bp.route("/playlists/import", methods=["GET", "POST"])
def import_m3u() -> Response | tuple[str, int] | str:
    form = ImportForm()
    if form.validate_on_submit():
        upload = request.files.get("file")
        raw = upload.stream.read(M3U_MAX_BYTES + 1) if upload else b""
        if not raw or len(raw) > M3U_MAX_BYTES:
            form.file.errors.append(_("Choose an M3U or M3U8 file of at most 2 MB."))
        else:
            playlist, result = playlists.import_m3u(current_user.id, form.name.data, raw)
            commit()
            return render_template("playlists/import_result.html", playlist=playlist, result=result)
    status = 200 if request.method == "GET" else 400
    return render_template("playlists/import.html", form=form), status


# --- favourites ----------------------------------------------------------------------------

# Starred albums shown on the favourites page; the Subsonic apps page through all of them.
STARRED_ON_PAGE = 200


@bp.get("/playlists/favourites")
def favourites() -> str:
    tracks = playlists.favourites(current_user.id)
    return render_template(
        "playlists/favourites.html",
        tracks=tracks,
        favourites={t.id for t in tracks},
        likes=likes.state(current_user.id, [t.id for t in tracks]),
        albums=stars.starred_albums(current_user.id, limit=STARRED_ON_PAGE),
        artists=stars.starred_artists(current_user.id),
    )


@bp.post("/favourites/<int:track_id>")
def toggle_favourite(track_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    user_id = current_user.id
    now = retrying(lambda: playlists.toggle_favourite(user_id, track_id))
    if wants_json():
        return jsonify({"favourite": now})
    return redirect(back_to(url_for("library.track", track_id=track_id)))
