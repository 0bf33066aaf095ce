"""REST API track lists at 50,000 tracks, on SQLite and PostgreSQL.

    python bench/api_bench.py [--tracks 50000] [--runs 30] [--db sqlite,postgresql]

Seeds the library bench's rows (bench/library_bench.py), gives the bench
account a read token, and times in process (server time: the token check,
the page's queries with its exact count, serialising; no network)
GET /api/v1/tracks with two filters and a sort, in several combinations, and
the unfiltered first page as a reference. The issue's budget: two filters and
a sort under 50 ms at p95.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import budget_tables  # noqa: E402
from library_bench import migrated_app, seed  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import AccessScope, Artist, User  # noqa: E402
from app.services import credentials  # noqa: E402

QUERIES = [
    ("no filter, newest first (reference)", "", None),
    ("genre + format, by title", "?genre=Jazz&format=flac&sort=title&order=asc", 50),
    ("genre + min_duration, newest first", "?genre=Rock&min_duration=300&sort=created_at", 50),
    ("mine + format, by duration", "?mine=true&format=ogg&sort=duration&order=desc", 50),
    ("artist + format, by title", "?artist={artist}&format=mp3&sort=title", 50),
    ("search + genre, by artist", "?search={word}&genre=Jazz&sort=artist", 50),
    ("genre + max_duration, page 20", "?genre=Pop&max_duration=200&sort=title&page=20", 50),
]


def run(backend: str, tracks: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            user_id, artist_id, word = seed(tracks)
            user = db.session.get(User, user_id)
            _row, token = credentials.create_access_token(user, "bench", AccessScope.READ)
            artist = db.session.get(Artist, artist_id).name
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        results = []
        for label, query, budget in QUERIES:
            url = "/api/v1/tracks" + query.format(artist=artist, word=word)
            times, total = [], None
            for _ in range(runs + 2):
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
                total = response.get_json()["meta"]["total"]
            results.append((backend, label, times[2:], budget, total))
        return results


def main() -> None:
    budget_tables(__doc__, run, "GET /api/v1/tracks")


if __name__ == "__main__":
    main()
