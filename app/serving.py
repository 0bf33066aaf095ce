"""gunicorn's threaded worker, made to serve thousands of slow listeners.

`worker_class = "app.serving.ThreadWorker"` (deploy/gunicorn.conf.py). Two
changes to gunicorn's gthread worker, both on its event loop:

1. **Files are sent by the event loop, not by a thread.** gthread runs each
   request on a pool thread, and a file body is written with a blocking
   sendfile(): a listener pulling a track at 40 KB/s holds a thread for the
   whole track, so the pool sets the number of listeners a worker can serve,
   and each thread's memory stays after the crowd has gone. Here the thread
   runs the app, sends the status and headers, and hands the open file to
   the event loop, which sends the body with non-blocking sendfile() as the
   client's socket drains. A thread is busy for the length of the app's own
   work; a listener costs a socket and an open file. A client that reads
   nothing for the send timeout the app set on the socket (SEND_TIMEOUT, see
   app/streaming/files.py) is dropped, as the blocking send dropped it.

2. **A connection is closed without waiting on the event loop.** gthread
   closes a connection that is not kept alive "gracefully" (RFC 9112 9.6):
   it half-closes and then waits, up to 2 seconds, for the client to close
   its side, on the worker's main thread. A slow listener that still has
   the end of a track in its buffers makes the whole worker wait: nothing
   is accepted and no finished request is passed on meanwhile. With a crowd
   that changes tracks this stalled every listener (measured with
   bench/listeners.py: 200 of 200 listeners waited over a second). Here the
   half-closed socket waits in the poller for the client's close, drained
   as it comes, and is closed after the same 2 seconds at most.

Everything else (parsing, keep-alive, graceful shutdown, HTTP/2) is
gunicorn's. Responses that are not plain files (pages, JSON, generated
bodies) are written by the thread as before, and so are files on TLS
sockets, on HTTP/2 streams, and bodies whose length the app did not give.
"""

from __future__ import annotations

import errno
import os
import resource
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gunicorn.http.wsgi import FileWrapper
from gunicorn.workers import gthread

# As gunicorn's own graceful close: how long a half-closed connection waits
# for the client's side, and how much of what it still sends is read.
LINGER_SECONDS = 2.0
LINGER_DRAIN_BYTES = 64 * 1024
# The most the event loop sends to one client in one go, so a fast client
# cannot hold the loop while others wait.
SEND_SLICE = 1024 * 1024
NO_BODY_STATUSES = frozenset((204, 304))


class LoopFile(FileWrapper):
    """The file wrapper the app gets as environ["wsgi.file_wrapper"].

    Once the worker takes the body over (`hand_over`), gunicorn's own writer
    finds no file and an empty body, so it sends the status and headers only;
    otherwise it is gunicorn's wrapper unchanged (its sendfile or its reads).
    """

    file: Any = None
    finished: Callable[[], None] = staticmethod(lambda: None)  # type: ignore[assignment]

    def when_finished(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the body is sent or dropped, by gunicorn's writer or by
        the event loop (the app's active-stream count, app/ops/metrics.py)."""
        self.finished = callback

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.finished()

    def hand_over(self) -> Any:
        self.file, self.filelike = self.filelike, None
        # gunicorn closes the body once it has written it; the event loop
        # closes a handed-over file when it is sent.
        self.close = _nothing  # type: ignore[method-assign]
        return self.file

    def __iter__(self) -> Iterator[bytes]:
        return iter(()) if self.file is not None else super().__iter__()


def _nothing() -> None:
    pass


class PendingBody:
    """A file body the event loop is sending: from `offset`, `remaining` bytes."""

    __slots__ = (
        "conn",
        "file",
        "finished",
        "future",
        "offset",
        "progress_at",
        "registered",
        "remaining",
        "stall_limit",
    )

    def __init__(
        self, file: Any, offset: int, remaining: int, stall_limit: float | None, finished: Callable[[], None]
    ) -> None:
        self.file = file
        self.finished = finished
        self.offset = offset
        self.remaining = remaining
        self.stall_limit = stall_limit
        self.progress_at = time.monotonic()
        self.conn: Any = None
        self.future: Any = None
        self.registered = False

    def stalled(self, now: float) -> bool:
        return self.stall_limit is not None and now - self.progress_at > self.stall_limit


class ThreadWorker(gthread.ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bodies handed over by a pool thread, by socket object (its descriptor
        # is gone if the thread closed it), until the request finishes.
        self.handed: dict[socket.socket, PendingBody] = {}
        self.sending: dict[int, PendingBody] = {}
        self.lingering: deque[tuple[float, socket.socket]] = deque()
        self.drained: dict[int, int] = {}

    def init_process(self) -> None:
        _allow_descriptors(2 * self.cfg.worker_connections + 256)
        super().init_process()

    # -- the app: files handed to the event loop ------------------------------

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = self._hand_files_over(self.wsgi)

    def _hand_files_over(self, app: Callable) -> Callable:
        secure = bool(self.cfg.is_ssl)

        def call(environ: dict, start_response: Callable) -> Iterable[bytes]:
            environ["wsgi.file_wrapper"] = LoopFile
            answer: dict[str, Any] = {}

            def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
                answer["status"], answer["headers"] = status, headers
                return start_response(status, headers, exc_info)

            body = app(environ, remember)
            if isinstance(body, LoopFile) and not secure:
                self._take_over(environ, body, answer)
            return body

        return call

    def _take_over(self, environ: dict, body: LoopFile, answer: dict[str, Any]) -> None:
        """Hand the file to the event loop when the response is a plain body of known length."""
        status = int(str(answer.get("status", "0")).split(" ", 1)[0] or 0)
        if environ.get("REQUEST_METHOD") == "HEAD" or status < 200 or status in NO_BODY_STATUSES:
            return
        if environ.get("HTTP_VERSION") == "2":
            return  # an HTTP/2 stream is framed by gunicorn's writer; raw bytes would break it
        length = next((value for name, value in answer.get("headers", ()) if name.lower() == "content-length"), None)
        sock = environ.get("gunicorn.socket")
        if length is None or sock is None or not hasattr(body.filelike, "fileno"):
            return
        try:
            offset = os.lseek(body.filelike.fileno(), 0, os.SEEK_CUR)
        except (OSError, ValueError):
            return
        finished = body.finished
        self.handed[sock] = PendingBody(body.hand_over(), offset, int(length), sock.gettimeout(), finished)

    def finish_request(self, conn: Any, fs: Any) -> None:
        pending = self.handed.pop(conn.sock, None)
        if pending is None:
            super().finish_request(conn, fs)
            return
        ok = not fs.cancelled() and fs.exception() is None and fs.result() is not gthread._DEFER
        if not ok or pending.remaining <= 0 or conn.sock.fileno() == -1:
            pending.file.close()
            pending.finished()
            super().finish_request(conn, fs)
            return
        pending.conn, pending.future = conn, fs
        conn.sock.setblocking(False)
        fd = conn.sock.fileno()
        self.sending[fd] = pending
        if self._send(fd):
            self.poller.register(conn.sock, selectors.EVENT_WRITE, self._on_writable)
            pending.registered = True

    def _on_writable(self, sock: socket.socket) -> None:
        self._send(sock.fileno())

    def _send(self, fd: int) -> bool:
        """Send what the socket takes now; True while there is more to send later."""
        pending = self.sending[fd]
        budget = SEND_SLICE
        while pending.remaining > 0 and budget > 0:
            try:
                sent = os.sendfile(fd, pending.file.fileno(), pending.offset, min(pending.remaining, budget))
            except BlockingIOError:
                return True
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                self._done(fd, failed=True)  # the client went away
                return False
            if sent == 0:  # the file is shorter than the app said
                self._done(fd, failed=True)
                return False
            pending.offset += sent
            pending.remaining -= sent
            budget -= sent
            pending.progress_at = time.monotonic()
        if pending.remaining > 0:
            return True
        self._done(fd, failed=False)
        return False

    def _done(self, fd: int, *, failed: bool) -> None:
        pending = self.sending.pop(fd)
        pending.file.close()
        pending.finished()
        conn = pending.conn
        if pending.registered:
            self.poller.unregister(conn.sock)
        if failed:
            self.nr_conns -= 1
            conn.close()
            return
        conn.sock.setblocking(True)
        super().finish_request(conn, pending.future)

    def _drop_stalled_sends(self) -> None:
        now = time.monotonic()
        for fd, pending in list(self.sending.items()):
            if pending.stalled(now):
                self.log.info("Dropped a client that stopped reading (SEND_TIMEOUT).")
                self._done(fd, failed=True)

    # -- closing without waiting ---------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client.setblocking(True)
        self.enqueue_req(LingeringConn(self, self.cfg, client, address, listener.getsockname()))

    def linger(self, sock: socket.socket) -> None:
        """Half-close `sock` and let the poller wait for the client's close."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._drain)
        except (OSError, ValueError, KeyError):
            sock.close()
            return
        self.drained[sock.fileno()] = 0
        self.lingering.append((time.monotonic() + LINGER_SECONDS, sock))

    def _drain(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        try:
            data = sock.recv(LINGER_DRAIN_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.drained[fd] = self.drained.get(fd, 0) + len(data)
        if not data or self.drained[fd] >= LINGER_DRAIN_BYTES:
            self._forget(sock)
            sock.close()

    def _forget(self, sock: socket.socket) -> None:
        try:
            self.drained.pop(sock.fileno(), None)
            self.poller.unregister(sock)
        except (OSError, ValueError, KeyError):
            pass

    def _close_expired_lingers(self, *, everything: bool = False) -> None:
        now = time.monotonic()
        while self.lingering and (everything or self.lingering[0][0] <= now):
            _, sock = self.lingering.popleft()
            if sock.fileno() != -1:  # not closed by _drain already
                self._forget(sock)
                sock.close()

    # -- housekeeping, on every turn of the loop -----------------------------

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        self._drop_stalled_sends()
        self._close_expired_lingers(everything=force)


def _allow_descriptors(wanted: int) -> None:
    """Raise this process's open-file limit towards `wanted` (a listener holds a
    socket and a file; systemd's default soft limit is 1,024), within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class LingeringConn(gthread.TConn):
    """A connection whose graceful close is left to the worker's poller."""

    def __init__(self, worker: ThreadWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker

    def close(self, graceful: bool = False) -> None:
        if graceful and not self.is_ssl_socket():
            self.worker.linger(self.sock)
        else:
            super().close(graceful=graceful)

    def is_ssl_socket(self) -> bool:
        return bool(self.cfg.is_ssl)
