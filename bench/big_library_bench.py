"""A big library: 1,000,000 tracks and 10,000,000 listens, in PostgreSQL (and SQLite).

    python bench/big_library_bench.py [--tracks 1000000] [--plays 10000000] [--runs 20] [--db postgresql]

Seeds the library bench's rows (bench/library_bench.py) with a made-up word in
every title and the vocabulary rebuilt (bench/search_bench.py), then the
listens, spread over the bench account and four others and over two years,
with one INSERT ... SELECT in the database, and each listener's album play
counts from them (as migration 0030 and the nightly job count them). Then times in process (server
time: auth, queries, templates or serialising; no network) what the issue
names, each against the budget of 200 ms at p95:

- the library's first page and a deep page (page 5,000 of 20,000);
- a search with a typo (a made-up title word, two letters swapped), and an
  artist filter, on the library page;
- Subsonic search3 paging (an empty query, 500 songs a page, at the start and
  deep in the library) and getAlbumList2 (newest, frequent, recent, random,
  alphabetical);
- the REST API's track list with two filters.

The 50,000-track figures of library_bench, subsonic_bench and api_bench are
the reference: run them in the same session to compare.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import p95  # noqa: E402
from library_bench import analyse, login, migrated_app, seed  # noqa: E402
from search_bench import enrich  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from subsonic_bench import auth  # noqa: E402

from app.extensions import db  # noqa: E402
from app.jobs import tasks  # noqa: E402
from app.models import AccessScope, AlbumPlays, Artist, PlayEvent, Track, User  # noqa: E402
from app.services import credentials  # noqa: E402

BUDGET = 200


def listens(plays: int) -> None:
    """`plays` listens of random tracks by the five accounts over two years, in one statement."""
    users = list(db.session.scalars(select(User.id).order_by(User.id)))
    low, high = db.session.execute(select(func.min(Track.id), func.max(Track.id))).one()
    span = high - low + 1
    users_array = ",".join(str(u) for u in users)
    if db.engine.dialect.name == "postgresql":
        statement = f"""
            INSERT INTO play_events (user_id, track_id, played_at)
            SELECT (ARRAY[{users_array}])[1 + floor(random() * {len(users)})::int],
                   {low} + floor(random() * {span})::int,
                   now() - random() * interval '730 days'
            FROM generate_series(1, :n)
        """  # noqa: S608 - numbers of our own only
    else:
        statement = f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
            INSERT INTO play_events (user_id, track_id, played_at)
            SELECT json_extract('[{users_array}]', '$[' || (abs(random()) % {len(users)}) || ']'),
                   {low} + abs(random()) % {span},
                   strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (abs(random()) % 63072000) || ' seconds')
            FROM n
        """  # noqa: S608 - numbers of our own only
    batch = 1_000_000
    for first in range(0, plays, batch):
        db.session.execute(text(statement), {"n": min(batch, plays - first)})
        db.session.commit()


def timed(call, runs: int) -> list[float]:
    call()  # warm caches once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(backend: str, tracks: int, plays: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        started = time.perf_counter()
        with app.app_context():
            user_id, artist_id, _word = seed(tracks)
            artist = db.session.get(Artist, artist_id).name
            typo = enrich(random.Random(3))
            listens(plays)
            # As the nightly job does (and migration 0030 for an existing history).
            recount_started = time.perf_counter()
            listeners = tasks.recount_album_plays()["listeners"]
            album_rows = db.session.scalar(select(func.count()).select_from(AlbumPlays))
            took = time.perf_counter() - recount_started
            print(f"{backend}: {album_rows} album play counts, {listeners} listeners, in {took:.1f} s", file=sys.stderr)
            analyse()
            _row, password = credentials.create_app_password(user_id, "bench")
            _row, token = credentials.create_access_token(db.session.get(User, user_id), "bench", AccessScope.READ)
            db.session.commit()
            counted = (
                db.session.scalar(select(func.count()).select_from(Track)),
                db.session.scalar(select(func.count()).select_from(PlayEvent)),
            )
            db.session.remove()
        print(
            f"{backend}: seeded {counted[0]} tracks and {counted[1]} listens in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        page_client = app.test_client()
        login(page_client)
        client = app.test_client()
        bearer = {"Authorization": f"Bearer {token}"}
        results = []

        def page(url: str):
            def call() -> None:
                response = page_client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return call

        def subsonic(method: str, **params: str):
            def call() -> None:
                body = client.get(f"/rest/{method}", query_string={**auth(password), **params}).get_json()
                assert body["subsonic-response"]["status"] == "ok", (method, body)

            return call

        def rest(url: str):
            def call() -> None:
                response = client.get(url, headers=bearer)
                assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])

            return call

        deep = max(1, tracks // 20 // 4)  # a quarter of the way through the 20-a-page library
        deep_offset = str(tracks // 2)
        for label, call in [
            ("library, first page", page("/library")),
            (f"library, page {deep}", page(f"/library?page={deep}")),
            (f"library search with a typo ({typo})", page(f"/library?q={typo}")),
            ("library, an artist filter", page(f"/library?artist={artist_id}")),
            ("search3 '' first 500 songs", subsonic("search3", query="", songCount="500", artistCount="0")),
            (
                f"search3 '' 500 songs at offset {deep_offset}",
                subsonic("search3", query="", songCount="500", songOffset=deep_offset, artistCount="0"),
            ),
            *[
                (f"getAlbumList2 {kind}", subsonic("getAlbumList2", type=kind, size="50"))
                for kind in ("newest", "frequent", "recent", "random", "alphabeticalByName")
            ],
            ("REST tracks: genre + format, by title", rest("/api/v1/tracks?genre=Jazz&format=flac&sort=title")),
            ("REST tracks: artist + format, page 2", rest(f"/api/v1/tracks?artist={quote(artist)}&format=mp3&page=2")),
        ]:
            results.append((backend, label, timed(call, runs)))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", default="postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.db.split(","):
        rows += run(backend.strip(), args.tracks, args.plays, args.runs)
    print(f"\nA big library: {args.tracks} tracks, {args.plays} listens; server time in ms\n")
    print("| database | request | median | p95 | budget (p95) |")
    print("|---|---|---|---|---|")
    for backend, label, times in rows:
        verdict = f"{BUDGET} {'ok' if p95(times) < BUDGET else '**over**'}"
        print(f"| {backend} | {label} | {statistics.median(times):.1f} | {p95(times):.1f} | {verdict} |")


if __name__ == "__main__":
    main()
