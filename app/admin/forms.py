"""Forms of the admin pages."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError

from app.models import Role
from app.web.validators import check_password_rules, check_username

ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in Role]


class ActionForm(FlaskForm):
    """A button-only form: CSRF and nothing else (disable, enable, delete)."""


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a new password.")), check_password_rules],
        render_kw={"autocomplete": "new-password"},
    )


class QuotaForm(FlaskForm):
    quota_gb = DecimalField(
        _l("Storage quota (GB, empty for unlimited)"),
        places=None,
        validators=[Optional(), NumberRange(min=0, max=1_000_000, message=_l("Give a size from 0 to 1,000,000 GB."))],
    )


class CreateUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("Choose a username.")), check_username])
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Choose a password.")), check_password_rules],
        render_kw={"autocomplete": "new-password"},
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.USER.value)


class RegistrationForm(FlaskForm):
    open = BooleanField(_l("Anyone may register"))


class LibraryCheckForm(FlaskForm):
    deep = BooleanField(_l("Also read every file and compare its sha256 (slow)"))
    fix = BooleanField(_l("Remove orphan files and stale temporary files (never tracks)"))


def _above_zero(form: FlaskForm, field: Field) -> None:
    value = field.data
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationError(_l("Give a number above zero, or leave it empty for no limit."))
    if value is not None and value <= 0:
        raise ValidationError(_l("Give a number above zero, or leave it empty for no limit."))


def _limit(label: str, top: int, too_big: str) -> DecimalField:
    return DecimalField(label, places=None, validators=[Optional(), _above_zero, NumberRange(max=top, message=too_big)])


class RoleLimitsForm(FlaskForm):
    """One role's upload limits; an empty field is no limit."""

    max_file_mb = _limit(_l("Largest file (MB)"), 1_000_000_000, _l("Give at most 1,000,000,000 MB."))
    max_duration_minutes = _limit(_l("Longest track (minutes)"), 1_000_000, _l("Give at most 1,000,000 minutes."))
    monthly_uploads = IntegerField(
        _l("Uploads per month (tracks)"),
        validators=[
            Optional(),
            _above_zero,
            NumberRange(max=1_000_000_000, message=_l("Give at most 1,000,000,000 tracks.")),
        ],
    )
    storage_gb = _limit(_l("Storage (GB)"), 1_000_000_000, _l("Give at most 1,000,000,000 GB."))
