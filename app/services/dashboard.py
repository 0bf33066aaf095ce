"""The admin's dashboard: figures about the whole instance.

Private music appears only as counts and bytes (per account, per format, per bitrate),
never by title or tag; titles, artists and genres are those of public tracks. Days are
UTC days: the instance's listeners live in many time zones.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import Job, JobState, PlayEvent, Track, User, Visibility
from app.models.types import utcnow
from app.services.stats import Bucket, bucket_of, series

TOP = 10
ACCOUNTS = 20  # the largest accounts listed by name; the rest are one line
ACTIVE_DAYS = 30
# How far back each scale of the charts looks: 30 days, 26 weeks, 12 months.
SCALES = {"day": 30, "week": 26, "month": 12}
# Bitrate bands, in kbit/s: each band runs from its figure to the next one's.
BITRATE_BANDS = (0, 128, 192, 256, 320, 500, 1000)


@dataclass
class Dashboard:
    scale: str = "day"
    plays: list[Bucket] = field(default_factory=list)  # per day/week/month, oldest first
    uploads: list[Bucket] = field(default_factory=list)  # tracks added, same buckets
    active_listeners: int = 0  # accounts with a listen in the last ACTIVE_DAYS days
    top_tracks: list[tuple[str, str, int]] = field(default_factory=list)  # public tracks: (title, artist, plays)
    top_artists: list[tuple[str, int]] = field(default_factory=list)  # of public tracks
    genres: list[tuple[str, int]] = field(default_factory=list)  # of public tracks
    formats: list[tuple[str, int, int]] = field(default_factory=list)  # (format, tracks, bytes), every track
    # (lowest kbit/s, highest kbit/s or None for the last band, tracks); lowest None: bitrate unknown.
    bitrates: list[tuple[int | None, int | None, int]] = field(default_factory=list)
    storage: list[tuple[str, int, int]] = field(default_factory=list)  # the largest accounts: (username, tracks, bytes)
    other_accounts: tuple[int, int, int] = (0, 0, 0)  # the rest: (accounts, tracks, bytes)
    total_bytes: int = 0
    tracks: int = 0
    failed_jobs: list[tuple[str, int]] = field(default_factory=list)  # (job name, failed), most first

    @property
    def failed_total(self) -> int:
        return sum(n for _, n in self.failed_jobs)


def _utc_day(column):
    """The UTC day of a timestamp column as 'YYYY-MM-DD', in SQL (grouped by the database)."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC timestamps as ISO text


def _per_day(column, since: datetime) -> list[Bucket]:
    day = _utc_day(column)
    rows = db.session.execute(select(day, func.count()).where(column >= since).group_by(day))
    return [(date.fromisoformat(d), int(n), 0.0) for d, n in rows]


def window_start(scale: str, today: date) -> date:
    """The first day the charts show at `scale`."""
    if scale == "week":
        return bucket_of(today, "week") - timedelta(weeks=SCALES["week"] - 1)
    if scale == "month":
        first = today.replace(day=1)
        months = first.year * 12 + first.month - 1 - (SCALES["month"] - 1)
        return date(months // 12, months % 12 + 1, 1)
    return today - timedelta(days=SCALES["day"] - 1)


def dashboard(scale: str = "day", now: datetime | None = None) -> Dashboard:
    """The instance's figures; the charts over time grouped by `scale` (day, week, month)."""
    now = now or utcnow()
    if scale not in SCALES:
        scale = "day"
    today = now.date()
    first = window_start(scale, today)
    since = datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
    board = Dashboard(scale=scale)
    board.plays = series(_per_day(PlayEvent.played_at, since), scale, first, today)
    board.uploads = series(_per_day(Track.uploaded_at, since), scale, first, today)
    board.active_listeners = (
        db.session.scalar(
            select(func.count(PlayEvent.user_id.distinct())).where(
                PlayEvent.played_at >= now - timedelta(days=ACTIVE_DAYS)
            )
        )
        or 0
    )
    public = Track.visibility == Visibility.PUBLIC
    # Counted per track id first (an index-only pass over the listens), then named.
    per_track = select(PlayEvent.track_id, func.count().label("n")).group_by(PlayEvent.track_id).subquery("per_track")
    board.top_tracks = [
        (title, artist, int(n))
        for title, artist, n in db.session.execute(
            select(Track.title, Track.artist, per_track.c.n)
            .join(per_track, per_track.c.track_id == Track.id)
            .where(public)
            .order_by(per_track.c.n.desc(), Track.title, Track.id)
            .limit(TOP)
        )
    ]
    artist_plays = func.sum(per_track.c.n)
    board.top_artists = [
        (artist, int(n))
        for artist, n in db.session.execute(
            select(Track.artist, artist_plays)
            .join(per_track, per_track.c.track_id == Track.id)
            .where(public)
            .group_by(Track.artist)
            .order_by(artist_plays.desc(), Track.artist)
            .limit(TOP)
        )
    ]
    count = func.count(Track.id)
    board.genres = list(
        db.session.execute(
            select(Track.genre, count)
            .where(public, Track.genre.is_not(None))
            .group_by(Track.genre)
            .order_by(count.desc(), Track.genre)
            .limit(TOP * 2)
        ).tuples()
    )
    size = func.coalesce(func.sum(Track.size_bytes), 0)
    board.formats = [
        (fmt, int(n), int(b))
        for fmt, n, b in db.session.execute(
            select(Track.format, count, size).group_by(Track.format).order_by(count.desc(), Track.format)
        )
    ]
    board.bitrates = _bitrates()
    per_account = db.session.execute(
        select(User.username, count, size)
        .join(Track, Track.owner_id == User.id)
        .group_by(User.id, User.username)
        .order_by(size.desc(), User.username)
    ).all()
    board.storage = [(name, int(n), int(b)) for name, n, b in per_account[:ACCOUNTS]]
    rest = per_account[ACCOUNTS:]
    board.other_accounts = (len(rest), sum(int(n) for _, n, _ in rest), sum(int(b) for _, _, b in rest))
    board.tracks = sum(int(n) for _, n, _ in per_account)
    board.total_bytes = sum(int(b) for _, _, b in per_account)
    failed = func.count(Job.id)
    board.failed_jobs = [
        (name, int(n))
        for name, n in db.session.execute(
            select(Job.name, failed)
            .where(Job.state == JobState.FAILED)
            .group_by(Job.name)
            .order_by(failed.desc(), Job.name)
        )
    ]
    return board


def _bitrates() -> list[tuple[int | None, int | None, int]]:
    kbps = Track.bitrate / 1000
    band = case(
        (Track.bitrate.is_(None), -1),
        *[(kbps < high, low) for low, high in itertools.pairwise(BITRATE_BANDS)],
        else_=BITRATE_BANDS[-1],
    )
    counted = dict(db.session.execute(select(band, func.count()).group_by(band)).all())
    out: list[tuple[int | None, int | None, int]] = []
    for low, high in zip(BITRATE_BANDS, (*BITRATE_BANDS[1:], None), strict=True):
        if counted.get(low):
            out.append((low, high, int(counted[low])))
    if counted.get(-1):
        out.append((None, None, int(counted[-1])))
    return out
