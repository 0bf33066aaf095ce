"""The Subsonic and OpenSubsonic API: /rest/<method> and /rest/<method>.view,
by GET or form POST, answering XML by default and JSON with f=json.

Every method is a small function registered in METHODS; `dispatch` checks the
credentials (app passwords and API keys, app/subsonic/auth.py), runs it,
commits once, and turns every refusal into the Subsonic error envelope with
HTTP 200, as clients expect. The queries and access rules are the pages'
services: another account's private track is error 70, as it is a 404 there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from app.extensions import csrf, db
from app.models import JobState, Playlist, PlaylistVisibility, Role, Track, User
from app.models.types import utcnow
from app.ops.metrics import ENDPOINT
from app.services import accounts, jobs, listening, play_queue, playlists, recommend, stars
from app.services.errors import DomainError, Forbidden, NotFound
from app.services.library import access, browse, lists, lyrics
from app.services.storage import get_storage
from app.services.tags import Lyrics, pool_for
from app.services.transcode.cache import TranscodeBusy
from app.services.transcode.presets import preset_for_bitrate
from app.streaming.files import MissingFile, StoreUnavailable, limit_stalls
from app.streaming.ranges import starts_playing
from app.streaming.transcoded import send_variant
from app.subsonic import objects
from app.subsonic.auth import authenticate, decode_password
from app.subsonic.responses import (
    GENERIC,
    MISSING_PARAMETER,
    NOT_AUTHORIZED,
    NOT_FOUND,
    SubsonicError,
    render,
    render_error,
)
from app.unit_of_work import retrying
from app.web.messages import message
from app.web.params import parse_id
from app.web.sending import send_cover, send_track
from app.web.urls import external_url

bp = Blueprint("subsonic", __name__)
# Apps send credentials with every request and hold no session: no CSRF token to check.
csrf.exempt(bp)

Handler = Callable[[User | None], "dict[str, Any] | Response | None"]
METHODS: dict[str, tuple[Handler, bool]] = {}
_NUMBER = re.compile(r"-?[0-9]{1,12}")


def method(name: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    def register(view: Handler) -> Handler:
        METHODS[name] = (view, auth)
        return view

    return register


def _format() -> str:
    fmt = request.values.get("f", "xml")
    if fmt == "jsonp":
        raise SubsonicError(GENERIC, "JSONP is not supported: ask for f=json (or XML, the default).")
    return "json" if fmt == "json" else "xml"


@bp.route("/<string:name>", methods=["GET", "POST"])
def dispatch(name: str) -> Response:
    name = name.removesuffix(".view")
    try:
        fmt = _format()
    except SubsonicError as error:
        return render_error(error, "json")
    try:
        entry = METHODS.get(name)
        if entry is None:
            raise SubsonicError(NOT_FOUND, f"Unknown API method: {name[:64]}.")
        request.environ[ENDPOINT] = f"subsonic.{name}"  # each method its own latency (known names only)
        view, needs_auth = entry
        user = authenticate(request.values) if needs_auth else None
        # The whole method runs again when the database asks (two devices starring
        # the same album at once); nothing outside the database has happened yet.
        result = retrying(lambda: view(user))
    except HTTPException as exc:
        if not isinstance(exc, MissingFile | StoreUnavailable):
            raise
        return _failed(name, exc, fmt)
    except Exception as exc:  # noqa: BLE001 - every failure is answered in the API's own envelope
        return _failed(name, exc, fmt)
    if isinstance(result, WerkzeugResponse):
        limit_stalls(request.environ, current_app.config["SEND_TIMEOUT"])
        return result
    return render(result, fmt)


def _failed(name: str, exc: Exception, fmt: str) -> Response:
    """The Subsonic error for what went wrong; nothing of the request is kept
    (a failed sign-in's counters live in the rate-limit storage, not here)."""
    db.session.rollback()
    if isinstance(exc, SubsonicError):
        error = exc
    elif isinstance(exc, NotFound | MissingFile):
        error = SubsonicError(NOT_FOUND, "The requested data was not found.")
    elif isinstance(exc, StoreUnavailable):
        error = SubsonicError(GENERIC, str(exc.detail))
    elif isinstance(exc, Forbidden):
        error = SubsonicError(NOT_AUTHORIZED, message(exc))
    elif isinstance(exc, DomainError):
        error = SubsonicError(GENERIC, message(exc))
    else:
        current_app.logger.exception("Subsonic method %s failed", name[:64])
        error = SubsonicError(GENERIC, "The server could not answer that request.")
    return render_error(error, fmt)


# --- parameters ---------------------------------------------------------------------------------


def text(name: str, default: str | None = None) -> str | None:
    value = request.values.get(name)
    return default if value is None else value


def required(name: str) -> str:
    value = request.values.get(name)
    if value is None or value == "":
        raise SubsonicError(MISSING_PARAMETER, f"Required parameter is missing: {name}.")
    return value


def number(name: str, default: int | None = None, *, low: int = 0, high: int = 2**31 - 1) -> int | None:
    raw = request.values.get(name)
    if raw is None or raw == "":
        return default
    if not _NUMBER.fullmatch(raw.strip()):
        raise SubsonicError(GENERIC, f"Parameter {name[:32]} is not a number.")
    return max(low, min(int(raw), high))


def flag(name: str, default: bool) -> bool:
    raw = request.values.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("true", "1", "yes")


def _kind_id(raw: str, *kinds: str) -> tuple[str, int]:
    parsed = objects.parse_kind(raw)
    if parsed is None or parsed[0] not in kinds:
        raise NotFound
    return parsed


def track_id(raw: str) -> int:
    return _kind_id(raw, "track")[1]


def playlist_id(raw: str) -> int:
    ident = parse_id(raw)
    if ident is None:
        raise NotFound
    return ident


def _albums(user: User, summaries: list[browse.AlbumSummary], *, as_directory: bool = False) -> list[dict[str, Any]]:
    ids = [a.id for a in summaries]
    starred, rated = stars.album_star_times(user.id, ids), stars.ratings(user.id, "album", ids)
    shape = objects.album_as_directory if as_directory else objects.album
    return [shape(a, starred, rated) for a in summaries]


def _artists(
    user: User, summaries: list[browse.ArtistSummary] | list[lists.IndexArtist], *, whole_index: bool = False
) -> list[dict[str, Any]]:
    # For the whole index, the user's few stars and ratings cost less than thousands of ids in a query.
    ids = None if whole_index else [a.id for a in summaries]
    starred, rated = stars.artist_star_times(user.id, ids), stars.ratings(user.id, "artist", ids)
    return [objects.artist(a, starred, rated) for a in summaries]


def _songs(user: User, tracks: list[Track]) -> list[dict[str, Any]]:
    ids = [t.id for t in tracks]
    starred, rated = playlists.favourite_times(user.id, ids), stars.ratings(user.id, "track", ids)
    return [objects.song(t, starred, rated) for t in tracks]


# --- system -------------------------------------------------------------------------------------


@method("ping")
def ping(user: User | None) -> None:
    return None


@method("getLicense")
def get_license(user: User | None) -> dict[str, Any]:
    return {"license": {"valid": True}}


EXTENSIONS = [
    {"name": "apiKeyAuthentication", "versions": [1]},
    {"name": "formPost", "versions": [1]},
    {"name": "indexBasedQueue", "versions": [1]},
    {"name": "songLyrics", "versions": [1]},
    # stream's timeOffset starts a transcoded copy where the app asks (see transcoding).
    {"name": "transcodeOffset", "versions": [1]},
]


@method("getOpenSubsonicExtensions", auth=False)
def get_extensions(user: User | None) -> dict[str, Any]:
    return {"openSubsonicExtensions": EXTENSIONS}


@method("tokenInfo")
def token_info(user: User) -> dict[str, Any]:
    return {"tokenInfo": {"username": user.username}}


@method("getUser")
def get_user(user: User) -> dict[str, Any]:
    wanted = text("username") or user.username
    if wanted.casefold() != user.username.casefold():
        if not user.is_admin:
            raise SubsonicError(NOT_AUTHORIZED, "Only an admin may see another account.")
        other = accounts.find_by_username(wanted)
        if other is None:
            raise NotFound
        return {"user": objects.user(other)}
    return {"user": objects.user(user)}


# --- accounts, for admins ---------------------------------------


def _admin(user: User) -> None:
    if not user.is_admin:
        raise SubsonicError(NOT_AUTHORIZED, "Only an admin may do that.")


def _account(username: str) -> User:
    other = accounts.find_by_username(username)
    if other is None:
        raise NotFound
    return other


def _new_password() -> str:
    password = decode_password(required("password"))
    if password is None:
        raise SubsonicError(GENERIC, "The password is not valid hex after enc:.")
    return password


def _role(current: Role | None) -> Role | None:
    """The role adminRole and uploadRole ask for (None: neither given, keep `current`).
    Our roles: an admin, a user (uploads), a listener (plays only)."""
    admin, upload = text("adminRole"), text("uploadRole")
    if admin is None and upload is None:
        return current
    is_admin = flag("adminRole", current == Role.ADMIN)
    can_upload = flag("uploadRole", current in (Role.ADMIN, Role.USER))
    return Role.ADMIN if is_admin else Role.USER if can_upload else Role.LISTENER


@method("getUsers")
def get_users(user: User) -> dict[str, Any]:
    _admin(user)
    return {"users": {"user": [objects.user(account) for account in accounts.all_users()]}}


@method("createUser")
def create_user(user: User) -> None:
    _admin(user)
    username, password = required("username"), _new_password()
    role = _role(None) or Role.LISTENER
    accounts.create_user(username, password, role=role, rounds=current_app.config["BCRYPT_ROUNDS"])


@method("updateUser")
def update_user(user: User) -> None:
    _admin(user)
    account = _account(required("username"))
    if text("password"):
        accounts.set_password(account, _new_password(), rounds=current_app.config["BCRYPT_ROUNDS"])
    role = _role(account.role)
    if role is not None and role != account.role:
        accounts.set_role(account, role)


@method("deleteUser")
def delete_user(user: User) -> None:
    _admin(user)
    accounts.delete_user(_account(required("username")))


@method("changePassword")
def change_password(user: User) -> None:
    """An admin sets another account's web password (Subsonic's meaning), with
    the web form's rules. Never one's own: a device's credential must not be
    able to take the account over (a stolen phone would lock its owner out),
    so one's own password changes on the account page, behind the old one."""
    username = required("username")
    if username.casefold() == user.username.casefold():
        raise SubsonicError(
            NOT_AUTHORIZED, "Change your own password on the account page: an app password cannot change it."
        )
    _admin(user)
    account = _account(username)
    accounts.set_password(account, _new_password(), rounds=current_app.config["BCRYPT_ROUNDS"])


@method("getMusicFolders")
def get_music_folders(user: User) -> dict[str, Any]:
    return {"musicFolders": {"musicFolder": [{"id": objects.FOLDER_ID, "name": objects.FOLDER_NAME}]}}


# A scan is our library check (the one /admin/jobs runs): it compares the rows
# with the stored files; uploads are added to the library as they arrive.


def _scan_status(user: User, *, scanning: bool | None = None) -> dict[str, Any]:
    if scanning is None:
        scanning = jobs.latest(jobs.VERIFY_LIBRARY, JobState.QUEUED, JobState.RUNNING) is not None
    return {"scanStatus": {"scanning": scanning, "count": browse.visible_count(user.id)}}


@method("getScanStatus")
def get_scan_status(user: User) -> dict[str, Any]:
    return _scan_status(user)


@method("startScan")
def start_scan(user: User) -> dict[str, Any]:
    _admin(user)
    if jobs.latest(jobs.VERIFY_LIBRARY, JobState.QUEUED, JobState.RUNNING) is None:
        jobs.submit(jobs.VERIFY_LIBRARY, False, False)
    return _scan_status(user, scanning=True)


# --- browsing by tags ---------------------------------------------------------------------------

IGNORED_ARTICLES = "The El La Los Las Le Les"


def _index_letter(name: str) -> str:
    for article in IGNORED_ARTICLES.split():
        if name.lower().startswith(article.lower() + " "):
            name = name[len(article) + 1 :]
            break
    first = name.strip()[:1].upper()
    return first if first.isalpha() else "#"


@method("getArtists")
def get_artists(user: User) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    everyone = lists.album_artists(user.id)
    for summary, data in zip(everyone, _artists(user, everyone, whole_index=True), strict=True):
        groups.setdefault(_index_letter(summary.name), []).append(data)
    index = [{"name": letter, "artist": groups[letter]} for letter in sorted(groups)]
    return {"artists": {"ignoredArticles": IGNORED_ARTICLES, "index": index}}


@method("getIndexes")
def get_indexes(user: User) -> dict[str, Any]:
    """The folder view's top level: one virtual folder per artist."""
    groups: dict[str, list[dict[str, Any]]] = {}
    everyone = lists.album_artists(user.id)
    for summary, data in zip(everyone, _artists(user, everyone, whole_index=True), strict=True):
        entry = {"id": data["id"], "name": data["name"], "starred": data["starred"]}
        groups.setdefault(_index_letter(summary.name), []).append(entry)
    index = [{"name": letter, "artist": groups[letter]} for letter in sorted(groups)]
    changed = lists.last_change(user.id)
    modified = int(changed.timestamp() * 1000) if changed else 0
    return {"indexes": {"ignoredArticles": IGNORED_ARTICLES, "lastModified": modified, "index": index}}


@method("getMusicDirectory")
def get_music_directory(user: User) -> dict[str, Any]:
    """An artist's virtual folder holds its albums; an album's holds its songs."""
    kind, ident = _kind_id(required("id"), "artist", "album")
    if kind == "artist":
        row, albums, _count = browse.get_artist(user.id, ident)
        directory = {
            "id": objects.artist_id(row.id),
            "name": row.name,
            "starred": objects.iso(stars.artist_star_times(user.id, [row.id]).get(row.id)),
            "child": _albums(user, albums, as_directory=True),
        }
    else:
        summary, tracks = browse.get_album(user.id, ident)
        directory = {
            "id": objects.album_id(summary.id),
            "parent": objects.artist_id(summary.artist_id),
            "name": summary.title,
            "starred": objects.iso(stars.album_star_times(user.id, [summary.id]).get(summary.id)),
            "child": _songs(user, tracks),
        }
    return {"directory": directory}


@method("getArtist")
def get_artist(user: User) -> dict[str, Any]:
    _kind, artist = _kind_id(required("id"), "artist")
    row, albums, _count = browse.get_artist(user.id, artist)
    data = {
        "id": objects.artist_id(row.id),
        "name": row.name,
        "coverArt": objects.artist_id(row.id),
        "albumCount": len(albums),
        "starred": objects.iso(stars.artist_star_times(user.id, [row.id]).get(row.id)),
        "album": _albums(user, albums),
    }
    return {"artist": data}


@method("getAlbum")
def get_album(user: User) -> dict[str, Any]:
    _kind, album = _kind_id(required("id"), "album")
    summary, tracks = browse.get_album(user.id, album)
    return {"album": {**_albums(user, [summary])[0], "song": _songs(user, tracks)}}


@method("getSong")
def get_song(user: User) -> dict[str, Any]:
    track = access.get_visible_track(user.id, track_id(required("id")))
    return {"song": _songs(user, [track])[0]}


def _album_list(user: User) -> list[browse.AlbumSummary]:
    kind = required("type")
    if kind not in lists.ALBUM_LIST_TYPES:
        raise SubsonicError(GENERIC, f"Unknown album list type: {kind[:32]}.")
    if kind == "byGenre":
        required("genre")
    if kind == "byYear":
        required("fromYear")
        required("toYear")
    if kind == "highest":
        return stars.highest_rated_albums(
            user.id, number("size", 10, high=lists.MAX_SIZE), number("offset", 0, high=lists.MAX_OFFSET)
        )
    if kind == "starred":
        return stars.starred_albums(
            user.id, number("size", 10, high=lists.MAX_SIZE), number("offset", 0, high=lists.MAX_OFFSET)
        )
    return lists.album_list(
        user.id,
        kind,
        number("size", 10, high=lists.MAX_SIZE),
        number("offset", 0, high=lists.MAX_OFFSET),
        from_year=number("fromYear", low=-9999, high=9999),
        to_year=number("toYear", low=-9999, high=9999),
        genre=text("genre"),
    )


@method("getAlbumList2")
def get_album_list2(user: User) -> dict[str, Any]:
    return {"albumList2": {"album": _albums(user, _album_list(user))}}


@method("getAlbumList")
def get_album_list(user: User) -> dict[str, Any]:
    return {"albumList": {"album": _albums(user, _album_list(user), as_directory=True)}}


@method("getGenres")
def get_genres(user: User) -> dict[str, Any]:
    genres = [
        {"songCount": g_.song_count, "albumCount": g_.album_count, "value": g_.name}
        for g_ in lists.genre_counts(user.id)
    ]
    return {"genres": {"genre": genres}}


@method("getSongsByGenre")
def get_songs_by_genre(user: User) -> dict[str, Any]:
    tracks = lists.songs_by_genre(
        user.id, required("genre"), number("count", 10, high=lists.MAX_SIZE), number("offset", 0)
    )
    return {"songsByGenre": {"song": _songs(user, tracks)}}


@method("getRandomSongs")
def get_random_songs(user: User) -> dict[str, Any]:
    tracks = lists.random_songs(
        user.id,
        number("size", 10, high=lists.MAX_SIZE),
        genre=text("genre") or None,
        from_year=number("fromYear", low=-9999, high=9999),
        to_year=number("toYear", low=-9999, high=9999),
    )
    return {"randomSongs": {"song": _songs(user, tracks)}}


# --- about artists, albums and songs, from our own data ---------------------------------------


def _artist_info(user: User) -> dict[str, Any]:
    # No outside source is asked: a valid answer with what we know (nothing to add yet).
    _kind, ident = _kind_id(required("id"), "artist")
    browse.get_artist(user.id, ident)
    return {}


@method("getArtistInfo2")
def get_artist_info2(user: User) -> dict[str, Any]:
    return {"artistInfo2": _artist_info(user)}


@method("getArtistInfo")
def get_artist_info(user: User) -> dict[str, Any]:
    return {"artistInfo": _artist_info(user)}


def _album_info(user: User) -> dict[str, Any]:
    _kind, ident = _kind_id(required("id"), "album")
    browse.get_album(user.id, ident)
    return {}


@method("getAlbumInfo2")
def get_album_info2(user: User) -> dict[str, Any]:
    return {"albumInfo": _album_info(user)}


@method("getAlbumInfo")
def get_album_info(user: User) -> dict[str, Any]:
    return {"albumInfo": _album_info(user)}


@method("getTopSongs")
def get_top_songs(user: User) -> dict[str, Any]:
    tracks = lists.top_songs(user.id, required("artist"), number("count", 50, high=lists.MAX_SIZE))
    return {"topSongs": {"song": _songs(user, tracks)}}


# Songs of an album or artist whose similar songs are merged.
SIMILAR_SEEDS = 5


def _similar(user: User) -> list[dict[str, Any]]:
    """Similar songs from the recommender (app/services/recommend.py), for a song, or for an
    album's or artist's first songs merged."""
    kind, ident = _kind_id(required("id"), "track", "album", "artist")
    count = number("count", 50, high=lists.MAX_SIZE)
    if kind == "track":
        seeds = [access.get_visible_track(user.id, ident)]
    elif kind == "album":
        _summary, seeds = browse.get_album(user.id, ident)
    else:
        artist, _albums, _count = browse.get_artist(user.id, ident)
        seeds = lists.top_songs(user.id, artist.name, SIMILAR_SEEDS)
    exclude = {t.id for t in seeds}
    scores: dict[int, tuple[float, Any]] = {}
    for seed in seeds[:SIMILAR_SEEDS]:
        for s in recommend.similar_to(user.id, seed, count, exclude=exclude):
            best = scores.get(s.track.id)
            scores[s.track.id] = (s.score + (best[0] if best else 0.0), s.track)
    ranked = sorted(scores.values(), key=lambda pair: (-pair[0], pair[1].id))
    return _songs(user, [track for _, track in ranked[:count]])


@method("getSimilarSongs2")
def get_similar_songs2(user: User) -> dict[str, Any]:
    return {"similarSongs2": {"song": _similar(user)}}


@method("getSimilarSongs")
def get_similar_songs(user: User) -> dict[str, Any]:
    return {"similarSongs": {"song": _similar(user)}}


def _lyric_text(found: Lyrics) -> str:
    return "\n".join(text for _start, text in found.lines)


@method("getLyrics")
def get_lyrics(user: User) -> dict[str, Any]:
    found = lyrics.find_lyrics(get_storage(), pool_for(current_app.config), user.id, text("artist"), text("title"))
    if found is None:
        return {"lyrics": {}}  # the valid answer for "none"
    track, first = found
    return {"lyrics": {"artist": track.artist, "title": track.title, "value": _lyric_text(first)}}


@method("getLyricsBySongId")
def get_lyrics_by_song_id(user: User) -> dict[str, Any]:
    track, sets = lyrics.lyrics_of_track(get_storage(), pool_for(current_app.config), user.id, track_id(required("id")))
    structured = [
        {
            "displayArtist": track.artist,
            "displayTitle": track.title,
            "lang": found.lang,
            "offset": 0,
            "synced": found.synced,
            "line": [{"start": start, "value": value} for start, value in found.lines],
        }
        for found in sets
    ]
    return {"lyricsList": {"structuredLyrics": structured}}


# --- search -------------------------------------------------------------------------------------


def _query() -> str:
    # Symfonium and others send query="" (two quote marks) to mean "everything".
    q = text("query", "") or ""
    return "" if q.strip() in ('""', "''", "*") else q


@method("search3")
def search3(user: User) -> dict[str, Any]:
    q = _query()
    artists = lists.search_artists(user.id, q, number("artistCount", 20), number("artistOffset", 0))
    albums = lists.search_albums(user.id, q, number("albumCount", 20), number("albumOffset", 0))
    songs = lists.search_songs(user.id, q, number("songCount", 20), number("songOffset", 0))
    return {
        "searchResult3": {
            "artist": _artists(user, artists),
            "album": _albums(user, albums),
            "song": _songs(user, songs),
        }
    }


@method("search2")
def search2(user: User) -> dict[str, Any]:
    q = _query()
    artists = lists.search_artists(user.id, q, number("artistCount", 20), number("artistOffset", 0))
    albums = lists.search_albums(user.id, q, number("albumCount", 20), number("albumOffset", 0))
    songs = lists.search_songs(user.id, q, number("songCount", 20), number("songOffset", 0))
    return {
        "searchResult2": {
            "artist": [{"id": objects.artist_id(a.id), "name": a.name} for a in artists],
            "album": _albums(user, albums, as_directory=True),
            "song": _songs(user, songs),
        }
    }


# --- media --------------------------------------------------------------------------------------


def _as_get() -> None:
    """A form POST of stream or download is the GET it stands for (OpenSubsonic's
    formPost): ranges and validators, which RFC 9110 applies to GET alone, then
    work for it too. (Behind nginx, X-Accel-Redirect turns the request into a GET
    itself.)"""
    if request.environ.get("REQUEST_METHOD") == "POST":
        request.environ["REQUEST_METHOD"] = "GET"


@method("stream")
def stream(user: User) -> Response:
    """The original, or a transcoded variant for `maxBitRate` (kbit/s, 0: no
    limit) and `format` (mp3, opus; raw: the original), from `timeOffset`
    seconds; `estimateContentLength` adds the (CBR) size to an answer from a
    time offset (every other transcoded answer carries it anyway)."""
    track = access.get_visible_track(user.id, track_id(required("id")))
    _as_get()
    if starts_playing(request.environ.get("REQUEST_METHOD"), request.headers.get("Range")):
        # What a player is playing, for getNowPlaying, even from apps that never
        # scrobble (Mopidy-Subidy): Subsonic servers have always taken the start
        # of a stream for it. A listen is still only what a scrobble reports.
        play_queue.report_playing(user.id, track.id, text("c"))
    fmt = (text("format") or "").strip().lower() or None
    preset = preset_for_bitrate(track, number("maxBitRate", 0, low=0, high=100_000), fmt)
    if preset is None:
        return send_track(track, confirm=True)
    offset = number("timeOffset", 0, low=0, high=10**6)
    try:
        return send_variant(
            track, preset, user.id, time_offset=float(offset), estimate_length=text("estimateContentLength") == "true"
        )
    except TranscodeBusy as busy:
        raise SubsonicError(
            GENERIC, f"The server is converting as many tracks as it can: try again in {busy.params['retry_after']} s."
        ) from None


@method("download")
def download(user: User) -> Response:
    track = access.get_downloadable_track(user.id, track_id(required("id")))
    _as_get()
    name = track.original_filename
    if not name.lower().endswith("." + track.format):
        name = f"{name}.{track.format}"
    return send_track(track, download_name=name, confirm=True)


@method("getCoverArt")
def get_cover_art(user: User) -> Response:
    # One thumbnail size is stored; `size` is read (and bounded) but never makes a larger one.
    number("size", None, low=1, high=4096)
    kind, ident = _kind_id(required("id"), "track", "album", "artist")
    if kind == "album":
        summary, _tracks = browse.get_album(user.id, ident)
        cover_track = summary.cover_track_id
    elif kind == "artist":
        _row, albums, _count = browse.get_artist(user.id, ident)
        cover_track = next((a.cover_track_id for a in albums if a.cover_track_id), None)
    else:
        cover_track = ident
    if cover_track is None:
        return send_cover(None)
    rel, pending = access.cover_of(user.id, cover_track)
    return send_cover(rel, pending=pending)


# --- your data ----------------------------------------------------------------------------------


@method("scrobble")
def scrobble(user: User) -> None:
    ids = request.values.getlist("id")
    if not ids:
        required("id")
    if flag("submission", True):
        for raw in ids[:50]:
            listening.record_play(user.id, track_id(raw))
    else:
        play_queue.report_playing(user.id, track_id(ids[0]), text("c"))


def _star(user: User, on: bool) -> None:
    ids = request.values.getlist("id")
    album_ids, artist_ids = request.values.getlist("albumId"), request.values.getlist("artistId")
    if not (ids or album_ids or artist_ids):
        raise SubsonicError(MISSING_PARAMETER, "Required parameter is missing: id, albumId or artistId.")
    wanted = [_kind_id(raw, "track", "album", "artist") for raw in ids[:500]]
    wanted += [_kind_id(raw, "album") for raw in album_ids[:500]]
    wanted += [_kind_id(raw, "artist") for raw in artist_ids[:500]]
    for kind, ident in wanted:
        if kind == "album":
            stars.set_album_star(user.id, ident, on)
        elif kind == "artist":
            stars.set_artist_star(user.id, ident, on)
        else:
            playlists.set_favourite(user.id, ident, on)


@method("setRating")
def set_rating(user: User) -> None:
    kind, ident = _kind_id(required("id"), "track", "album", "artist")
    rating = number("rating", None, low=-1, high=6)
    if rating is None:
        required("rating")
    stars.set_rating(user.id, kind, ident, rating)


@method("star")
def star(user: User) -> None:
    _star(user, True)


@method("unstar")
def unstar(user: User) -> None:
    _star(user, False)


def _starred(user: User, *, as_directory: bool = False) -> dict[str, Any]:
    tracks = playlists.favourites(user.id)[: stars.MAX_LISTED]
    artists = stars.starred_artists(user.id)
    return {
        "artist": [{"id": objects.artist_id(a.id), "name": a.name} for a in artists]
        if as_directory
        else _artists(user, artists),
        "album": _albums(user, stars.starred_albums(user.id), as_directory=as_directory),
        "song": _songs(user, tracks),
    }


@method("getStarred2")
def get_starred2(user: User) -> dict[str, Any]:
    return {"starred2": _starred(user)}


@method("getStarred")
def get_starred(user: User) -> dict[str, Any]:
    return {"starred": _starred(user, as_directory=True)}


# --- the play queue, to carry on on another device ---------------------------------------------


def _queue_ids() -> list[int]:
    return [track_id(raw) for raw in request.values.getlist("id")[: play_queue.MAX_QUEUE + 1]]


@method("savePlayQueue")
def save_play_queue(user: User) -> None:
    ids = _queue_ids()
    current = text("current")
    index = None
    if ids:
        wanted = track_id(current) if current else ids[0]
        if wanted not in ids:
            raise SubsonicError(GENERIC, "The current song is not in the queue.")
        index = ids.index(wanted)
    play_queue.save_queue(user.id, ids, index, number("position", 0) or 0, text("c"))


@method("savePlayQueueByIndex")
def save_play_queue_by_index(user: User) -> None:
    ids = _queue_ids()
    index = number("currentIndex", 0 if ids else None)
    play_queue.save_queue(user.id, ids, index if ids else None, number("position", 0) or 0, text("c"))


def _queue(user: User) -> tuple[play_queue.SavedQueue, dict[str, Any]] | None:
    saved = play_queue.saved_queue(user.id)
    if saved is None:
        return None
    data = {
        "position": saved.position_ms,
        "username": user.username,
        "changed": objects.iso(saved.changed_at),
        "changedBy": saved.changed_by or "",
        "entry": _songs(user, saved.tracks),
    }
    return saved, data


@method("getPlayQueue")
def get_play_queue(user: User) -> dict[str, Any]:
    found = _queue(user)
    if found is None:
        return {}
    saved, data = found
    current = saved.tracks[saved.current_index].id if saved.current_index is not None else None
    return {"playQueue": {"current": str(current) if current else None, **data}}


@method("getPlayQueueByIndex")
def get_play_queue_by_index(user: User) -> dict[str, Any]:
    found = _queue(user)
    if found is None:
        return {}
    saved, data = found
    return {"playQueueByIndex": {"currentIndex": saved.current_index, **data}}


# --- playlists ----------------------------------------------------------------------------------


def _playlist_data(user: User, row: Playlist, owner: str, with_entries: bool) -> dict[str, Any]:
    views = playlists.entries(row, user.id)
    data = objects.playlist(row, owner, len(views), sum(v.track.duration or 0 for v in views))
    first_cover = next((v.track.id for v in views if v.track.cover_path), None)
    if first_cover:
        data["coverArt"] = str(first_cover)
    if with_entries:
        data["entry"] = _songs(user, [v.track for v in views])
    return data


@method("getPlaylists")
def get_playlists(user: User) -> dict[str, Any]:
    asked = text("username")
    if asked and asked.casefold() != user.username.casefold() and not user.is_admin:
        raise SubsonicError(NOT_AUTHORIZED, "Only an admin may list another account's playlists.")
    own, others = playlists.list_playlists(user.id)
    rows = []
    for summary in own + others:
        data = objects.playlist(summary.playlist, summary.owner_name, summary.track_count, summary.duration)
        if summary.cover_track_ids:
            data["coverArt"] = str(summary.cover_track_ids[0])
        rows.append(data)
    return {"playlists": {"playlist": rows}}


def _owner_name(row: Playlist) -> str:
    owner = db.session.get(User, row.owner_id)
    return owner.username if owner is not None else ""


@method("getPlaylist")
def get_playlist(user: User) -> dict[str, Any]:
    row = playlists.get_visible_playlist(user.id, playlist_id(required("id")))
    return {"playlist": _playlist_data(user, row, _owner_name(row), with_entries=True)}


def _song_ids(name: str) -> list[int]:
    return [track_id(raw) for raw in request.values.getlist(name)[: playlists.MAX_ENTRIES]]


@method("createPlaylist")
def create_playlist(user: User) -> dict[str, Any]:
    existing = text("playlistId")
    songs = _song_ids("songId")
    if existing:
        # The update form: the playlist's songs become exactly these.
        row = playlists.get_own_playlist(user.id, playlist_id(existing), lock=True)
        for view in reversed(playlists.entries(row, user.id)):
            playlists.remove_entry(user.id, row.id, view.entry.id)
        name = text("name")
        if name:
            playlists.update_details(row, name, row.description)
    else:
        row = playlists.create(user.id, required("name"))
    if songs:
        playlists.add_tracks(user.id, row.id, songs)
    db.session.flush()
    return {"playlist": _playlist_data(user, row, user.username, with_entries=True)}


@method("updatePlaylist")
def update_playlist(user: User) -> None:
    row = playlists.get_own_playlist(user.id, playlist_id(required("playlistId")), lock=True)
    name, comment = text("name"), text("comment")
    if name is not None or comment is not None:
        playlists.update_details(
            row, name if name is not None else row.name, comment if comment is not None else row.description
        )
    public = text("public")
    if public is not None:
        wanted = PlaylistVisibility.PUBLIC if flag("public", False) else PlaylistVisibility.PRIVATE
        if row.visibility != wanted:
            playlists.set_visibility(row, wanted)
    indexes = sorted(
        {number_ for raw in request.values.getlist("songIndexToRemove") if (number_ := _index(raw)) is not None},
        reverse=True,
    )
    if indexes:
        views = playlists.entries(row, user.id)
        for index in indexes:
            if index < len(views):
                playlists.remove_entry(user.id, row.id, views[index].entry.id)
    added = _song_ids("songIdToAdd")
    if added:
        playlists.add_tracks(user.id, row.id, added)


def _index(raw: str) -> int | None:
    return int(raw) if re.fullmatch(r"[0-9]{1,6}", raw or "") else None


@method("deletePlaylist")
def delete_playlist(user: User) -> None:
    row = playlists.get_own_playlist(user.id, playlist_id(required("id")))
    playlists.delete_playlist(row)


# --- valid empty answers for what this server does not have --------------------------------------


@method("getPodcasts")
def get_podcasts(user: User) -> dict[str, Any]:
    return {"podcasts": {}}


@method("getNewestPodcasts")
def get_newest_podcasts(user: User) -> dict[str, Any]:
    return {"newestPodcasts": {}}


@method("getInternetRadioStations")
def get_radio_stations(user: User) -> dict[str, Any]:
    return {"internetRadioStations": {}}


@method("getBookmarks")
def get_bookmarks(user: User) -> dict[str, Any]:
    return {"bookmarks": {}}


@method("getChatMessages")
def get_chat_messages(user: User) -> dict[str, Any]:
    return {"chatMessages": {}}


@method("getNowPlaying")
def get_now_playing(user: User) -> dict[str, Any]:
    # Only the caller's own: what others listen to is theirs, like their history.
    entries = []
    for playing in play_queue.now_playing(user.id):
        minutes = int((utcnow() - playing.started_at).total_seconds() // 60)
        data = _songs(user, [playing.track])[0]
        entries.append(
            {**data, "username": user.username, "minutesAgo": minutes, "playerId": 1, "playerName": playing.client}
        )
    return {"nowPlaying": {"entry": entries}}


# --- shares: our playlists' share links -------------------------------------------------------------
# A share is a playlist shared by link (the web page's "Anyone with the link"),
# and its id is the playlist's. Sharing songs or an album makes a new playlist
# of them, shared by link, as a person would on the pages.

MAX_EXPIRES_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


def _expires() -> datetime | None:
    """`expires` (milliseconds since 1970); None when absent or 0 (never expires)."""
    raw = (request.values.get("expires") or "").strip()
    if raw in ("", "0"):
        return None
    if not re.fullmatch(r"[0-9]{1,15}", raw):
        raise SubsonicError(GENERIC, "Parameter expires is not a number.")
    when = datetime.fromtimestamp(min(int(raw), MAX_EXPIRES_MS) / 1000, tz=UTC)
    if when <= utcnow():
        raise SubsonicError(GENERIC, "The expiry date is in the past.")
    return when


def _share(user: User, row: Playlist) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "url": external_url("share.page", token=row.share_token),
        "description": row.description or row.name,
        "username": user.username,
        "created": objects.iso(row.created_at),
        "expires": objects.iso(row.share_expires_at),
        "visitCount": 0,
        "entry": _songs(user, [v.track for v in playlists.entries(row, user.id)]),
    }


@method("getShares")
def get_shares(user: User) -> dict[str, Any]:
    return {"shares": {"share": [_share(user, row) for row in playlists.own_shares(user.id)]}}


@method("createShare")
def create_share(user: User) -> dict[str, Any]:
    ids = request.values.getlist("id")
    if not ids:
        required("id")
    wanted = [_kind_id(raw, "track", "album") for raw in ids[: playlists.MAX_ENTRIES]]
    description = (text("description") or "").strip()
    expires = _expires()
    tracks: list[int] = []
    title = ""
    for kind, ident in wanted:
        if kind == "album":
            summary, album_tracks = browse.get_album(user.id, ident)
            tracks += [t.id for t in album_tracks]
            title = title or summary.title
        else:
            track = access.get_visible_track(user.id, ident)
            tracks.append(track.id)
            title = title or track.title
    row = playlists.create(user.id, description or title, description)
    playlists.add_tracks(user.id, row.id, tracks)
    playlists.set_visibility(row, PlaylistVisibility.LINK, expires)
    db.session.flush()
    return {"shares": {"share": [_share(user, row)]}}


@method("updateShare")
def update_share(user: User) -> None:
    row = playlists.get_own_share(user.id, playlist_id(required("id")))
    description = text("description")
    if description is not None:
        playlists.update_details(row, row.name, description.strip())
    if request.values.get("expires") is not None:
        playlists.set_visibility(row, PlaylistVisibility.LINK, _expires())


@method("deleteShare")
def delete_share(user: User) -> None:
    # The link stops working; the playlist stays, private, as "Revoke" on its page leaves it.
    playlists.revoke_link(playlists.get_own_share(user.id, playlist_id(required("id"))))
