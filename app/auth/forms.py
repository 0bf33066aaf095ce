"""Forms for logging in and registering."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired

from app.services.accounts import PASSWORD_MAX, USERNAME_MAX
from app.web.validators import check_password_rules, check_username


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
