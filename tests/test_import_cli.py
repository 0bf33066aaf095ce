"""`flask import PATH --user NAME`: a folder already on the server, imported like uploads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Role, Track, Visibility
from app.services.storage import get_storage
from tests import hostile
from tests.helpers import DATA


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
