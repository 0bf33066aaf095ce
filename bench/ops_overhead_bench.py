"""What the operations layers (app/ops: the probes' path check, then a request id,
a count, a latency observation and the active-stream gauge) add to a seek, the
app's cheapest and most frequent request, in prometheus_client's multiprocess
mode as gunicorn runs it.

    .venv/bin/python bench/ops_overhead_bench.py [--requests 5000] [--rounds 7]

A seek (GET /stream/<id>, Range, a session cookie) is answered by the stream fast
path of a real app on SQLite, called in-process: once through the whole stack,
once through the same stack without the two operations layers (the reference),
in alternating rounds, so a busy machine slows both alike. The table gives
microseconds per seek, the median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METRICS_DIR = tempfile.mkdtemp(prefix="ops-bench-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR  # before prometheus_client is imported


def main() -> None:
    from werkzeug.test import EnvironBuilder  # noqa: PLC0415 - after the folder is set

    from app import create_app  # noqa: PLC0415
    from app.extensions import db  # noqa: PLC0415
    from app.services import accounts  # noqa: PLC0415
    from config import TestConfig  # noqa: PLC0415
    from tests.helpers import PASSWORD, add_track, login  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ops-bench-app-"))
    try:
        app = create_app(
            TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'bench.db'}", UPLOAD_FOLDER=str(folder / "up")
        )
        with app.app_context():
            db.create_all()
            user = accounts.create_user("alice", PASSWORD, rounds=4)
            db.session.commit()
            track_id = add_track(user, "tagged.mp3").id
            db.session.commit()
        client = app.test_client()
        login(client, "alice")
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        environ = EnvironBuilder(
            path=f"/stream/{track_id}",
            headers={"Range": "bytes=100-199", "Cookie": f"{cookie.key}={cookie.value}"},
        ).get_environ()

        whole = app.wsgi_app
        reference = whole.wsgi_app.wsgi_app  # inside the metrics layer and the probes

        def run(wsgi) -> float:
            statuses: list[str] = []

            def start_response(status: str, headers: list, exc_info: object = None) -> None:
                statuses.append(status)

            started = time.perf_counter()
            for _ in range(args.requests):
                body = wsgi(dict(environ), start_response)
                for _chunk in body:
                    pass
                body.close()
            assert {status[:3] for status in statuses} == {"206"}, set(statuses)
            return (time.perf_counter() - started) / args.requests * 1e6

        run(whole)  # warm: the grant is remembered, the series exist
        bare, full = [], []
        for _ in range(args.rounds):
            bare.append(run(reference))
            full.append(run(whole))
        b, f = statistics.median(bare), statistics.median(full)
        print("| stack | µs per seek (median of rounds) |\n| --- | --- |")
        print(f"| fast path without the operations layers | {b:.1f} |")
        print(f"| fast path with them | {f:.1f} |")
        print(f"| added | {f - b:.1f} ({(f - b) / b:.0%}) |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
