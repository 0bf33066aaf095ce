"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Threaded workers (gthread): a listener holds a connection for minutes while
pulling bytes slowly, so each worker serves many connections at once on
threads; two processes use both cores of a small box.

Measured on a 2-core box (bench/stream_bench.py --gunicorn-args '-k gevent',
after `pip install gevent`, or '-k sync --threads 1'; 32 clients doing random
256 KiB ranges, then 200 listeners at 40 KB/s with one more client seeking
every second):
  gthread, 2 x 256 threads: 3,100 requests/s; no listener stalled, seeks 1.8 ms at p99;
  gevent, 2 workers:        2,000 requests/s; no listener stalled, seeks 33 ms at p99;
  sync, 2 workers:          2,600 requests/s; 198 of 200 listeners stalled, a seek waited 19 s.
Memory was the same (165-185 MB for master and workers).
"""

import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
# Each listener holds a thread while its file is sent. Idle keep-alive
# connections wait in the worker's poller without a thread; gthread keeps at
# most worker_connections - threads of them and closes the rest after their
# response. With no room at all every seek would pay for a new connection
# (measured: 1,580 against 2,240 range requests/s with 32 clients). The room
# stays small, so a worker full of listeners stops accepting and a crowd
# spreads over both workers: a seek still finds a free thread.
threads = int(os.environ.get("WEB_THREADS", "256"))
worker_connections = threads + 64
# A worker whose main loop stops answering for 2 minutes is replaced (long
# uploads and downloads run on threads and do not count). The app drops a
# client that reads nothing of a file for SEND_TIMEOUT seconds; an idle
# kept-alive connection is closed after 5 s; a restart waits 30 s for
# requests in flight.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Workers' heartbeat files in memory, so a slow disk never looks like a hung worker.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - gunicorn's own heartbeat, not data


class MusicCloudLogger(Logger):
    """gunicorn's logger, except that a client dropped for reading nothing of an
    audio file for SEND_TIMEOUT seconds (a paused player) is one line, not a
    traceback: the app sets that timeout on purpose."""

    def exception(self, msg: str, *args: object, **kwargs: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError) and msg.startswith("Socket error"):
            self.info("Dropped a client that stopped reading (SEND_TIMEOUT).")
            return
        super().exception(msg, *args, **kwargs)


logger_class = MusicCloudLogger
