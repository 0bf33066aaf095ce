"""Discovery's budgets at 50,000 tracks and 1,000,000 listens, on SQLite and PostgreSQL.

    python bench/home_bench.py [--tracks 50000] [--plays 1000000] [--runs 40] [--db sqlite,postgresql]

Seeds a fresh migrated database with library_bench's 50,000 tracks (a fifth of them
public, the other accounts' all public), 150 listeners with two favourite genres each
listening in sessions over two years, and the bench user's own history (20,000 listens,
likes, hearts and dislikes); the rest of the listens are the other listeners'. Then the
nightly work, timed: the co-listening table's rebuild and every listener's mixes
(budget: 2 minutes for the full rebuild). Timed in process (server time: routing,
queries, templates; no network), each next to its budget:

- `/library`, the library's first page without the mixes: the reference in the same run;
- `/`, the same page with the mixes' section (the page then loads the mixes from For you);
- `/library/for-you`, the stored mixes (For you, and what `/` loads), and `/` then it, as
  a browser opening the home page asks (budget 100 ms);
- a track page with its similar tracks, and `recommend.similar_tracks` alone (100 ms);
- computing the mixes on the spot (the former way), a first visit of a listener without
  stored mixes, and one listener's refresh job;
- the co-listening update job after one listen (budget 50 ms of job time);
- the first batch of the shuffle by recommendation (`POST /api/radio`).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, insert, select, text, update

from app.extensions import db
from app.models import CoListen, Favourite, PlayEvent, Role, StoredMixes, Track, TrackLike, Visibility
from app.models.discovery import DISLIKE, LIKE
from app.services import accounts, mixes, recommend
from bench.library_bench import GENRES, analyse, login, measure, migrated_app, seed

LISTENERS = 150
BENCH_PLAYS = 20_000
SESSION = 8
BATCH = 50_000


def listens(bench_id: int, plays: int) -> None:
    """The listeners, their listens in sessions, and the bench user's likes and hearts."""
    rng = random.Random(11)
    # A fifth of the bench user's tracks are public too, so co-listening reaches them.
    db.session.execute(update(Track).where(Track.id % 5 == 0).values(visibility=Visibility.PUBLIC))
    db.session.execute(update(Track).where(Track.owner_id != bench_id).values(visibility=Visibility.PUBLIC))
    db.session.commit()
    by_genre: dict[str, list[int]] = {g: [] for g in GENRES}
    own: dict[str, list[int]] = {g: [] for g in GENRES}
    for track_id, genre, owner, visibility in db.session.execute(
        select(Track.id, Track.genre, Track.owner_id, Track.visibility)
    ):
        if visibility == Visibility.PUBLIC:
            by_genre[genre].append(track_id)
        if owner == bench_id:
            own[genre].append(track_id)
    people = [
        accounts.create_user(f"listener{i}", "bench password", role=Role.USER, rounds=4).id for i in range(LISTENERS)
    ]
    db.session.commit()
    now = datetime.now(UTC)
    rows: list[dict] = []

    def flush(force: bool = False) -> None:
        if rows and (force or len(rows) >= BATCH):
            db.session.execute(insert(PlayEvent), rows)
            db.session.commit()
            rows.clear()

    next_id = (db.session.scalar(select(func.max(PlayEvent.id))) or 0) + 1

    def sessions(user_id: int, pools: list[list[int]], count: int) -> None:
        # Each listener favours a few dozen tracks of their genres, and wanders a little.
        # The listens carry their session as the app keeps it (the id of its first listen).
        nonlocal next_id
        favourites = [rng.sample(pool, min(60, len(pool))) for pool in pools]
        for first in range(0, count, SESSION):
            at = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            pool = rng.choice(favourites) if rng.random() < 0.8 else rng.choice(pools)
            start = next_id
            for k in range(min(SESSION, count - first)):
                rows.append(
                    {
                        "id": next_id,
                        "user_id": user_id,
                        "track_id": rng.choice(pool),
                        "played_at": at + timedelta(minutes=4 * k),
                        "session_start": start,
                    }
                )
                next_id += 1
            flush()

    bench_pools = [own["Jazz"], own["Folk"], own["Soul"]]
    sessions(bench_id, bench_pools, BENCH_PLAYS)
    per_listener = (plays - BENCH_PLAYS) // LISTENERS
    for user_id in people:
        sessions(user_id, [by_genre[g] for g in rng.sample(GENRES, 2)], per_listener)
    flush(force=True)
    if db.engine.dialect.name == "postgresql":  # the ids were given: move the sequence past them
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('play_events', 'id'), max(id)) FROM play_events"))
        db.session.commit()
    picked = rng.sample(own["Jazz"] + own["Folk"], 500)
    db.session.execute(insert(TrackLike), [{"user_id": bench_id, "track_id": t, "value": LIKE} for t in picked[:300]])
    db.session.execute(insert(Favourite), [{"user_id": bench_id, "track_id": t} for t in picked[300:450]])
    db.session.execute(
        insert(TrackLike), [{"user_id": bench_id, "track_id": t, "value": DISLIKE} for t in picked[450:]]
    )
    db.session.commit()
    analyse()


def timed(runs: int, call) -> tuple[float, float]:
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def rebuild(bench_id: int) -> tuple[float, float, int]:
    """The nightly work at this size: the co-listening table, then every listener's mixes
    (one REFRESH_MIXES job each, run here one after the other). Seconds for each, and how
    many listeners."""
    started = time.perf_counter()
    recommend.rebuild_all()
    db.session.commit()
    co_listening = time.perf_counter() - started
    people = [bench_id, *db.session.scalars(select(PlayEvent.user_id).where(PlayEvent.user_id != bench_id).distinct())]
    started = time.perf_counter()
    for user_id in people:
        mixes.refresh_job(user_id)
        db.session.commit()
    return co_listening, time.perf_counter() - started, len(people)


def listen_then_update(runs: int) -> tuple[float, float]:
    """Job time of the co-listening update after one listen of a public track: listeners
    play sessions of SESSION tracks from their history, and after each listen (but a
    session's first, which pairs with nothing) the job recomputes the listened track's
    pairs with its session (what listening.record_play queues)."""
    rng = random.Random(5)
    history = db.session.execute(
        select(PlayEvent.user_id, PlayEvent.track_id)
        .join(Track, Track.id == PlayEvent.track_id)
        .where(Track.visibility == Visibility.PUBLIC)
        .order_by(PlayEvent.id)
        .limit(20_000)
    ).all()
    played: dict[int, list[int]] = {}
    for user_id, track_id in history:
        played.setdefault(user_id, []).append(track_id)
    people = sorted(played)
    now = datetime.now(UTC) + timedelta(days=1)
    times = []
    listen = 0
    while len(times) <= runs:
        user_id = rng.choice(people)
        for track_id in rng.sample(played[user_id], min(SESSION, len(played[user_id]))):
            listen += 1
            event = PlayEvent(user_id=user_id, track_id=track_id, played_at=now + timedelta(minutes=4 * listen))
            db.session.add(event)
            db.session.flush()
            recommend.start_session(event)
            session = recommend.session_tracks(event)
            first = not db.session.scalar(
                select(PlayEvent.id)
                .where(PlayEvent.user_id == user_id, PlayEvent.track_id == track_id, PlayEvent.id != event.id)
                .limit(1)
            )
            db.session.commit()
            if len(session) < 2:
                continue
            started = time.perf_counter()
            recommend.update_co_listens(session, track_id, first)
            db.session.commit()
            times.append((time.perf_counter() - started) * 1000)
        now += timedelta(hours=1)
    times = sorted(times[1:])  # the first one warms caches
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def prepare(backend: str, tracks: int, plays: int) -> tuple[int, int, list[tuple]]:
    """Seed, then the nightly work; return the bench user, a track of theirs with
    co-listening rows (the track page's case) and the rebuild's rows."""
    started = time.perf_counter()
    bench_id, _, _ = seed(tracks)
    listens(bench_id, plays)
    seeded = time.perf_counter() - started
    co_listening, all_mixes, people = rebuild(bench_id)
    total = db.session.scalar(select(func.count()).select_from(PlayEvent))
    seed_track = db.session.scalar(
        select(CoListen.track_id)
        .join(Track, Track.id == CoListen.track_id)
        .where(Track.owner_id == bench_id)
        .group_by(CoListen.track_id)
        .order_by(func.count().desc(), CoListen.track_id)
        .limit(1)
    )
    db.session.remove()
    print(
        f"{backend}: seeded {tracks} tracks and {total} listens in {seeded:.0f} s; co-listening rebuilt in "
        f"{co_listening:.1f} s, the mixes of {people} listeners in {all_mixes:.1f} s",
        file=sys.stderr,
    )
    return (
        bench_id,
        seed_track,
        [
            (backend, "full rebuild: co-listening table", None, co_listening * 1000, "2 min", "-"),
            (backend, f"full rebuild: the mixes of all {people} listeners", None, all_mixes * 1000, "", "-"),
            (backend, "full rebuild: both (the nightly work)", None, (co_listening + all_mixes) * 1000, "2 min", "-"),
        ],
    )


def run(backend: str, tracks: int, plays: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            bench_id, seed_track, results = prepare(backend, tracks, plays)
        client = app.test_client()
        login(client)
        for label, url, budget in [
            ("/library (reference: no mixes)", "/library", ""),
            ("/ (library and the mixes' section, before they load)", "/", ""),
            ("/library/for-you (the stored mixes: For you, and what / loads)", "/library/for-you", "100 ms"),
            ("track page (its 10 similar tracks)", f"/library/tracks/{seed_track}", "100 ms"),
        ]:
            median, p95, _rows = measure(client, url, runs)
            page = client.get(url).get_data(as_text=True)
            results.append((backend, label, median, p95, budget, page.count('<section class="card mix"')))

        def home() -> None:
            for url in ("/", "/library/for-you"):
                assert client.get(url).status_code == 200

        median, p95 = timed(runs, home)
        results.append((backend, "home with its mixes: / then /library/for-you", median, p95, "100 ms", "-"))
        with app.app_context():
            median, p95 = timed(
                runs, lambda: (recommend.similar_tracks(bench_id, seed_track, 10), db.session.rollback())
            )
            results.append((backend, "recommend.similar_tracks (service)", median, p95, "100 ms", "-"))
            found = recommend.for_you(bench_id)
            median, p95 = timed(runs, lambda: (recommend.for_you(bench_id), db.session.rollback()))
            results.append((backend, "recommend.for_you (computing them, the former way)", median, p95, "", len(found)))

        def first_visit() -> None:
            # A listener without stored mixes: computed on the spot and stored.
            with app.app_context():
                db.session.execute(delete(StoredMixes).where(StoredMixes.user_id == bench_id))
                db.session.commit()
            assert client.get("/library/for-you").status_code == 200

        median, p95 = timed(max(5, runs // 4), first_visit)
        results.append((backend, "/library/for-you, first visit (computed and stored)", median, p95, "", "-"))
        with app.app_context():
            median, p95 = timed(max(5, runs // 4), lambda: (mixes.refresh_job(bench_id), db.session.commit()))
            results.append((backend, "mixes refresh job, bench user (20,000 listens)", median, p95, "", "-"))
            median, p95 = listen_then_update(max(5, runs // 4))
            results.append((backend, "incremental update job after one listen", median, p95, "50 ms", "-"))
        page = client.get("/library").get_data(as_text=True)
        token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)

        def shuffle() -> None:
            response = client.post("/api/radio", json={"seed": {"kind": "recommended"}}, headers={"X-CSRFToken": token})
            assert response.status_code == 200, response.get_data(as_text=True)

        median, p95 = timed(runs, shuffle)
        results.append((backend, "POST /api/radio (shuffle, 10 tracks)", median, p95, "", "-"))
        with app.app_context():
            db.engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.db.split(","):
        rows += run(backend.strip(), args.tracks, args.plays, args.runs)
    print(f"\nDiscovery at {args.tracks} tracks and {args.plays} listens, server ms ({args.runs} runs each)\n")
    print("| database | what | median | p95 | budget | mixes |")
    print("|---|---|---|---|---|---|")
    for backend, label, median, p95, budget, shown in rows:
        if median is None:  # a single run, in seconds
            print(f"| {backend} | {label} | - | {p95 / 1000:.1f} s | {budget} | {shown} |")
        else:
            print(f"| {backend} | {label} | {median:.1f} | {p95:.1f} | {budget} | {shown} |")


if __name__ == "__main__":
    main()
