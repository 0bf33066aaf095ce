"""Your listening in figures: plays and time per day, top tracks, artists and genres, streaks.

Days are the user's local days (a listen at 23:30 in their time zone counts for that
day). Only tracks the user can still see are counted, like the history page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select

from app.extensions import db
from app.models import PlayEvent, Track
from app.models.types import utcnow
from app.services.library import access

TOP = 10


@dataclass
class Stats:
    plays: int = 0
    seconds: float = 0.0
    days: list[tuple[date, int, float]] = field(default_factory=list)  # (local day, plays, seconds), newest first
    top_tracks: list[tuple[str, str, int]] = field(default_factory=list)  # (title, artist, plays)
    top_artists: list[tuple[str, int]] = field(default_factory=list)
    top_genres: list[tuple[str, int]] = field(default_factory=list)
    longest_streak: int = 0  # consecutive local days with a listen
    current_streak: int = 0


def listening_stats(user_id: int, zone: tzinfo, days: int | None = None, now: datetime | None = None) -> Stats:
    """The user's figures over the last `days` days (None: all their history)."""
    now = now or utcnow()
    stmt = (
        select(PlayEvent.played_at, Track.title, Track.artist, Track.genre, Track.duration)
        .join(Track, Track.id == PlayEvent.track_id)
        .where(PlayEvent.user_id == user_id, access.visible_to(user_id))
    )
    if days is not None:
        stmt = stmt.where(PlayEvent.played_at >= now - timedelta(days=days))
    stats = Stats()
    per_day: dict[date, list[float]] = {}
    tracks, artists, genres = Counter(), Counter(), Counter()
    for played_at, title, artist, genre, duration in db.session.execute(stmt):
        day = played_at.astimezone(zone).date()
        entry = per_day.setdefault(day, [0, 0.0])
        entry[0] += 1
        entry[1] += duration
        stats.plays += 1
        stats.seconds += duration
        tracks[(title, artist)] += 1
        artists[artist] += 1
        if genre:
            genres[genre] += 1
    stats.days = [(day, int(n), secs) for day, (n, secs) in sorted(per_day.items(), reverse=True)]
    stats.top_tracks = [(title, artist, n) for (title, artist), n in _top(tracks)]
    stats.top_artists = _top(artists)
    stats.top_genres = _top(genres)
    run, previous = 0, None
    for day in sorted(per_day):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        stats.longest_streak = max(stats.longest_streak, run)
        previous = day
    today = now.astimezone(zone).date()
    if previous is not None and today - previous <= timedelta(days=1):
        stats.current_streak = run
    return stats


def _top(counter: Counter) -> list:
    """The most counted first, ties in name order."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP]
