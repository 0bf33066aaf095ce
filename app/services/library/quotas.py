"""How much room an account uses and may use: the early check before a file is
read, and the one that counts once its row is written."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Track, User
from app.services.errors import DomainError
from app.services.storage import IncomingFile

MB = 1_000_000
GB = 1_000_000_000


class QuotaExceeded(DomainError):
    """QUOTA_EXCEEDED with used_bytes and quota_bytes."""

    code = "QUOTA_EXCEEDED"
    status = 413


class FileTooLarge(DomainError):
    """FILE_TOO_LARGE with size_bytes and limit_bytes."""

    code = "FILE_TOO_LARGE"
    status = 413


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


def check_limits(owner: User, incoming: IncomingFile, max_bytes: int) -> None:
    """Raises FileTooLarge or QuotaExceeded, with the figures a user needs.
    The early check, before the file is read; hold_quota() is the one that counts."""
    if incoming.too_large:
        raise FileTooLarge(size_bytes=incoming.size, limit_bytes=max_bytes)
    if owner.quota_bytes is not None:
        used = bytes_used(owner.id)
        if used + incoming.size > owner.quota_bytes:
            raise _quota_exceeded(used, owner.quota_bytes)


def hold_quota(owner: User, size: int) -> None:
    """The quota check that counts, once the new track's row is flushed (`size`
    bytes of it). A user's uploads take turns here until they commit: a lock on
    the user's row in PostgreSQL (NO KEY UPDATE, which the track's foreign-key
    check does not wait for), and SQLite has one writer at a time. So two
    uploads at once cannot both fit in the room only one has."""
    if owner.quota_bytes is None:
        return
    db.session.execute(select(User.id).where(User.id == owner.id).with_for_update(key_share=True))
    used = bytes_used(owner.id)
    if used > owner.quota_bytes:
        raise _quota_exceeded(used - size, owner.quota_bytes)


def _quota_exceeded(used: int, quota: int) -> QuotaExceeded:
    return QuotaExceeded(used_bytes=used, quota_bytes=quota)
