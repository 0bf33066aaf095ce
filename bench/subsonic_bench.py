"""Subsonic API latency at 50,000 tracks, on SQLite and PostgreSQL.

    python bench/subsonic_bench.py [--tracks 50000] [--runs 30] [--db sqlite,postgresql]

Seeds the library bench's rows (bench/library_bench.py), gives the bench
account an app password, and times in process (server time: auth, queries
and serialising; no network) what a music app asks most: search3 with an
empty query paged through the whole library 500 songs at a time (Symfonium's
sync), every getAlbumList2 type, and getArtists, each with token auth and
JSON. The issue's budgets: search3 pages under 100 ms at p95, album lists
and getArtists under 50 ms at p95.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import budget_tables  # noqa: E402
from library_bench import migrated_app, seed  # noqa: E402

from app.extensions import db  # noqa: E402
from app.services import credentials  # noqa: E402
from app.services.library.lists import ALBUM_LIST_TYPES  # noqa: E402

PAGE = 500


def auth(password: str) -> dict[str, str]:
    salt = uuid.uuid4().hex[:12]
    token = hashlib.md5((password + salt).encode(), usedforsecurity=False).hexdigest()
    return {"u": "bench", "t": token, "s": salt, "v": "1.16.1", "c": "bench", "f": "json"}


def timed(client, method: str, params: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.get(f"/rest/{method}", query_string=params)
    elapsed = (time.perf_counter() - started) * 1000
    body = response.get_json()["subsonic-response"]
    assert body["status"] == "ok", (method, body)
    return elapsed, body


def run(backend: str, tracks: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            user_id, _artist, _word = seed(tracks)
            _row, password = credentials.create_app_password(user_id, "bench")
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        results = []
        # The sync: every page of an empty search3, songs only, to the end.
        times, offset, seen = [], 0, 0
        while True:
            params = {**auth(password), "query": "", "artistCount": "0", "albumCount": "0"}
            params |= {"songCount": str(PAGE), "songOffset": str(offset)}
            elapsed, body = timed(client, "search3", params)
            songs = len(body["searchResult3"].get("song", []))
            times.append(elapsed)
            if not songs:
                break
            seen += songs
            offset += songs
        results.append((backend, f"search3 '' pages of {PAGE} ({seen} songs)", times, 100))
        for kind in ALBUM_LIST_TYPES:
            extra = {"byYear": {"fromYear": "1990", "toYear": "2000"}, "byGenre": {"genre": "Jazz"}}.get(kind, {})
            times = [
                timed(client, "getAlbumList2", {**auth(password), "type": kind, "size": "50", **extra})[0]
                for _ in range(runs)
            ]
            results.append((backend, f"getAlbumList2 {kind}", times, 50))
        times = [timed(client, "getArtists", auth(password))[0] for _ in range(runs)]
        results.append((backend, "getArtists", times, 50))
        return results


def main() -> None:
    budget_tables(__doc__, run, "Subsonic API")


if __name__ == "__main__":
    main()
