"""The REST API's shapes: marshmallow schemas that validate what a client sends,
shape what it gets, and (through flask-smorest) make the OpenAPI document."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.models.library import TAG_MAX
from app.services import track_meta
from app.services.library.filtering import FORMATS, MAX_PER_PAGE, SORTS
from app.services.transcode.presets import Quality

ORDER = validate.OneOf(["asc", "desc"])
VISIBILITY = validate.OneOf(["private", "public"])
PLAYLIST_VISIBILITY = validate.OneOf(["private", "instance", "link"])
TAG = validate.Length(max=TAG_MAX)
LICENCE = validate.OneOf(track_meta.LICENCES)
BPM = validate.Range(
    min=track_meta.BPM_MIN,
    max=track_meta.BPM_MAX,
    error=f"BPM must be from {track_meta.BPM_MIN} to {track_meta.BPM_MAX}.",
)
MUSICAL_KEY = validate.Regexp(
    track_meta.KEY_PATTERN, error="A key is a note A-G, then # or b, then m for minor: C, F#m, Bb."
)
FREE_TAG = validate.Length(
    min=1, max=track_meta.TAG_LENGTH_MAX, error=f"A tag has from 1 to {track_meta.TAG_LENGTH_MAX} characters."
)


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "TRACK_NOT_FOUND"})
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class UploadLimitDetailsSchema(Schema):
    """The figures of a refused upload; which are there depends on the code."""

    limit = fields.Float(metadata={"description": "The limit hit, in its unit (bytes, seconds or tracks)"})
    value = fields.Float(metadata={"description": "The figure that went past it, in the same unit"})
    limit_bytes = fields.Integer()
    size_bytes = fields.Integer()
    used_bytes = fields.Integer()
    quota_bytes = fields.Integer()
    limit_minutes = fields.Float()
    duration_minutes = fields.Float()
    count = fields.Integer(metadata={"description": "Tracks uploaded this month"})
    restarts_on = fields.Date(metadata={"description": "When the month's count starts again (UTC)"})

    class Meta:
        # Other errors of the same status carry their own details (VALIDATION_FAILED: each field's problem).
        unknown = INCLUDE


class UploadLimitErrorBodySchema(ErrorBodySchema):
    code = fields.String(
        required=True,
        metadata={
            "example": "UPLOAD_LIMIT_MONTHLY",
            "description": "UPLOAD_LIMIT_FILE_SIZE (413), UPLOAD_LIMIT_DURATION (422), UPLOAD_LIMIT_MONTHLY (403),"
            " UPLOAD_LIMIT_STORAGE (403), QUOTA_EXCEEDED (413), FILE_TOO_LARGE (413), or another code",
        },
    )
    details = fields.Nested(
        UploadLimitDetailsSchema,
        allow_none=True,
        metadata={"description": "For the limits, the limit and the current value"},
    )


class UploadLimitErrorSchema(Schema):
    error = fields.Nested(UploadLimitErrorBodySchema, required=True)


# --- accounts and tokens --------------------------------------------------------------


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["admin", "user", "listener"]})
    created_at = fields.DateTime(required=True)


class SignInSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    scope = fields.String(load_default="write", validate=validate.OneOf(["read", "write"]))


class RegisterSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Send as Authorization: Bearer <token>."})
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    scope = fields.String(required=True)
    expires_at = fields.DateTime(allow_none=True)
    user = fields.Nested(UserSchema, required=True)


# --- tracks -------------------------------------------------------------------------------


class TrackSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    artist = fields.String(required=True)
    album = fields.String(required=True)
    album_artist = fields.String(allow_none=True)
    track_number = fields.Integer(allow_none=True)
    disc_number = fields.Integer(allow_none=True)
    year = fields.Integer(allow_none=True)
    genre = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tags = fields.List(fields.String(), required=True, metadata={"description": "free tags, as the owner spelled them"})
    bpm = fields.Integer(allow_none=True)
    key = fields.String(allow_none=True, metadata={"description": "musical key: C, F#m, Bb ..."})
    licence = fields.String(required=True, metadata={"enum": list(track_meta.LICENCES)})
    allow_download = fields.Boolean(
        required=True, metadata={"description": "others may download the original (public tracks only)"}
    )
    duration = fields.Float(required=True, metadata={"description": "seconds"})
    format = fields.String(required=True)
    codec = fields.String(required=True)
    mime_type = fields.String(required=True)
    bitrate = fields.Integer(allow_none=True)
    sample_rate = fields.Integer(allow_none=True)
    channels = fields.Integer(allow_none=True)
    size_bytes = fields.Integer(required=True)
    visibility = fields.String(required=True, validate=VISIBILITY)
    owner_id = fields.Integer(required=True)
    uploader = fields.String(allow_none=True)
    artist_id = fields.Integer(required=True)
    album_id = fields.Integer(required=True)
    mine = fields.Boolean(required=True)
    processing_status = fields.String(required=True, metadata={"enum": ["ready", "processing"]})
    artwork_uploaded = fields.Boolean(
        required=True, metadata={"description": "the cover is a picture the owner uploaded, not the file's own"}
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class TrackStatsSchema(Schema):
    plays = fields.Integer(required=True)
    your_plays = fields.Integer(required=True)
    likes = fields.Integer(required=True)


class RelatedTrackSchema(TrackSchema):
    why = fields.String(required=True, metadata={"description": 'why it is suggested: "same genre and era", ...'})


class TrackDetailSchema(TrackSchema):
    stats = fields.Nested(TrackStatsSchema)
    related = fields.List(
        fields.Nested(RelatedTrackSchema),
        metadata={"description": "similar tracks you may see (co-listening and content), best first"},
    )


class TrackQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    order = fields.String(validate=ORDER, metadata={"description": "asc or desc (desc for dates and counts)"})
    artist = fields.String(validate=TAG, metadata={"description": "exact artist name, any case or accents"})
    album = fields.String(validate=TAG)
    genre = fields.String(validate=TAG)
    tags = fields.List(
        fields.String(validate=validate.Length(max=TAG_MAX)),
        validate=validate.Length(max=track_meta.TAGS_MAX),
        metadata={"description": "free tags the tracks all have (repeat the parameter), any case or accents"},
    )
    bpm_min = fields.Integer(validate=validate.Range(min=0, max=1000))
    bpm_max = fields.Integer(validate=validate.Range(min=0, max=1000))
    key = fields.String(validate=MUSICAL_KEY, metadata={"description": "musical key: C, F#m, Bb ..."})
    min_duration = fields.Float(validate=validate.Range(min=0, max=1e7), metadata={"description": "seconds"})
    max_duration = fields.Float(validate=validate.Range(min=0, max=1e7))
    format = fields.String(validate=validate.OneOf(FORMATS))
    uploader = fields.String(validate=validate.Length(max=64), metadata={"description": "username"})
    search = fields.String(validate=validate.Length(max=200))
    mine = fields.Boolean(load_default=False)


class TrackGetQuerySchema(Schema):
    include = fields.String(
        validate=validate.Regexp(r"^((stats|related)(,(stats|related))?)?$"),
        metadata={
            "description": "stats (play and like counts), related (similar tracks you may see, "
            "with why), or both: stats,related"
        },
    )


class MetaSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)
    has_next = fields.Boolean(required=True)
    has_prev = fields.Boolean(required=True)
    sort = fields.String()
    order = fields.String()
    filters = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)


class TrackListSchema(Schema):
    data = fields.List(fields.Nested(TrackSchema), required=True)
    meta = fields.Nested(MetaSchema, required=True)


class TrackUpdateSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=TAG_MAX))
    artist = fields.String(validate=validate.Length(min=1, max=TAG_MAX))
    album = fields.String(validate=validate.Length(min=1, max=TAG_MAX))
    album_artist = fields.String(allow_none=True, validate=TAG)
    genre = fields.String(allow_none=True, validate=TAG)
    track_number = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=9999))
    disc_number = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=999))
    year = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=9999))
    visibility = fields.String(validate=VISIBILITY)
    description = fields.String(
        allow_none=True,
        validate=validate.Length(
            max=track_meta.DESCRIPTION_MAX,
            error=f"A description has at most {track_meta.DESCRIPTION_MAX:,} characters.",
        ),
    )
    tags = fields.List(
        fields.String(validate=FREE_TAG),
        allow_none=True,
        validate=validate.Length(max=track_meta.TAGS_MAX, error=f"At most {track_meta.TAGS_MAX} tags."),
    )
    bpm = fields.Integer(allow_none=True, validate=BPM)
    key = fields.String(allow_none=True, validate=MUSICAL_KEY)
    licence = fields.String(validate=LICENCE)
    allow_download = fields.Boolean()


class ChangeSchema(Schema):
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


class TrackUpdateResultSchema(Schema):
    track = fields.Nested(TrackSchema, required=True)
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(ChangeSchema), required=True)


ARTWORK_PART = {
    "type": "string",
    "format": "binary",
    "description": "a cover picture: a whole JPEG, PNG or WebP image, at most ARTWORK_MAX_MB (10 MB unless set) "
    "and 36 megapixels; anything else is refused (ARTWORK_INVALID, ARTWORK_TOO_LARGE, ARTWORK_TOO_MANY_PIXELS)",
}


class UploadSchema(Schema):
    """POST /tracks: a multipart/form-data body."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary", "description": "the audio file"})
    artwork = fields.Raw(metadata=ARTWORK_PART)
    metadata = fields.String(
        validate=validate.Length(max=10_000),
        metadata={"description": "JSON object with the fields of a track update; it wins over the file's tags"},
    )


class ArtworkFileSchema(Schema):
    artwork = fields.Raw(required=True, metadata=ARTWORK_PART)


class TrackResultSchema(Schema):
    track = fields.Nested(TrackSchema, required=True)


class AlbumArtworkResultSchema(Schema):
    album_id = fields.Integer(required=True)
    track_ids = fields.List(
        fields.Integer(), required=True, metadata={"description": "your tracks of the album whose cover changed"}
    )


class UploadResultSchema(Schema):
    track = fields.Nested(TrackSchema, required=True)
    processing_status = fields.String(required=True)


class StreamUrlQuerySchema(Schema):
    quality = fields.String(
        load_default="original",
        validate=validate.OneOf([quality.value for quality in Quality]),
        metadata={"description": "original, or a transcoded quality (high, medium, low)"},
    )
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(["opus", "mp3"]),
        metadata={"description": "mp3 for players without Opus (medium and low)"},
    )


class StreamUrlSchema(Schema):
    url = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


# --- albums, artists, genres ----------------------------------------------------------------


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class AlbumSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    artist_id = fields.Integer(required=True)
    artist = fields.String(required=True)
    track_count = fields.Integer(required=True)
    duration = fields.Float(required=True)
    year = fields.Integer(allow_none=True)


class AlbumDetailSchema(AlbumSchema):
    tracks = fields.List(fields.Nested(TrackSchema), required=True)


class PageMetaSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)
    has_next = fields.Boolean(required=True)
    has_prev = fields.Boolean(required=True)


class AlbumListSchema(Schema):
    data = fields.List(fields.Nested(AlbumSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


class ArtistSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    track_count = fields.Integer(required=True)
    album_count = fields.Integer(required=True)


class ArtistListSchema(Schema):
    data = fields.List(fields.Nested(ArtistSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


class ArtistDetailSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    albums = fields.List(fields.Nested(AlbumSchema), required=True)
    tracks = fields.List(fields.Nested(TrackSchema), required=True)


class GenreSchema(Schema):
    name = fields.String(required=True)
    track_count = fields.Integer(required=True)
    album_count = fields.Integer(required=True)


class GenreListSchema(Schema):
    data = fields.List(fields.Nested(GenreSchema), required=True)


class GenreDetailSchema(Schema):
    name = fields.String(required=True)
    tracks = fields.List(fields.Nested(TrackSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


class AlbumQuerySchema(PageQuerySchema):
    search = fields.String(validate=validate.Length(max=200), metadata={"description": "words of the title or artist"})


# --- search -----------------------------------------------------------------------------------


class SearchQuerySchema(Schema):
    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "words to find in title, artist, album, album artist or genre; any case or accents; "
            "a word of five letters or more forgives one typo"
        },
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    genre = fields.String(validate=TAG, metadata={"description": "a genre facet's value"})
    artist_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "an artist facet's value"}
    )
    album_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    format = fields.String(validate=validate.OneOf(FORMATS), metadata={"description": "a format facet's value"})
    decade = fields.Integer(
        validate=validate.Range(min=0, max=9990), metadata={"description": "a decade facet's value: 1990 for 1990-1999"}
    )


class HighlightSchema(Schema):
    title = fields.String(required=True)
    artist = fields.String(required=True)
    album = fields.String(required=True)
    album_artist = fields.String(required=True)
    genre = fields.String(required=True)
    tags = fields.String(required=True, metadata={"description": "the free tags, joined by commas"})
    description = fields.String(required=True)


class SearchHitSchema(TrackSchema):
    score = fields.Integer(required=True, metadata={"description": "higher ranks first"})
    highlight = fields.Nested(
        HighlightSchema,
        required=True,
        metadata={"description": "each tag as escaped HTML, the matched parts in <mark>"},
    )


class FacetValueSchema(Schema):
    value = fields.Raw(
        required=True, metadata={"description": "the filter's value (a genre, artist_id, format or decade)"}
    )
    label = fields.String(required=True)
    count = fields.Integer(required=True)


class FacetsSchema(Schema):
    genre = fields.List(fields.Nested(FacetValueSchema), required=True)
    artist = fields.List(fields.Nested(FacetValueSchema), required=True)
    format = fields.List(fields.Nested(FacetValueSchema), required=True)
    decade = fields.List(fields.Nested(FacetValueSchema), required=True)


class SearchMetaSchema(PageMetaSchema):
    q = fields.String(required=True)
    terms = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "each word of the query and the words it was taken to mean (typos forgiven)"},
    )
    filters = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)


class SearchResultSchema(Schema):
    data = fields.List(fields.Nested(SearchHitSchema), required=True)
    facets = fields.Nested(FacetsSchema, required=True)
    meta = fields.Nested(SearchMetaSchema, required=True)


# --- playlists ---------------------------------------------------------------------------------


class PlaylistSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    visibility = fields.String(required=True, validate=PLAYLIST_VISIBILITY)
    owner_id = fields.Integer(required=True)
    owner = fields.String(required=True)
    mine = fields.Boolean(required=True)
    track_count = fields.Integer(required=True)
    duration = fields.Float(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class PlaylistEntrySchema(Schema):
    entry_id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    track = fields.Nested(TrackSchema, required=True)


class PlaylistDetailSchema(PlaylistSchema):
    entries = fields.List(fields.Nested(PlaylistEntrySchema), required=True)
    share_url = fields.String(allow_none=True, metadata={"description": "for link-visible playlists, to their owner"})


class PlaylistListSchema(Schema):
    data = fields.List(fields.Nested(PlaylistSchema), required=True)


class PlaylistQuerySchema(Schema):
    owner = fields.String(
        validate=validate.Length(max=64), metadata={"description": "a username: that account's playlists you see"}
    )
    search = fields.String(validate=validate.Length(max=200), metadata={"description": "words of the name"})
    mine = fields.Boolean(load_default=False)


class PlaylistCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    visibility = fields.String(load_default="private", validate=PLAYLIST_VISIBILITY)


class PlaylistUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=2000))
    visibility = fields.String(validate=PLAYLIST_VISIBILITY)


class PlaylistAddSchema(Schema):
    track_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class PlaylistMoveSchema(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000))


# --- plays ---------------------------------------------------------------------------------------


class PlayCreateSchema(Schema):
    track_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class PlaySchema(Schema):
    id = fields.Integer(required=True)
    played_at = fields.DateTime(required=True)
    track = fields.Nested(TrackSchema, required=True)


class PlayListSchema(Schema):
    data = fields.List(fields.Nested(PlaySchema), required=True)


class RecentQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class PlayRecordedSchema(Schema):
    id = fields.Integer(required=True)
    track_id = fields.Integer(required=True)
    play_count = fields.Integer(required=True, metadata={"description": "your plays of this track"})


class CountedTrackSchema(Schema):
    track = fields.Nested(TrackSchema, required=True)
    plays = fields.Integer(required=True)


class CountedArtistSchema(Schema):
    artist = fields.String(required=True)
    plays = fields.Integer(required=True)


class PlayStatsSchema(Schema):
    plays = fields.Integer(required=True)
    seconds = fields.Float(required=True)
    distinct_tracks = fields.Integer(required=True)
    top_tracks = fields.List(fields.Nested(CountedTrackSchema), required=True)
    top_artists = fields.List(fields.Nested(CountedArtistSchema), required=True)


class LikeSchema(Schema):
    track_id = fields.Integer(required=True)
    liked = fields.Boolean(required=True)
    state = fields.String(
        required=True,
        validate=validate.OneOf(["like", "dislike", "none"]),
        metadata={"description": "like, dislike or none (the same as the pages' thumbs)"},
    )


# --- admin ---------------------------------------------------------------------------------------


class AdminUserSchema(UserSchema):
    disabled = fields.Boolean(required=True)
    quota_bytes = fields.Integer(allow_none=True)
    track_count = fields.Integer(required=True)
    bytes_used = fields.Integer(required=True)
    last_login_at = fields.DateTime(allow_none=True)


class AdminUserListSchema(Schema):
    data = fields.List(fields.Nested(AdminUserSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


def _limit(most: int, description: str, *, required: bool = False) -> fields.Integer:
    # The admin page's own bounds (app/admin/forms.py RoleLimitsForm), in the API's units.
    return fields.Integer(
        required=required,
        allow_none=True,
        validate=validate.Range(min=1, max=most),
        metadata={"description": description},
    )


_LIMITS = {
    "max_file_bytes": (10**15, "largest file, in bytes (at most 10^15); null for no limit"),
    "max_duration_seconds": (60_000_000, "longest track, in seconds (at most 60,000,000); null for no limit"),
    "monthly_uploads": (10**9, "tracks an account may add per calendar month (at most 10^9); null for no limit"),
    "storage_bytes": (10**18, "room each account of the role may use, in bytes (at most 10^18); null for no limit"),
}


class RoleLimitsUpdateSchema(Schema):
    """A role's upload limits: the fields given change (null: no limit), the others stay."""

    max_file_bytes = _limit(*_LIMITS["max_file_bytes"])
    max_duration_seconds = _limit(*_LIMITS["max_duration_seconds"])
    monthly_uploads = _limit(*_LIMITS["monthly_uploads"])
    storage_bytes = _limit(*_LIMITS["storage_bytes"])


class RoleLimitsSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(["admin", "user"]))
    max_file_bytes = _limit(*_LIMITS["max_file_bytes"], required=True)
    max_duration_seconds = _limit(*_LIMITS["max_duration_seconds"], required=True)
    monthly_uploads = _limit(*_LIMITS["monthly_uploads"], required=True)
    storage_bytes = _limit(*_LIMITS["storage_bytes"], required=True)


class RoleLimitsListSchema(Schema):
    data = fields.List(fields.Nested(RoleLimitsSchema), required=True)


class AdminUserUpdateSchema(Schema):
    role = fields.String(validate=validate.OneOf(["admin", "user", "listener"]))
    disabled = fields.Boolean()
    quota_bytes = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=2**62),
        metadata={"description": "storage quota in bytes; null for none"},
    )
