"""The admin's dashboard: figures about the whole instance.

Private music appears only as counts and bytes per account, never by title or tag;
titles, artists and genres are those of public tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Job, JobState, PlayEvent, Track, User, Visibility
from app.models.types import utcnow

TOP = 10
DAYS = 30


@dataclass
class Dashboard:
    plays_by_day: list[tuple[date, int]] = field(default_factory=list)  # the last DAYS days, UTC, newest first
    active_listeners: int = 0  # accounts with a listen in the last DAYS days
    top_tracks: list[tuple[str, str, int]] = field(default_factory=list)  # public tracks: (title, artist, plays)
    top_artists: list[tuple[str, int]] = field(default_factory=list)  # of public tracks
    genres: list[tuple[str, int]] = field(default_factory=list)  # of public tracks
    formats: list[tuple[str, int, int]] = field(default_factory=list)  # (format, tracks, bytes), every track
    storage: list[tuple[str, int, int]] = field(default_factory=list)  # (username, tracks, bytes)
    total_bytes: int = 0
    tracks: int = 0
    failed_jobs: int = 0


def dashboard(now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    since = now - timedelta(days=DAYS)
    board = Dashboard()
    per_day: dict[date, int] = {}
    for (played_at,) in db.session.execute(select(PlayEvent.played_at).where(PlayEvent.played_at >= since)):
        per_day[played_at.date()] = per_day.get(played_at.date(), 0) + 1
    board.plays_by_day = sorted(per_day.items(), reverse=True)
    board.active_listeners = (
        db.session.scalar(select(func.count(PlayEvent.user_id.distinct())).where(PlayEvent.played_at >= since)) or 0
    )
    public = Track.visibility == Visibility.PUBLIC
    plays = func.count(PlayEvent.id)
    board.top_tracks = [
        (title, artist, n)
        for title, artist, n in db.session.execute(
            select(Track.title, Track.artist, plays)
            .join(PlayEvent, PlayEvent.track_id == Track.id)
            .where(public)
            .group_by(Track.id, Track.title, Track.artist)
            .order_by(plays.desc(), Track.title)
            .limit(TOP)
        )
    ]
    board.top_artists = list(
        db.session.execute(
            select(Track.artist, plays)
            .join(PlayEvent, PlayEvent.track_id == Track.id)
            .where(public)
            .group_by(Track.artist)
            .order_by(plays.desc(), Track.artist)
            .limit(TOP)
        ).tuples()
    )
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
    board.formats = list(
        db.session.execute(select(Track.format, count, size).group_by(Track.format).order_by(count.desc())).tuples()
    )
    board.storage = list(
        db.session.execute(
            select(User.username, count, size)
            .join(Track, Track.owner_id == User.id)
            .group_by(User.id, User.username)
            .order_by(size.desc(), User.username)
        ).tuples()
    )
    board.total_bytes = sum(int(b) for _, _, b in board.storage)
    board.tracks = sum(n for _, n, _ in board.storage)
    board.failed_jobs = (
        db.session.scalar(select(func.count()).select_from(Job).where(Job.state == JobState.FAILED)) or 0
    )
    return board
