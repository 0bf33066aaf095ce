"""Putting real files into a library the way the app does, for tests that browse it."""

from __future__ import annotations

from pathlib import Path

from app.models import Track, User, Visibility
from app.services.library import adding
from app.services.storage import get_storage
from app.services.tags import get_pool
from app.unit_of_work import commit

DATA = Path(__file__).parent / "data"


def add_track(
    owner: User, name: str, visibility: Visibility = Visibility.PRIVATE, content: bytes | None = None
) -> Track:
    """Add tests/data/<name> (or `content`) to owner's library through the upload service."""
    store = get_storage()
    incoming = store.incoming(max_bytes=10**9)
    incoming.write(content if content is not None else (DATA / name).read_bytes())
    batch = adding.AddBatch(store)
    result = adding.add_file(
        store, get_pool(2, 30, 1024), owner, incoming, name, batch=batch, max_bytes=10**9, visibility=visibility
    )
    commit(batch)
    assert result.outcome is adding.AddOutcome.ADDED, result
    return result.track
