"""Recommendations from this server's own data: similar tracks, and the scores radio and
the home page's mixes rank with.

Two signals, mixed and explained:

- co-listening ("people who listen to A also listen to B"): the co_listens table,
  kept by the UPDATE_RECOMMENDATIONS job as listens, likes, favourites and playlist
  additions arrive (`update_co_listens`). For a public track A, each person who
  played, liked, hearted or listed it contributes the public tracks B they played in
  the same listening sessions (plays less than SESSION_GAP apart), listed in the same
  playlists, or also liked or hearted; a person's weight for B grows with the log of
  how often (implicit feedback: a repeat is evidence, not a vote per play), nothing
  for a track they disliked. The sum is divided by the square root of B's listeners,
  so a track everyone plays does not top every list. A pair is stored only when at
  least MIN_LISTENERS distinct people make it: nobody's listening can be read from it,
  and only public tracks are ever counted.
- content: same artist, same album artist, same genre, close year (SAME_ERA_YEARS).

Everything shown goes through access.visible_to, so another account's private track
is never suggested, and a user's dislikes are left out. Reasons come back as codes
with parameters; the web layer words them (app/web/discovery.py).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, case, delete, func, insert, or_, select, update

from app.extensions import db
from app.models import CoListen, Favourite, PlayEvent, Playlist, PlaylistEntry, Track, TrackLike, Visibility
from app.models.discovery import DISLIKE, LIKE
from app.models.library import TAG_MAX
from app.models.types import utcnow
from app.services import jobs
from app.services.errors import DomainError, NotFound
from app.services.library import access
from app.services.text import fold

# Plays of one person less than this apart belong to one listening session.
SESSION_GAP = timedelta(minutes=30)
# Co-listening counts only from this many distinct people.
MIN_LISTENERS = 3
# Neighbours kept per track in co_listens.
MAX_NEIGHBOURS = 50
# Years apart that still count as the same era.
SAME_ERA_YEARS = 3
# Content candidates read per seed (the closest first).
CONTENT_CANDIDATES = 300
# A session's tracks (the latest) a listen pairs with in the per-listen update.
SESSION_TRACKS = 500
# Listens whose session key one statement sets right.
FIX_BATCH = 5_000
# Ids one IN (...) of a statement holds.
IN_CHUNK = 1_000

# How much each kind of evidence weighs in the mix (co-listening is normalised to 0..1).
W_CO_LISTEN = 1.0
W_SAME_ARTIST = 0.5
W_SAME_ALBUM_ARTIST = 0.3
W_SAME_GENRE = 0.35
W_SAME_ERA = 0.15

# Reason codes (app/web/discovery.py words them).
SAME_ARTIST = "SAME_ARTIST"
SAME_ALBUM_ARTIST = "SAME_ALBUM_ARTIST"
SAME_GENRE = "SAME_GENRE"
SAME_ERA = "SAME_ERA"
LISTENED_TOGETHER = "LISTENED_TOGETHER"


@dataclass
class Suggestion:
    """A suggested track, its score and why (reason codes; LISTENED_TOGETHER carries `listeners`)."""

    track: Track
    score: float
    reasons: list[str] = field(default_factory=list)
    listeners: int = 0


# --- keeping co_listens up to date (the job) ------------------------------------------------


def queue_update(track_ids: Iterable[int]) -> None:
    """Queue the job that recomputes the rows of these tracks (sent when the caller commits).

    Only public tracks have rows, so an event on private tracks queues nothing.
    """
    public = _public(track_ids)
    if public:
        jobs.submit(jobs.UPDATE_RECOMMENDATIONS, sorted(public))


def queue_listen(event: PlayEvent) -> None:
    """After a listen (flushed, its session set): queue the update of the pairs it changes,
    the listened track with each track of its session, both ways."""
    session = _public(session_tracks(event))
    if event.track_id not in session:
        return
    # The person's first listen of the track gives it one more listener, which changes the
    # rows holding it even when it pairs with nothing (alone in its session).
    first = not db.session.scalar(
        select(PlayEvent.id)
        .where(PlayEvent.user_id == event.user_id, PlayEvent.track_id == event.track_id, PlayEvent.id != event.id)
        .limit(1)
    )
    if len(session) > 1 or first:
        jobs.submit(jobs.UPDATE_RECOMMENDATIONS, sorted(session), event.track_id, first)


def disliked_query(user_id: int) -> Select:
    return select(TrackLike.track_id).where(TrackLike.user_id == user_id, TrackLike.value == DISLIKE)


def disliked_ids(user_id: int) -> set[int]:
    """Every track the user disliked (left out of whatever is suggested to them)."""
    return set(db.session.scalars(disliked_query(user_id)))


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """The ids IN_CHUNK at a time (a popular track's co-listeners and neighbours can pass
    what one statement takes as parameters)."""
    ordered = sorted(set(ids))
    for first in range(0, len(ordered), IN_CHUNK):
        yield ordered[first : first + IN_CHUNK]


def _public(track_ids: Iterable[int]) -> set[int]:
    public: set[int] = set()
    for chunk in _chunks(track_ids):
        public.update(
            db.session.scalars(select(Track.id).where(Track.id.in_(chunk), Track.visibility == Visibility.PUBLIC))
        )
    return public


# (row track, other track) -> person -> how often the person paired them.
PairCounts = dict[tuple[int, int], dict[int, float]]


def _pair_counts(rows: set[int], others: set[int] | None = None) -> PairCounts:
    """How often each person paired a track of `rows` with another track (of `others`, or
    any): the other's listens in the sessions holding the row track, its entries in the
    playlists holding it, and one when the person loves (likes or hearts) both; not with a
    track they disliked. The same counts as rebuild_all's, read with a few queries for the
    tracks asked about only."""
    counts: PairCounts = defaultdict(lambda: defaultdict(float))
    held = (
        select(PlayEvent.user_id, PlayEvent.session_start, PlayEvent.track_id.label("row"))
        .where(PlayEvent.track_id.in_(rows), PlayEvent.session_start.is_not(None))
        .distinct()
        .subquery()
    )
    query = (
        select(held.c.row, PlayEvent.track_id, PlayEvent.user_id, func.count())
        .join(held, and_(held.c.user_id == PlayEvent.user_id, held.c.session_start == PlayEvent.session_start))
        .group_by(held.c.row, PlayEvent.track_id, PlayEvent.user_id)
    )
    if others is not None:
        query = query.where(PlayEvent.track_id.in_(others))
    for row, other, person, n in db.session.execute(query):
        counts[row, other][person] += n
    listed = (
        select(PlaylistEntry.playlist_id, PlaylistEntry.track_id.label("row"))
        .where(PlaylistEntry.track_id.in_(rows))
        .distinct()
        .subquery()
    )
    query = (
        select(listed.c.row, PlaylistEntry.track_id, Playlist.owner_id, func.count())
        .join(listed, listed.c.playlist_id == PlaylistEntry.playlist_id)
        .join(Playlist, Playlist.id == PlaylistEntry.playlist_id)
        .group_by(listed.c.row, PlaylistEntry.track_id, Playlist.owner_id)
    )
    if others is not None:
        query = query.where(PlaylistEntry.track_id.in_(others))
    for row, other, person, n in db.session.execute(query):
        counts[row, other][person] += n
    lovers = _loved(rows=rows)
    if lovers:
        loved = _loved(people=set(lovers), tracks=others)
        for person, loved_rows in lovers.items():
            for row in loved_rows:
                for other in loved.get(person, ()):
                    counts[row, other][person] += 1.0
    for pair in [pair for pair in counts if pair[0] == pair[1]]:
        del counts[pair]
    _drop_disliked(counts, others)
    return counts


def _drop_disliked(counts: PairCounts, others: set[int] | None) -> None:
    """A person's pairs with a track they disliked do not count."""
    people = set().union(*counts.values()) if counts else set()
    disliked: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(people):
        query = select(TrackLike.user_id, TrackLike.track_id).where(
            TrackLike.value == DISLIKE, TrackLike.user_id.in_(chunk)
        )
        if others is not None:
            query = query.where(TrackLike.track_id.in_(others))
        for person, track_id in db.session.execute(query):
            disliked[track_id].add(person)
    for (_row, other), paired in counts.items():
        for person in disliked.get(other, ()) & paired.keys():
            del paired[person]


def _loved(
    *, rows: set[int] | None = None, people: set[int] | None = None, tracks: set[int] | None = None
) -> dict[int, set[int]]:
    """Per person, the tracks they like or hearted: of `rows` (anyone's), or of `people`
    (among `tracks` when given)."""
    found: dict[int, set[int]] = defaultdict(set)
    for model, extra in ((TrackLike, [TrackLike.value == LIKE]), (Favourite, [])):
        for chunk in [None] if people is None else _chunks(people):
            query = select(model.user_id, model.track_id).where(*extra)
            if rows is not None:
                query = query.where(model.track_id.in_(rows))
            if chunk is not None:
                query = query.where(model.user_id.in_(chunk))
            if tracks is not None:
                query = query.where(model.track_id.in_(tracks))
            for person, track_id in db.session.execute(query):
                found[person].add(track_id)
    return found


@dataclass(frozen=True)
class Scored:
    score: float
    listeners: int
    weight: float


def _score(weight: float, listeners: int, popularity: int) -> float:
    """A pair's score: its weight divided by the square root of the other track's listeners
    (at least the pair's own), so a track everyone plays does not top every list."""
    return weight / math.sqrt(max(popularity, listeners))


def _scored(counts: PairCounts, public: set[int]) -> dict[tuple[int, int], Scored]:
    """The stored score, listeners and weight of each pair of public tracks from
    MIN_LISTENERS people: each person's count weighs log(1 + count), summed."""
    pairs = {
        pair: people
        for pair, people in counts.items()
        if pair[0] in public and pair[1] in public and len(people) >= MIN_LISTENERS
    }
    popularity = _listener_counts({other for _row, other in pairs})
    scored = {}
    for (row, other), people in pairs.items():
        weight = sum(math.log1p(count) for count in people.values())
        scored[row, other] = Scored(_score(weight, len(people), popularity.get(other, 0)), len(people), weight)
    return scored


def _listener_counts(track_ids: set[int] | None) -> dict[int, int]:
    """Distinct listeners of each of these tracks (None: of every track, in one pass)."""
    counted = select(PlayEvent.track_id, func.count(PlayEvent.user_id.distinct())).group_by(PlayEvent.track_id)
    if track_ids is None:
        return dict(db.session.execute(counted).tuples().all())
    counts: dict[int, int] = {}
    for chunk in _chunks(track_ids):
        counts.update(db.session.execute(counted.where(PlayEvent.track_id.in_(chunk))).tuples().all())
    return counts


def _store(scored: dict[tuple[int, int], Scored]) -> None:
    if scored:
        db.session.execute(
            insert(CoListen),
            [
                {"track_id": t, "other_id": o, "listeners": one.listeners, "score": one.score, "weight": one.weight}
                for (t, o), one in scored.items()
            ],
        )


def update_track(track_id: int) -> int:
    """Recompute the co-listening rows of one track; return how many it has now.

    A private (or deleted) track has none: only public tracks are counted.
    """
    db.session.execute(delete(CoListen).where(CoListen.track_id == track_id))
    if not _public([track_id]):
        return 0
    counts = _pair_counts({track_id})
    scored = _scored(counts, _public({track_id} | {other for _row, other in counts}))
    kept = sorted(scored.items(), key=lambda item: (-item[1].score, -item[0][1]))[:MAX_NEIGHBOURS]
    _store(dict(kept))
    db.session.flush()
    return len(kept)


def update_pairs(listened: int, session: set[int], first_listen: bool) -> int:
    """After a listen of `listened`: recompute its pairs with the other tracks of its session,
    both ways (the only counts a listen changes), and keep each row's best MAX_NEIGHBOURS.
    On a person's first listen of the track, the track has one more listener: the rows
    holding it elsewhere are scored again from their weight. Returns the number of pairs
    recomputed.

    What this cannot see the nightly rebuild_all puts right: a pair that a row's trim
    dropped and now ranks higher than one kept; sessions that two listens at the same
    moment split, or that a deleted track cut in two; listens added without a session.
    """
    public = _public(session | {listened})
    if listened not in public:
        return 0
    if first_listen:
        _rescale(listened)
    others = public - {listened}
    if not others:
        db.session.flush()
        return 0
    counts: PairCounts = {**_pair_counts({listened}, others), **_pair_counts(others, {listened})}
    scored = _scored(counts, public)
    db.session.execute(
        delete(CoListen).where(
            or_(
                and_(CoListen.track_id == listened, CoListen.other_id.in_(others)),
                and_(CoListen.other_id == listened, CoListen.track_id.in_(others)),
            )
        )
    )
    _store(scored)
    _trim({row for row, _other in scored})
    db.session.flush()
    return 2 * len(others)


def _rescale(track_id: int) -> None:
    """Score again, from their weight, the rows that hold the track as the other one (its
    listeners changed). Absolute, so a job that runs twice or late does no harm."""
    popularity = _listener_counts({track_id}).get(track_id, 0)
    rescaled = [
        {"track_id": row, "other_id": track_id, "score": _score(weight, n, popularity)}
        for row, n, weight in db.session.execute(
            select(CoListen.track_id, CoListen.listeners, CoListen.weight).where(
                CoListen.other_id == track_id, CoListen.weight.is_not(None)
            )
        )
    ]
    if rescaled:
        db.session.execute(update(CoListen), rescaled)


def _trim(track_ids: set[int]) -> None:
    """Keep only the best MAX_NEIGHBOURS rows of each of these tracks."""
    if not track_ids:
        return
    over = db.session.scalars(
        select(CoListen.track_id)
        .where(CoListen.track_id.in_(track_ids))
        .group_by(CoListen.track_id)
        .having(func.count() > MAX_NEIGHBOURS)
    ).all()
    for track_id in over:
        beyond = (
            select(CoListen.other_id)
            .where(CoListen.track_id == track_id)
            .order_by(CoListen.score.desc(), CoListen.other_id.desc())
            .offset(MAX_NEIGHBOURS)
        )
        db.session.execute(
            delete(CoListen).where(CoListen.track_id == track_id, CoListen.other_id.in_(beyond.scalar_subquery()))
        )


def update_co_listens(track_ids: Iterable[int], listened: int | None = None, first_listen: bool = False) -> int:
    """The job's work. After a listen (`listened` given): the pairs of that track with the
    rest of `track_ids`, its session (update_pairs). After a like, heart or playlist
    addition: every row of each track. Returns the number of tracks or pairs recomputed."""
    wanted = {int(t) for t in track_ids}
    if listened is not None:
        return update_pairs(int(listened), wanted, first_listen)
    for track_id in sorted(wanted):
        update_track(track_id)
    return len(wanted)


# --- listening sessions -----------------------------------------------------------------


def start_session(event: PlayEvent) -> None:
    """Give a just-flushed listen its session: the session of the person's previous listen
    when that was at most SESSION_GAP before, else a new one (keyed by its own id)."""
    previous = db.session.execute(
        select(PlayEvent.played_at, PlayEvent.session_start)
        .where(PlayEvent.user_id == event.user_id, PlayEvent.id != event.id, PlayEvent.played_at <= event.played_at)
        .order_by(PlayEvent.played_at.desc(), PlayEvent.id.desc())
        .limit(1)
    ).first()
    if (
        previous is not None
        and previous.session_start is not None
        and event.played_at - previous.played_at <= SESSION_GAP
    ):
        event.session_start = previous.session_start
    else:
        event.session_start = event.id
    db.session.flush()


def session_tracks(event: PlayEvent) -> list[int]:
    """The distinct tracks of the listen's session, the latest SESSION_TRACKS (the tracks a
    listen pairs with)."""
    if event.session_start is None:
        return [event.track_id]
    recent = db.session.scalars(
        select(PlayEvent.track_id)
        .where(PlayEvent.user_id == event.user_id, PlayEvent.session_start == event.session_start)
        .group_by(PlayEvent.track_id)
        .order_by(func.max(PlayEvent.played_at).desc())
        .limit(SESSION_TRACKS)
    )
    return list(dict.fromkeys([event.track_id, *recent]))


def _derive_sessions(plays: list[tuple[int, int, datetime, int | None]], fixes: list[dict]) -> list[list[int]]:
    """A person's plays (id, track, time, session key; in order) cut where two are more than
    SESSION_GAP apart: the sessions' tracks. A session whose listens do not all carry one
    key of their own gets its first listen's id, added to `fixes`."""
    sessions: list[list[tuple[int, int, int | None]]] = []
    last = None
    for play_id, track_id, at, key in plays:
        if last is None or at - last > SESSION_GAP:
            sessions.append([])
        sessions[-1].append((play_id, track_id, key))
        last = at
    used: set[int | None] = set()
    for session in sessions:
        keys = {key for _id, _track, key in session}
        key = next(iter(keys))
        # A key is kept when the whole session has it, no other session does, and it is the
        # id of one of its own listens (ids can come back after a deletion on SQLite).
        if len(keys) != 1 or key in used or key not in {play_id for play_id, _t, _k in session}:
            key = session[0][0]
            fixes += [{"id": play_id, "session_start": key} for play_id, _t, k in session if k != key]
        used.add(key)
    return [[track_id for _id, track_id, _key in session] for session in sessions]


def _apply_session_fixes(fixes: list[dict]) -> None:
    for first in range(0, len(fixes), FIX_BATCH):
        db.session.execute(update(PlayEvent), fixes[first : first + FIX_BATCH])


def rekey_sessions(user_id: int) -> int:
    """Derive a person's sessions again from the times of their listens (after an import or
    a deletion changed them); return how many listens changed session (flushed)."""
    plays = db.session.execute(
        select(PlayEvent.id, PlayEvent.track_id, PlayEvent.played_at, PlayEvent.session_start)
        .where(PlayEvent.user_id == user_id)
        .order_by(PlayEvent.played_at, PlayEvent.id)
    ).all()
    fixes: list[dict] = []
    _derive_sessions([tuple(play) for play in plays], fixes)
    _apply_session_fixes(fixes)
    db.session.flush()
    return len(fixes)


def rebuild_all() -> int:
    """Recompute every public track's rows at once (the nightly job; after an import of
    history). The same rows as update_track for each track, from one pass over the
    history in memory instead of queries per track. The listens' sessions are derived
    again from their times on the way (set right where they drifted). Returns the number
    of tracks with rows."""
    public = set(db.session.scalars(select(Track.id).where(Track.visibility == Visibility.PUBLIC)))
    plays, lists, loved, disliked = _everyones_signals()
    fixes: list[dict] = []
    weight: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    listeners: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for person in set(plays) | set(lists) | set(loved):
        # Each listening session, playlist and the loved set pairs its tracks (as _pair_counts does).
        groups = [
            *_derive_sessions(plays.get(person, []), fixes),
            *lists.get(person, {}).values(),
            list(loved.get(person, ())),
        ]
        counts: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for group in groups:
            for track_id in set(group) & public:
                for other in group:
                    counts[track_id][other] += 1.0
        for track_id, others in counts.items():
            others.pop(track_id, None)
            for other, count in others.items():
                if other in public and other not in disliked.get(person, ()):
                    weight[track_id][other] += math.log1p(count)
                    listeners[track_id][other] += 1
    _apply_session_fixes(fixes)
    popularity = _listener_counts(None)
    db.session.execute(delete(CoListen))
    rows = []
    for track_id, others in listeners.items():
        scored = sorted(
            (
                (_score(weight[track_id][other], n, popularity.get(other, 0)), other)
                for other, n in others.items()
                if n >= MIN_LISTENERS
            ),
            reverse=True,
        )[:MAX_NEIGHBOURS]
        rows += [
            {"track_id": track_id, "other_id": o, "listeners": others[o], "score": sc, "weight": weight[track_id][o]}
            for sc, o in scored
        ]
    if rows:
        db.session.execute(insert(CoListen), rows)
    db.session.flush()
    return len({row["track_id"] for row in rows})


def _everyones_signals() -> tuple[
    dict[int, list[tuple[int, int, datetime, int | None]]],
    dict[int, dict[int, list[int]]],
    dict[int, set[int]],
    dict[int, set[int]],
]:
    """Per person: plays in order (id, track, time, session), playlists' entries, loved
    (liked or hearted) and disliked tracks."""
    plays: dict[int, list[tuple[int, int, datetime, int | None]]] = defaultdict(list)
    for play_id, person, track_id, at, key in db.session.execute(
        select(
            PlayEvent.id, PlayEvent.user_id, PlayEvent.track_id, PlayEvent.played_at, PlayEvent.session_start
        ).order_by(PlayEvent.user_id, PlayEvent.played_at, PlayEvent.id)
    ):
        plays[person].append((play_id, track_id, at, key))
    lists: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for person, playlist_id, track_id in db.session.execute(
        select(Playlist.owner_id, PlaylistEntry.playlist_id, PlaylistEntry.track_id).join(
            Playlist, Playlist.id == PlaylistEntry.playlist_id
        )
    ):
        lists[person][playlist_id].append(track_id)
    loved: dict[int, set[int]] = defaultdict(set)
    disliked: dict[int, set[int]] = defaultdict(set)
    for person, track_id, value in db.session.execute(select(TrackLike.user_id, TrackLike.track_id, TrackLike.value)):
        (loved if value == LIKE else disliked)[person].add(track_id)
    for person, track_id in db.session.execute(select(Favourite.user_id, Favourite.track_id)):
        loved[person].add(track_id)
    return plays, lists, loved, disliked


# --- similar tracks ---------------------------------------------------------------------


def _content(
    user_id: int, seed: Track, exclude: set[int], candidates: int = CONTENT_CANDIDATES
) -> dict[int, tuple[float, list[str], Track]]:
    """Tracks the user can see that share the seed's artist, album artist or genre, scored
    (the `candidates` closest: same artist first, then by year)."""
    links = [Track.artist_id == seed.artist_id]
    if seed.album_artist_id is not None:
        links.append(Track.album_artist_id == seed.album_artist_id)
    if seed.genre_key:
        links.append(Track.genre_key == seed.genre_key)
    closeness = [case((Track.artist_id == seed.artist_id, 0), else_=1)]
    if seed.year is not None:
        closeness.append(func.abs(func.coalesce(Track.year, -10_000) - seed.year))
    rows = db.session.scalars(
        select(Track)
        .where(or_(*links), access.visible_to(user_id), Track.id != seed.id)
        .order_by(*closeness, Track.id)
        .limit(candidates)
    )
    found: dict[int, tuple[float, list[str], Track]] = {}
    for track in rows:
        if track.id in exclude:
            continue
        score, reasons = 0.0, []
        if track.artist_id == seed.artist_id:
            score, reasons = score + W_SAME_ARTIST, [*reasons, SAME_ARTIST]
        elif seed.album_artist_id is not None and track.album_artist_id == seed.album_artist_id:
            score, reasons = score + W_SAME_ALBUM_ARTIST, [*reasons, SAME_ALBUM_ARTIST]
        if seed.genre_key and track.genre_key == seed.genre_key:
            score, reasons = score + W_SAME_GENRE, [*reasons, SAME_GENRE]
        if seed.year is not None and track.year is not None and abs(track.year - seed.year) <= SAME_ERA_YEARS:
            score, reasons = score + W_SAME_ERA, [*reasons, SAME_ERA]
        found[track.id] = (score, reasons, track)
    return found


def _co_listened(user_id: int, seed_id: int, exclude: set[int]) -> list[tuple[Track, int, float]]:
    rows = db.session.execute(
        select(Track, CoListen.listeners, CoListen.score)
        .join(CoListen, CoListen.other_id == Track.id)
        .where(CoListen.track_id == seed_id, CoListen.listeners >= MIN_LISTENERS, access.visible_to(user_id))
        .order_by(CoListen.score.desc(), Track.id)
        .limit(MAX_NEIGHBOURS)
    )
    return [(track, n, score) for track, n, score in rows if track.id not in exclude]


def similar_to(
    user_id: int,
    seed: Track,
    limit: int = 20,
    exclude: Iterable[int] = (),
    *,
    candidates: int = CONTENT_CANDIDATES,
    disliked: set[int] | None = None,
) -> list[Suggestion]:
    """Tracks like `seed` (which the caller has checked the user can see), best first.

    `candidates` bounds the content matches read (fewer: faster, a little less choice);
    `disliked` is the user's dislikes when the caller has them already."""
    skip = set(exclude) | (disliked_ids(user_id) if disliked is None else disliked) | {seed.id}
    suggestions: dict[int, Suggestion] = {}
    co = _co_listened(user_id, seed.id, skip)
    top = max((score for _, _, score in co), default=0.0)
    for track, listeners, score in co:
        suggestions[track.id] = Suggestion(track, W_CO_LISTEN * score / top, [LISTENED_TOGETHER], listeners=listeners)
    for track_id, (score, reasons, track) in _content(user_id, seed, skip, candidates).items():
        found = suggestions.get(track_id)
        if found is None:
            suggestions[track_id] = Suggestion(track, score, reasons)
        else:
            found.score += score
            found.reasons = reasons + found.reasons
    ranked = sorted(suggestions.values(), key=lambda s: (-s.score, s.track.id))
    return ranked[: max(0, limit)]


def similar_tracks(user_id: int, track_id: int, limit: int = 20) -> list[Suggestion]:
    """Tracks like the track `track_id`, best first. Raises NotFound for a track the user cannot see."""
    return similar_to(user_id, access.get_visible_track(user_id, track_id), limit)


# --- radio --------------------------------------------------------------------------------

RADIO_KINDS = ("track", "artist", "genre", "recommended")
# Tracks of the seed (an artist's, a genre's) considered, and recent tracks that steer.
RADIO_SEED_TRACKS = 50
RADIO_RECENT = 3
RADIO_MAX = 25
# Each skip of an artist's track multiplies the artist's next scores by this.
SKIP_PENALTY = 0.4


class InvalidSeed(DomainError):
    """A radio seed of an unknown kind."""

    code = "INVALID_RADIO_SEED"


def _seed_tracks(user_id: int, kind: str, value: str | int | None) -> list[Track]:
    """The tracks a radio starts from. Raises NotFound (nothing the user can see) or InvalidSeed.

    "recommended" (the shuffle by recommendation) starts from the user's favourites of
    the moment (`taste_of`); a user with no history yet gets tracks they can see, at random.
    """
    if kind == "track":
        return [access.get_visible_track(user_id, int(value or 0))]
    if kind == "recommended":
        favourites = [track for track, _ in taste_of(user_id)[:RADIO_SEED_TRACKS]]
        if favourites:
            return favourites
        found = list(
            db.session.scalars(
                select(Track)
                .where(access.visible_to(user_id), Track.id.not_in(disliked_query(user_id)))
                .order_by(func.random())
                .limit(RADIO_SEED_TRACKS)
            )
        )
        if not found:
            raise NotFound("RADIO_SEED_NOT_FOUND")
        return found
    if kind == "artist":
        where = or_(Track.artist_id == int(value or 0), Track.album_artist_id == int(value or 0))
    elif kind == "genre":
        where = Track.genre_key == fold(str(value or ""))[:TAG_MAX]
    else:
        raise InvalidSeed(kind=str(kind)[:20])
    found = list(
        db.session.scalars(
            select(Track).where(where, access.visible_to(user_id)).order_by(Track.id).limit(RADIO_SEED_TRACKS)
        )
    )
    if not found:
        raise NotFound("RADIO_SEED_NOT_FOUND")
    return found


def radio(
    user_id: int,
    kind: str,
    value: str | int | None,
    *,
    played: Iterable[int] = (),
    skipped: Iterable[int] = (),
    count: int = 10,
) -> list[Track]:
    """The next `count` tracks of a radio started from a track, an artist, a genre, or
    "recommended" (the shuffle by recommendation: the user's favourites and tracks like
    them, in a random order).

    Never a track of `played` or `skipped` (this session's), never one the user disliked,
    never one they cannot see. `played` steers: the last RADIO_RECENT of it (newest last)
    seed similar tracks; each skip (a track the player skipped in its first seconds)
    lowers its artist's tracks. When nothing similar is left, other tracks the user can
    see keep the radio going, then nothing (the player stops).
    Raises NotFound or InvalidSeed for the seed.
    """
    count = max(1, min(int(count), RADIO_MAX))
    seeds = _seed_tracks(user_id, kind, value)
    played_ids, skipped_ids = [int(i) for i in played], {int(i) for i in skipped}
    exclude = set(played_ids) | skipped_ids | disliked_ids(user_id)
    skipped_artists: dict[int, int] = defaultdict(int)
    for artist_id in db.session.scalars(select(Track.artist_id).where(Track.id.in_(skipped_ids))):
        skipped_artists[artist_id] += 1
    scores: dict[int, float] = defaultdict(float)
    tracks: dict[int, Track] = {}
    if kind != "track":
        for track in seeds:
            if track.id not in exclude:
                scores[track.id] += 1.0
                tracks[track.id] = track
    recent = [t for t in played_ids if t not in skipped_ids][-RADIO_RECENT:]
    steering = {t.id: t for t in seeds[:RADIO_RECENT]}
    if recent:
        steering.update(
            (t.id, t) for t in db.session.scalars(select(Track).where(Track.id.in_(recent), access.visible_to(user_id)))
        )
    for seed in steering.values():
        for s in similar_to(user_id, seed, count * 3, exclude=exclude):
            scores[s.track.id] += s.score
            tracks[s.track.id] = s.track
    ranked = sorted(
        tracks.values(),
        key=lambda t: (-scores[t.id] * SKIP_PENALTY ** skipped_artists.get(t.artist_id, 0), t.id),
    )
    picked = ranked[:count]
    if len(picked) < count:
        taken = exclude | {t.id for t in picked}
        picked += db.session.scalars(
            select(Track)
            .where(access.visible_to(user_id), Track.id.not_in(taken or {0}))
            .order_by(func.random())
            .limit(count - len(picked))
        )
    if kind == "recommended":
        # A shuffle: the best `count`, in no particular order.
        random.shuffle(picked)
    return picked


# --- "for you": the home page's mixes --------------------------------------------------------

# Listens that shape the taste clusters, and how far back.
TASTE_WINDOW = timedelta(days=180)
TASTE_SEEDS = 5
MIX_SIZE = 25
DAILY_MIXES = 3
# Loved tracks not played for this long come back in "rediscover".
REDISCOVER_AFTER = timedelta(days=90)


@dataclass
class Mix:
    """A list to play in one click: its kind ("daily", "rediscover", "new"), the taste it
    follows (a genre or an artist name, for daily mixes), and its tracks."""

    kind: str
    label: str | None
    tracks: list[Track]


def taste_of(user_id: int) -> list[tuple[Track, float]]:
    """The user's tracks by weight: plays in TASTE_WINDOW (log-weighted), likes and hearts."""
    since = utcnow() - TASTE_WINDOW
    weight: dict[int, float] = defaultdict(float)
    for track_id, plays in db.session.execute(
        select(PlayEvent.track_id, func.count())
        .where(PlayEvent.user_id == user_id, PlayEvent.played_at >= since)
        .group_by(PlayEvent.track_id)
    ):
        weight[track_id] += math.log1p(plays)
    for track_id in db.session.scalars(
        select(TrackLike.track_id).where(TrackLike.user_id == user_id, TrackLike.value == LIKE)
    ):
        weight[track_id] += 1.0
    for track_id in db.session.scalars(select(Favourite.track_id).where(Favourite.user_id == user_id)):
        weight[track_id] += 1.0
    for track_id in disliked_ids(user_id):
        weight.pop(track_id, None)
    if not weight:
        return []
    tracks = db.session.scalars(select(Track).where(Track.id.in_(weight), access.visible_to(user_id)))
    return sorted(((t, weight[t.id]) for t in tracks), key=lambda pair: (-pair[1], pair[0].id))


def day_order(user_id: int, tracks: list[Track], today: date | None = None) -> list[Track]:
    """A daily mix's tracks in the day's order, the same all day."""
    day = (today or utcnow().date()).toordinal()
    shuffled = list(tracks)
    # Not a secret: any generator does.
    random.Random(day * 7919 + user_id).shuffle(shuffled)  # noqa: S311
    return shuffled


def daily_mixes(
    user_id: int,
    today: date | None = None,
    taste: list[tuple[Track, float]] | None = None,
    *,
    shuffled: bool = True,
) -> list[Mix]:
    """Up to DAILY_MIXES mixes, one per taste cluster (the genres, else artists, the user
    plays and loves most): the cluster's favourites and tracks like them, in an order
    that changes each day (`day_order`; with shuffled=False, best first, for the stored
    mixes, which take the day's order when read). `taste` is `taste_of(user_id)` when
    the caller has it."""
    clusters: dict[str, list[tuple[Track, float]]] = defaultdict(list)
    names: dict[str, str] = {}
    for track, weight in taste_of(user_id) if taste is None else taste:
        key = f"g:{track.genre_key}" if track.genre_key else f"a:{track.artist_key}"
        clusters[key].append((track, weight))
        names.setdefault(key, track.genre or track.artist)
    ranked = sorted(clusters, key=lambda key: -sum(w for _, w in clusters[key]))[:DAILY_MIXES]
    mixes = []
    disliked = disliked_ids(user_id)
    for key in ranked:
        seeds = [track for track, _ in clusters[key][:TASTE_SEEDS]]
        picked: dict[int, Track] = {t.id: t for t in seeds}
        for seed in seeds:
            # A mix keeps MIX_SIZE tracks: the closest few content matches are enough.
            for s in similar_to(user_id, seed, MIX_SIZE, candidates=MIX_SIZE * 2, disliked=disliked):
                picked.setdefault(s.track.id, s.track)
        tracks = list(picked.values())[:MIX_SIZE]
        mixes.append(Mix("daily", names[key], day_order(user_id, tracks, today) if shuffled else tracks))
    return mixes


def rediscover(user_id: int, limit: int = MIX_SIZE) -> Mix:
    """Tracks the user liked or hearted and has not played for REDISCOVER_AFTER (or ever)."""
    last = (
        select(PlayEvent.track_id, func.max(PlayEvent.played_at).label("last"))
        .where(PlayEvent.user_id == user_id)
        .group_by(PlayEvent.track_id)
        .subquery()
    )
    loved = (
        select(TrackLike.track_id)
        .where(TrackLike.user_id == user_id, TrackLike.value == LIKE)
        .union(select(Favourite.track_id).where(Favourite.user_id == user_id))
    )
    tracks = db.session.scalars(
        select(Track)
        .outerjoin(last, last.c.track_id == Track.id)
        .where(
            Track.id.in_(loved),
            access.visible_to(user_id),
            or_(last.c.last.is_(None), last.c.last < utcnow() - REDISCOVER_AFTER),
        )
        .order_by(last.c.last.is_not(None), last.c.last, Track.id)
        .limit(limit)
    )
    return Mix("rediscover", None, list(tracks))


def new_for_you(user_id: int, limit: int = MIX_SIZE, taste: list[tuple[Track, float]] | None = None) -> Mix:
    """Public tracks of other accounts the user has never played, their favourite genres first.
    `taste` is `taste_of(user_id)` when the caller has it."""
    genres = [t.genre_key for t, _ in (taste_of(user_id) if taste is None else taste) if t.genre_key][: TASTE_SEEDS * 2]
    played = select(PlayEvent.track_id).where(PlayEvent.user_id == user_id)
    new = select(Track).where(
        Track.visibility == Visibility.PUBLIC,
        Track.owner_id != user_id,
        Track.id.not_in(played),
        Track.id.not_in(disliked_query(user_id)),
    )
    # The favourite genres' newest, then the others' newest: two scans of the upload-time
    # index that stop at `limit`, rather than sorting every public track.
    newest = (Track.uploaded_at.desc(), Track.id)
    wanted = genres or [""]
    tracks = list(db.session.scalars(new.where(Track.genre_key.in_(wanted)).order_by(*newest).limit(limit)))
    if len(tracks) < limit:
        others = or_(Track.genre_key.is_(None), Track.genre_key.not_in(wanted))
        tracks += db.session.scalars(new.where(others).order_by(*newest).limit(limit - len(tracks)))
    return Mix("new", None, tracks)


def for_you(user_id: int, taste: list[tuple[Track, float]] | None = None, *, shuffled: bool = True) -> list[Mix]:
    """The home page's mixes, those with tracks: the daily mixes, rediscover, new for you,
    computed now (the pages read them as the mixes job stored them: app/services/mixes.py).
    `taste` is `taste_of(user_id)` when the caller has it; `shuffled` as for daily_mixes."""
    taste = taste_of(user_id) if taste is None else taste
    mixes = [
        *daily_mixes(user_id, taste=taste, shuffled=shuffled),
        rediscover(user_id),
        new_for_you(user_id, taste=taste),
    ]
    return [mix for mix in mixes if mix.tracks]


def for_user(user_id: int, limit: int = 10, exclude: Iterable[int] = ()) -> list[Track]:
    """Tracks for the user, best first: the tracks like their TASTE_SEEDS favourite ones
    (weighted by how much they play and love each), none they played, disliked or `exclude`."""
    played = set(db.session.scalars(select(PlayEvent.track_id).where(PlayEvent.user_id == user_id).distinct()))
    skip = played | set(exclude)
    scores: dict[int, float] = defaultdict(float)
    tracks: dict[int, Track] = {}
    for seed, weight in taste_of(user_id)[:TASTE_SEEDS]:
        for s in similar_to(user_id, seed, limit * 3, exclude=skip):
            scores[s.track.id] += weight * s.score
            tracks[s.track.id] = s.track
    return sorted(tracks.values(), key=lambda t: (-scores[t.id], t.id))[:limit]
