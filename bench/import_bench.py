"""Benchmark `flask import`: a folder of small tagged tracks into a fresh instance.

    python bench/import_bench.py [--tracks 1000]

Builds the corpus (bench/corpus.py), a fresh SQLite database and uploads
folder in a temporary directory, creates a user, then times `flask import`
twice: the first run adds everything, the second must skip everything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import flask, instance_env  # noqa: E402
from corpus import make  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        files = make(tmpdir / "corpus", args.tracks, max(1, args.tracks // 10))
        env = instance_env(tmpdir)
        first, out1 = flask(env, "import", str(tmpdir / "corpus"), "--user", "bench")
        second, out2 = flask(env, "import", str(tmpdir / "corpus"), "--user", "bench")
        print(out1.strip().splitlines()[-1])
        print(out2.strip().splitlines()[-1])
        print("| run | files | wall time (incl. start-up) | files/s |\n|---|---|---|---|")
        print(f"| first import | {len(files)} | {first:.2f} s | {len(files) / first:.0f} |")
        print(f"| re-run (all skipped) | {len(files)} | {second:.2f} s | {len(files) / second:.0f} |")


if __name__ == "__main__":
    main()
