"""Upload processing time and server memory, against a real gunicorn server.

    python bench/upload_bench.py [--flac-mb 50] [--big-mb 450]

1. A ~50 MB FLAC (generated with ffmpeg) is uploaded; we time from the last
   byte sent to the answer: the server's own work (fsync, tag parsing in the
   sandbox, rename, insert, commit), not the transfer.
2. A ~450 MB WAV is uploaded while the server's memory (RSS of the master and
   workers, from /proc) is sampled; the growth over the idle figure is printed.
Only 127.0.0.1 is contacted; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import re
import secrets
import shutil
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import free_port, gunicorn, instance_env, login_cookie, synthesize, tree_rss_mb, wait_port  # noqa: E402


def make_flac(path: Path, mb: int) -> None:
    seconds = int(mb * 1_000_000 / 88_000)  # FLAC keeps about half of 44.1 kHz stereo noise
    noise = f"anoisesrc=d={seconds}:c=white:r=44100:a=1"
    synthesize(
        noise, path, "-ac", "2", "-sample_fmt", "s16", "-metadata", "title=Benchmark Noise", "-metadata", "artist=Bench"
    )


def make_wav(path: Path, mb: int) -> None:
    data = mb * 1_000_000
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16)
        + b"data"
        + struct.pack("<I", data)
    )
    with path.open("wb") as fh:
        fh.write(header)
        chunk = b"\0" * (1 << 20)
        for _ in range(data // len(chunk)):
            fh.write(chunk)
        fh.write(b"\0" * (data % len(chunk)))


class Session:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        return response.status, payload

    def csrf(self, path: str) -> str:
        _, page = self.request("GET", path)
        return re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1).decode()


def upload(session: Session, path: Path) -> tuple[int, bytes, float, float]:
    """Stream a file as multipart; return status, body, seconds sending, seconds after the last byte."""
    token = session.csrf("/library/upload")
    boundary = secrets.token_hex(16)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", session.port, timeout=600)
    conn.putrequest("POST", "/library/upload")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Accept", "application/json")
    conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in session.cookies.items()))
    conn.endheaders()
    started = time.perf_counter()
    conn.send(head)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            conn.send(chunk)
    conn.send(tail)
    sent = time.perf_counter()
    response = conn.getresponse()
    body = response.read()
    done = time.perf_counter()
    conn.close()
    return response.status, body, sent - started, done - sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flac-mb", type=int, default=50)
    parser.add_argument("--big-mb", type=int, default=450)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mc-upload-bench-"))
    server = None
    try:
        flac, wav = tmp / "noise.flac", tmp / "big.wav"
        make_flac(flac, args.flac_mb)
        make_wav(wav, args.big_mb)
        env = instance_env(tmp)
        port = free_port()
        server = gunicorn(env, port)
        wait_port(port)
        session = Session(port)
        name, value = login_cookie(port).split("=", 1)
        session.cookies[name] = value

        print("| upload | size | sending | server work after the last byte | result |\n|---|---|---|---|---|")
        for run in range(args.runs):
            # A fresh copy each time (different bytes), so none is a duplicate.
            copy = tmp / f"noise-{run}.flac"
            shutil.copyfile(flac, copy)
            with copy.open("ab") as fh:
                fh.write(secrets.token_bytes(16))
            status, payload, sending, after = upload(session, copy)
            outcome = re.search(rb'"status":\s*"(\w+)"', payload)
            print(
                f"| FLAC #{run + 1} | {copy.stat().st_size / 1e6:.0f} MB | {sending:.2f} s | {after * 1000:.0f} ms | "
                f"{status} {outcome.group(1).decode() if outcome else payload[:80]!r} |"
            )

        idle = tree_rss_mb(server.pid)
        peak = idle
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, tree_rss_mb(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        status, payload, sending, after = upload(session, wav)
        stop.set()
        sampler.join()
        outcome = re.search(rb'"status":\s*"(\w+)"', payload)
        print(
            f"| WAV | {wav.stat().st_size / 1e6:.0f} MB | {sending:.2f} s | {after * 1000:.0f} ms | "
            f"{status} {outcome.group(1).decode() if outcome else payload[:80]!r} |"
        )
        print(
            f"\nServer RSS (master + workers): idle {idle:.0f} MB, peak during the {args.big_mb} MB upload "
            f"{peak:.0f} MB, growth {peak - idle:.1f} MB"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
