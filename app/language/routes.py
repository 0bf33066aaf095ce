"""The language switch in every page's footer: a cookie for visitors (no
session, so no CSRF token: a forged switch could only change a cookie), the
account's setting, CSRF-checked, for someone logged in."""

from __future__ import annotations

from flask import Blueprint, redirect
from flask_login import current_user
from werkzeug.wrappers import Response

from app.extensions import csrf
from app.language.forms import LanguageForm
from app.services import accounts
from app.unit_of_work import commit
from app.web.i18n import COOKIE_AGE, LANG_COOKIE
from app.web.redirects import safe_next

bp = Blueprint("language", __name__)


@bp.post("/language")
@csrf.exempt  # a visitor's switch only sets a cookie; an account's change is checked below
def switch() -> Response:
    form = LanguageForm(meta={"csrf": False})
    response = redirect(safe_next(form.next.data) or "/")
    if not form.validate():
        return response
    if current_user.is_authenticated:
        csrf.protect()  # changing an account's setting needs the form's token
        accounts.set_language(current_user._get_current_object(), form.lang.data)
        commit()
    response.set_cookie(LANG_COOKIE, form.lang.data, max_age=COOKIE_AGE, samesite="Lax", httponly=True)
    return response
