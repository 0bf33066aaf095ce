"""Evaluation of the recommender, not of taste: a synthetic community with hidden tastes.

2,000 public tracks (10 genres x 20 artists x 10 tracks, years by artist), 50 listeners,
each with a hidden taste (two genres, weighted, and a handful of favourite artists in
each), listening in sessions drawn from that taste. Each listener's last 20% of listens
is held out; the first 80% go into a fresh migrated instance (SQLite) through the same
tables the app fills, the co-listening table is rebuilt by the job's code, and for each
listener the top 10 of app/services/recommend.py's `for_user` are compared with the
held-out tracks they had not heard before: hit rate at 10 (a share of listeners with at
least one held-out track in their 10) and NDCG at 10, against a popularity baseline
(the most played tracks they have not heard) and a random one.

    .venv/bin/python bench/recs_eval.py [--users 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select

from app.extensions import db
from app.models import Album, Artist, PlayEvent, Role, Track
from app.services import accounts, recommend
from app.services.text import fold
from bench.library_bench import migrated_app

GENRES = 10
ARTISTS_PER_GENRE = 20
TRACKS_PER_ARTIST = 10
SESSIONS = 20
SESSION_LENGTH = 8
HELD_OUT = 0.2
K = 10


def make_corpus() -> list[dict]:
    """The tracks' rows (public, owned by the first account) and the artists and albums."""
    owner = accounts.create_user("library", "bench password", role=Role.ADMIN, rounds=4)
    db.session.commit()
    names = [f"Artist {g}-{a}" for g in range(GENRES) for a in range(ARTISTS_PER_GENRE)]
    db.session.execute(insert(Artist), [{"name": n, "name_key": fold(n)} for n in names])
    artist_ids = dict(db.session.execute(select(Artist.name, Artist.id)).tuples().all())
    db.session.execute(
        insert(Album),
        [{"title": f"{n} album", "title_key": fold(f"{n} album"), "artist_id": artist_ids[n]} for n in names],
    )
    album_ids = dict(db.session.execute(select(Album.artist_id, Album.id)).tuples().all())
    rows = []
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for g in range(GENRES):
        genre = f"Genre {g}"
        for a in range(ARTISTS_PER_GENRE):
            artist = f"Artist {g}-{a}"
            for t in range(TRACKS_PER_ARTIST):
                title = f"Song {g}-{a}-{t}"
                rows.append(
                    {
                        "owner_id": owner.id, "visibility": "public",
                        "storage_path": f"{owner.id}/{uuid.uuid4().hex}.mp3", "original_filename": f"{title}.mp3",
                        "size_bytes": 4_000_000, "sha256": uuid.uuid4().hex * 2, "mime_type": "audio/mpeg",
                        "format": "mp3", "codec": "MP3", "duration": 200.0, "title": title, "artist": artist,
                        "album": f"{artist} album", "year": 1960 + (g * 7 + a) % 60, "genre": genre,
                        "title_key": fold(title), "artist_key": fold(artist), "album_key": fold(f"{artist} album"),
                        "genre_key": fold(genre), "search_text": fold(title), "artist_id": artist_ids[artist],
                        "album_id": album_ids[artist_ids[artist]], "album_artist_id": artist_ids[artist],
                        "uploaded_at": start, "modified_at": start,
                    }
                )  # fmt: skip
    db.session.execute(insert(Track), rows)
    db.session.commit()
    return [
        {"id": i, "genre": g, "artist": a}
        for i, g, a in db.session.execute(select(Track.id, Track.genre_key, Track.artist_id)).tuples()
    ]


def listen_histories(tracks: list[dict], users: int, rng: random.Random) -> list[list[int]]:
    """Each listener's listens in order, drawn from a hidden taste."""
    by_genre: dict[str, list[dict]] = {}
    for t in tracks:
        by_genre.setdefault(t["genre"], []).append(t)
    genres = sorted(by_genre)
    histories = []
    for _ in range(users):
        liked_genres = rng.sample(genres, 2)
        weights = [0.7, 0.3]
        favourites = {}
        for genre in liked_genres:
            artists = sorted({t["artist"] for t in by_genre[genre]})
            favourites[genre] = set(rng.sample(artists, 4))
        history = []
        for _session in range(SESSIONS):
            genre = rng.choices(liked_genres, weights)[0]
            pool = by_genre[genre]
            fav = [t for t in pool if t["artist"] in favourites[genre]]
            for _play in range(SESSION_LENGTH):
                # Mostly the favourite artists, the lower track numbers more (a popularity skew).
                source = fav if rng.random() < 0.8 else pool
                weights_t = [1.0 / (1 + (t["id"] % TRACKS_PER_ARTIST)) for t in source]
                history.append(rng.choices(source, weights_t)[0]["id"])
        histories.append(history)
    return histories


def ndcg(ranked: list[int], relevant: set[int]) -> float:
    gain = sum(1.0 / math.log2(i + 2) for i, t in enumerate(ranked[:K]) if t in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return gain / ideal if ideal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, migrated_app("sqlite", tmp) as (app, _url), app.app_context():
        tracks = make_corpus()
        histories = listen_histories(tracks, args.users, rng)
        listeners = [accounts.create_user(f"listener{i}", "bench password", rounds=4).id for i in range(args.users)]
        db.session.commit()
        start = datetime.now(UTC) - timedelta(days=SESSIONS + 10)
        train: dict[int, list[int]] = {}
        held: dict[int, set[int]] = {}
        rows = []
        for user_id, history in zip(listeners, histories, strict=True):
            cut = int(len(history) * (1 - HELD_OUT))
            train[user_id] = history[:cut]
            held[user_id] = set(history[cut:]) - set(history[:cut])
            for i, track_id in enumerate(history[:cut]):
                session, position = divmod(i, SESSION_LENGTH)
                at = start + timedelta(days=session, minutes=4 * position)
                rows.append({"user_id": user_id, "track_id": track_id, "played_at": at})
        db.session.execute(insert(PlayEvent), rows)
        db.session.commit()

        began = time.perf_counter()
        recommend.rebuild_all()
        db.session.commit()
        rebuild_s = time.perf_counter() - began

        popularity = Counter(t for h in train.values() for t in h)
        all_ids = [t["id"] for t in tracks]
        results = {"recommender": [], "popularity": [], "random": []}
        began = time.perf_counter()
        for user_id in listeners:
            heard = set(train[user_id])
            ours = [t.id for t in recommend.for_user(user_id, K)]
            popular = [t for t, _ in popularity.most_common() if t not in heard][:K]
            randoms = rng.sample([t for t in all_ids if t not in heard], K)
            for name, ranked in (("recommender", ours), ("popularity", popular), ("random", randoms)):
                relevant = held[user_id]
                results[name].append((bool(set(ranked) & relevant), ndcg(ranked, relevant)))
        per_user_ms = (time.perf_counter() - began) * 1000 / len(listeners)

    print(f"{args.users} listeners, {len(all_ids)} tracks, {len(rows)} training listens, held out: last {HELD_OUT:.0%}")
    print(f"co-listening rebuild: {rebuild_s:.1f} s; recommendations: {per_user_ms:.0f} ms per listener (SQLite)")
    print()
    print(f"| method | hit rate @{K} | NDCG @{K} |")
    print("| --- | --- | --- |")
    for name, scores in results.items():
        hit = sum(h for h, _ in scores) / len(scores)
        gain = sum(n for _, n in scores) / len(scores)
        print(f"| {name} | {hit:.2f} | {gain:.3f} |")
    ours = sum(h for h, _ in results["recommender"]) / len(listeners)
    base = sum(h for h, _ in results["popularity"]) / len(listeners)
    print()
    print(f"hit rate vs popularity: {ours / base:.1f}x (budget: at least 1.5x)" if base else "popularity hit rate 0")


if __name__ == "__main__":
    main()
