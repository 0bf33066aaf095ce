"""`flask import PATH --user NAME`: a folder already on the server, imported like uploads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Job, Role, Track, Visibility
from app.services import jobs
from app.services.library import adding
from app.services.storage import get_storage
from app.services.tags import get_pool
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import DATA, add_track


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    (root / "Artist" / "Album").mkdir(parents=True)
    for name in ("tagged.mp3", "cover.flac", "tagged.ogg", "tagged.opus", "tagged.m4a", "plain.wav"):
        shutil.copy(DATA / name, root / "Artist" / "Album" / name)
    (root / "notes.txt").write_text("not music")  # not an audio extension: ignored
    (root / "broken.mp3").write_bytes(hostile.html_file())  # looks like audio, is not
    (root / ".hidden.mp3").write_bytes((DATA / "untagged.mp3").read_bytes())  # hidden: skipped
    return root


def run_import(app, *args: str):
    return app.test_cli_runner().invoke(args=["import", *args])


def test_import_adds_every_audio_file_and_reports(app, user, db, music):
    result = run_import(app, str(music), "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "Added 6, already there 0, rejected 1" in result.output
    assert "rejected broken.mp3: not an audio file" in result.output
    tracks = db.session.scalars(select(Track).where(Track.owner_id == user.id)).all()
    assert {t.title for t in tracks} == {"Beyoncé Tone", "Flac Tone", "Vorbis Tone", "Opus Tone", "AAC Tone", "plain"}
    assert all(t.visibility == Visibility.PRIVATE for t in tracks)
    store = get_storage()
    for track in tracks:
        assert store.local_path(track.storage_path).is_file()
    assert list(store.list_incoming()) == []
    assert (music / "Artist" / "Album" / "tagged.mp3").exists()  # the source is left alone


def test_import_again_skips_unchanged_files(app, user, db, music):
    run_import(app, str(music), "--user", "alice")
    (music / "new.mp3").write_bytes((DATA / "untagged.mp3").read_bytes())
    result = run_import(app, str(music), "--user", "alice")
    assert result.exit_code == 0, result.output
    assert "Added 1, already there 6, rejected 1" in result.output
    assert db.session.scalar(select(func.count(Track.id))) == 7


def test_import_public_and_single_file(app, user, db):
    result = run_import(app, str(DATA / "tagged.flac"), "--user", "ALICE", "--public")
    assert result.exit_code == 0, result.output
    assert "Added 1," in result.output
    assert db.session.scalar(select(Track)).visibility == Visibility.PUBLIC


def test_import_errors(app, user, make_user, tmp_path):
    assert "No account named 'ghost'." in run_import(app, str(tmp_path), "--user", "ghost").output
    (tmp_path / "empty").mkdir()
    assert "No audio files found" in run_import(app, str(tmp_path / "empty"), "--user", "alice").output
    make_user("lisa", role=Role.LISTENER)
    result = run_import(app, str(DATA), "--user", "lisa")
    assert result.exit_code == 1
    assert "lisa is a listener" in result.output
    assert run_import(app, str(tmp_path / "nope"), "--user", "alice").exit_code == 2


def test_import_respects_the_quota(app, user, db, music):
    user.quota_bytes = 50_000
    db.session.commit()
    result = run_import(app, str(music), "--user", "alice")
    assert result.exit_code == 0
    assert "storage quota exceeded" in result.output
    used = db.session.scalar(select(func.sum(Track.size_bytes)).where(Track.owner_id == user.id))
    assert used <= 50_000


def _good_and_hostile_folder(root: Path) -> tuple[list[str], dict[str, str]]:
    """Twelve distinct tagged MP3s, a copy of one of them, and hostile files between them."""
    root.mkdir()
    good = []
    for i in range(12):
        hostile.mp3_with_tags(
            root / f"{i:02d} good.mp3", title=f"Good {i}", artist=f"Band {i % 3}", album=f"LP {i % 4}"
        )
        good.append(f"Good {i}")
    shutil.copy(root / "03 good.mp3", root / "03 again.mp3")  # the same bytes twice
    bad = {
        "04 page.mp3": "not an audio file",
        "07 cut.flac": "not a supported audio file",
        "08 empty.ogg": "not an audio file",
        "09 nested.m4a": "not a supported audio file",
    }
    (root / "04 page.mp3").write_bytes(hostile.html_file())
    (root / "07 cut.flac").write_bytes(hostile.truncated_flac())
    (root / "08 empty.ogg").write_bytes(hostile.zero_bytes())
    (root / "09 nested.m4a").write_bytes(hostile.nested_mp4())
    return good, bad


def test_parallel_import_keeps_the_good_files_and_reports_the_hostile_ones(app, user, db, tmp_path):
    good, bad = _good_and_hostile_folder(tmp_path / "mixed")
    result = run_import(app, str(tmp_path / "mixed"), "--user", "alice")
    assert result.exit_code == 0, result.output
    assert f"Added {len(good)}, already there 1, rejected {len(bad)}" in result.output
    for name, reason in bad.items():
        assert f"rejected {name}: {reason}" in result.output
    tracks = db.session.scalars(select(Track).where(Track.owner_id == user.id)).all()
    assert sorted(t.title for t in tracks) == sorted(good)
    store = get_storage()
    for track in tracks:
        assert store.local_path(track.storage_path).read_bytes()[:3] == b"ID3"
    stored_audio = [f for f in store.list_files() if f.rel.endswith(".mp3")]
    assert len(stored_audio) == len(good)  # nothing kept for a rejected file
    assert list(store.list_incoming()) == []
    # Every track's analysis was queued (and, jobs running at once here, done).
    analysed = db.session.scalars(select(Job.args).where(Job.name == jobs.ANALYSE_TRACK)).all()
    assert sorted(args[0] for args in analysed) == sorted(t.id for t in tracks)


def test_import_batch_refused_by_the_database_goes_file_by_file(app, user, db, tmp_path):
    """A file the owner gets elsewhere while the import runs (after it listed what the
    owner had) makes the batch's insert fail: that file is reported as already there,
    the others of its batch are still added."""
    good, _ = _good_and_hostile_folder(tmp_path / "mixed")
    sources = adding.source_files(tmp_path / "mixed", adding.AUDIO_EXTENSIONS)
    store = get_storage()
    batches = adding.import_files(
        store, get_pool(2, 30, 1024), user, sources, max_bytes=10**9, visibility=Visibility.PRIVATE, batch_size=4
    )
    outcomes = []
    first = next(batches)
    commit(first)
    outcomes += [(r.name, r.outcome) for r in first.results]
    add_track(user, "late.mp3", content=(tmp_path / "mixed" / "11 good.mp3").read_bytes())
    for batch in batches:
        commit(batch)
        outcomes += [(r.name, r.outcome) for r in batch.results]
    assert ("11 good.mp3", adding.AddOutcome.DUPLICATE) in outcomes
    added = sorted(name for name, outcome in outcomes if outcome is adding.AddOutcome.ADDED)
    assert len(added) == len(good) - 1
    titles = db.session.scalars(select(Track.title).where(Track.owner_id == user.id)).all()
    assert sorted(titles) == sorted(good)  # "Good 11" once, from the upload
    assert list(store.list_incoming()) == []
