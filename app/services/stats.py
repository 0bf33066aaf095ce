"""Your listening in figures: plays and time per day, week or month, top tracks, artists,
albums and genres, streaks, and a year in review.

Days are the user's local days (a listen at 23:30 in their time zone counts for that
day). Only tracks the user can still see are counted, like the history page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import func, select

from app.extensions import db
from app.models import PlayEvent, Track
from app.models.types import utcnow
from app.services.history import start_of_day
from app.services.library import access

TOP = 10
# How a chart groups the days: by local day, by week (from Monday) or by calendar month.
SCALES = ("day", "week", "month")

# (first local day of the bucket, listens, seconds)
Bucket = tuple[date, int, float]


@dataclass
class Stats:
    plays: int = 0
    seconds: float = 0.0
    days: list[Bucket] = field(default_factory=list)  # local days with a listen, newest first
    top_tracks: list[tuple[str, str, int]] = field(default_factory=list)  # (title, artist, plays)
    top_artists: list[tuple[str, int]] = field(default_factory=list)
    top_albums: list[tuple[str, str, int]] = field(default_factory=list)  # (album, its artist, plays)
    top_genres: list[tuple[str, int]] = field(default_factory=list)
    longest_streak: int = 0  # consecutive local days with a listen
    current_streak: int = 0
    # The first listen counted: (local time, title, artist).
    first_listen: tuple[datetime, str, str] | None = None
    # Every artist heard and how often (the year in review picks the new ones from it).
    artist_plays: Counter = field(default_factory=Counter, repr=False)


@dataclass
class YearReview:
    year: int
    stats: Stats
    months: list[Bucket]  # the twelve months, January first
    busiest_month: Bucket | None
    busiest_day: Bucket | None
    new_artists: list[tuple[str, int]]  # artists first heard that year, most played first
    new_artist_count: int


def _played(user_id: int, since: datetime | None, until: datetime | None):
    stmt = (
        select(
            PlayEvent.played_at,
            Track.title,
            Track.artist,
            Track.album,
            func.coalesce(Track.album_artist, Track.artist),
            Track.genre,
            Track.duration,
        )
        .join(Track, Track.id == PlayEvent.track_id)
        .where(PlayEvent.user_id == user_id, access.visible_to(user_id))
        .order_by(PlayEvent.played_at, PlayEvent.id)
    )
    if since is not None:
        stmt = stmt.where(PlayEvent.played_at >= since)
    if until is not None:
        stmt = stmt.where(PlayEvent.played_at < until)
    return db.session.execute(stmt)


def _gather(user_id: int, zone: tzinfo, since: datetime | None, until: datetime | None, today: date) -> Stats:
    stats = Stats()
    per_day: dict[date, list] = {}
    tracks, artists, albums, genres = Counter(), Counter(), Counter(), Counter()
    for played_at, title, artist, album, album_artist, genre, duration in _played(user_id, since, until):
        local = played_at.astimezone(zone)
        if stats.first_listen is None:
            stats.first_listen = (local, title, artist)
        entry = per_day.setdefault(local.date(), [0, 0.0])
        entry[0] += 1
        entry[1] += duration
        stats.plays += 1
        stats.seconds += duration
        tracks[(title, artist)] += 1
        artists[artist] += 1
        albums[(album, album_artist)] += 1
        if genre:
            genres[genre] += 1
    stats.days = [(day, int(n), secs) for day, (n, secs) in sorted(per_day.items(), reverse=True)]
    stats.top_tracks = [(title, artist, n) for (title, artist), n in _top(tracks)]
    stats.top_artists = _top(artists)
    stats.top_albums = [(album, artist, n) for (album, artist), n in _top(albums)]
    stats.top_genres = _top(genres)
    stats.artist_plays = artists
    run, previous = 0, None
    for day in sorted(per_day):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        stats.longest_streak = max(stats.longest_streak, run)
        previous = day
    if previous is not None and today - previous <= timedelta(days=1):
        stats.current_streak = run
    return stats


def listening_stats(user_id: int, zone: tzinfo, days: int | None = None, now: datetime | None = None) -> Stats:
    """The user's figures over the last `days` local days, today included, from the first
    one's midnight in `zone` (as the page's chart counts them; None: all their history)."""
    now = now or utcnow()
    today = now.astimezone(zone).date()
    since = start_of_day(today - timedelta(days=days - 1), zone) if days is not None else None
    return _gather(user_id, zone, since, None, today)


def bucket_of(day: date, scale: str) -> date:
    """The first day of the bucket `day` falls in: itself, its week's Monday or its month's 1st."""
    if scale == "week":
        return day - timedelta(days=day.weekday())
    if scale == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, scale: str) -> date:
    if scale == "week":
        return start + timedelta(days=7)
    if scale == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def series(days: list[Bucket], scale: str, first: date, last: date) -> list[Bucket]:
    """The listens and time of every bucket from `first`'s to `last`'s, oldest first,
    empty buckets included (a chart shows the gaps)."""
    totals: dict[date, list] = {}
    for day, n, secs in days:
        entry = totals.setdefault(bucket_of(day, scale), [0, 0.0])
        entry[0] += n
        entry[1] += secs
    out: list[Bucket] = []
    start, end = bucket_of(first, scale), bucket_of(last, scale)
    while start <= end:
        n, secs = totals.get(start, (0, 0.0))
        out.append((start, int(n), secs))
        start = _next_bucket(start, scale)
    return out


def listening_years(user_id: int, zone: tzinfo) -> list[int]:
    """The years (local) from the user's first listen to their last, newest first."""
    first, last = db.session.execute(
        select(func.min(PlayEvent.played_at), func.max(PlayEvent.played_at)).where(PlayEvent.user_id == user_id)
    ).one()
    if first is None:
        return []
    return list(range(last.astimezone(zone).year, first.astimezone(zone).year - 1, -1))


def year_review(user_id: int, zone: tzinfo, year: int) -> YearReview:
    """The user's `year` (local): totals, tops, busiest month and day, longest streak, first
    listen, and the artists first heard that year (never heard before it)."""
    since = start_of_day(date(year, 1, 1), zone)
    until = start_of_day(date(year + 1, 1, 1), zone)
    stats = _gather(user_id, zone, since, until, date(year, 12, 31))
    stats.current_streak = 0  # a year in review has no "current"
    months = series(stats.days, "month", date(year, 1, 1), date(year, 12, 1))
    before = set(
        db.session.scalars(
            select(Track.artist)
            .join(PlayEvent, PlayEvent.track_id == Track.id)
            .where(PlayEvent.user_id == user_id, PlayEvent.played_at < since, access.visible_to(user_id))
            .distinct()
        )
    )
    new = Counter({artist: n for artist, n in stats.artist_plays.items() if artist not in before})
    return YearReview(
        year=year,
        stats=stats,
        months=months,
        busiest_month=max((m for m in months if m[1]), key=lambda m: (m[1], m[2]), default=None),
        busiest_day=max(stats.days, key=lambda d: (d[1], d[2]), default=None),
        new_artists=_top(new),
        new_artist_count=len(new),
    )


def _top(counter: Counter) -> list:
    """The most counted first, ties in name order."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP]
