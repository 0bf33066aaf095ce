"""Registering, logging in and out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth.forms import LoginForm, RegisterForm
from app.extensions import limiter
from app.services import accounts
from app.unit_of_work import commit
from app.web import login_limits
from app.web.messages import message
from app.web.redirects import safe_next

bp = Blueprint("auth", __name__)


def _login_ip_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def _login_username_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_USERNAME"]


def _register_limit() -> str:
    return current_app.config["REGISTER_LIMIT_PER_IP"]


def _username_key() -> str:
    return login_limits.username_key(request.form.get("username", ""))


def _failed(response: Response) -> bool:
    # Only failed logins (the form again, 400) count against a username, so a
    # real user who types the right password is never held back by their own
    # earlier typos, nor by an outage's 503s.
    return response.status_code == 400


def _start_session(user, remember: bool) -> None:
    # A fresh session at login: nothing a visitor planted survives it.
    session.clear()
    login_user(user, remember=remember)
    session.permanent = remember


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_ip_limit, methods=["POST"])
@limiter.limit(_login_username_limit, methods=["POST"], key_func=_username_key, deduct_when=_failed)
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("library.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                form.username.data, form.password.data, rounds=current_app.config["BCRYPT_ROUNDS"]
            )
        except accounts.InvalidCredentials as exc:
            form.password.errors.append(message(exc))
        else:
            commit()
            _start_session(user, bool(form.remember.data))
            return redirect(safe_next(request.args.get("next")) or url_for("library.index"))
    status = 200 if request.method == "GET" else 400
    return render_template("auth/login.html", form=form, registration=_registration_open()), status


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("library.index"))
    if not _registration_open():
        return render_template("auth/register_closed.html"), 403
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(
                form.username.data,
                form.password.data,
                registration_default=current_app.config["ALLOW_REGISTRATION"],
                rounds=current_app.config["BCRYPT_ROUNDS"],
            )
        except accounts.UsernameTaken as exc:
            form.username.errors.append(message(exc))
        except accounts.AccountError as exc:
            form.password.errors.append(message(exc))
        else:
            user.last_login_at = user.created_at
            commit()
            _start_session(user, remember=False)
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.username), "success")
            if user.is_admin:
                flash(_("As the first account, you are the administrator."), "info")
            return redirect(url_for("library.index"))
    status = 200 if request.method == "GET" else 400
    return render_template("auth/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    # Rotating the token ends this session everywhere, including copies of
    # the cookie and remember-me cookies on other devices.
    accounts.end_sessions(current_user._get_current_object())
    commit()
    session.clear()
    logout_user()  # after clear(): it leaves the flag that deletes the remember-me cookie
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


def _registration_open() -> bool:
    return accounts.user_count() == 0 or accounts.registration_open(current_app.config["ALLOW_REGISTRATION"])
