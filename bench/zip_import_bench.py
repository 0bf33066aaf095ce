"""Benchmark a ZIP archive's preview and import, against importing the same files from a folder.

    python bench/zip_import_bench.py [--tracks 250] [--size-mb 1000]

Builds `--tracks` distinct, tagged MP3s of about size-mb/tracks MB each (one long
tone rendered once, each copy with its own tags), writes them to a folder and
to a stored ZIP of about `--size-mb` MB, then in one process on a fresh SQLite
instance times:

- the preview (stage the received archive, read its directory, look for files
  already in the library): the budget is under 3 s for 1 GB of 250 MP3s;
- the import job (unpack each entry, read its tags, store it, record it), in
  tracks/s, with the process tree's memory growth sampled while it runs
  (budget: 100 tracks/s or faster, under 100 MB);
- as the reference in the same run, the folder import `flask import` does
  (services/library/adding.import_files) of the same files for another user.

Each import runs twice, for four users, in the order ZIP, folder, folder, ZIP
(see measure()); the rates are over both runs. With `--role-limits` the users'
role has upload limits high enough for every file (largest file, longest track,
uploads per month, storage), so every check of them runs and locks as it would.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

sys.path.insert(0, str(ROOT))
from common import PASSWORD, synthesize, tree_rss_mb  # noqa: E402
from mutagen.id3 import ID3, TALB, TIT2, TPE1  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Role  # noqa: E402
from app.services import accounts  # noqa: E402
from app.services.library import adding, archives, quotas  # noqa: E402
from app.services.storage import get_storage  # noqa: E402
from app.services.tags import pool_for  # noqa: E402
from app.unit_of_work import commit  # noqa: E402
from config import Config  # noqa: E402


def tagged_copy(base: bytes, i: int) -> bytes:
    buffer = io.BytesIO(base)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=f"Song {i}"))
    tags.add(TPE1(encoding=3, text=f"Band {i % 10}"))
    tags.add(TALB(encoding=3, text=f"Album {i // 12}"))
    tags.save(buffer)
    return buffer.getvalue()


class Sampler:
    """The peak RSS of this process and its children while a block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build(tmpdir: Path, tracks: int, size_mb: int) -> tuple[Path, Path, Path]:
    """The base tone, a folder of tagged copies and a stored ZIP of the same files."""
    per_file_s = max(2, int(size_mb * 1_000_000 / tracks / (320_000 / 8)))
    base_path = tmpdir / "base.mp3"
    synthesize(f"sine=frequency=440:duration={per_file_s}", base_path, "-ac", "2", "-b:a", "320k")
    base = base_path.read_bytes()
    folder = tmpdir / "folder"
    folder.mkdir()
    archive = tmpdir / "music.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as out:
        for i in range(tracks):
            data = tagged_copy(base, i)
            (folder / f"{i:04d}.mp3").write_bytes(data)
            out.writestr(f"Band {i % 10}/Album {i // 12}/{i:04d} - Song {i}.mp3", data)
    return base_path, folder, archive


def zip_import(store: Any, pool: Any, user: Any, archive: Path, limits: Any) -> dict[str, float]:
    """One ZIP import: its preview's time, its job's time and the memory it took."""
    # The upload itself is the network's business: the archive arrives in .incoming/.
    incoming = store.copy_in(archive, 10**12)
    started = time.perf_counter()
    found = archives.preview(store, user, incoming, "music.zip", limits)
    commit()
    preview_s = time.perf_counter() - started
    archives.confirm(found, {e["i"] for e in found.entries if e["action"] == "add"})
    commit()
    before = tree_rss_mb(os.getpid())
    started = time.perf_counter()
    with Sampler(os.getpid()) as sampler:
        result = archives.run_import(store, pool, found.id, limits)
    import_s = time.perf_counter() - started
    assert result["added"] == len(found.entries), result
    return {"preview": preview_s, "import": import_s, "memory": sampler.peak - before}


def folder_import(store: Any, pool: Any, user: Any, folder: Path) -> float:
    """One folder import (`flask import`), in seconds."""
    sources = adding.source_files(folder, adding.AUDIO_EXTENSIONS)
    started = time.perf_counter()
    added = 0
    for batch in adding.import_files(store, pool, user, sources, max_bytes=2000 * 10**6):
        commit(batch)
        added += sum(1 for r in batch.results if r.outcome is adding.AddOutcome.ADDED)
    assert added == len(sources)
    return time.perf_counter() - started


def measure(tmpdir: Path, folder: Path, archive: Path, role_limits: bool = False) -> dict[str, list[float]]:
    """Each import twice, in the order ZIP, folder, folder, ZIP: the disk of a shared
    virtual machine writes the first gigabytes after a pause far slower than the next
    ones, and whichever import came first paid for it (the folder import ran twice as
    fast after the ZIP import as before it)."""
    app = create_app(
        Config,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmpdir / 'bench.db'}",
        UPLOAD_FOLDER=str(tmpdir / "uploads"),
        SECRET_KEY=PASSWORD * 4,
        JOBS_IMMEDIATE=False,
        HUEY_URL=f"sqlite:///{tmpdir / 'queue.db'}",
        MAX_UPLOAD_MB=2000,
        ZIP_MAX_UNCOMPRESSED_MB=100_000,
    )
    got: dict[str, list[float]] = {"preview": [], "import": [], "folder": [], "memory": []}
    with app.app_context():
        db.create_all()
        users = [accounts.create_user(f"user{i}", PASSWORD, rounds=4) for i in range(4)]
        if role_limits:
            quotas.set_role_limits(
                Role.USER,
                max_file_bytes=2000 * 10**6,
                max_duration_seconds=10**6,
                monthly_uploads=10**9,
                storage_bytes=10**15,
            )
        commit()
        store = get_storage()
        pool = pool_for(app.config)
        limits = archives.limits_for(app.config)
        pool.warm()  # every tag reader starts outside the timings (one parse started only one)
        for user, kind in zip(users, ("zip", "folder", "folder", "zip"), strict=True):
            if kind == "folder":
                got["folder"].append(folder_import(store, pool, user, folder))
                continue
            for key, value in zip_import(store, pool, user, archive, limits).items():
                got[key].append(value)
        db.engine.dispose()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=250)
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--role-limits", action="store_true", help="give the users' role generous upload limits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        _, folder, archive = build(tmpdir, args.tracks, args.size_mb)
        # The 2 GB just written would still be reaching the disk during the first timing
        # (the ZIP import's), and not during the folder import's.
        os.sync()
        size = archive.stat().st_size
        got = measure(tmpdir, folder, archive, args.role_limits)
        shutil.rmtree(tmpdir / "uploads", ignore_errors=True)
    n = args.tracks

    def runs(key: str) -> str:
        return ", ".join(f"{t:.2f}" for t in got[key]) + " s"

    def rate(key: str) -> str:
        return f"{n * len(got[key]) / sum(got[key]):.0f} tracks/s"

    print(f"archive: {n} MP3s, {size / 1e6:.0f} MB (stored); each import twice, ZIP, folder, folder, ZIP")
    print("| step | time (each run) | rate (both) | budget |\n|---|---|---|---|")
    print(f"| preview (directory, duplicates) | {runs('preview')} | | < 3 s for 1 GB / 250 files |")
    print(f"| ZIP import job | {runs('import')} | {rate('import')} | >= 100 tracks/s |")
    print(f"| folder import (reference) | {runs('folder')} | {rate('folder')} | |")
    memory = max(got["memory"])
    print(f"| memory growth during the import (peak, process tree) | {memory:.0f} MB | | < 100 MB |")


if __name__ == "__main__":
    main()
