"""The home page's "For you" mixes at 50,000 tracks and 1,000,000 listens, on SQLite and PostgreSQL.

    python bench/home_bench.py [--tracks 50000] [--plays 1000000] [--runs 40] [--db sqlite,postgresql]

Seeds a fresh migrated database with library_bench's 50,000 tracks (a fifth of them
public, the other accounts' all public), 150 listeners with two favourite genres each
listening in sessions over two years, and the bench user's own history (20,000 listens,
likes, hearts and dislikes); the rest of the listens are the other listeners'. The
co-listening table is then rebuilt by the nightly job's code (its time is printed).
Timed in process (server time: routing, queries, templates; no network):

- `/` as a listener sees it first: the library's first page with the mixes' section
  above it (the page then loads the mixes from the For you page);
- `/library`, the same page without that section: the reference in the same run;
- `/library/for-you`, the mixes the home page loads, and `recommend.for_you` without a page;
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

from sqlalchemy import func, insert, select, update

from app.extensions import db
from app.models import Favourite, PlayEvent, Role, Track, TrackLike, Visibility
from app.models.discovery import DISLIKE, LIKE
from app.services import accounts, recommend
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

    def sessions(user_id: int, pools: list[list[int]], count: int) -> None:
        # Each listener favours a few dozen tracks of their genres, and wanders a little.
        favourites = [rng.sample(pool, min(60, len(pool))) for pool in pools]
        for first in range(0, count, SESSION):
            at = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            pool = rng.choice(favourites) if rng.random() < 0.8 else rng.choice(pools)
            for k in range(min(SESSION, count - first)):
                rows.append(
                    {"user_id": user_id, "track_id": rng.choice(pool), "played_at": at + timedelta(minutes=4 * k)}
                )
            flush()

    bench_pools = [own["Jazz"], own["Folk"], own["Soul"]]
    sessions(bench_id, bench_pools, BENCH_PLAYS)
    per_listener = (plays - BENCH_PLAYS) // LISTENERS
    for user_id in people:
        sessions(user_id, [by_genre[g] for g in rng.sample(GENRES, 2)], per_listener)
    flush(force=True)
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


def run(backend: str, tracks: int, plays: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            started = time.perf_counter()
            bench_id, _, _ = seed(tracks)
            listens(bench_id, plays)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            recommend.rebuild_all()
            db.session.commit()
            rebuilt = time.perf_counter() - started
            total = db.session.scalar(select(func.count()).select_from(PlayEvent))
            db.session.remove()
        print(
            f"{backend}: seeded {tracks} tracks and {total} listens in {seeded:.0f} s, "
            f"co-listening rebuilt in {rebuilt:.1f} s",
            file=sys.stderr,
        )
        client = app.test_client()
        login(client)
        results = []
        for label, url in [
            ("/ (library, mixes' section)", "/"),
            ("/library (reference)", "/library"),
            ("/library/for-you (the mixes / loads)", "/library/for-you"),
        ]:
            median, p95, _rows = measure(client, url, runs)
            page = client.get(url).get_data(as_text=True)
            results.append((backend, label, median, p95, page.count('<section class="card mix"')))
        with app.app_context():
            mixes = recommend.for_you(bench_id)
            median, p95 = timed(runs, lambda: (recommend.for_you(bench_id), db.session.rollback()))
            results.append((backend, "recommend.for_you (service)", median, p95, len(mixes)))
        page = client.get("/library").get_data(as_text=True)
        token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)

        def shuffle() -> None:
            response = client.post("/api/radio", json={"seed": {"kind": "recommended"}}, headers={"X-CSRFToken": token})
            assert response.status_code == 200, response.get_data(as_text=True)

        median, p95 = timed(runs, shuffle)
        results.append((backend, "POST /api/radio (shuffle, 10 tracks)", median, p95, "-"))
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
    print(f"\nFor you at {args.tracks} tracks and {args.plays} listens, server ms ({args.runs} requests each)\n")
    print("| database | what | median | p95 | mixes |")
    print("|---|---|---|---|---|")
    for backend, label, median, p95, shown in rows:
        print(f"| {backend} | {label} | {median:.1f} | {p95:.1f} | {shown} |")


if __name__ == "__main__":
    main()
