"""Forms of the library pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, MultipleFileField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.models import Visibility

TAG = [Length(max=300, message="At most 300 characters.")]


class UploadForm(FlaskForm):
    files = MultipleFileField("Audio files")


class TrackForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("A track needs a title."), *TAG])
    artist = StringField("Artist", validators=[DataRequired("A track needs an artist."), *TAG])
    album = StringField("Album", validators=[DataRequired("A track needs an album."), *TAG])
    album_artist = StringField("Album artist", validators=[Optional(), *TAG])
    track_number = IntegerField(
        "Track number", validators=[Optional(), NumberRange(1, 9999, "A number from 1 to 9999.")]
    )
    disc_number = IntegerField("Disc number", validators=[Optional(), NumberRange(1, 999, "A number from 1 to 999.")])
    year = IntegerField("Year", validators=[Optional(), NumberRange(1000, 2999, "A year such as 1999.")])
    genre = StringField("Genre", validators=[Optional(), *TAG])
    visibility = SelectField(
        "Who can see it",
        choices=[
            SelectChoice(Visibility.PRIVATE.value, "Only me"),
            SelectChoice(Visibility.PUBLIC.value, "Everyone with an account here"),
        ],
    )


class ActionForm(FlaskForm):
    """CSRF only: delete buttons."""
