"""The music library."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

bp = Blueprint("library", __name__)


@bp.get("/")
def home() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("library.index"))
    return redirect(url_for("auth.login"))


@bp.get("/library")
@login_required
def index() -> str:
    return render_template("library/index.html")
