"""How much room an account uses and may use, and what its role lets it upload.

One rule for every way music arrives (the upload form, resumable uploads, ZIP
imports, the REST API): check() says whether one more file fits the account's
UploadLimits, given its Usage. The early checks (a resumable upload's declared
length, a received file's size, a read file's length, a ZIP archive's preview)
and hold(), the one that counts once the new rows are written, all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case, func, select, update

from app.extensions import db
from app.models import Role, RoleLimits, Track, User
from app.services.errors import DomainError
from app.services.storage import IncomingFile

MB = 1_000_000
GB = 1_000_000_000


class QuotaExceeded(DomainError):
    """QUOTA_EXCEEDED with used_bytes and quota_bytes (the account's own quota)."""

    code = "QUOTA_EXCEEDED"
    status = 413


class FileTooLarge(DomainError):
    """FILE_TOO_LARGE with size_bytes and limit_bytes (the server's limit, MAX_UPLOAD_MB)."""

    code = "FILE_TOO_LARGE"
    status = 413


class UploadLimitExceeded(DomainError):
    """A limit of the account's role. Every one carries `limit` and `value` (the figure
    that went past it, in the limit's unit) and the figures its message shows."""


class FileSizeLimit(UploadLimitExceeded):
    """UPLOAD_LIMIT_FILE_SIZE: limit_bytes, size_bytes."""

    code = "UPLOAD_LIMIT_FILE_SIZE"
    status = 413


class DurationLimit(UploadLimitExceeded):
    """UPLOAD_LIMIT_DURATION: limit_minutes, duration_minutes (and seconds as limit, value)."""

    code = "UPLOAD_LIMIT_DURATION"
    status = 422


class MonthlyLimit(UploadLimitExceeded):
    """UPLOAD_LIMIT_MONTHLY: limit, count (this month's uploads), restarts_on (ISO date, UTC)."""

    code = "UPLOAD_LIMIT_MONTHLY"
    status = 403


class StorageLimit(UploadLimitExceeded):
    """UPLOAD_LIMIT_STORAGE: limit_bytes, used_bytes, size_bytes."""

    code = "UPLOAD_LIMIT_STORAGE"
    status = 403


class InvalidLimit(DomainError):
    """A limit the admin typed that is not a positive number."""

    code = "INVALID_LIMIT"
    status = 400


LIMITED_ROLES = (Role.USER, Role.ADMIN)  # listeners cannot upload


@dataclass(frozen=True)
class UploadLimits:
    """What one account may upload; None is unlimited."""

    max_file_bytes: int | None = None
    max_duration_seconds: int | None = None
    monthly_uploads: int | None = None
    role_storage_bytes: int | None = None
    quota_bytes: int | None = None  # the account's own quota
    # False for `flask import`: the role's limits do not apply, and its tracks are not
    # counted as the account's uploads of the month.
    role_applies: bool = True

    @property
    def storage_bytes(self) -> int | None:
        """The storage allowed: the smaller of the role's and the account's."""
        given = [v for v in (self.role_storage_bytes, self.quota_bytes) if v is not None]
        return min(given) if given else None

    @property
    def counts_usage(self) -> bool:
        return self.storage_bytes is not None or self.monthly_uploads is not None


@dataclass(frozen=True)
class Usage:
    """What an account has used: bytes stored, and tracks uploaded this month (UTC)."""

    used_bytes: int
    month_uploads: int
    month_start: date

    @property
    def restarts_on(self) -> date:
        start = self.month_start
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def month_start(today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    return today.replace(day=1)


# --- the limits of a role ---------------------------------------------------------------


def role_limits(role: Role) -> RoleLimits:
    """The role's row (a new, unsaved, unlimited one when the admin never set it)."""
    return db.session.get(RoleLimits, role) or RoleLimits(role=role)


def set_role_limits(
    role: Role,
    *,
    max_file_bytes: int | None,
    max_duration_seconds: int | None,
    monthly_uploads: int | None,
    storage_bytes: int | None,
) -> RoleLimits:
    """Set (flushed) a role's limits; None is unlimited. Raises InvalidLimit for a number below 1."""
    values = {
        "max_file_bytes": max_file_bytes,
        "max_duration_seconds": max_duration_seconds,
        "monthly_uploads": monthly_uploads,
        "storage_bytes": storage_bytes,
    }
    for name, value in values.items():
        if value is not None and value < 1:
            raise InvalidLimit(field=name, value=value)
    row = role_limits(role)
    for name, value in values.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.flush()
    return row


def limits_for(owner: User, *, role_limits_apply: bool = True) -> UploadLimits:
    """The account's limits: its role's (unless `role_limits_apply` is False: `flask import`)
    and its own quota."""
    if not role_limits_apply:
        return UploadLimits(quota_bytes=owner.quota_bytes, role_applies=False)
    row = db.session.get(RoleLimits, owner.role)
    if row is None:
        return UploadLimits(quota_bytes=owner.quota_bytes)
    return UploadLimits(
        max_file_bytes=row.max_file_bytes,
        max_duration_seconds=row.max_duration_seconds,
        monthly_uploads=row.monthly_uploads,
        role_storage_bytes=row.storage_bytes,
        quota_bytes=owner.quota_bytes,
    )


# --- what an account uses ---------------------------------------------------------------


def bytes_used(user_id: int) -> int:
    # int(): PostgreSQL sums a BIGINT column into a NUMERIC (a Decimal here).
    return int(
        db.session.scalar(select(func.coalesce(func.sum(Track.size_bytes), 0)).where(Track.owner_id == user_id)) or 0
    )


def usage_for(user_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Track count and bytes used per user id."""
    usage = dict.fromkeys(user_ids, (0, 0))
    if not user_ids:
        return usage
    rows = db.session.execute(
        select(Track.owner_id, func.count(Track.id), func.coalesce(func.sum(Track.size_bytes), 0))
        .where(Track.owner_id.in_(user_ids))
        .group_by(Track.owner_id)
    )
    for owner_id, count, used in rows:
        usage[owner_id] = (int(count), int(used))
    return usage


def _month_count(uploads: int, started: date | None, start: date) -> int:
    return uploads if started == start else 0


def usage_of(owner: User) -> Usage:
    """The account's usage now (as committed, plus this transaction's own rows)."""
    start = month_start()
    return Usage(bytes_used(owner.id), _month_count(owner.month_uploads, owner.month_started, start), start)


# --- the rule ---------------------------------------------------------------------------


def check(
    limits: UploadLimits,
    usage: Usage | None = None,
    *,
    size: int | None = None,
    duration: float | None = None,
    tracks: int = 1,
) -> None:
    """Whether `tracks` more files, of `size` bytes in all, fit the limits, given what is
    used: the rule every upload path follows. The largest-file limit applies to `size`
    when it is one file's, the longest-track limit to `duration` (seconds). What is not
    known yet (None) is not checked; without `usage` the storage and the monthly limits
    are not either. Raises FileSizeLimit, DurationLimit, MonthlyLimit, StorageLimit or
    QuotaExceeded (the account's own quota, when it is the smaller)."""
    largest = limits.max_file_bytes
    if tracks == 1 and size is not None and largest is not None and size > largest:
        raise FileSizeLimit(**_figures(largest, size), limit_bytes=largest, size_bytes=size)
    longest = limits.max_duration_seconds
    if duration is not None and longest is not None and duration > longest:
        raise DurationLimit(
            **_figures(longest, round(duration, 1)),
            limit_minutes=_minutes(longest),
            duration_minutes=_minutes(duration),
        )
    if usage is None:
        return
    monthly = limits.monthly_uploads
    if monthly is not None and usage.month_uploads + tracks > monthly:
        raise MonthlyLimit(
            **_figures(monthly, usage.month_uploads),
            count=usage.month_uploads,
            restarts_on=usage.restarts_on.isoformat(),
        )
    allowed = limits.storage_bytes
    if size is None or allowed is None or usage.used_bytes + size <= allowed:
        return
    role, own = limits.role_storage_bytes, limits.quota_bytes
    if own is not None and (role is None or own < role):
        raise QuotaExceeded(used_bytes=usage.used_bytes, quota_bytes=own)
    raise StorageLimit(
        **_figures(allowed, usage.used_bytes + size), limit_bytes=allowed, used_bytes=usage.used_bytes, size_bytes=size
    )


def _figures(limit: float, value: float) -> dict[str, Any]:
    return {"limit": limit, "value": value}


def _minutes(seconds: float) -> float | int:
    minutes = round(seconds / 60, 1)
    return int(minutes) if minutes == int(minutes) else minutes


def check_limits(owner: User, incoming: IncomingFile, max_bytes: int, limits: UploadLimits | None = None) -> None:
    """The early check of a received file, before its tags are read; hold() is the one
    that counts. Raises FileTooLarge (the server's limit), or what check() raises."""
    limits = limits if limits is not None else limits_for(owner)
    check(limits, size=incoming.size)  # the role's largest file is named before the server's limit
    if incoming.too_large:
        raise FileTooLarge(size_bytes=incoming.size, limit_bytes=max_bytes)
    check(limits, usage_of(owner) if limits.counts_usage else None, size=incoming.size)


def hold(owner: User, limits: UploadLimits, size: int, tracks: int = 1) -> None:
    """The check that counts, once the new tracks' rows are flushed (`tracks` of them,
    `size` bytes in all); then the month's count of uploads goes up by `tracks` (always, so
    a limit set in the middle of a month knows what came before it).

    A user's uploads take turns here until they commit: a lock on the user's row in
    PostgreSQL (NO KEY UPDATE, which the track's foreign-key check does not wait for),
    and SQLite has one writer at a time. So two uploads at once cannot both fit in the
    room only one has. Raises MonthlyLimit, StorageLimit or QuotaExceeded."""
    start = month_start()
    if limits.counts_usage:
        uploads, started = db.session.execute(
            select(User.month_uploads, User.month_started).where(User.id == owner.id).with_for_update(key_share=True)
        ).one()
        before = Usage(bytes_used(owner.id) - size, _month_count(uploads, started, start), start)
        check(limits, before, size=size, tracks=tracks)
    if limits.role_applies:
        # One statement: concurrent uploads of the account each add their own.
        this_month = case((User.month_started == start, User.month_uploads), else_=0)
        db.session.execute(
            update(User)
            .where(User.id == owner.id)
            .values(month_uploads=this_month + tracks, month_started=start)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(owner, ["month_uploads", "month_started"])
