"""The admin's dashboard: figures about the whole instance.

Private music appears only as counts and bytes (per account, per format, per bitrate),
never by title or tag; titles, artists and genres are those of public tracks. Days are
UTC days: the instance's listeners live in many time zones.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update

from app.extensions import db
from app.models import DashboardFigures, Job, JobState, PlayEvent, Track, User, Visibility
from app.models.types import utcnow
from app.services import jobs
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
    counted_at: datetime | None = None  # when these figures were counted
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


_FIELDS = {f.name for f in fields(Dashboard)} - {"counted_at"}  # the stored figures (the time is the row's)


def _utc_day(column):
    """The UTC day of a timestamp column as 'YYYY-MM-DD', in SQL (grouped by the database)."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC timestamps as ISO text


def _per_day(column, since: datetime, *where) -> list[Bucket]:
    day = _utc_day(column)
    rows = db.session.execute(select(day, func.count()).where(column >= since, *where).group_by(day))
    return [(date.fromisoformat(d), int(n), 0.0) for d, n in rows]


def _listens_since(since: datetime):
    """The condition for the listens since `since`, written so the (user, time) index finds
    them (one range per account) instead of a pass over every listen ever recorded."""
    return (PlayEvent.user_id.in_(select(User.id)), PlayEvent.played_at >= since)


def window_start(scale: str, today: date) -> date:
    """The first day the charts show at `scale`."""
    if scale == "week":
        return bucket_of(today, "week") - timedelta(weeks=SCALES["week"] - 1)
    if scale == "month":
        first = today.replace(day=1)
        months = first.year * 12 + first.month - 1 - (SCALES["month"] - 1)
        return date(months // 12, months % 12 + 1, 1)
    return today - timedelta(days=SCALES["day"] - 1)


# A count queued this long ago and not done is taken as lost (no worker ran it): queued again.
LOST_REFRESH = timedelta(minutes=10)


def current(scale: str, max_age: float) -> Dashboard:
    """The dashboard as the page shows it: the figures the last count stored, read back with
    one query. When they are older than `max_age` seconds a new count is queued (once, as a
    REFRESH_DASHBOARD job) and these are shown meanwhile, with the time they were counted:
    at a million listens a count takes seconds, which no page view should wait for.

    Counted on the spot only for a scale with nothing stored yet (its first view) and with a
    `max_age` of 0 (every view counts). Flushed: the caller commits, which sends the job.
    """
    scale = scale if scale in SCALES else "day"
    if max_age <= 0:
        return dashboard(scale)
    row = db.session.get(DashboardFigures, scale)
    if row is None:
        return refresh(scale)
    now = utcnow()
    if row.counted_at < now - timedelta(seconds=max_age) and (
        row.refresh_queued_at is None or row.refresh_queued_at < now - LOST_REFRESH
    ):
        # Two views at once find the figures old together: only the one that marks the row queues.
        same = (
            DashboardFigures.refresh_queued_at.is_(None)
            if row.refresh_queued_at is None
            else DashboardFigures.refresh_queued_at == row.refresh_queued_at
        )
        marked = db.session.execute(
            update(DashboardFigures)
            .where(DashboardFigures.scale == scale, same)
            .values(refresh_queued_at=now)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 1:
            jobs.submit(jobs.REFRESH_DASHBOARD, scale)
    return _from_plain(row.figures, row.counted_at)


def refresh(scale: str) -> Dashboard:
    """Count the figures of `scale` now and store them (flushed); the REFRESH_DASHBOARD job."""
    board = dashboard(scale)
    row = db.session.get(DashboardFigures, board.scale)
    if row is None:
        row = DashboardFigures(scale=board.scale)
        db.session.add(row)
    row.figures = _plain(board)
    row.counted_at = board.counted_at
    row.refresh_queued_at = None
    db.session.flush()
    return board


def _plain(board: Dashboard) -> dict[str, Any]:
    """The figures as JSON (days as ISO dates; the time they were counted is the row's)."""
    figures = asdict(board)
    del figures["counted_at"]
    for chart in ("plays", "uploads"):
        figures[chart] = [(day.isoformat(), n, seconds) for day, n, seconds in figures[chart]]
    return figures


def _from_plain(figures: dict[str, Any], counted_at: datetime) -> Dashboard:
    board = Dashboard(**{name: value for name, value in figures.items() if name in _FIELDS}, counted_at=counted_at)
    for chart in ("plays", "uploads"):
        setattr(board, chart, [(date.fromisoformat(day), n, seconds) for day, n, seconds in getattr(board, chart)])
    for name in ("top_tracks", "top_artists", "genres", "formats", "bitrates", "storage", "failed_jobs"):
        setattr(board, name, [tuple(item) for item in getattr(board, name)])
    board.other_accounts = tuple(board.other_accounts)
    return board


def dashboard(scale: str = "day", now: datetime | None = None) -> Dashboard:
    """The instance's figures; the charts over time grouped by `scale` (day, week, month)."""
    now = now or utcnow()
    if scale not in SCALES:
        scale = "day"
    today = now.date()
    first = window_start(scale, today)
    since = datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
    board = Dashboard(scale=scale, counted_at=now)
    board.plays = series(
        _per_day(PlayEvent.played_at, since, PlayEvent.user_id.in_(select(User.id))), scale, first, today
    )
    board.uploads = series(_per_day(Track.uploaded_at, since), scale, first, today)
    recent = now - timedelta(days=ACTIVE_DAYS)
    board.active_listeners = (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(select(PlayEvent.id).where(PlayEvent.user_id == User.id, PlayEvent.played_at >= recent).exists())
        )
        or 0
    )
    _tops(board, recent)
    _library(board)
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


def _tops(board: Dashboard, since: datetime) -> None:
    """The most played public tracks and artists since `since`, from one query: listens
    counted per track, then named."""
    per_track = (
        select(PlayEvent.track_id, func.count().label("n"))
        .where(*_listens_since(since))
        .group_by(PlayEvent.track_id)
        .subquery("per_track")
    )
    rows = db.session.execute(
        select(Track.id, Track.title, Track.artist, per_track.c.n)
        .join(per_track, per_track.c.track_id == Track.id)
        .where(Track.visibility == Visibility.PUBLIC)
    ).all()
    rows.sort(key=lambda r: (-r.n, r.title, r.id))
    board.top_tracks = [(r.title, r.artist, int(r.n)) for r in rows[:TOP]]
    artists: dict[str, int] = {}
    for r in rows:
        artists[r.artist] = artists.get(r.artist, 0) + int(r.n)
    board.top_artists = sorted(artists.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    count = func.count(Track.id)
    board.genres = [
        (genre, int(n))
        for genre, n in db.session.execute(
            select(Track.genre, count)
            .where(Track.visibility == Visibility.PUBLIC, Track.genre.is_not(None))
            .group_by(Track.genre)
            .order_by(count.desc(), Track.genre)
            .limit(TOP * 2)
        )
    ]


def _library(board: Dashboard) -> None:
    """Storage per account, formats and bitrate bands: one pass over the tracks, grouped by
    account, format and band, added up here."""
    kbps = Track.bitrate / 1000
    band = case(
        (Track.bitrate.is_(None), -1),
        *[(kbps < high, low) for low, high in itertools.pairwise(BITRATE_BANDS)],
        else_=BITRATE_BANDS[-1],
    )
    rows = db.session.execute(
        select(Track.owner_id, Track.format, band, func.count(), func.coalesce(func.sum(Track.size_bytes), 0)).group_by(
            Track.owner_id, Track.format, band
        )
    ).all()
    owners: dict[int, list[int]] = {}
    formats: dict[str, list[int]] = {}
    bands: dict[int, int] = {}
    for owner_id, fmt, low, n, size in rows:
        for key, table in ((owner_id, owners), (fmt, formats)):
            entry = table.setdefault(key, [0, 0])
            entry[0] += int(n)
            entry[1] += int(size)
        bands[low] = bands.get(low, 0) + int(n)
    names = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(list(owners)))).tuples().all())
    accounts = sorted(((names[i], n, b) for i, (n, b) in owners.items()), key=lambda a: (-a[2], a[0]))
    board.storage = accounts[:ACCOUNTS]
    rest = accounts[ACCOUNTS:]
    board.other_accounts = (len(rest), sum(n for _, n, _ in rest), sum(b for _, _, b in rest))
    board.tracks = sum(n for _, n, _ in accounts)
    board.total_bytes = sum(b for _, _, b in accounts)
    board.formats = sorted(((f, n, b) for f, (n, b) in formats.items()), key=lambda f: (-f[1], f[0]))
    board.bitrates = [
        (low, high, bands[low])
        for low, high in zip(BITRATE_BANDS, (*BITRATE_BANDS[1:], None), strict=True)
        if bands.get(low)
    ]
    if bands.get(-1):
        board.bitrates.append((None, None, bands[-1]))
