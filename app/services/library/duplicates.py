"""Likely duplicates: the same song twice in one library as different files (a FLAC and
an MP3 of it, two rips): same artist, same title, lengths within DURATION_SLACK seconds.
Exact duplicates (the same bytes) never get this far: adding a file refuses them.

The user keeps one, keeps both (the group is then not offered again) or keeps the
better quality; the others are deleted like any track.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from app.extensions import db
from app.models import KeptDuplicates, Track
from app.services.library import editing

DURATION_SLACK = 2.0
LOSSLESS = frozenset({"flac", "wav"})
# Groups shown at once (the page's query stays bounded on a huge library).
MAX_GROUPS = 500

KEEP_BOTH = "both"
KEEP_BEST = "best"


def quality(track: Track) -> tuple[bool, int, int, int, int]:
    """Higher is better: lossless first, then bitrate, sample rate, size; the older on ties."""
    return (track.format in LOSSLESS, track.bitrate or 0, track.sample_rate or 0, track.size_bytes, -track.id)


@dataclass
class DuplicateGroup:
    tracks: list[Track]  # best quality first

    @property
    def key(self) -> str:
        return ",".join(str(i) for i in sorted(t.id for t in self.tracks))

    @property
    def best(self) -> Track:
        return self.tracks[0]


def _clusters(tracks: Iterable[Track]) -> list[list[Track]]:
    """Tracks sorted by artist, title and length, cut where the song or the length changes."""
    clusters: list[list[Track]] = []
    previous: Track | None = None
    for track in tracks:
        same = (
            previous is not None
            and (track.artist_key, track.title_key) == (previous.artist_key, previous.title_key)
            and track.duration - previous.duration <= DURATION_SLACK
        )
        if same:
            clusters[-1].append(track)
        else:
            clusters.append([track])
        previous = track
    return [c for c in clusters if len(c) > 1]


def likely_duplicates(owner_id: int, limit: int = MAX_GROUPS) -> list[DuplicateGroup]:
    """The owner's groups of likely duplicates (not those they chose to keep), by artist and title."""
    pairs = (
        select(Track.artist_key, Track.title_key)
        .where(Track.owner_id == owner_id)
        .group_by(Track.artist_key, Track.title_key)
        .having(func.count(Track.id) > 1)
        .subquery()
    )
    tracks = db.session.scalars(
        select(Track)
        .join(pairs, and_(Track.artist_key == pairs.c.artist_key, Track.title_key == pairs.c.title_key))
        .where(Track.owner_id == owner_id)
        .order_by(Track.artist_key, Track.title_key, Track.duration, Track.id)
    )
    kept = set(db.session.scalars(select(KeptDuplicates.track_ids).where(KeptDuplicates.owner_id == owner_id)))
    groups = []
    for cluster in _clusters(tracks):
        group = DuplicateGroup(sorted(cluster, key=quality, reverse=True))
        if group.key not in kept:
            groups.append(group)
            if len(groups) >= limit:
                break
    return groups


@dataclass
class Plan:
    """What a set of decisions does: the tracks deleted, and the groups kept whole."""

    delete: list[Track]
    keep_both: list[DuplicateGroup]


def plan(owner_id: int, decisions: dict[str, str]) -> Plan:
    """Decisions by group key: KEEP_BOTH, KEEP_BEST or the id of the one track to keep.
    Keys of groups the owner does not have (any more) and unknown choices are ignored."""
    result = Plan([], [])
    for group in likely_duplicates(owner_id):
        choice = decisions.get(group.key, "")
        if choice == KEEP_BOTH:
            result.keep_both.append(group)
            continue
        if choice == KEEP_BEST:
            keep = group.best
        elif choice.isdigit() and int(choice) in {t.id for t in group.tracks}:
            keep = next(t for t in group.tracks if t.id == int(choice))
        else:
            continue
        result.delete.extend(t for t in group.tracks if t.id != keep.id)
    return result


def carry_out(owner_id: int, decided: Plan) -> list[str]:
    """Delete the plan's tracks and remember the groups kept whole (flushed); return the
    stored files the caller removes after committing."""
    files: list[str] = []
    for group in decided.keep_both:
        db.session.add(KeptDuplicates(owner_id=owner_id, track_ids=group.key))
    for track in decided.delete:
        if track.owner_id == owner_id:
            files.extend(editing.delete_track(track))
    db.session.flush()
    return files
