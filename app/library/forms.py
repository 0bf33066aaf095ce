"""Forms of the library pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.models import Visibility
from app.services import track_meta

TAG = [Length(max=300, message=_l("At most 300 characters."))]


# The Creative Commons licences' names are the same in every language.
NAME = {"translate": "no"}
LICENCE_CHOICES = [
    SelectChoice("all-rights-reserved", _l("All Rights Reserved")),
    SelectChoice("cc-by", "CC BY", render_kw=NAME),
    SelectChoice("cc-by-sa", "CC BY-SA", render_kw=NAME),
    SelectChoice("cc-by-nc", "CC BY-NC", render_kw=NAME),
    SelectChoice("public-domain", _l("Public Domain")),
]


def licence_name(code: str) -> str:
    return str(next((c.label for c in LICENCE_CHOICES if c.value == code), code))


def check_free_tags(form: FlaskForm, field: StringField) -> None:
    """At most 10 tags of at most 30 characters each, separated by commas."""
    try:
        track_meta.normalise_tags(track_meta.split_tags(field.data or ""))
    except track_meta.MetadataInvalid as exc:
        if exc.code == "TAG_TOO_LONG":
            raise ValidationError(_l("Each tag has at most 30 characters.")) from None
        raise ValidationError(_l("At most 10 tags.")) from None


class ArtworkForm(FlaskForm):
    # Checked by its content (services/library/artwork.py), never by its name.
    artwork = FileField(_l("Picture (JPEG, PNG or WebP)"))


class UploadForm(FlaskForm):
    files = MultipleFileField(_l("Audio files"))


class TrackForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(_l("A track needs a title.")), *TAG])
    artist = StringField(_l("Artist"), validators=[DataRequired(_l("A track needs an artist.")), *TAG])
    album = StringField(_l("Album"), validators=[DataRequired(_l("A track needs an album.")), *TAG])
    album_artist = StringField(_l("Album artist"), validators=[Optional(), *TAG])
    track_number = IntegerField(
        _l("Track number"), validators=[Optional(), NumberRange(1, 9999, _l("A number from 1 to 9999."))]
    )
    disc_number = IntegerField(
        _l("Disc number"), validators=[Optional(), NumberRange(1, 999, _l("A number from 1 to 999."))]
    )
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(1000, 2999, _l("A year such as 1999."))])
    genre = StringField(_l("Genre"), validators=[Optional(), *TAG])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=track_meta.DESCRIPTION_MAX, message=_l("At most 2,000 characters."))],
    )
    tags = StringField(_l("Free tags"), validators=[Optional(), check_free_tags])
    bpm = IntegerField(
        _l("BPM"),
        validators=[Optional(), NumberRange(track_meta.BPM_MIN, track_meta.BPM_MAX, _l("A tempo from 40 to 300 BPM."))],
    )
    musical_key = StringField(
        _l("Key"),
        validators=[Optional(), Regexp(track_meta.KEY_PATTERN, message=_l("A key such as C, F#m or Bb."))],
    )
    # A form without the field (an older page's) keeps the track's licence (see the route).
    licence = SelectField(_l("Licence"), choices=LICENCE_CHOICES, validate_choice=False)
    allow_download = BooleanField(_l("Others may download the original file (public tracks only)"))
    visibility = SelectField(
        _l("Who can see it"),
        choices=[
            SelectChoice(Visibility.PRIVATE.value, _l("Only me")),
            SelectChoice(Visibility.PUBLIC.value, _l("Everyone with an account here")),
        ],
    )


class ActionForm(FlaskForm):
    """CSRF only: delete buttons."""


class LikeForm(FlaskForm):
    """Like, dislike, or neither ("none": the undo)."""

    value = StringField(validators=[AnyOf(["like", "dislike", "none"])])


class RatingForm(FlaskForm):
    """A rating from 1 to 5 stars; 0 clears it (the same rows the Subsonic API reads)."""

    rating = IntegerField(validators=[NumberRange(min=0, max=5)])


class BulkEditForm(FlaskForm):
    """What to set on every selected track; an empty field leaves that tag as it is."""

    ids = HiddenField()
    # The list the tracks were ticked on (a path on this site), for the way back.
    next = HiddenField()
    artist = StringField(_l("Artist"), validators=[Optional(), *TAG])
    album_artist = StringField(_l("Album artist"), validators=[Optional(), *TAG])
    album = StringField(_l("Album"), validators=[Optional(), *TAG])
    genre = StringField(_l("Genre"), validators=[Optional(), *TAG])
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(1000, 2999, _l("A year such as 1999."))])
    visibility = SelectField(
        _l("Who can see them"),
        choices=[
            SelectChoice("", _l("Leave as it is")),
            SelectChoice(Visibility.PRIVATE.value, _l("Only me")),
            SelectChoice(Visibility.PUBLIC.value, _l("Everyone with an account here")),
        ],
        # Absent or empty: left as it is (the route takes only the two real values).
        validate_choice=False,
    )
    playlist = SelectField(_l("Add them to the playlist"), choices=[], validate_choice=False)
