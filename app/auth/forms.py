"""Forms for logging in and registering."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, ValidationError

from app.services.accounts import PASSWORD_MAX, USERNAME_MAX, password_problems, username_problems
from app.web.messages import message


def check_username(form: FlaskForm, field: StringField) -> None:
    problems = username_problems(field.data or "")
    if problems:
        raise ValidationError(" ".join(message(p) for p in problems))


def check_password_rules(form: FlaskForm, field: PasswordField) -> None:
    problems = password_problems(field.data or "")
    if problems:
        raise ValidationError(" ".join(message(p) for p in problems))


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    remember = BooleanField("Remember me")


class RegisterForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[DataRequired("Choose a username."), check_username],
        render_kw={"autocomplete": "username", "maxlength": USERNAME_MAX},
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Choose a password."), check_password_rules],
        render_kw={"autocomplete": "new-password", "maxlength": PASSWORD_MAX},
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[DataRequired("Type the password again."), EqualTo("password", "The passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
