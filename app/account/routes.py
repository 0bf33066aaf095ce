"""The user's own account: password and deletion."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.account.forms import ChangePasswordForm, DeleteAccountForm, PreferencesForm
from app.services import accounts
from app.services.storage import get_storage
from app.unit_of_work import commit
from app.web.messages import message

bp = Blueprint("account", __name__)


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _render(
    password_form: ChangePasswordForm | None = None,
    delete_form: DeleteAccountForm | None = None,
    preferences_form: PreferencesForm | None = None,
    status: int = 200,
):
    if preferences_form is None:
        preferences_form = PreferencesForm(
            prefix="pref", language=current_user.language or "", timezone=current_user.timezone or ""
        )
    return render_template(
        "account/index.html",
        password_form=password_form or ChangePasswordForm(prefix="pw"),
        delete_form=delete_form or DeleteAccountForm(prefix="del"),
        preferences_form=preferences_form,
    ), status


@bp.get("")
def index():
    return _render()


@bp.post("/preferences")
def preferences() -> Response | tuple:
    form = PreferencesForm(prefix="pref")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        accounts.set_language(user, form.language.data or None)
        accounts.set_time_zone(user, form.timezone.data or None)
        commit()
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("account.index"))
    return _render(preferences_form=form, status=400)


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
