"""The background tasks: plain functions of plain values that call one service each.

They run inside an app context (app/jobs/queue.py pushes it and commits after
them) and are idempotent: running one twice, or for something deleted since,
does no harm. What one returns is kept as its job's result (JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from app.services.jobs import MAKE_COVER
from app.services.library import covers
from app.services.storage import get_storage
from app.services.tags import get_pool


def make_cover(track_id: int) -> str | None:
    """The thumbnail of a track's embedded art (nothing when it has one, or is gone)."""
    cfg = current_app.config
    pool = get_pool(cfg["INGEST_WORKERS"], cfg["INGEST_TIMEOUT"], cfg["INGEST_MEMORY_MB"])
    return covers.make_cover(get_storage(), pool, track_id)


TASKS: dict[str, Callable[..., Any]] = {
    MAKE_COVER: make_cover,
}
