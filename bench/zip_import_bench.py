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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

sys.path.insert(0, str(ROOT))
from common import PASSWORD, synthesize, tree_rss_mb  # noqa: E402
from mutagen.id3 import ID3, TALB, TIT2, TPE1  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services import accounts  # noqa: E402
from app.services.library import adding, archives  # noqa: E402
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


def measure(tmpdir: Path, base_path: Path, folder: Path, archive: Path, tracks: int) -> dict[str, float]:
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
    with app.app_context():
        db.create_all()
        zipper = accounts.create_user("zipper", PASSWORD, rounds=4)
        folderer = accounts.create_user("folderer", PASSWORD, rounds=4)
        commit()
        store = get_storage()
        pool = pool_for(app.config)
        limits = archives.limits_for(app.config)
        pool.parse(base_path, "warm-up.mp3")  # the tag readers start outside the timings

        # The upload itself is the network's business: the archive arrives in .incoming/.
        incoming = store.copy_in(archive, 10**12)
        started = time.perf_counter()
        found = archives.preview(store, zipper, incoming, "music.zip", limits)
        commit()
        preview_s = time.perf_counter() - started

        archives.confirm(found, {e["i"] for e in found.entries if e["action"] == "add"})
        commit()
        before = tree_rss_mb(os.getpid())
        started = time.perf_counter()
        with Sampler(os.getpid()) as sampler:
            result = archives.run_import(store, pool, found.id, limits)
        import_s = time.perf_counter() - started
        assert result["added"] == tracks, result

        sources = adding.source_files(folder, adding.AUDIO_EXTENSIONS)
        started = time.perf_counter()
        added = 0
        for batch in adding.import_files(store, pool, folderer, sources, max_bytes=2000 * 10**6):
            commit(batch)
            added += sum(1 for r in batch.results if r.outcome is adding.AddOutcome.ADDED)
        folder_s = time.perf_counter() - started
        assert added == tracks
        db.engine.dispose()
    return {"preview": preview_s, "import": import_s, "folder": folder_s, "memory": sampler.peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=250)
    parser.add_argument("--size-mb", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        base_path, folder, archive = build(tmpdir, args.tracks, args.size_mb)
        # The 2 GB just written would still be reaching the disk during the first timing
        # (the ZIP import's), and not during the folder import's.
        os.sync()
        size = archive.stat().st_size
        got = measure(tmpdir, base_path, folder, archive, args.tracks)
        shutil.rmtree(tmpdir / "uploads", ignore_errors=True)
    n = args.tracks
    print(f"archive: {n} MP3s, {size / 1e6:.0f} MB (stored)")
    print("| step | time | rate | budget |\n|---|---|---|---|")
    print(f"| preview (directory, duplicates) | {got['preview']:.2f} s | | < 3 s for 1 GB / 250 files |")
    print(f"| ZIP import job | {got['import']:.2f} s | {n / got['import']:.0f} tracks/s | >= 100 tracks/s |")
    print(f"| folder import (reference) | {got['folder']:.2f} s | {n / got['folder']:.0f} tracks/s | |")
    print(f"| memory growth during the import (peak, process tree) | {got['memory']:.0f} MB | | < 100 MB |")


if __name__ == "__main__":
    main()
