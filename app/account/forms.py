"""Forms on the account page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, EqualTo, InputRequired

from app.languages import LANGUAGES, time_zones
from app.web.validators import check_password_rules


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        "New password",
        validators=[InputRequired("Choose a new password."), check_password_rules],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired("Type the new password again."), EqualTo("password", "The passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired("Type your password to confirm.")],
        render_kw={"autocomplete": "current-password"},
    )


class PreferencesForm(FlaskForm):
    language = SelectField("Language")
    timezone = SelectField("Time zone")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        browsers = SelectChoice("", "The browser's")
        self.language.choices = [browsers, *(SelectChoice(code, name) for code, name in LANGUAGES.items())]
        self.timezone.choices = [browsers, *(SelectChoice(zone, zone) for zone in time_zones())]
