"""The library check (`flask verify-library`): real rows, real files, through the real storage."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Track
from app.services.library.check import check_library
from app.services.storage import get_storage
from tests.helpers import add_track

HOURS_AGO = time.time() - 2 * 3600


def age(path: Path) -> Path:
    """Make a file look two hours old."""
    os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


@pytest.fixture
def library(app, user):
    """Two tracks (one with a cover), and the storage they live in."""
    tracks = [add_track(user, "cover.flac"), add_track(user, "tagged.mp3")]
    return get_storage(), tracks


def test_a_sound_library_has_no_problems(app, library):
    store, _ = library
    report = check_library(store, deep=True)
    assert (report.tracks, report.problems, report.unresolved) == (2, 0, 0)
    assert report.files == 5  # two audio files, a cover and two waveforms
    result = app.test_cli_runner().invoke(args=["verify-library", "--deep"])
    assert result.exit_code == 0, result.output
    assert "Checked 2 tracks and 5 stored files, with sha256." in result.output
    assert "Everything is in order." in result.output


def test_missing_file_and_missing_cover(app, library):
    store, (with_cover, plain) = library
    store.local_path(plain.storage_path).unlink()
    store.local_path(with_cover.cover_path).unlink()
    report = check_library(store)
    assert [(m.track_id, m.path, m.kind) for m in report.missing] == [
        (with_cover.id, with_cover.cover_path, "cover"),
        (plain.id, plain.storage_path, "audio"),
    ]
    result = app.test_cli_runner().invoke(args=["verify-library"])
    assert result.exit_code == 1
    assert f"missing audio file: track {plain.id}: {plain.storage_path}" in result.output
    assert f"missing cover file: track {with_cover.id}: {with_cover.cover_path}" in result.output


def test_size_mismatch(app, library):
    store, (track, _) = library
    with store.local_path(track.storage_path).open("ab") as fh:
        fh.write(b"grown")
    report = check_library(store)
    [mismatch] = report.size_mismatches
    assert (mismatch.track_id, mismatch.recorded, mismatch.found) == (track.id, track.size_bytes, track.size_bytes + 5)
    result = app.test_cli_runner().invoke(args=["verify-library"])
    assert result.exit_code == 1
    assert f"recorded {track.size_bytes} bytes, found {track.size_bytes + 5}" in result.output


def test_changed_content_is_found_by_the_deep_check_only(app, library):
    store, (track, _) = library
    path = store.local_path(track.storage_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    assert check_library(store).problems == 0
    report = check_library(store, deep=True)
    assert [(m.track_id, m.path) for m in report.hash_mismatches] == [(track.id, track.storage_path)]
    result = app.test_cli_runner().invoke(args=["verify-library", "--deep"])
    assert result.exit_code == 1
    assert f"sha256 mismatch: track {track.id}: {track.storage_path}" in result.output


def test_orphans_and_stale_temporaries_are_reported_when_old(app, library, user):
    store, _ = library
    folder = store.local_path(f"{user.id}/x").parent
    orphan = folder / "orphan.mp3"
    orphan.write_bytes(b"no row names me")
    age(orphan)
    stray_cover = folder / "covers" / ("0" * 64 + ".jpg")
    stray_cover.write_bytes(b"\xff\xd8\xff")
    age(stray_cover)
    fresh = folder / "just-kept.mp3"  # an upload's file, its row not yet committed
    fresh.write_bytes(b"mine soon")
    incoming = store.incoming(max_bytes=100)
    incoming.write(b"half an upload")
    incoming.finish()
    age(incoming.path)
    current = store.incoming(max_bytes=100)  # an upload in progress
    current.write(b"arriving")
    current.finish()

    report = check_library(store)
    assert sorted(f.path for f in report.orphans) == sorted(
        [f"{user.id}/orphan.mp3", f"{user.id}/covers/{'0' * 64}.jpg"]
    )
    assert [f.path for f in report.stale] == [f".incoming/{incoming.path.name}"]
    # A picture no track names goes at once; the rest is for the admin (or --fix).
    assert report.removed == [f"{user.id}/covers/{'0' * 64}.jpg"] and report.unresolved == 2
    assert orphan.exists() and incoming.path.exists() and not stray_cover.exists()

    result = app.test_cli_runner().invoke(args=["verify-library"])
    assert result.exit_code == 1
    assert f"orphan file: {user.id}/orphan.mp3 (15 bytes)" in result.output
    assert f"stale temporary file: .incoming/{incoming.path.name} (14 bytes)" in result.output
    assert "--fix removes" in result.output


def test_fix_removes_orphans_and_temporaries_never_rows(app, library, user, db):
    store, (with_cover, plain) = library
    folder = store.local_path(f"{user.id}/x").parent
    orphan = folder / "orphan.mp3"
    orphan.write_bytes(b"no row names me")
    age(orphan)
    incoming = store.incoming(max_bytes=100)
    incoming.write(b"half an upload")
    incoming.finish()
    age(incoming.path)
    store.local_path(plain.storage_path).unlink()  # a missing file stays reported, its row stays

    result = app.test_cli_runner().invoke(args=["verify-library", "--fix"])
    assert result.exit_code == 1  # the missing file is still there to decide about
    assert f"orphan file: {user.id}/orphan.mp3 (15 bytes) (removed)" in result.output
    assert "3 problems found, 2 removed." in result.output
    assert not orphan.exists() and not incoming.path.exists()
    assert db.session.scalar(select(func.count(Track.id))) == 2
    assert store.local_path(with_cover.storage_path).exists() and store.local_path(with_cover.cover_path).exists()

    store.local_path(plain.storage_path).write_bytes(b"")  # now only the size is wrong
    report = check_library(store, fix=True)
    assert (len(report.missing), len(report.size_mismatches), report.removed) == (0, 1, [])


def test_fix_leaves_a_clean_library_clean(app, library):
    result = app.test_cli_runner().invoke(args=["verify-library", "--fix"])
    assert result.exit_code == 0, result.output
    assert "Everything is in order." in result.output
