"""The admin's dashboard and the listening stats at 50,000 tracks and 1,000,000 listens,
on SQLite and PostgreSQL.

    python bench/dashboard_bench.py [--tracks 50000] [--plays 1000000] [--runs 30] [--db sqlite,postgresql]

Seeds a fresh migrated database with home_bench's library and listens (library_bench's
50,000 tracks, 150 listeners over two years, the bench user's own 20,000 listens) and a
few hundred finished and failed jobs, then times in process (server time: routing,
queries, templates; no network) the dashboard with its three chart scales, counted on
every view (DASHBOARD_CACHE_SECONDS=0), as served (the figures a count stored: the first
view counts, the timed ones read them back) and as served when the stored figures are too
old (shown, and one count queued for the worker), the bench user's stats page and their
year in review, against `/library`, the reference in the same run. The budget is the
dashboard's: a p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select, update

from app.extensions import db
from app.models import DashboardFigures, Job, JobState, PlayEvent
from bench.home_bench import listens
from bench.library_bench import login, measure, migrated_app, seed

BUDGET_MS = 300
# (label, URL, budget, DASHBOARD_CACHE_SECONDS): the dashboard counted on every view, then
# as served (the stored figures: the first view counts and stores them, the timed ones read them).
PAGES = [
    ("/library (reference)", "/library", None, 0),
    ("/admin/ (by day), counted every view", "/admin/", None, 0),
    ("/admin/?by=week, counted every view", "/admin/?by=week", None, 0),
    ("/admin/?by=month, counted every view", "/admin/?by=month", None, 0),
    ("/admin/ (by day), stored figures (as served)", "/admin/", BUDGET_MS, 60),
    ("/admin/?by=week, stored figures (as served)", "/admin/?by=week", BUDGET_MS, 60),
    ("/admin/?by=month, stored figures (as served)", "/admin/?by=month", BUDGET_MS, 60),
    ("/account/stats (30 days)", "/account/stats", None, 0),
    ("/account/stats?period=year&by=week", "/account/stats?period=year&by=week", None, 0),
    ("/account/stats/year/<last year>", "/account/stats/year/{last_year}", None, 0),
]


def jobs(count: int) -> None:
    """Finished and failed jobs, a tenth of them failed."""
    now = datetime.now(UTC)
    db.session.execute(
        insert(Job),
        [
            {
                "name": "analyse_track",
                "args": [i],
                "state": JobState.FAILED if i % 10 == 0 else JobState.DONE,
                "attempts": 1,
                "created_at": now,
            }
            for i in range(count)
        ],
    )
    db.session.commit()


def run(backend: str, tracks: int, plays: int, runs: int, only: list[str] | None) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            started = time.perf_counter()
            bench_id, _, _ = seed(tracks)
            listens(bench_id, plays)
            jobs(500)
            total = db.session.scalar(select(func.count()).select_from(PlayEvent))
            db.session.remove()
        print(
            f"{backend}: seeded {tracks} tracks and {total} listens in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        client = app.test_client()
        login(client)
        last_year = datetime.now(UTC).year - 1
        results = []
        for label, url, budget, kept in PAGES:
            if only and label not in only:
                continue
            app.config["DASHBOARD_CACHE_SECONDS"] = kept
            median, p95, _rows = measure(client, url.format(last_year=last_year), runs)
            results.append((backend, label, median, p95, budget))
        label = "/admin/ (by day), stored figures too old: shown, and a count queued"
        if not only or label in only:
            app.config["DASHBOARD_CACHE_SECONDS"] = 60

            def stale_view() -> None:
                with app.app_context():
                    db.session.execute(
                        update(DashboardFigures).values(
                            counted_at=datetime.now(UTC) - timedelta(hours=1), refresh_queued_at=None
                        )
                    )
                    db.session.commit()
                started = time.perf_counter()
                assert client.get("/admin/").status_code == 200
                return (time.perf_counter() - started) * 1000

            times = sorted(stale_view() for _ in range(runs + 1))[:-1]
            results.append((backend, label, statistics.median(times), times[int(len(times) * 0.95) - 1], BUDGET_MS))
        with app.app_context():
            db.engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--only", help="comma-separated labels of the pages to time (default: all)")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else None
    rows = []
    for backend in args.db.split(","):
        rows += run(backend.strip(), args.tracks, args.plays, args.runs, only)
    print(
        f"\nDashboard and stats at {args.tracks} tracks and {args.plays} listens,"
        f" server ms ({args.runs} requests each)\n"
    )
    print("| database | page | median | p95 | budget (p95) |")
    print("|---|---|---|---|---|")
    for backend, label, median, p95, budget in rows:
        verdict = "-" if budget is None else f"{budget} {'ok' if p95 < budget else '**over**'}"
        print(f"| {backend} | {label} | {median:.1f} | {p95:.1f} | {verdict} |")


if __name__ == "__main__":
    main()
