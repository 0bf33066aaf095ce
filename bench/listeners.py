"""Slow listeners as real players are: the scenario of the serving benchmarks.

Each listener plays tracks one after another: it opens a connection, asks
for the whole track, reads it at 40 KB/s (a 320 kbps MP3) through a 16 KiB
receive buffer, and when the track ends it closes the connection and opens
a new one for the next track. One more client seeks (a random 256 KiB range
on a kept-alive connection) every second. A listener stalls when it waits
over a second for bytes it is ready to read, the wait for a new track's
first byte included. Bounded in time; loopback only.

    python bench/listeners.py PORT COOKIE PATH [PATH ...] [--listeners 1000] [--seconds 30]

The tracks should be short (seconds), so that every listener changes track
several times within the run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import time
from dataclasses import dataclass, field

LISTEN_RATE = 40_000  # bytes/s
RECEIVE_BUFFER = 16 * 1024
SEEK_CHUNK = 256 * 1024
STALL = 1.0  # seconds


@dataclass
class Result:
    listeners: int
    stalled: int = 0
    never_served: int = 0
    errors: int = 0
    tracks: int = 0
    worst_wait: float = 0.0
    seeks: list[float] = field(default_factory=list)  # ms; inf for a failed seek

    def summary(self) -> str:
        return (
            f"{self.stalled} stalled over {STALL:.0f} s ({self.never_served} never served),"
            f" {self.errors} errors, {self.tracks} tracks played, longest wait {self.worst_wait:.2f} s;"
            f" seek median {self.seek_median:.1f} ms, p99 {self.seek_p99:.1f} ms ({len(self.seeks)} seeks)"
        )

    @property
    def seek_median(self) -> float:
        return statistics.median(self.seeks) if self.seeks else float("inf")

    @property
    def seek_p99(self) -> float:
        if not self.seeks:
            return float("inf")
        ordered = sorted(self.seeks)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock, limit=RECEIVE_BUFFER)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Status and Content-Length of a response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, length


async def _listener(port: int, cookie: str, paths: list[str], stop_at: float, *, index: int, result: Result) -> None:
    rng = random.Random(index)
    served = False
    worst = 0.0
    waited_from = time.monotonic()
    try:
        while time.monotonic() < stop_at:
            path = rng.choice(paths)
            waited_from = time.monotonic()
            reader, writer = await asyncio.wait_for(_open(port), max(0.1, stop_at - waited_from))
            try:
                request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nRange: bytes=0-\r\n\r\n"
                writer.write(request.encode())
                status, length = await asyncio.wait_for(_read_head(reader), max(0.1, stop_at - time.monotonic()))
                if status not in (200, 206):
                    result.errors += 1
                    return
                received, started = 0, time.monotonic()
                while received < length and time.monotonic() < stop_at:
                    ahead = received - LISTEN_RATE * (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(min(ahead / LISTEN_RATE, max(0.0, stop_at - time.monotonic())))
                        waited_from = time.monotonic()
                        continue
                    remaining = max(0.05, stop_at - time.monotonic())
                    chunk = await asyncio.wait_for(reader.read(min(8192, length - received)), remaining)
                    worst = max(worst, time.monotonic() - waited_from)
                    if not chunk:
                        result.errors += 1
                        return
                    served = True
                    received += len(chunk)
                    waited_from = time.monotonic()
                if received >= length:
                    result.tracks += 1
            finally:
                writer.close()
    except TimeoutError:
        # The run ended while this listener waited: that wait counts too.
        worst = max(worst, time.monotonic() - waited_from)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        result.errors += 1
    finally:
        result.worst_wait = max(result.worst_wait, worst)
        result.stalled += worst > STALL
        result.never_served += not served


async def _seeker(port: int, cookie: str, targets: list[tuple[str, int]], stop_at: float, result: Result) -> None:
    rng = random.Random(7)
    reader = writer = None
    while time.monotonic() < stop_at - 1:
        path, size = rng.choice(targets)
        start = rng.randrange(0, max(1, size - SEEK_CHUNK))
        last = min(size, start + SEEK_CHUNK) - 1
        began = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nRange: bytes={start}-{last}\r\n\r\n"
            writer.write(head.encode())
            status, length = await asyncio.wait_for(_read_head(reader), 30)
            await asyncio.wait_for(reader.readexactly(1), 30)
            result.seeks.append((time.monotonic() - began) * 1000 if status == 206 else float("inf"))
            await asyncio.wait_for(reader.readexactly(length - 1), 30)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            result.seeks.append(float("inf"))
            if writer is not None:
                writer.close()
            reader = writer = None
        await asyncio.sleep(max(0.0, 1 - (time.monotonic() - began)))
    if writer is not None:
        writer.close()


async def _run(port: int, cookie: str, targets: list[tuple[str, int]], listeners: int, seconds: float) -> Result:
    result = Result(listeners)
    stop_at = time.monotonic() + seconds
    paths = [path for path, _ in targets]
    tasks = [asyncio.create_task(_seeker(port, cookie, targets, stop_at, result))]
    # A crowd arriving over the first seconds, not one burst.
    spread = min(5.0, seconds / 4) / max(1, listeners)
    for i in range(listeners):
        tasks.append(asyncio.create_task(_listener(port, cookie, paths, stop_at, index=i, result=result)))
        await asyncio.sleep(spread)
    await asyncio.gather(*tasks)
    return result


def run(port: int, cookie: str, targets: list[tuple[str, int]], listeners: int, seconds: float) -> Result:
    """Run the scenario against 127.0.0.1:port; targets are (URL path, size) pairs."""
    return asyncio.run(_run(port, cookie, targets, listeners, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("cookie")
    parser.add_argument("targets", nargs="+", help="PATH:SIZE")
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    targets = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in args.targets]
    r = run(args.port, args.cookie, targets, args.listeners, args.seconds)
    print(f"{r.listeners} listeners: {r.summary()}")


if __name__ == "__main__":
    main()
