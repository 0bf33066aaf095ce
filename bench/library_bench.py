"""Library page latency at 50,000 tracks, on SQLite and PostgreSQL.

    python bench/library_bench.py [--tracks 50000] [--runs 60] [--db sqlite,postgresql]

Seeds a fresh database (migrated with Alembic) with realistic rows, no audio
needed, then times the pages a user opens most: in process (server time:
routing, queries and template rendering; no network), and as a browser sees
them through gunicorn started with deploy/gunicorn.conf.py (loopback, one
keep-alive connection): the first library page, page 500, a search, an artist
filter, plus the album grid and a sorted deep page.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import PASSWORD, free_port, gunicorn, login_cookie, wait_port  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Album, Artist, Role, Track  # noqa: E402
from app.models.library import SEARCH_DESCRIPTION_MARK, SEARCH_TAGS_MARK  # noqa: E402
from app.services import accounts  # noqa: E402
from app.services.text import fold  # noqa: E402
from config import Config  # noqa: E402

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WORDS = [
    "love",
    "night",
    "summer",
    "heart",
    "fire",
    "dream",
    "blue",
    "city",
    "road",
    "rain",
    "light",
    "dance",
    "gold",
    "wild",
    "river",
    "moon",
    "star",
    "shadow",
    "echo",
    "paper",
    "glass",
    "velvet",
    "honey",
    "thunder",
    "silver",
    "ocean",
    "desert",
    "winter",
    "garden",
    "midnight",
    "electric",
    "café",
    "naïve",
    "señor",
    "über",
    "déjà",
    "fiancée",
    "jalapeño",
    "smörgåsbord",
    "crème",
    "brûlée",
]
GENRES = ["Rock", "Pop", "Jazz", "Electronic", "Folk", "Classical", "Hip-Hop", "Ambient", "Metal", "Soul"]

# The marks every search text holds (no free tags, no description after them here).
SEARCH_MARKS = f"{SEARCH_TAGS_MARK} {SEARCH_DESCRIPTION_MARK}"


def phrase(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).title()


def seed(tracks: int, password_rounds: int = 4) -> tuple[int, int, str]:
    """Insert users, artists, albums and tracks; return (bench user id, an artist id, a search word)."""
    rng = random.Random(7)
    bench = accounts.create_user("bench", PASSWORD, role=Role.ADMIN, rounds=password_rounds)
    others = [accounts.create_user(f"other{i}", PASSWORD, role=Role.USER, rounds=password_rounds) for i in range(4)]
    db.session.commit()

    artist_names = list({phrase(rng, 1, 3) + f" {i}" for i in range(max(10, tracks // 25))})
    db.session.execute(insert(Artist), [{"name": n, "name_key": fold(n)} for n in artist_names])
    artists = db.session.execute(select(Artist.id, Artist.name)).all()
    album_rows = []
    for i in range(max(20, tracks // 10)):
        artist_id, _ = artists[i % len(artists)]
        title = phrase(rng, 1, 4) + f" {i}"
        album_rows.append({"title": title, "title_key": fold(title), "artist_id": artist_id})
    db.session.execute(insert(Album), album_rows)
    albums = db.session.execute(select(Album.id, Album.title, Album.artist_id)).all()
    artist_name = dict(artists)
    db.session.commit()

    start = datetime(2020, 1, 1, tzinfo=UTC)
    batch = []
    for i in range(tracks):
        album_id, album_title, artist_id = albums[i % len(albums)]
        owner = bench if i % 10 else others[i % 4]
        title = phrase(rng, 1, 5)
        artist = artist_name[artist_id]
        genre = rng.choice(GENRES)
        kind = rng.choice(["mp3", "mp3", "mp3", "flac", "ogg", "m4a"])
        batch.append(
            {
                "owner_id": owner.id,
                "visibility": "public" if (owner is not bench and i % 2) else "private",
                "storage_path": f"{owner.id}/{uuid.uuid4().hex}.{kind}",
                "original_filename": f"{title}.{kind}",
                "size_bytes": rng.randint(2_000_000, 40_000_000),
                "sha256": uuid.uuid4().hex + uuid.uuid4().hex,
                "mime_type": "audio/mpeg",
                "format": kind,
                "codec": kind.upper(),
                "duration": rng.uniform(60, 600),
                "bitrate": 320_000,
                "sample_rate": 44100,
                "channels": 2,
                "cover_path": None,
                "title": title,
                "artist": artist,
                "album": album_title,
                "album_artist": None,
                "track_number": i // len(albums) + 1,
                "disc_number": 1,
                "year": rng.randint(1960, 2025),
                "genre": genre,
                "title_key": fold(title),
                "artist_key": fold(artist),
                "album_key": fold(album_title),
                "genre_key": fold(genre),
                # As catalogue.search_text_of writes it (no free tags, no description).
                "search_text": " ".join([fold(title), fold(artist), fold(album_title), fold(genre), SEARCH_MARKS]),
                "artist_id": artist_id,
                "album_id": album_id,
                "album_artist_id": artist_id,
                "uploaded_at": start + timedelta(minutes=i),
                "modified_at": start + timedelta(minutes=i),
            }
        )
        if len(batch) == 5000:
            db.session.execute(insert(Track), batch)
            batch = []
    if batch:
        db.session.execute(insert(Track), batch)
    db.session.commit()
    analyse()
    return bench.id, artists[3][0], "velvet"


def analyse() -> None:
    """What autovacuum does soon after a bulk load: statistics and (PostgreSQL) the
    visibility map that index-only scans rely on."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def login(client) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/auth/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def measure(client, url: str, runs: int) -> tuple[float, float, int | str]:
    client.get(url)  # warm caches once
    times = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        rows = response.get_data(as_text=True).count("data-track-id=") or "-"  # pages without track rows too
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], rows


def measure_http(port: int, cookie: str, url: str, runs: int) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        conn.request("GET", url, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        if i:  # the first one warms caches
            times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, (url, response.status)
    conn.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def server_env(url: str, tmp: str) -> dict[str, str]:
    """The environment of a gunicorn serving a bench's instance (its database, its files)."""
    return dict(
        os.environ,
        FLASK_APP="wsgi.py",
        DATABASE_URL=url,
        UPLOAD_FOLDER=str(Path(tmp) / "uploads"),
        SECRET_KEY="bench-" + "k" * 40,
        RATELIMIT_ENABLED="false",
    )


def through_gunicorn(url: str, tmp: str, pages: list[tuple[str, str]], runs: int) -> list[tuple[float, float]]:
    port = free_port()
    server = gunicorn(server_env(url, tmp), port)
    try:
        wait_port(port)
        cookie = login_cookie(port)
        return [measure_http(port, cookie, page, runs) for _, page in pages]
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def migrated_app(backend: str, tmp: str) -> Iterator[tuple[Flask, str]]:
    """A fresh, migrated instance in `tmp` ("sqlite", or "postgresql": a schema of its
    own, dropped afterwards) and its database URL."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
    else:
        schema = f"mc_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = f"{PG_URL}?options=-csearch_path%3D{schema},public"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        UPLOAD_FOLDER = str(Path(tmp) / "uploads")
        SECRET_KEY = "bench-" + "k" * 40
        RATELIMIT_ENABLED = False
        BCRYPT_ROUNDS = 4

    app = create_app(BenchConfig)
    try:
        with app.app_context():
            # Through `flask db upgrade`, the command that loads Flask-Migrate.
            migrated = app.test_cli_runner().invoke(args=["db", "upgrade"])
            if migrated.exit_code != 0:
                raise RuntimeError(f"flask db upgrade failed: {migrated.output}")
        # As the server's workers start (deploy/gunicorn.conf.py's pre_fork): the objects of
        # start-up are kept out of the garbage collector's full passes. Without it, a full
        # pass over them lands in one request of twenty that allocates much (a search with
        # thousands of matches) and adds some 60 ms the server does not have.
        gc.freeze()
        yield app, url
    finally:
        with app.app_context():
            db.engine.dispose()
        if schema:
            engine = create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def run(backend: str, tracks: int, runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(backend, tmp) as (app, url):
        with app.app_context():
            started = time.perf_counter()
            _, artist_id, word = seed(tracks)
            seeded = time.perf_counter() - started
            db.session.remove()
        client = app.test_client()
        login(client)
        pages = [
            ("library, first page", "/library"),
            ("library, page 500", "/library?page=500"),
            (f"search '{word}'", f"/library?q={word}"),
            ("artist filter", f"/library?artist={artist_id}"),
            ("title sort, page 400", "/library?sort=title&page=400"),
            ("search 'creme brulee' (accents)", "/library?q=creme+brulee"),
            ("albums grid", "/library/albums"),
            ("artists list", "/library/artists"),
            ("genres", "/library/genres"),
        ]
        results = []
        for label, page in pages:
            median, p95, rows = measure(client, page, runs)
            results.append((backend, label, median, p95, rows))
        with app.app_context():
            db.engine.dispose()
        results = [(*row, *seen) for row, seen in zip(results, through_gunicorn(url, tmp, pages, runs), strict=True)]
        print(f"{backend}: seeded {tracks} tracks in {seeded:.1f} s", file=sys.stderr)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.db.split(","):
        rows += run(backend.strip(), args.tracks, args.runs)
    print(f"\nLibrary pages at {args.tracks} tracks, ms ({args.runs} requests each)\n")
    print(
        "| database | page | server median | server p95 | budget (50 / 100) | via gunicorn median | p95 | track rows |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for backend, label, median, p95, shown, http_median, http_p95 in rows:
        ok = "ok" if median < 50 and p95 < 100 else "**over**"
        print(
            f"| {backend} | {label} | {median:.1f} | {p95:.1f} | {ok} | {http_median:.1f} | {http_p95:.1f} | {shown} |"
        )


if __name__ == "__main__":
    main()
