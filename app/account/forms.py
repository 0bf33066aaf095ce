"""Forms on the account page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from app.languages import LANGUAGES, time_zones
from app.models.credential import CREDENTIAL_NAME_MAX
from app.web.validators import check_password_rules


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a new password.")), check_password_rules],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Confirm new password"),
        validators=[
            DataRequired(_l("Type the new password again.")),
            EqualTo("password", _l("The passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Type your password to confirm."))],
        render_kw={"autocomplete": "current-password"},
    )


class PreferencesForm(FlaskForm):
    language = SelectField(_l("Language"))
    timezone = SelectField(_l("Time zone"), render_kw={"translate": "no"})
    dim_disliked = BooleanField(_l("Show the tracks I disliked dimmed"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        browsers = SelectChoice("", _l("The browser's"))
        self.language.choices = [browsers, *(SelectChoice(code, name) for code, name in LANGUAGES.items())]
        self.timezone.choices = [browsers, *(SelectChoice(zone, zone) for zone in time_zones())]


def quality_choices() -> list[SelectChoice]:
    return [
        SelectChoice("original", _l("Original (as uploaded)")),
        SelectChoice("high", _l("High (MP3 320 kbit/s)")),
        SelectChoice("medium", _l("Medium (Opus 128 kbit/s, or MP3 192)")),
        SelectChoice("low", _l("Low (Opus 64 kbit/s, or MP3 96)")),
    ]


class SoundQualityForm(FlaskForm):
    web = SelectField(_l("In the web player"), choices=quality_choices())
    metered = SelectField(_l("On a metered connection"), choices=quality_choices())


# The presets' short names, as the pre-encoding progress names them.
QUALITY_NAMES = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}


class PreencodeForm(FlaskForm):
    """Pre-encoding for phones that download ahead (off by default)."""

    favourites = BooleanField(_l("Pre-encode my favourites"))
    playlists = BooleanField(_l("Pre-encode my playlists"))
    quality = SelectField(_l("At this quality"), choices=quality_choices()[1:])
    format = SelectField(
        _l("In this format"),
        choices=[
            SelectChoice("opus", _l("Opus at Medium and Low (the web player, apps that ask for Opus)")),
            SelectChoice("mp3", _l("MP3 (apps that ask for MP3, or give only a maximum bitrate)")),
        ],
    )


class CredentialForm(FlaskForm):
    """A new app password or API key: only a name, the server makes the secret."""

    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Give it a name, such as the device it is for.")),
            Length(max=CREDENTIAL_NAME_MAX, message=_l("A name may have at most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "off", "maxlength": CREDENTIAL_NAME_MAX},
    )


class RevokeForm(FlaskForm):
    """A button-only form: CSRF and nothing else."""


class AccessTokenForm(FlaskForm):
    """A new personal access token for the REST API: a name, a scope, an optional expiry."""

    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Give it a name, such as the script it is for.")),
            Length(max=CREDENTIAL_NAME_MAX, message=_l("A name may have at most %(max)d characters.")),
        ],
    )
    scope = SelectField(_l("Scope"), default="read")
    expires_in_days = SelectField(_l("Expires"), default="30")

    def __init__(self, *args: object, admin: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        scopes = [
            SelectChoice("read", _l("Read: list, search and play")),
            SelectChoice("write", _l("Write: also upload, change and delete")),
        ]
        if admin:
            scopes.append(SelectChoice("admin", _l("Admin: also manage accounts")))
        self.scope.choices = scopes
        self.expires_in_days.choices = [
            SelectChoice("", _l("Never")),
            SelectChoice("7", _l("In 7 days")),
            SelectChoice("30", _l("In 30 days")),
            SelectChoice("90", _l("In 90 days")),
            SelectChoice("365", _l("In a year")),
        ]


class HistoryImportForm(FlaskForm):
    """A listening history file: our own JSON export, or a ListenBrainz export."""

    kind = SelectField(
        _l("File from"),
        choices=[
            SelectChoice("own", _l("Music Cloud (the JSON export above)")),
            SelectChoice("listenbrainz", _l("ListenBrainz (JSON or JSON lines)")),
        ],
    )
    file = FileField(_l("History file"))


class HistoryDeleteForm(FlaskForm):
    """The local days whose listens to delete; `confirmed` is set by the confirmation step."""

    first = DateField(_l("From"), validators=[InputRequired(_l("Choose the first day."))])
    last = DateField(_l("To"), validators=[InputRequired(_l("Choose the last day."))])
    confirmed = HiddenField()

    def validate_first(self, field: DateField) -> None:
        _check_year(field)

    def validate_last(self, field: DateField) -> None:
        _check_year(field)
        if self.first.data and field.data and field.data < self.first.data:
            raise ValidationError(_l("The last day comes before the first."))


def _check_year(field: DateField) -> None:
    # Year 1 or 9999 would run past what a date can hold once turned into an instant.
    if field.data and not 1900 <= field.data.year <= 2999:
        raise ValidationError(_l("Choose a day between the years 1900 and 2999."))
