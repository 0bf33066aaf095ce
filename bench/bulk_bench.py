"""Bulk editing 5,000 tracks from the library page, on SQLite and PostgreSQL.

    python bench/bulk_bench.py [--tracks 50000] [--runs 5] [--db sqlite,postgresql]

Seeds the library bench's rows (bench/library_bench.py: the bench account owns
most of them) and, through the app as the page sends it (a POST with CSRF,
session cookie, the ticked ids), times in process:
- setting the genre of 5,000 ticked tracks, and its undo;
- setting album, artist and year at once (the albums and artists they name are
  found or made, the old ones pruned), and its undo;
- making them public;
- "select all N results" of a search (the ids found by the server, then the
  form sent with them), genre set.
A single-track edit through the track's edit form is the reference. The
issue's budget: a bulk edit of 5,000 tracks under 5 s.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import budget_tables  # noqa: E402
from library_bench import login, migrated_app, seed  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Track  # noqa: E402

SELECTED = 5000
BUDGET_MS = 5000


def csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def timed(client, url: str, data: dict) -> float:
    started = time.perf_counter()
    response = client.post(url, data=data)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, (
        url,
        response.status_code,
        re.findall(r"class=\"(?:error|flash)[^>]*>([^<]*)", response.get_data(as_text=True)),
    )
    return elapsed


def select_all(client, token: str, word: str, n: int) -> float:
    """The page's two steps: "select all N results" of a search (the server finds them and
    shows the form with their ids), then the form sent with a genre."""
    started = time.perf_counter()
    response = client.post("/library/bulk", data={"csrf_token": token, "all": "1", "q": word})
    assert response.status_code == 200, response.status_code
    ids = re.search(r'name="ids" type="hidden" value="([^"]*)"', response.get_data(as_text=True)).group(1)
    first = (time.perf_counter() - started) * 1000
    return first + timed(client, "/library/bulk/apply", {"csrf_token": token, "ids": ids, "genre": f"Search {n}"})


def run(backend: str, tracks: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, _url):
        with app.app_context():
            user_id, _artist_id, word = seed(tracks)
            ids = list(
                db.session.scalars(select(Track.id).where(Track.owner_id == user_id).order_by(Track.id).limit(SELECTED))
            )
            one = ids[0]
            searched = db.session.scalar(
                select(func.count()).where(Track.owner_id == user_id, Track.search_text.contains(word))
            )
            db.session.remove()
        client = app.test_client()
        login(client)
        token = csrf(client, "/library")
        ticked = {"csrf_token": token, "track": [str(i) for i in ids], "action": "edit"}
        rows = {label: [] for label in ("genre", "undo genre", "album+artist+year", "undo album+artist+year")}
        rows |= {
            "visibility public": [],
            f"select all of a search ({searched}), genre": [],
            "one track (reference)": [],
        }
        for n in range(runs):
            rows["genre"].append(timed(client, "/library/bulk/apply", {**ticked, "genre": f"Bulk {n}"}))
            rows["undo genre"].append(timed(client, "/library/bulk/undo", {"csrf_token": token}))
            tags = {"album": f"Bulk album {n}", "artist": f"Bulk artist {n}", "year": str(1990 + n)}
            rows["album+artist+year"].append(timed(client, "/library/bulk/apply", {**ticked, **tags}))
            rows["undo album+artist+year"].append(timed(client, "/library/bulk/undo", {"csrf_token": token}))
            visibility = "public" if n % 2 == 0 else "private"
            rows["visibility public"].append(timed(client, "/library/bulk/apply", {**ticked, "visibility": visibility}))
            if searched:
                rows[f"select all of a search ({searched}), genre"].append(select_all(client, token, word, n))
            form_token = csrf(client, f"/library/tracks/{one}/edit")
            single = {"csrf_token": form_token, "title": f"One {n}", "artist": "Solo", "album": "Single"}
            single |= {"visibility": "private", "licence": "all-rights-reserved"}
            rows["one track (reference)"].append(timed(client, f"/library/tracks/{one}/edit", single))
        budgets = {label: None if "reference" in label else BUDGET_MS for label in rows}
        return [(backend, label, times, budgets[label]) for label, times in rows.items() if times]


def main() -> None:
    budget_tables(__doc__, run, f"Bulk edits of {SELECTED} tracks through the library page")


if __name__ == "__main__":
    main()
