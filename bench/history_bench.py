"""Exporting and importing a long listening history: time and memory.

One listener with `--plays` listens (a million by default) over the 2,000 public tracks
of recs_eval's corpus, in a fresh migrated instance (SQLite, or PostgreSQL with
--backend postgresql). Measured in this one process, in this order (the peak RSS only
grows, so the reference comes last):
  1. the CSV export, then the JSON export, read piece by piece as the page streams them
     (app/services/history.py: keyset batches): seconds, MB written, peak RSS;
  2. the reference: the same rows read with one query into a list, as an export that
     loads everything would: seconds and peak RSS;
  3. an import of the last `--import-plays` listens of our JSON file after deleting
     them (one transaction, duplicates checked): seconds.

    .venv/bin/python bench/history_bench.py [--plays 1000000] [--import-plays 100000] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text

from app.extensions import db
from app.models import PlayEvent, Track
from app.services import accounts, history
from app.services.library import access
from bench.library_bench import migrated_app
from bench.recs_eval import make_corpus


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(plays: int, backend: str) -> tuple[int, list[int]]:
    """The corpus and one listener's `plays` listens, 97 seconds apart."""
    tracks = [t["id"] for t in make_corpus()]
    user_id = accounts.create_user("listener", "bench password", rounds=4).id
    db.session.commit()
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for first in range(0, plays, 50_000):
        db.session.execute(
            insert(PlayEvent),
            [
                {
                    "user_id": user_id,
                    "track_id": tracks[i % len(tracks)],
                    "played_at": start + timedelta(seconds=97 * i),
                }
                for i in range(first, min(first + 50_000, plays))
            ],
        )
        db.session.commit()
    if backend == "postgresql":
        # What autovacuum does after a bulk load; without statistics the planner reads
        # the whole history for each batch.
        db.session.execute(text("ANALYZE play_events"))
        db.session.execute(text("ANALYZE tracks"))
        db.session.commit()
    return user_id, tracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--import-plays", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, migrated_app(args.backend, tmp) as (app, _url), app.app_context():
        user_id, tracks = load(args.plays, args.backend)
        db.session.expunge_all()
        base = peak_mb()
        print(f"{args.plays:,} listens of {len(tracks):,} tracks ({args.backend}); RSS before: {base:.0f} MB")
        print()
        print("| step | seconds | MB written | peak RSS (MB) |")
        print("| --- | --- | --- | --- |")
        last_json = ""
        for name, pieces in (("CSV export", history.export_csv), ("JSON export", history.export_json)):
            began = time.perf_counter()
            size = 0
            tail: deque[str] = deque(maxlen=args.import_plays + 2)
            for piece in pieces(user_id):
                size += len(piece.encode())
                if name == "JSON export":
                    tail.append(piece)
            seconds = time.perf_counter() - began
            print(f"| {name} (streamed) | {seconds:.1f} | {size / 1e6:.0f} | {peak_mb():.0f} |")
            if name == "JSON export":
                last_json = "".join(tail)
        db.session.rollback()

        began = time.perf_counter()
        rows = db.session.execute(
            select(PlayEvent.played_at, PlayEvent.id, Track.id, Track.title, Track.artist, Track.album)
            .join(Track, Track.id == PlayEvent.track_id)
            .where(PlayEvent.user_id == user_id, access.visible_to(user_id))
            .order_by(PlayEvent.played_at, PlayEvent.id)
        ).all()
        seconds = time.perf_counter() - began
        print(f"| reference: every row in one list | {seconds:.1f} | - | {peak_mb():.0f} |")
        del rows
        db.session.rollback()

        # The last listens as a file of our own, deleted, then imported back.
        items = [json.loads(line.rstrip(",\n")) for line in last_json.splitlines() if line.startswith("{")]
        items = items[-args.import_plays :]
        data = json.dumps({"format": history.FORMAT, "version": history.VERSION, "listens": items}).encode()
        first_at = datetime.fromisoformat(items[0]["played_at"])
        deleted = history.delete_between(user_id, first_at, datetime.now(UTC))
        db.session.commit()
        began = time.perf_counter()
        result = history.import_listens(user_id, history.read_own(data, len(data)))
        db.session.commit()
        seconds = time.perf_counter() - began
        print(
            f"| import of {len(items):,} listens ({deleted:,} deleted first), "
            f"{result.added:,} added | {seconds:.1f} | {len(data) / 1e6:.0f} read | {peak_mb():.0f} |"
        )


if __name__ == "__main__":
    main()
