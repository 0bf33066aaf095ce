"""The admin pages: accounts, roles, quotas, upload limits per role, instance settings,
background jobs and the library check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.admin.forms import (
    ActionForm,
    CreateUserForm,
    LibraryCheckForm,
    QuotaForm,
    RegistrationForm,
    ResetPasswordForm,
    RoleForm,
    RoleLimitsForm,
)
from app.extensions import db
from app.models import Job, JobState, Role, User
from app.services import accounts, credentials, jobs
from app.services import dashboard as dashboard_service
from app.services.audio_tools import ffmpeg_info
from app.services.errors import DomainError
from app.services.library import quotas
from app.services.library.quotas import GB, MB
from app.services.storage import get_storage
from app.services.transcode import cache
from app.unit_of_work import commit, retrying
from app.web.messages import message
from app.web.params import page_arg

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def _require_admin() -> None:
    # Read from the database on every request: a demoted admin loses these
    # pages on the next click.
    if not current_user.is_admin:
        abort(403)


class FormInvalid(Exception):
    """An action's form did not validate; the text is the form's first error."""


def user_action(view: Callable[[User], str]) -> Callable[[int], Response]:
    """Run a POST action on one account: CSRF-checked form, domain errors flashed."""

    @wraps(view)
    def wrapper(user_id: int) -> Response:
        user = accounts.get_user(user_id)
        try:
            done = view(user)
        except DomainError as exc:
            db.session.rollback()
            flash(message(exc), "error")
        except FormInvalid as exc:
            flash(str(exc), "error")
        else:
            if done:
                commit()
                flash(done, "success")
        return redirect(url_for("admin.user_detail", user_id=user_id))

    return wrapper


def _form_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return _("The form was not valid.")


@bp.get("/")
def dashboard() -> str:
    """The admin area's landing page: plays and uploads over time, listeners, public top
    lists, genres, formats and bitrates, storage against the disk, failed jobs, the cache."""
    storage = get_storage()
    scale, max_age = request.args.get("by", "day"), current_app.config["DASHBOARD_CACHE_SECONDS"]
    board = retrying(lambda: dashboard_service.current(scale, max_age))
    return render_template(
        "admin/dashboard.html",
        board=board,
        scales=list(dashboard_service.SCALES),
        disk=storage.disk_space(),
        cache_bytes=cache.cache_bytes(storage),
        cache_cap_bytes=current_app.config["TRANSCODE_CACHE_MB"] * 1024 * 1024,
        job_labels=JOB_LABELS,
        kept_seconds=current_app.config["DASHBOARD_CACHE_SECONDS"],
    )


@bp.get("/users")
def users() -> str:
    page = page_arg()
    pagination = accounts.list_users(page)
    usage = accounts.usage_for([u.id for u in pagination.items])
    rows = [accounts.UserRow(u, *usage.get(u.id, (0, 0))) for u in pagination.items]
    devices = credentials.counts_for([u.id for u in pagination.items])
    registration = RegistrationForm(open=accounts.registration_open(current_app.config["ALLOW_REGISTRATION"]))
    return render_template(
        "admin/users.html", rows=rows, devices=devices, pagination=pagination, registration_form=registration
    )


@bp.post("/settings/registration")
def registration() -> Response:
    form = RegistrationForm()
    if form.validate_on_submit():
        accounts.set_registration_open(bool(form.open.data))
        commit()
        flash(_("Registration is open to everyone.") if form.open.data else _("Registration is closed."), "success")
    else:
        flash(_form_error(form), "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/new", methods=["GET", "POST"])
def create_user() -> Response | tuple:
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.username.data,
                form.password.data,
                role=Role(form.role.data),
                rounds=current_app.config["BCRYPT_ROUNDS"],
            )
        except accounts.UsernameTaken as exc:
            form.username.errors.append(message(exc))
        except DomainError as exc:
            form.password.errors.append(message(exc))
        else:
            commit()
            flash(_("Account %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    status = 200 if request.method == "GET" else 400
    return render_template("admin/user_new.html", form=form), status


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int) -> str:
    user = accounts.get_user(user_id)
    tracks, used = accounts.usage_for([user.id])[user.id]
    quota_gb = None if user.quota_bytes is None else Decimal(user.quota_bytes) / GB
    return render_template(
        "admin/user_detail.html",
        user=user,
        track_count=tracks,
        bytes_used=used,
        month_uploads=quotas.usage_of(user).month_uploads,
        devices=credentials.counts_for([user.id])[user.id],
        role_form=RoleForm(role=user.role.value),
        password_form=ResetPasswordForm(),
        quota_form=QuotaForm(quota_gb=quota_gb),
        action_form=ActionForm(),
    )


@bp.post("/users/<int:user_id>/role")
@user_action
def set_role(user: User) -> str:
    form = RoleForm()
    if not form.validate_on_submit():
        raise FormInvalid(_form_error(form))
    role = Role(form.role.data)
    accounts.set_role(user, role)
    return _("%(name)s is now %(role)s.", name=user.username, role=role.label.lower())


@bp.post("/users/<int:user_id>/disable")
@user_action
def disable(user: User) -> str:
    _require_action_form()
    accounts.set_disabled(user, True)
    return _("%(name)s is disabled and has been logged out everywhere.", name=user.username)


@bp.post("/users/<int:user_id>/enable")
@user_action
def enable(user: User) -> str:
    _require_action_form()
    accounts.set_disabled(user, False)
    return _("%(name)s can log in again.", name=user.username)


@bp.post("/users/<int:user_id>/revoke-credentials")
@user_action
def revoke_credentials(user: User) -> str:
    _require_action_form()
    count = credentials.revoke_all(user.id)
    return _("%(count)d app passwords and API keys of %(name)s are revoked.", count=count, name=user.username)


@bp.post("/users/<int:user_id>/password")
@user_action
def reset_password(user: User) -> str:
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        raise FormInvalid(_form_error(form))
    accounts.set_password(user, form.password.data, rounds=current_app.config["BCRYPT_ROUNDS"])
    return _("%(name)s's password is reset and their sessions have ended.", name=user.username)


@bp.post("/users/<int:user_id>/quota")
@user_action
def set_quota(user: User) -> str:
    form = QuotaForm()
    if not form.validate_on_submit():
        raise FormInvalid(_form_error(form))
    value = form.quota_gb.data
    accounts.set_quota(user, None if value is None else int(value * GB))
    if value is None:
        return _("%(name)s's quota is now unlimited.", name=user.username)
    return _("%(name)s's quota is now %(size)s GB.", name=user.username, size=value)


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id: int) -> Response | str:
    user = accounts.get_user(user_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            name = user.username
            accounts.delete_user(user)
        except DomainError as exc:
            db.session.rollback()
            flash(message(exc), "error")
            return redirect(url_for("admin.user_detail", user_id=user_id))
        commit()
        get_storage().delete_user(user_id)
        flash(_("Account %(name)s and everything it owned are deleted.", name=name), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_delete.html", user=user, form=form)


# --- upload limits per role ---------------------------------------------------------------


def _limits_form(role: Role) -> RoleLimitsForm:
    row = quotas.role_limits(role)

    def scaled(value: int | None, unit: int) -> Decimal | None:
        if value is None:
            return None
        shown = Decimal(value) / unit
        return shown.to_integral() if shown == shown.to_integral() else shown.normalize()

    return RoleLimitsForm(
        prefix=role.value,
        max_file_mb=scaled(row.max_file_bytes, MB),
        max_duration_minutes=scaled(row.max_duration_seconds, 60),
        monthly_uploads=row.monthly_uploads,
        storage_gb=scaled(row.storage_bytes, GB),
    )


def _limits_page(forms: dict[Role, RoleLimitsForm], status: int = 200) -> tuple[str, int]:
    return render_template("admin/limits.html", forms=forms), status


@bp.get("/limits")
def limits() -> tuple[str, int]:
    """The upload limits of each role that uploads (empty: no limit)."""
    return _limits_page({role: _limits_form(role) for role in quotas.LIMITED_ROLES})


@bp.post("/limits/<role>")
def set_limits(role: str) -> Response | tuple[str, int]:
    chosen = next((r for r in quotas.LIMITED_ROLES if r.value == role), None)
    if chosen is None:
        abort(404)
    form = RoleLimitsForm(prefix=chosen.value)
    forms = {r: form if r is chosen else _limits_form(r) for r in quotas.LIMITED_ROLES}
    if not form.validate_on_submit():
        return _limits_page(forms, 400)

    def scaled(value: Decimal | int | None, unit: int) -> int | None:
        return None if value is None else int(Decimal(value) * unit)

    try:
        quotas.set_role_limits(
            chosen,
            max_file_bytes=scaled(form.max_file_mb.data, MB),
            max_duration_seconds=scaled(form.max_duration_minutes.data, 60),
            monthly_uploads=form.monthly_uploads.data,
            storage_bytes=scaled(form.storage_gb.data, GB),
        )
    except DomainError as exc:
        db.session.rollback()
        flash(message(exc), "error")
        return _limits_page(forms, 400)
    commit()
    flash(_("The upload limits of the role %(role)s are saved.", role=chosen.label), "success")
    return redirect(url_for("admin.limits"))


def _require_action_form() -> None:
    form = ActionForm()
    if not form.validate_on_submit():
        raise FormInvalid(_form_error(form))


# --- background jobs and the library check ------------------------------------------------

JOB_LABELS = {
    jobs.MAKE_COVER: _l("Cover thumbnail"),
    jobs.ANALYSE_TRACK: _l("Loudness and waveform"),
    jobs.VERIFY_LIBRARY: _l("Library check"),
    jobs.HOURLY_CLEANUP: _l("Hourly cleanup"),
    jobs.TRIM_VARIANTS: _l("Transcoding cache trim"),
    jobs.UPDATE_RECOMMENDATIONS: _l("Recommendations update"),
    jobs.REBUILD_RECOMMENDATIONS: _l("Recommendations rebuild"),
    jobs.REBUILD_SEARCH_WORDS: _l("Search vocabulary rebuild"),
    jobs.RECOUNT_ALBUM_PLAYS: _l("Most played albums count"),
    jobs.REFRESH_MIXES: _l("For you mixes refresh"),
    jobs.REFRESH_DASHBOARD: _l("Dashboard count"),
    jobs.REFRESH_ALL_MIXES: _l("For you mixes nightly refresh"),
    jobs.PREENCODE: _l("Pre-encoding for phones"),
    jobs.PREENCODE_ALL: _l("Pre-encoding nightly catch-up"),
}


@dataclass(frozen=True)
class JobRow:
    job: Job
    label: str
    error: str | None


def _job_row(job: Job) -> JobRow:
    error = None
    if job.error_code:
        error = message(DomainError(job.error_code, **(job.error_params or {})))
    elif job.error_text:
        error = job.error_text
    return JobRow(job, JOB_LABELS.get(job.name, job.name), error)


@bp.get("/jobs")
def jobs_page() -> str:
    lists = {state: [_job_row(j) for j in jobs.jobs_in(state)] for state in JobState if state is not JobState.DONE}
    check = jobs.latest(jobs.VERIFY_LIBRARY, JobState.DONE)
    return render_template(
        "admin/jobs.html",
        lists=lists,
        done=[_job_row(j) for j in jobs.jobs_in(JobState.DONE, limit=20)],
        counts=jobs.counts(),
        check=check,
        report=check.result if check else None,
        check_waiting=jobs.latest(jobs.VERIFY_LIBRARY, JobState.QUEUED, JobState.RUNNING),
        check_form=LibraryCheckForm(),
        transcoding=_transcoding(),
    )


def _transcoding() -> dict:
    """Which ffmpeg transcodes, its encoders, the limits and the cache (as `flask doctor` says)."""
    config = current_app.config
    try:
        info, problem = ffmpeg_info(config["FFMPEG"]), None
    except DomainError as error:
        info, problem = None, message(error)
    storage = get_storage()
    return {
        "info": info,
        "problem": problem,
        "running": cache.busy_slots(storage, cache.Limits.from_config(config)),
        "max_jobs": config["TRANSCODE_MAX_JOBS"],
        "max_per_user": config["TRANSCODE_MAX_PER_USER"],
        "cache_bytes": cache.cache_bytes(storage),
        "cache_cap_bytes": config["TRANSCODE_CACHE_MB"] * 1024 * 1024,
    }


@bp.post("/jobs/<int:job_id>/retry")
def retry_job(job_id: int) -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_form_error(form), "error")
        return redirect(url_for("admin.jobs_page"))
    try:
        job = jobs.retry(job_id)
    except jobs.JobNotFailed as exc:
        db.session.rollback()
        flash(message(exc), "error")
    else:
        commit()
        flash(_("%(kind)s job %(id)s is queued again.", kind=JOB_LABELS.get(job.name, job.name), id=job.id), "success")
    return redirect(url_for("admin.jobs_page"))


@bp.post("/jobs/verify-library")
def run_library_check() -> Response:
    form = LibraryCheckForm()
    if form.validate_on_submit():
        jobs.submit(jobs.VERIFY_LIBRARY, bool(form.deep.data), bool(form.fix.data))
        commit()
        flash(_("The library check is queued; its report shows here when it is done."), "success")
    else:
        flash(_form_error(form), "error")
    return redirect(url_for("admin.jobs_page"))
