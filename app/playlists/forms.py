"""Forms of the playlist pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, HiddenField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.models.playlist import DESCRIPTION_MAX, NAME_MAX, PlaylistVisibility
from app.web.params import MAX_ID


class PlaylistForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("A playlist needs a name.")), Length(max=NAME_MAX)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=DESCRIPTION_MAX)])


class AddForm(FlaskForm):
    """Add a track or a whole album to a playlist (or to a new one)."""

    track = HiddenField()
    album = HiddenField()
    next = HiddenField()
    playlist = SelectField(_l("Playlist"), coerce=str, validate_choice=False)
    new_name = StringField(_l("Or a new playlist named"), validators=[Optional(), Length(max=NAME_MAX)])


class MoveForm(FlaskForm):
    entry = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])
    position = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])


class EntryForm(FlaskForm):
    entry = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])


class SharingForm(FlaskForm):
    visibility = SelectField(
        _l("Who can see it"),
        choices=[
            SelectChoice(PlaylistVisibility.PRIVATE.value, _l("Only me")),
            SelectChoice(PlaylistVisibility.PUBLIC.value, _l("Everyone with an account here")),
            SelectChoice(PlaylistVisibility.LINK.value, _l("Anyone with the link (no account needed)")),
        ],
    )
    expires = DateTimeLocalField(_l("Link expires (UTC, optional)"), format="%Y-%m-%dT%H:%M", validators=[Optional()])


class ImportForm(FlaskForm):
    file = FileField(_l("M3U or M3U8 file"))
    name = StringField(
        _l("Playlist name"), validators=[DataRequired(_l("Give the new playlist a name.")), Length(max=NAME_MAX)]
    )


class PlayerExportForm(FlaskForm):
    """Export with stream URLs signed by one of the user's app passwords (choices set by the page)."""

    app_password = SelectField(_l("App password the player uses"), coerce=int, validate_choice=True)


class ActionForm(FlaskForm):
    """CSRF only."""
