"""The footer's language switch."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField

from app.languages import LANGUAGES


class LanguageForm(FlaskForm):
    lang = SelectField(choices=list(LANGUAGES.items()))
    next = HiddenField()
