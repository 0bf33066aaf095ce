"""The text of every domain error code, rendered at the edge in the request's
language (lazy_gettext: the table is built at import, translated when shown).

Services raise DomainError(code, **params) and never write sentences; pages,
the player's API and the CLI call message() to show one. Parameters whose
name ends in `_bytes` are shown as sizes ("39 kB"), in `_minutes` as decimals
("7.5"), in `_on` (an ISO date) as a date ("January 1, 2027"). A code missing here
falls back to its error class's generic message, so a new code is never
shown raw. `{name}` marks a parameter: message() translates the text, then
fills it in with str.format.
"""

from __future__ import annotations

import contextlib
import decimal
import numbers
from datetime import date
from typing import Any

from flask_babel import LazyString, format_date, format_decimal, ngettext
from flask_babel import lazy_gettext as _l

from app.services.errors import DomainError
from app.web.formatting import format_size

MESSAGES: dict[str, LazyString] = {
    # generic, by class
    "INVALID_REQUEST": _l("The request could not be carried out."),
    "NOT_FOUND": _l("There is nothing here. The link may be old, or the item was deleted."),
    "FORBIDDEN": _l("Your account is not allowed to do that."),
    # objects
    "TRACK_NOT_FOUND": _l("No such track."),
    "ALBUM_NOT_FOUND": _l("No such album."),
    "ARTIST_NOT_FOUND": _l("No such artist."),
    "PLAYLIST_NOT_FOUND": _l("No such playlist."),
    "ENTRY_NOT_FOUND": _l("No such entry."),
    "LINK_NOT_FOUND": _l("No such link."),
    "USER_NOT_FOUND": _l("No such account."),
    "USERNAME_NOT_FOUND": _l("No account named '{username}'."),
    "FILE_NOT_FOUND": _l("No such file."),
    # transcoding
    "BAD_QUALITY": _l("Unknown sound quality '{quality}': use original, high, medium or low."),
    "BAD_FORMAT": _l("Unknown format '{format}': use opus or mp3."),
    "TRANSCODE_BUSY": _l("The server is converting as many tracks as it can. Try again in {retry_after} seconds."),
    "TRANSCODE_FAILED": _l("This track could not be converted: {reason}"),
    "FFMPEG_MISSING": _l("The server cannot convert tracks: ffmpeg ({path}) is missing."),
    "TRACK_NOT_OWNED": _l("Only the owner can change this track."),
    "DOWNLOAD_NOT_ALLOWED": _l("The owner of this track does not let others download it."),
    "PLAYLIST_NOT_OWNED": _l("Only the owner can change this playlist."),
    # adding files
    "FILE_TOO_LARGE": _l("file too large: {size_bytes}, the limit is {limit_bytes}"),
    "QUOTA_EXCEEDED": _l("storage quota exceeded: {used_bytes} of {quota_bytes} used"),
    "STORE_FAILED": _l("the server could not store the file ({reason})"),
    # the upload limits of a role
    "UPLOAD_LIMIT_FILE_SIZE": _l(
        "Files larger than {limit_bytes} are not accepted for your role (this one is {size_bytes})."
    ),
    "UPLOAD_LIMIT_DURATION": _l(
        "Tracks longer than {limit_minutes} min are not accepted for your role (this one lasts {duration_minutes} min)."
    ),
    # UPLOAD_LIMIT_MONTHLY: its words follow a count (counted_text() below)
    "UPLOAD_LIMIT_STORAGE": _l(
        "Your role allows {limit_bytes} of storage: you use {used_bytes}, and this needs {size_bytes} more."
    ),
    "INVALID_LIMIT": _l("A limit is a number above zero (leave it empty for no limit)."),
    "ROLE_NOT_FOUND": _l("There is no role {role} with upload limits (listeners cannot upload)."),
    "READ_FAILED": _l("cannot read the file ({reason})"),
    "NOT_AUDIO": _l("not an audio file"),
    "NO_AUDIO": _l("no playable audio found in the file"),
    "UNSUPPORTED_AUDIO": _l("not a supported audio file"),
    "AUDIO_TOO_SLOW": _l("the file took too long to read"),
    "AUDIO_TOO_BIG": _l("the file needs too much memory to read"),
    "READER_UNAVAILABLE": _l("the server could not start reading the file; please try again"),
    "STORAGE_FAILED": _l("the server could not store the file"),
    # listening history files
    "HISTORY_TOO_LARGE": _l("The file is larger than {limit_bytes}. Nothing was imported."),
    "HISTORY_NOT_JSON": _l("The file is not valid JSON (line {line}). Nothing was imported."),
    "HISTORY_WRONG_FORMAT": _l(
        "The file is JSON, but not a listening history of the kind chosen. Nothing was imported."
    ),
    "HISTORY_BAD_LISTEN": _l(
        "Listen number {number} in the file lacks a valid time, artist or title. Nothing was imported."
    ),
    # ZIP archives
    "ARCHIVE_UNREADABLE": _l("not a ZIP archive, or a damaged or incomplete one"),
    "ARCHIVE_TOO_MANY_ENTRIES": _l("the archive holds {count} entries, the limit is {limit}"),
    "ARCHIVE_TOO_LARGE": _l("the archive unpacks to {size_bytes}, the limit is {limit_bytes}"),
    "ARCHIVE_EMPTY": _l("the archive holds no files"),
    "IMPORT_NOT_FOUND": _l("No such import."),
    "IMPORT_NOT_PENDING": _l("This archive is no longer waiting for your confirmation ({state})."),
    "UNSAFE_PATH": _l("its name is unsafe (it points outside the archive's folders)"),
    "SYMLINK": _l("a symbolic link, not a file"),
    "DUPLICATE_NAME": _l("another entry has the same name"),
    "ENCRYPTED": _l("encrypted"),
    "NESTED_ARCHIVE": _l("an archive inside the archive (upload it on its own)"),
    "HIDDEN_FILE": _l("a hidden or system file"),
    "NOT_AUDIO_NAME": _l("not an audio file"),
    "UNSUPPORTED_COMPRESSION": _l("compressed with a method the server cannot read"),
    "ENTRY_TOO_LARGE": _l("larger than the limit for one file"),
    "ENTRY_DAMAGED": _l("damaged in the archive"),
    "ENTRY_SIZE_MISMATCH": _l("holds more or fewer bytes than the archive says (a damaged or hostile archive)"),
    # uploaded artwork
    "ARTWORK_INVALID": _l("The file is not a picture the server can use: send a whole JPEG, PNG or WebP image."),
    "ARTWORK_TOO_LARGE": _l("The picture is too large: {size_bytes}, the limit is {limit_bytes}."),
    "ARTWORK_TOO_MANY_PIXELS": _l(
        "The picture has too many pixels: the limit is {limit_megapixels} megapixels (6000 by 6000)."
    ),
    "ALBUM_NOT_OWNED": _l("None of this album's tracks is yours, so you cannot change its artwork."),
    # bulk edits
    "BULK_NOTHING_SELECTED": _l("No track of yours was selected."),
    "BULK_NOTHING_TO_CHANGE": _l("There is nothing to change or to undo."),
    # resumable uploads
    "UPLOAD_NOT_FOUND": _l("No such upload: it finished, was cancelled or expired."),
    "UPLOAD_OFFSET_MISMATCH": _l("The server holds {offset} bytes of this upload; send from there."),
    "UPLOAD_BUSY": _l("Another request is sending this upload."),
    "UPLOAD_LENGTH_INVALID": _l("The upload's length or offset is not a valid number."),
    "TOO_MANY_UPLOADS": _l("You have {limit} unfinished uploads; finish or cancel some first."),
    # background jobs
    "JOB_NOT_FOUND": _l("No such job."),
    "JOB_NOT_FAILED": _l("Only a failed job can be retried; this one is {state}."),
    "JOB_INTERRUPTED": _l("the worker stopped while the job was running"),
    "QUEUE_UNAVAILABLE": _l("the job queue could not be reached"),
    "TRACK_FILE_MISSING": _l("the track's file is missing from storage ({path})"),
    # measuring loudness and waveforms
    "ANALYSIS_FAILED": _l("the file could not be measured"),
    "UNDECODABLE_AUDIO": _l("the audio could not be decoded"),
    "ANALYSIS_TOO_SLOW": _l("measuring the file took longer than {seconds} seconds"),
    "FFMPEG_UNAVAILABLE": _l("the server could not start ffmpeg"),
    "ANALYSIS_NOT_FAILED": _l("Only a failed analysis can be run again."),
    "WAVEFORM_NOT_FOUND": _l("This track has no waveform yet."),
    # accounts
    "USERNAME_LENGTH": _l("A username is {min} to {max} characters long."),
    "USERNAME_CHARACTERS": _l("A username may contain letters, digits, dots, dashes and underscores only."),
    "USERNAME_TAKEN": _l("That username is taken."),
    "PASSWORD_TOO_SHORT": _l("A password needs at least {min} characters."),
    "PASSWORD_TOO_LONG": _l("A password may have at most {max} characters."),
    "PASSWORD_BLANK": _l("A password cannot be only spaces."),
    "WRONG_CREDENTIALS": _l("Wrong username or password."),
    "WRONG_CURRENT_PASSWORD": _l("Your current password is not right."),
    "WRONG_PASSWORD": _l("That password is not right."),
    "REGISTRATION_CLOSED": _l("Registration is closed. Ask the administrator for an account."),
    "LAST_ADMIN_DEMOTED": _l("{username} is the last active admin and cannot be demoted."),
    "LAST_ADMIN_DISABLED": _l("{username} is the last active admin and cannot be disabled."),
    "LAST_ADMIN_DELETED": _l("{username} is the last active admin and cannot be deleted."),
    "NEGATIVE_QUOTA": _l("A quota cannot be negative."),
    "UNKNOWN_LANGUAGE": _l("That language is not available."),
    "UNKNOWN_TIME_ZONE": _l("That is not a time zone."),
    # app passwords and API keys
    "CREDENTIAL_NAME_REQUIRED": _l("Give it a name, such as the device it is for."),
    "CREDENTIAL_NAME_TOO_LONG": _l("A name may have at most {max} characters."),
    "TOO_MANY_CREDENTIALS": _l("You have {max} already; revoke one you no longer use first."),
    "CREDENTIAL_NOT_FOUND": _l("No such app password or key."),
    "TOKEN_SCOPE_NOT_ALLOWED": _l("Only an admin can make a token with the {scope} scope."),
    "TOKEN_EXPIRY_INVALID": _l("A token expires in the future, at most {max} days from now."),
    # ratings and the play queue apps save
    "RATING_OUT_OF_RANGE": _l("A rating is a number from 1 to 5 (0 removes it)."),
    "QUEUE_TOO_LONG": _l("A play queue holds at most {max} tracks."),
    "QUEUE_INDEX_OUT_OF_RANGE": _l("The current track is not in the queue."),
    # playlists
    "PLAYLIST_NAME_REQUIRED": _l("A playlist needs a name."),
    "PLAYLIST_FULL": _l("A playlist holds at most {max_entries:,} tracks."),
    "PLAYLIST_CHOICE_REQUIRED": _l("Choose a playlist or name a new one."),
}


def counted_text(error: DomainError) -> str | None:
    """The texts whose words follow a count (ngettext, %(num)s the count), or None."""
    count = error.params.get("count")
    if error.code == "UPLOAD_LIMIT_MONTHLY" and isinstance(count, int):
        return ngettext(
            "You have uploaded %(num)s track this month, the most your role allows;"
            " the count restarts on {restarts_on}.",
            "You have uploaded %(num)s tracks this month, the most your role allows;"
            " the count restarts on {restarts_on}.",
            count,
        )
    return None


def message(error: DomainError) -> str:
    """The error as a sentence for the user."""
    counted = counted_text(error)
    if counted is not None:
        return counted.format(**{key: _shown(key, value) for key, value in error.params.items()})
    template = MESSAGES.get(error.code)
    if template is None:
        generic = next((c.code for c in type(error).__mro__ if getattr(c, "code", None) in MESSAGES), None)
        template = MESSAGES[generic or "INVALID_REQUEST"]
    return str(template).format(**{key: _shown(key, value) for key, value in error.params.items()})


def _shown(key: str, value: Any) -> Any:
    if key.endswith("_bytes") and isinstance(value, numbers.Real | decimal.Decimal):
        return format_size(value)
    if key.endswith("_minutes") and isinstance(value, numbers.Real | decimal.Decimal):
        return format_decimal(value, format="#,##0.#")
    if key.endswith("_on") and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return format_date(date.fromisoformat(value), "long")
    return value
