"""The uploads folder's rules, directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services.errors import NotFound
from app.services.storage import LocalStorage


@pytest.mark.parametrize("rel", ["../etc/passwd", "/etc/passwd", "1/../../x", "", ".", "1/a\0b.mp3", "1/../.."])
def test_paths_never_leave_the_root(tmp_path: Path, rel: str) -> None:
    with pytest.raises(NotFound):
        LocalStorage(tmp_path).local_path(rel)


def test_paths_inside_the_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert store.local_path("1/abc.mp3") == tmp_path.resolve() / "1" / "abc.mp3"
    assert store.local_path("1/./covers/x.jpg") == tmp_path.resolve() / "1" / "covers" / "x.jpg"


def test_kept_files_are_readable_by_the_group_only(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    incoming = store.incoming(max_bytes=100)
    incoming.write(b"data")
    rel = store.keep(incoming, 7, "mp3")
    mode = (tmp_path / rel).stat().st_mode & 0o777
    assert mode == 0o640
    assert (tmp_path / "7").stat().st_mode & 0o777 == 0o750
    assert list((tmp_path / ".incoming").iterdir()) == []
