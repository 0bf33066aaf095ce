"""Form validators that several blueprints' forms share (the account rules)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import ValidationError

from app.services.accounts import password_problems, username_problems
from app.web.messages import message


def check_username(form: FlaskForm, field: StringField) -> None:
    problems = username_problems(field.data or "")
    if problems:
        raise ValidationError(" ".join(message(p) for p in problems))


def check_password_rules(form: FlaskForm, field: PasswordField) -> None:
    problems = password_problems(field.data or "")
    if problems:
        raise ValidationError(" ".join(message(p) for p in problems))
