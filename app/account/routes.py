"""The user's own account: preferences, password, app passwords, API keys and
access tokens, deletion."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import get_timezone, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.account.forms import (
    QUALITY_NAMES,
    AccessTokenForm,
    ChangePasswordForm,
    CredentialForm,
    DeleteAccountForm,
    HistoryDeleteForm,
    HistoryImportForm,
    PreencodeForm,
    PreferencesForm,
    RevokeForm,
    SoundQualityForm,
)
from app.models import AccessScope
from app.models.types import utcnow
from app.services import accounts, credentials, history, stats
from app.services.errors import DomainError
from app.services.storage import get_storage
from app.services.transcode import preencode
from app.unit_of_work import commit
from app.web.messages import message
from app.web.urls import external_url

bp = Blueprint("account", __name__)


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _render(
    *,
    password_form: ChangePasswordForm | None = None,
    delete_form: DeleteAccountForm | None = None,
    preferences_form: PreferencesForm | None = None,
    app_password_form: CredentialForm | None = None,
    api_key_form: CredentialForm | None = None,
    new_secret: dict[str, str] | None = None,
    sound_form: SoundQualityForm | None = None,
    preencode_form: PreencodeForm | None = None,
    status: int = 200,
):
    if preencode_form is None:
        user = current_user._get_current_object()
        preencode_form = PreencodeForm(
            prefix="pre",
            favourites=user.preencode_favourites,
            playlists=user.preencode_playlists,
            quality=preencode.default_quality(user),
            format=user.preencode_format,
        )
    if preferences_form is None:
        preferences_form = PreferencesForm(
            prefix="pref",
            language=current_user.language or "",
            timezone=current_user.timezone or "",
            dim_disliked=current_user.dim_disliked,
        )
    response = current_app.make_response(
        (
            render_template(
                "account/index.html",
                password_form=password_form or ChangePasswordForm(prefix="pw"),
                delete_form=delete_form or DeleteAccountForm(prefix="del"),
                preferences_form=preferences_form,
                app_password_form=app_password_form or CredentialForm(prefix="app"),
                api_key_form=api_key_form or CredentialForm(prefix="key"),
                app_passwords=credentials.app_passwords(current_user.id),
                api_keys=credentials.api_keys(current_user.id),
                revoke_form=RevokeForm(),
                new_secret=new_secret,
                sound_form=sound_form
                or SoundQualityForm(prefix="sound", web=current_user.quality_web, metered=current_user.quality_metered),
                preencode_form=preencode_form,
                preencode_progress=preencode.progress(get_storage(), current_user._get_current_object()),
                quality_names=QUALITY_NAMES,
            ),
            status,
        )
    )
    if new_secret:
        # The secret is on this page only: no cache may keep a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def index():
    return _render()


# The periods the stats page offers, in days (None: everything), and the chart's usual scale.
STATS_PERIODS = {"week": 7, "month": 30, "year": 365, "all": None}
DEFAULT_SCALE = {"week": "day", "month": "day", "year": "week", "all": "month"}


@bp.get("/stats")
def listening_stats() -> str:
    """Your listening: time per day, week or month, top tracks, artists, albums and genres, streaks."""
    period = request.args.get("period", "month")
    if period not in STATS_PERIODS:
        period = "month"
    scale = request.args.get("by", DEFAULT_SCALE[period])
    if scale not in stats.SCALES:
        scale = DEFAULT_SCALE[period]
    zone = get_timezone()
    figures = stats.listening_stats(current_user.id, zone, STATS_PERIODS[period])
    today = utcnow().astimezone(zone).date()
    days = STATS_PERIODS[period]
    first = today - timedelta(days=days - 1) if days else (figures.days[-1][0] if figures.days else today)
    return render_template(
        "account/stats.html",
        stats=figures,
        chart=stats.series(figures.days, scale, first, today),
        period=period,
        periods=list(STATS_PERIODS),
        scale=scale,
        scales=stats.SCALES,
        years=stats.listening_years(current_user.id, zone),
    )


@bp.get("/stats/year/<int:year>")
def year_in_review(year: int) -> str:
    """One year of your listening (local): totals, tops, busiest month and day, new artists."""
    zone = get_timezone()
    years = stats.listening_years(current_user.id, zone)
    if year not in years:
        abort(404)
    return render_template("account/year.html", review=stats.year_review(current_user.id, zone, year), years=years)


# --- your listening history: export, import, delete --------------------------------------------


def _render_history(
    *,
    import_form: HistoryImportForm | None = None,
    delete_form: HistoryDeleteForm | None = None,
    confirm: dict | None = None,
    status: int = 200,
):
    return (
        render_template(
            "account/history.html",
            import_form=import_form or HistoryImportForm(prefix="imp"),
            delete_form=delete_form or HistoryDeleteForm(prefix="del"),
            confirm=confirm,
            limit_mb=current_app.config["HISTORY_IMPORT_MAX_MB"],
            zone=str(get_timezone()),
        ),
        status,
    )


@bp.get("/history")
def listening_history():
    """Your listening history, yours to keep: export it, import one, delete a period."""
    return _render_history()


@bp.get("/history/export.<any(csv, json):kind>")
def export_history(kind: str) -> Response:
    """The whole history as a file, written as it is read (a long history never sits in memory)."""
    today = utcnow().astimezone(get_timezone()).date().isoformat()
    pieces = history.export_csv(current_user.id) if kind == "csv" else history.export_json(current_user.id)
    mimetype = "text/csv" if kind == "csv" else "application/json"
    response = Response(stream_with_context(pieces), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="listening-history-{today}.{kind}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/history/import")
def import_history():
    form = HistoryImportForm(prefix="imp")
    if form.validate_on_submit():
        limit = current_app.config["HISTORY_IMPORT_MAX_MB"] * 1_000_000
        upload = request.files.get(form.file.name)
        if upload is None or not upload.filename:
            form.file.errors.append(_("Choose a file."))
        else:
            raw = upload.stream.read(limit + 1)
            read = history.read_own if form.kind.data == "own" else history.read_listenbrainz
            try:
                result = history.import_listens(current_user.id, read(raw, limit))
            except history.HistoryFileInvalid as exc:
                form.file.errors.append(message(exc))
            else:
                commit()
                flash(
                    _(
                        "Import done: %(added)d added, %(already)d already in your history, "
                        "%(unmatched)d matched no track you can see and were left out.",
                        added=result.added,
                        already=result.already,
                        unmatched=result.unmatched,
                    ),
                    "success",
                )
                return redirect(url_for("account.listening_history"))
    return _render_history(import_form=form, status=400)


@bp.post("/history/delete")
def delete_history():
    """Two steps: the first post says how many listens the period holds, the second deletes them."""
    form = HistoryDeleteForm(prefix="del")
    if form.validate_on_submit():
        start, end = history.period(form.first.data, form.last.data, get_timezone())
        if form.confirmed.data != "yes":
            count = history.count_between(current_user.id, start, end)
            return _render_history(
                delete_form=form, confirm={"count": count, "first": form.first.data, "last": form.last.data}
            )
        deleted = history.delete_between(current_user.id, start, end)
        commit()
        flash(ngettext("%(num)d listen deleted.", "%(num)d listens deleted.", deleted), "success")
        return redirect(url_for("account.listening_history"))
    return _render_history(delete_form=form, status=400)


@bp.get("/devices")
def devices() -> str:
    """How to connect a phone or desktop app: the address, the username, an app password."""
    return render_template(
        "account/devices.html",
        server_address=external_url("library.home").rstrip("/"),
        app_password_form=CredentialForm(prefix="app"),
        app_passwords=credentials.app_passwords(current_user.id),
    )


@bp.post("/preferences")
def preferences() -> Response | tuple:
    form = PreferencesForm(prefix="pref")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        accounts.set_language(user, form.language.data or None)
        accounts.set_time_zone(user, form.timezone.data or None)
        accounts.set_dim_disliked(user, form.dim_disliked.data)
        commit()
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("account.index"))
    return _render(preferences_form=form, status=400)


@bp.post("/sound-quality")
def sound_quality() -> Response | tuple:
    form = SoundQualityForm(prefix="sound")
    if form.validate_on_submit():
        accounts.set_sound_quality(current_user._get_current_object(), form.web.data, form.metered.data)
        commit()
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("account.index"))
    return _render(sound_form=form, status=400)


@bp.post("/preencode")
def preencode_settings() -> Response | tuple:
    form = PreencodeForm(prefix="pre")
    if form.validate_on_submit():
        preencode.set_preencode(
            current_user._get_current_object(),
            favourites=form.favourites.data,
            playlists=form.playlists.data,
            quality=form.quality.data,
            fmt=form.format.data,
        )
        commit()
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("account.index") + "#preencode")
    return _render(preencode_form=form, status=400)


@bp.post("/password")
def change_password() -> Response | tuple:
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                user, form.current.data, form.password.data, rounds=current_app.config["BCRYPT_ROUNDS"]
            )
        except accounts.InvalidCredentials as exc:
            form.current.errors.append(message(exc))
        except accounts.WeakPassword as exc:
            form.password.errors.append(message(exc))
        else:
            commit()
            # Other sessions ended with the token; this one carries on with the new one.
            remember = session.permanent
            session.clear()
            login_user(user, remember=remember)
            session.permanent = remember
            flash(_("Your password is changed. Other devices have been logged out."), "success")
            return redirect(url_for("account.index"))
    return _render(password_form=form, status=400)


@bp.post("/delete")
def delete() -> Response | tuple:
    form = DeleteAccountForm(prefix="del")
    if form.validate_on_submit():
        user_id = current_user.id
        try:
            accounts.delete_own_account(current_user._get_current_object(), form.password.data)
        except accounts.InvalidCredentials as exc:
            form.password.errors.append(message(exc))
        except accounts.LastAdmin as exc:
            form.password.errors.append(message(exc) + " " + _("Make another account admin first."))
        else:
            commit()
            get_storage().delete_user(user_id)
            session.clear()
            logout_user()
            flash(_("Your account and everything in it have been deleted."), "info")
            return redirect(url_for("auth.login"))
    return _render(delete_form=form, status=400)


@bp.post("/app-passwords")
def create_app_password() -> Response:
    form = CredentialForm(prefix="app")
    if form.validate_on_submit():
        try:
            row, plain = credentials.create_app_password(current_user.id, form.name.data)
        except DomainError as exc:
            form.name.errors.append(message(exc))
        else:
            commit()
            # Shown on this response only (never flashed: the session cookie is readable).
            return _render(new_secret={"kind": "app_password", "name": row.name, "secret": plain})
    return _render(app_password_form=form, status=400)


@bp.post("/app-passwords/<int:password_id>/revoke")
def revoke_app_password(password_id: int) -> Response:
    if RevokeForm().validate_on_submit():
        credentials.revoke_app_password(current_user.id, password_id)
        commit()
        flash(_("The app password is revoked: devices using it are signed out."), "success")
    return redirect(url_for("account.index"))


@bp.post("/api-keys")
def create_api_key() -> Response:
    form = CredentialForm(prefix="key")
    if form.validate_on_submit():
        try:
            row, plain = credentials.create_api_key(current_user.id, form.name.data)
        except DomainError as exc:
            form.name.errors.append(message(exc))
        else:
            commit()
            return _render(new_secret={"kind": "api_key", "name": row.name, "secret": plain})
    return _render(api_key_form=form, status=400)


@bp.post("/api-keys/<int:key_id>/revoke")
def revoke_api_key(key_id: int) -> Response:
    if RevokeForm().validate_on_submit():
        credentials.revoke_api_key(current_user.id, key_id)
        commit()
        flash(_("The API key is revoked."), "success")
    return redirect(url_for("account.index"))


# --- personal access tokens (the REST API) ---------------------------------------------------


def _token_form() -> AccessTokenForm:
    return AccessTokenForm(prefix="token", admin=current_user.is_admin)


def _render_tokens(form: AccessTokenForm | None = None, new_token: dict[str, str] | None = None, status: int = 200):
    response = current_app.make_response(
        (
            render_template(
                "account/tokens.html",
                form=form or _token_form(),
                tokens=credentials.access_tokens(current_user.id),
                revoke_form=RevokeForm(),
                new_token=new_token,
                now=utcnow(),
            ),
            status,
        )
    )
    if new_token:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
def tokens():
    """Personal access tokens for scripts using the REST API (/api/v1)."""
    return _render_tokens()


@bp.post("/tokens")
def create_token():
    form = _token_form()
    if form.validate_on_submit():
        days = form.expires_in_days.data
        expires = utcnow() + timedelta(days=int(days)) if days else None
        try:
            row, plain = credentials.create_access_token(
                current_user, form.name.data, AccessScope(form.scope.data), expires
            )
        except DomainError as exc:
            form.name.errors.append(message(exc))
        else:
            commit()
            return _render_tokens(new_token={"name": row.name, "secret": plain})
    return _render_tokens(form, status=400)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    if RevokeForm().validate_on_submit():
        credentials.revoke_access_token(current_user.id, token_id)
        commit()
        flash(_("The token is revoked: scripts using it stop at once."), "success")
    return redirect(url_for("account.tokens"))
