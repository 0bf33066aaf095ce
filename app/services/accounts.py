"""Accounts: registration, authentication, passwords, roles and the admin rules.

Functions take plain values, never the request or current_user. They flush
but never commit: the caller commits once per user action.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import bcrypt
from sqlalchemy import func, select

from app.extensions import db
from app.languages import LANGUAGES, is_time_zone
from app.models import Role, Setting, User
from app.models.types import utcnow
from app.services import album_plays
from app.services.errors import DomainError, NotFound
from app.services.library import quotas
from app.services.transcode.presets import parse_quality

USERNAME_MIN = 3
USERNAME_MAX = 32
PASSWORD_MIN = 8
# Far above any passphrase; only there so a megabyte "password" is refused early.
PASSWORD_MAX = 1024
_USERNAME_RE = re.compile(r"^[\w.-]+$")


class AccountError(DomainError):
    """Base class of the account rules' errors."""


class InvalidUsername(AccountError):
    """USERNAME_LENGTH (min, max) or USERNAME_CHARACTERS."""


class UsernameTaken(AccountError):
    code = "USERNAME_TAKEN"
    status = 409


class WeakPassword(AccountError):
    """PASSWORD_TOO_SHORT (min), PASSWORD_TOO_LONG (max) or PASSWORD_BLANK."""


class InvalidCredentials(AccountError):
    """WRONG_CREDENTIALS, WRONG_CURRENT_PASSWORD or WRONG_PASSWORD."""

    code = "WRONG_CREDENTIALS"
    status = 401


class RegistrationClosed(AccountError):
    code = "REGISTRATION_CLOSED"
    status = 403


class LastAdmin(AccountError):
    """LAST_ADMIN_DEMOTED, LAST_ADMIN_DISABLED or LAST_ADMIN_DELETED (username)."""

    status = 409


# --- usernames -----------------------------------------------------------------


def normalise_username(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw or "").strip()


def username_key(raw: str) -> str:
    """The case-insensitive identity of a username ("Alice" and "ALICE" collide)."""
    return normalise_username(raw).casefold()


def username_problems(raw: str) -> list[InvalidUsername]:
    name = normalise_username(raw)
    if not (USERNAME_MIN <= len(name) <= USERNAME_MAX):
        return [InvalidUsername("USERNAME_LENGTH", min=USERNAME_MIN, max=USERNAME_MAX)]
    if not _USERNAME_RE.match(name):
        return [InvalidUsername("USERNAME_CHARACTERS")]
    return []


# --- passwords -------------------------------------------------------------------


def password_problems(password: str) -> list[WeakPassword]:
    """Every rule the password breaks."""
    problems = []
    if len(password) < PASSWORD_MIN:
        problems.append(WeakPassword("PASSWORD_TOO_SHORT", min=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        problems.append(WeakPassword("PASSWORD_TOO_LONG", max=PASSWORD_MAX))
    if password and password.strip() == "":
        problems.append(WeakPassword("PASSWORD_BLANK"))
    return problems


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (and bcrypt 5 raises on more), so long
    # passphrases are reduced to a fixed 44-byte digest first. base64 keeps NUL
    # bytes out of what bcrypt sees.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return hash_password("not-a-real-password", rounds)


def _require_strong(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise problems[0]


# --- settings ------------------------------------------------------------------


REGISTRATION_SETTING = "registration_open"


def registration_open(default: bool) -> bool:
    value = db.session.get(Setting, REGISTRATION_SETTING)
    if value is None:
        return default
    return value.value == "1"


def set_registration_open(is_open: bool) -> None:
    setting = db.session.get(Setting, REGISTRATION_SETTING)
    if setting is None:
        setting = Setting(key=REGISTRATION_SETTING, value="0")
        db.session.add(setting)
    setting.value = "1" if is_open else "0"


# --- accounts ------------------------------------------------------------------


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def get_user(user_id: int) -> User:
    """Raises NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND")
    return user


def find_by_username(raw: str) -> User | None:
    if "\x00" in raw:
        # No username has one (username_problems), and PostgreSQL refuses it in a query.
        return None
    return db.session.scalar(select(User).where(User.username_key == username_key(raw)))


def get_by_username(raw: str) -> User:
    """Raises NotFound."""
    user = find_by_username(raw)
    if user is None:
        raise NotFound("USERNAME_NOT_FOUND", username=normalise_username(raw))
    return user


def create_user(username: str, password: str, *, role: Role | None = None, rounds: int = 12) -> User:
    """Create an account. The first account ever becomes admin when no role is given.

    Raises InvalidUsername, UsernameTaken, WeakPassword.
    """
    problems = username_problems(username)
    if problems:
        raise problems[0]
    _require_strong(password)
    if find_by_username(username) is not None:
        raise UsernameTaken
    if role is None:
        role = Role.ADMIN if user_count() == 0 else Role.USER
    user = User(
        username=normalise_username(username),
        username_key=username_key(username),
        password_hash=hash_password(password, rounds),
        role=role,
    )
    db.session.add(user)
    db.session.flush()
    return user


def register(username: str, password: str, *, registration_default: bool, rounds: int = 12) -> User:
    """Self-service registration. The very first account may always register.

    Raises RegistrationClosed, InvalidUsername, UsernameTaken, WeakPassword.
    """
    if user_count() > 0 and not registration_open(registration_default):
        raise RegistrationClosed
    return create_user(username, password, rounds=rounds)


def authenticate(username: str, password: str, *, rounds: int = 12) -> User:
    """Check a username and password; on success stamp the login time.

    An unknown username costs the same bcrypt work as a wrong password and
    raises the same error, so neither timing nor wording tells them apart.
    Raises InvalidCredentials (also for a disabled account).
    """
    user = find_by_username(username)
    if user is None:
        check_password(password, _dummy_hash(rounds))
        raise InvalidCredentials
    if not check_password(password, user.password_hash) or user.disabled:
        raise InvalidCredentials
    user.last_login_at = utcnow()
    return user


def change_password(user: User, current: str, new: str, *, rounds: int = 12) -> None:
    """Raises InvalidCredentials, WeakPassword. Ends the user's other sessions."""
    if not check_password(current, user.password_hash):
        raise InvalidCredentials("WRONG_CURRENT_PASSWORD")
    set_password(user, new, rounds=rounds)


def set_password(user: User, new: str, *, rounds: int = 12) -> None:
    """Raises WeakPassword. Every existing session of the user ends."""
    _require_strong(new)
    user.password_hash = hash_password(new, rounds)
    user.rotate_session_token()


def end_sessions(user: User) -> None:
    user.rotate_session_token()


# --- admin rules -----------------------------------------------------------------


def _active_admin_count() -> int:
    return (
        db.session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.disabled.is_(False))
        )
        or 0
    )


def _guard_last_admin(user: User, code: str) -> None:
    if user.role == Role.ADMIN and not user.disabled and _active_admin_count() <= 1:
        raise LastAdmin(code, username=user.username)


def set_role(user: User, role: Role) -> None:
    """Raises LastAdmin."""
    if role != Role.ADMIN:
        _guard_last_admin(user, "LAST_ADMIN_DEMOTED")
    user.role = role


def set_disabled(user: User, disabled: bool) -> None:
    """Disable (ending every session at once) or re-enable. Raises LastAdmin."""
    if disabled:
        _guard_last_admin(user, "LAST_ADMIN_DISABLED")
        user.rotate_session_token()
    user.disabled = disabled


def set_quota(user: User, quota_bytes: int | None) -> None:
    if quota_bytes is not None and quota_bytes < 0:
        raise AccountError("NEGATIVE_QUOTA")
    user.quota_bytes = quota_bytes


def set_language(user: User, code: str | None) -> None:
    """The interface's language for the user (None: the browser's). Raises AccountError (UNKNOWN_LANGUAGE)."""
    if code is not None and code not in LANGUAGES:
        raise AccountError("UNKNOWN_LANGUAGE")
    user.language = code


def set_time_zone(user: User, name: str | None) -> None:
    """The user's time zone (None: the browser's). Raises AccountError (UNKNOWN_TIME_ZONE)."""
    if name is not None and not is_time_zone(name):
        raise AccountError("UNKNOWN_TIME_ZONE")
    user.timezone = name


def set_sound_quality(user: User, web: str, metered: str) -> None:
    """The web player's quality and the one on a metered connection. Raises BadQuality."""
    user.quality_web = parse_quality(web).value
    user.quality_metered = parse_quality(metered).value


def set_dim_disliked(user: User, on: bool) -> None:
    """Whether lists show the tracks the user disliked dimmed."""
    user.dim_disliked = bool(on)


def delete_user(user: User) -> None:
    """Delete an account and everything it owns. Raises LastAdmin."""
    _guard_last_admin(user, "LAST_ADMIN_DELETED")
    # Its tracks and their listens go with it in the database: the albums others
    # played of them are counted again (services/album_plays.py).
    shared = album_plays.albums_shared_by(user.id)
    db.session.delete(user)
    db.session.flush()
    album_plays.recount_albums(shared)


def delete_own_account(user: User, password: str) -> None:
    """Raises InvalidCredentials, LastAdmin."""
    if not check_password(password, user.password_hash):
        raise InvalidCredentials("WRONG_PASSWORD")
    delete_user(user)


@dataclass(frozen=True)
class UserRow:
    user: User
    track_count: int
    bytes_used: int


def list_users(page: int, per_page: int = 50):
    return db.paginate(select(User).order_by(User.username_key), page=page, per_page=per_page, error_out=False)


def all_users() -> list[User]:
    """Every account, by username (the Subsonic API's getUsers lists them whole)."""
    return list(db.session.scalars(select(User).order_by(User.username_key)))


def usage_for(user_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Track count and bytes used per user id (zero for users with no tracks)."""
    return quotas.usage_for(user_ids)
