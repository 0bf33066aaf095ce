"""`flask storage migrate`: a library moves from local files to the object store and
back, verified, resumable, and readable all along (reads fall back to the old place)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services.storage import FallbackStorage, LocalStorage, get_storage
from tests.helpers import DATA, add_track, login
from tests.seaweed import Seaweed


@pytest.fixture
def library(app, make_user):
    """alice's two tracks (one with a cover) in local files."""
    make_user("admin")
    owner = make_user("alice")
    tracks = [add_track(owner, "cover.mp3"), add_track(owner, "tagged.flac")]
    assert tracks[0].cover_path
    return tracks


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["storage", "migrate", *args])


def test_a_local_library_moves_to_the_bucket_and_back(app, library, s3_settings, seaweedfs: Seaweed, tmp_path):
    to = s3_settings["STORAGE_URL"]
    app.config.update({k: v for k, v in s3_settings.items() if k.startswith("S3_")})
    result = run(app, "--to", to)
    assert result.exit_code == 0, result.output
    assert "3 files copied and verified" in result.output
    names = sorted([t.storage_path for t in library] + [library[0].cover_path])
    assert seaweedfs.keys_of(s3_settings) == names
    again = run(app, "--to", to)  # resumable: nothing left to copy
    assert again.exit_code == 0, again.output
    assert "0 files copied and verified (0 bytes), 3 already there" in again.output
    back = tmp_path / "back"
    home = run(app, "--from", to, "--to", str(back))
    assert home.exit_code == 0, home.output
    assert "3 files copied" in home.output
    for track in library:
        assert (back / track.storage_path).read_bytes() == get_storage().local_path(track.storage_path).read_bytes()


def test_a_damaged_file_is_not_moved_and_the_run_fails(app, library, s3_settings, seaweedfs: Seaweed):
    app.config.update({k: v for k, v in s3_settings.items() if k.startswith("S3_")})
    path = get_storage().local_path(library[1].storage_path)
    path.write_bytes(b"not what was uploaded")
    result = run(app, "--to", s3_settings["STORAGE_URL"])
    assert result.exit_code == 1
    assert f"not moved: {library[1].storage_path}: the old copy does not match its sha256" in result.output
    assert library[1].storage_path not in seaweedfs.keys_of(s3_settings)


def test_reads_fall_back_to_the_old_place_until_a_file_has_moved(app, library, make_app, s3_settings):
    old = app.config["UPLOAD_FOLDER"]
    moving = make_app(**s3_settings, STORAGE_FALLBACK_URL=old)
    with moving.app_context():
        assert isinstance(get_storage(), FallbackStorage)
        client = moving.test_client()
        login(client, "alice")
        track = library[1]
        data = (DATA / "tagged.flac").read_bytes()
        before = client.get(f"/stream/{track.id}", headers={"Range": "bytes=10-29"})
        assert before.status_code == 206 and before.get_data() == data[10:30]
        assert client.get(f"/stream/{library[0].id}/cover").status_code == 200
        result = run(moving, "--to", s3_settings["STORAGE_URL"])
        assert result.exit_code == 0, result.output
        # The old copies can go: every read now finds the new one.
        for rel in (track.storage_path, library[0].storage_path, library[0].cover_path):
            (Path(old) / rel).unlink()
        after = client.get(f"/stream/{track.id}", headers={"Range": "bytes=10-29"})
        assert after.status_code == 206 and after.get_data() == data[10:30]
        assert client.get(f"/stream/{library[0].id}/cover").status_code == 200
        assert isinstance(get_storage().locate(track.storage_path), type(get_storage().primary))
        assert not isinstance(get_storage().locate(track.storage_path), LocalStorage)
