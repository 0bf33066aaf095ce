"""A track's figures for its page: how often it is played, by how many people, and how they
rate, keep and list it. Counts only: never who.

The owner sees everything here, with plays today, this week and this month and a plot
of the last days; anyone else (a public track) sees the totals only, since a day's
count on a track few people play could tell when one of them listened.

Downloads and shares of single tracks are not recorded anywhere, so they are not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import func, select

from app.extensions import db
from app.models import Favourite, PlayEvent, PlaylistEntry, TrackLike
from app.models.discovery import DISLIKE, LIKE
from app.models.types import utcnow
from app.services.history import start_of_day

# Days in the owner's plot of plays per day (today included).
SPARK_DAYS = 30


@dataclass
class TrackStats:
    plays: int = 0
    listeners: int = 0
    likes: int = 0
    dislikes: int = 0
    favourites: int = 0
    playlist_additions: int = 0
    # The owner's figures (None for anyone else); local days in the viewer's time zone.
    today: int | None = None
    this_week: int | None = None  # since Monday
    this_month: int | None = None  # since the 1st
    per_day: list[tuple[date, int]] = field(default_factory=list)  # oldest first


def _count(stmt) -> int:
    return db.session.scalar(stmt) or 0


def track_stats(track_id: int, owner: bool, zone: tzinfo, now: datetime | None = None) -> TrackStats:
    """The track's figures; the daily ones only when `owner` (the caller checked who may
    see the track at all)."""
    plays, listeners = db.session.execute(
        select(func.count(PlayEvent.id), func.count(func.distinct(PlayEvent.user_id))).where(
            PlayEvent.track_id == track_id
        )
    ).one()
    likes = dict(
        db.session.execute(
            select(TrackLike.value, func.count()).where(TrackLike.track_id == track_id).group_by(TrackLike.value)
        ).all()
    )
    stats = TrackStats(
        plays=plays,
        listeners=listeners,
        likes=likes.get(LIKE, 0),
        dislikes=likes.get(DISLIKE, 0),
        favourites=_count(select(func.count()).select_from(Favourite).where(Favourite.track_id == track_id)),
        playlist_additions=_count(
            select(func.count()).select_from(PlaylistEntry).where(PlaylistEntry.track_id == track_id)
        ),
    )
    if not owner:
        return stats
    today = (now or utcnow()).astimezone(zone).date()
    first_day = today - timedelta(days=SPARK_DAYS - 1)
    month_start = today.replace(day=1)
    week_start = today - timedelta(days=today.weekday())
    since = start_of_day(min(first_day, month_start, week_start), zone)
    per_day: dict[date, int] = {}
    for (played_at,) in db.session.execute(
        select(PlayEvent.played_at).where(PlayEvent.track_id == track_id, PlayEvent.played_at >= since)
    ):
        day = played_at.astimezone(zone).date()
        per_day[day] = per_day.get(day, 0) + 1
    stats.today = per_day.get(today, 0)
    stats.this_week = sum(n for day, n in per_day.items() if week_start <= day <= today)
    stats.this_month = sum(n for day, n in per_day.items() if month_start <= day <= today)
    stats.per_day = [
        (first_day + timedelta(days=i), per_day.get(first_day + timedelta(days=i), 0)) for i in range(SPARK_DAYS)
    ]
    return stats
