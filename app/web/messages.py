"""The English text of every domain error code, rendered at the edge.

Services raise DomainError(code, **params) and never write sentences; pages,
the player's API and the CLI call message() to show one. Parameters whose
name ends in `_bytes` are shown as sizes ("39 kB"). A code missing here
falls back to its error class's generic message, so a new code is never
shown raw.
"""

from __future__ import annotations

import decimal
import numbers
from typing import Any

from app.services.errors import DomainError
from app.web.formatting import format_size

MESSAGES: dict[str, str] = {
    # generic, by class
    "INVALID_REQUEST": "The request could not be carried out.",
    "NOT_FOUND": "There is nothing here. The link may be old, or the item was deleted.",
    "FORBIDDEN": "Your account is not allowed to do that.",
    # objects
    "TRACK_NOT_FOUND": "No such track.",
    "ALBUM_NOT_FOUND": "No such album.",
    "ARTIST_NOT_FOUND": "No such artist.",
    "PLAYLIST_NOT_FOUND": "No such playlist.",
    "ENTRY_NOT_FOUND": "No such entry.",
    "LINK_NOT_FOUND": "No such link.",
    "USER_NOT_FOUND": "No such account.",
    "USERNAME_NOT_FOUND": "No account named '{username}'.",
    "FILE_NOT_FOUND": "No such file.",
    "TRACK_NOT_OWNED": "Only the owner can change this track.",
    "PLAYLIST_NOT_OWNED": "Only the owner can change this playlist.",
    # adding files
    "FILE_TOO_LARGE": "file too large: {size_bytes}, the limit is {limit_bytes}",
    "QUOTA_EXCEEDED": "storage quota exceeded: {used_bytes} of {quota_bytes} used",
    "STORE_FAILED": "the server could not store the file ({reason})",
    "READ_FAILED": "cannot read the file ({reason})",
    "NOT_AUDIO": "not an audio file",
    "NO_AUDIO": "no playable audio found in the file",
    "UNSUPPORTED_AUDIO": "not a supported audio file",
    "AUDIO_TOO_SLOW": "the file took too long to read",
    "AUDIO_TOO_BIG": "the file needs too much memory to read",
    "READER_UNAVAILABLE": "the server could not start reading the file; please try again",
    "STORAGE_FAILED": "the server could not store the file",
    # background jobs
    "JOB_NOT_FOUND": "No such job.",
    "JOB_NOT_FAILED": "Only a failed job can be retried; this one is {state}.",
    "JOB_INTERRUPTED": "the worker stopped while the job was running",
    "QUEUE_UNAVAILABLE": "the job queue could not be reached",
    "TRACK_FILE_MISSING": "the track's file is missing from storage ({path})",
    # accounts
    "USERNAME_LENGTH": "A username is {min} to {max} characters long.",
    "USERNAME_CHARACTERS": "A username may contain letters, digits, dots, dashes and underscores only.",
    "USERNAME_TAKEN": "That username is taken.",
    "PASSWORD_TOO_SHORT": "A password needs at least {min} characters.",
    "PASSWORD_TOO_LONG": "A password may have at most {max} characters.",
    "PASSWORD_BLANK": "A password cannot be only spaces.",
    "WRONG_CREDENTIALS": "Wrong username or password.",
    "WRONG_CURRENT_PASSWORD": "Your current password is not right.",
    "WRONG_PASSWORD": "That password is not right.",
    "REGISTRATION_CLOSED": "Registration is closed. Ask the administrator for an account.",
    "LAST_ADMIN_DEMOTED": "{username} is the last active admin and cannot be demoted.",
    "LAST_ADMIN_DISABLED": "{username} is the last active admin and cannot be disabled.",
    "LAST_ADMIN_DELETED": "{username} is the last active admin and cannot be deleted.",
    "NEGATIVE_QUOTA": "A quota cannot be negative.",
    "UNKNOWN_LANGUAGE": "That language is not available.",
    "UNKNOWN_TIME_ZONE": "That is not a time zone.",
    # playlists
    "PLAYLIST_NAME_REQUIRED": "A playlist needs a name.",
    "PLAYLIST_FULL": "A playlist holds at most {max_entries:,} tracks.",
    "PLAYLIST_CHOICE_REQUIRED": "Choose a playlist or name a new one.",
}


def message(error: DomainError) -> str:
    """The error as a sentence for the user."""
    template = MESSAGES.get(error.code)
    if template is None:
        generic = next((c.code for c in type(error).__mro__ if getattr(c, "code", None) in MESSAGES), None)
        template = MESSAGES[generic or "INVALID_REQUEST"]
    return template.format(**{key: _shown(key, value) for key, value in error.params.items()})


def _shown(key: str, value: Any) -> Any:
    if key.endswith("_bytes") and isinstance(value, numbers.Real | decimal.Decimal):
        return format_size(value)
    return value
