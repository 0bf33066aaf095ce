"""Uploading through the real form: every format, hostile files, limits, duplicates."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Role, Track
from app.services.storage import get_storage
from tests import hostile
from tests.helpers import DATA, PASSWORD, csrf_from, login

FORMATS = [
    ("tagged.mp3", "mp3", "Beyoncé Tone", "Beyoncé", "audio/mpeg"),
    ("tagged.flac", "flac", "Flac Tone", "Ünïcode Artist", "audio/flac"),
    ("tagged.ogg", "ogg", "Vorbis Tone", "Ogg Artist", "audio/ogg"),
    ("tagged.opus", "opus", "Opus Tone", "Ogg Artist", "audio/ogg"),
    ("tagged.m4a", "m4a", "AAC Tone", "MP4 Artist", "audio/mp4"),
    ("plain.wav", "wav", "plain", "Unknown artist", "audio/wav"),
]


def upload(client, files: list[tuple[bytes, str]], as_json: bool = False):
    token = csrf_from(client, "/library/upload")
    data = {"csrf_token": token, "files": [(io.BytesIO(content), name) for content, name in files]}
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post("/library/upload", data=data, content_type="multipart/form-data", headers=headers)


def upload_one(client, content: bytes, name: str) -> dict:
    response = upload(client, [(content, name)], as_json=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    results = response.get_json()["results"]
    assert len(results) == 1
    return results[0]


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def uploads(app) -> Path:
    """The uploads folder itself, for the checks that walk all of it (stored_files): they
    watch the storage from outside, so a file written where the storage's own listing
    does not look would show up too. Single files are reached through get_storage()."""
    return Path(app.config["UPLOAD_FOLDER"])


@pytest.mark.parametrize(("name", "fmt", "title", "artist", "mime"), FORMATS)
def test_each_format_is_added_with_its_tags(alice, db, name, fmt, title, artist, mime):
    result = upload_one(alice, (DATA / name).read_bytes(), name)
    assert result["status"] == "added", result
    assert result["track"]["title"] == title
    assert result["track"]["artist"] == artist
    track = db.session.scalar(select(Track))
    assert track.format == fmt
    assert track.mime_type == mime
    assert track.duration == pytest.approx(3.0 if fmt != "wav" else 1.0, abs=0.1)
    assert track.sample_rate and track.channels
    assert track.size_bytes == (DATA / name).stat().st_size
    # Stored as <user id>/<random>.<detected ext>, byte for byte.
    path = get_storage().local_path(track.storage_path)
    assert track.storage_path.startswith(f"{track.owner_id}/") and path.suffix == "." + fmt
    assert path.read_bytes() == (DATA / name).read_bytes()
    page = alice.get("/library").get_data(as_text=True)
    assert title in page and artist in page


def test_form_without_javascript_uploads_many_files_and_lists_results(alice, db):
    files = [((DATA / n).read_bytes(), n) for n, *_ in FORMATS] + [(hostile.text_file(), "lyrics.mp3")]
    response = upload(alice, files)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "6 of 7 files added." in page
    assert "Rejected: not an audio file" in page
    assert db.session.scalar(select(func.count(Track.id))) == 6


def test_tags_defaults_and_details(alice, db):
    result = upload_one(alice, (DATA / "untagged.mp3").read_bytes(), "My_Home_Recording.mp3")
    assert result["track"]["title"] == "My Home Recording"
    track = db.session.scalar(select(Track))
    assert (track.artist, track.album) == ("Unknown artist", "Unknown album")
    page = alice.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    for text in ("MP3", "32 kbps", "22.05 kHz", "Mono", "0:03", "My_Home_Recording.mp3"):
        assert text in page


def test_cover_art_is_extracted_and_served(alice, db):
    upload_one(alice, (DATA / "cover.flac").read_bytes(), "cover.flac")
    upload_one(alice, (DATA / "tagged.ogg").read_bytes(), "tagged.ogg")
    with_cover, without = db.session.scalars(select(Track).order_by(Track.id)).all()
    assert with_cover.cover_path and get_storage().local_path(with_cover.cover_path).exists()
    # The pages' address names the picture, so it may be kept for good; a bare one is checked again.
    version = with_cover.cover_path.rpartition("/")[2][:16]
    response = alice.get(f"/stream/{with_cover.id}/cover?v={version}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.data[:3] == b"\xff\xd8\xff"
    assert "immutable" in response.headers["Cache-Control"]
    response.close()
    assert alice.get(f"/stream/{with_cover.id}/cover").headers["Cache-Control"] == "private, no-cache"
    placeholder = alice.get(f"/stream/{without.id}/cover")
    assert placeholder.status_code == 200
    assert placeholder.headers["Content-Type"].startswith("image/svg+xml")
    placeholder.close()


def test_same_cover_is_stored_once(alice, db):
    upload_one(alice, (DATA / "cover.mp3").read_bytes(), "a.mp3")
    upload_one(alice, (DATA / "cover.flac").read_bytes(), "b.flac")
    paths = {t.cover_path for t in db.session.scalars(select(Track))}
    assert len(paths) == 1
    assert len([f for f in get_storage().list_files() if "/covers/" in f.rel]) == 1


def test_duplicate_upload_is_reported_not_stored(alice, db, uploads):
    first = upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "song.mp3")
    second = upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "same song again.mp3")
    assert second["status"] == "duplicate"
    assert second["track"]["id"] == first["track"]["id"]
    assert second["track"]["url"] == f"/library/tracks/{first['track']['id']}"
    assert db.session.scalar(select(func.count(Track.id))) == 1
    assert len([p for p in stored_files(uploads) if p.suffix == ".mp3"]) == 1


def test_two_users_may_upload_the_same_file(app, alice, make_user, db):
    upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "song.mp3")
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    assert upload_one(bob, (DATA / "tagged.mp3").read_bytes(), "song.mp3")["status"] == "added"
    assert db.session.scalar(select(func.count(Track.id))) == 2


HOSTILE = [
    (hostile.zero_bytes, "empty.mp3", "not an audio file"),
    (hostile.text_file, "lyrics.mp3", "not an audio file"),
    (hostile.html_file, "page.mp3", "not an audio file"),
    (hostile.truncated_flac, "cut.flac", "not a supported audio file"),
    (hostile.nested_mp4, "deep.m4a", "not a supported audio file"),
    (hostile.flac_without_frames, "silent.flac", "no playable audio found in the file"),
    (hostile.m4a_without_media_data, "hollow.m4a", "no playable audio found in the file"),
]


@pytest.mark.parametrize(("build", "name", "reason"), HOSTILE)
def test_hostile_files_are_rejected_cleanly(alice, db, uploads, build, name, reason):
    result = upload_one(alice, build(), name)
    assert result["status"] == "rejected"
    assert result["message"] == reason
    assert db.session.scalar(select(func.count(Track.id))) == 0
    assert stored_files(uploads) == []  # nothing kept, no temporary file left


def test_format_comes_from_the_content_not_the_name(alice, db):
    result = upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "actually-an-mp3.flac")
    assert result["status"] == "added"
    track = db.session.scalar(select(Track))
    assert (track.format, track.mime_type) == ("mp3", "audio/mpeg")
    assert track.storage_path.endswith(".mp3")


def test_id3_header_claiming_256_mb_is_harmless(alice, db, uploads):
    result = upload_one(alice, hostile.id3_claiming_256mb(), "liar.mp3")
    # Either outcome is honest; what matters is a clear answer and a clean folder.
    assert result["status"] in {"added", "rejected"}
    if result["status"] == "rejected":
        assert stored_files(uploads) == []
    else:  # the file and its waveform
        assert [p.suffix for p in stored_files(uploads)] == [".mp3", ".json"]


def test_tag_text_is_cleaned_clamped_and_escaped(alice, db, tmp_path):
    content = hostile.mp3_with_tags(
        tmp_path / "x.mp3",
        title="<script>alert('x')</script>",
        artist="Null\x00Byte \u202eevil\u202c",
        album="ﺔﺒﻴﺒﺣ \u200fRTL" + "x" * 1_000_000,
        extra="y" * 1_000_000,
    )
    result = upload_one(alice, content, "tags.mp3")
    assert result["status"] == "added"
    track = db.session.scalar(select(Track))
    assert track.title == "<script>alert('x')</script>"
    assert "\x00" not in track.artist and "Null" in track.artist and "Byte" in track.artist
    assert len(track.album) == 300 and track.album.endswith("…")
    for url in (
        "/library",
        f"/library/tracks/{track.id}",
        f"/library/albums/{track.album_id}",
        f"/library/artists/{track.artist_id}",
        "/library/albums",
        "/library/artists",
        f"/library/tracks/{track.id}/edit",
    ):
        page = alice.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in alice.get("/library").get_data(as_text=True)


@pytest.mark.parametrize(
    ("filename", "title"),
    [
        ("../../../etc/passwd.mp3", "passwd"),
        # The test client's multipart encoder drops backslashes, so only check what matters.
        ("..\\..\\windows\\evil.mp3", None),
        ("日本語の歌.mp3", "日本語の歌"),
        ("Песня.mp3", "Песня"),
        ("x" * 400 + ".mp3", "x" * 299 + "…"),
        ("rock & roll's <b>.mp3", "rock & roll's <b>"),
    ],
)
def test_filenames_never_reach_the_disk(alice, db, uploads, filename, title):
    result = upload_one(alice, (DATA / "untagged.mp3").read_bytes(), filename)
    assert result["status"] == "added"
    track = db.session.scalar(select(Track))
    if title is not None:
        assert track.title == title
    assert "/" not in track.title and "\\" not in track.title
    files = stored_files(uploads)
    assert len(files) == 2 and files[1].name == files[0].stem + ".waveform.json"  # the file, its waveform
    assert files[0].parent == uploads / str(track.owner_id)
    assert files[0].name != filename and files[0].suffix == ".mp3"
    assert len(files[0].name) < 30


def test_filename_with_nul(alice, db):
    result = upload_one(alice, (DATA / "untagged.mp3").read_bytes(), "bad\x00name.mp3")
    assert result["status"] == "added"
    assert "\x00" not in db.session.scalar(select(Track)).original_filename


def test_file_over_the_size_limit_is_refused(make_app, make_user):
    app = make_app(MAX_UPLOAD_MB=0.02)  # 20 kB
    with app.app_context():
        make_user_in(app, "alice")
        client = app.test_client()
        login(client, "alice")
        result = upload_one(client, (DATA / "cover.flac").read_bytes(), "big.flac")
        assert result == {
            "name": "big.flac",
            "status": "rejected",
            "code": "FILE_TOO_LARGE",
            "message": "file too large: 39.1 kB, the limit is 20 kB",
        }
        assert stored_files(Path(app.config["UPLOAD_FOLDER"])) == []


def make_user_in(app, name: str) -> None:
    from app.extensions import db
    from app.services import accounts

    accounts.create_user(name, PASSWORD, role=Role.USER, rounds=4)
    db.session.commit()


def test_size_message_gives_the_figures(make_app):
    app = make_app(MAX_UPLOAD_MB=1)
    with app.app_context():
        make_user_in(app, "alice")
        client = app.test_client()
        login(client, "alice")
        big = (DATA / "tagged.flac").read_bytes() * 60  # about 1.7 MB
        result = upload_one(client, big, "long.flac")
        assert result["status"] == "rejected"
        assert result["message"] == "file too large: 1.7 MB, the limit is 1 MB"


def test_request_over_the_limit_is_413_before_reading(make_app):
    app = make_app(MAX_REQUEST_MB=0.01)  # 10 kB
    with app.app_context():
        make_user_in(app, "alice")
        client = app.test_client()
        login(client, "alice")
        response = upload(client, [((DATA / "tagged.flac").read_bytes(), "a.flac")], as_json=True)
        assert response.status_code == 413
        assert response.get_json()["status"] == 413


def test_quota_is_enforced_with_a_clear_message(alice, user, db):
    user.quota_bytes = 30_000
    db.session.commit()
    assert upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "a.mp3")["status"] == "added"  # 12.5 kB
    result = upload_one(alice, (DATA / "tagged.flac").read_bytes(), "b.flac")  # 28 kB more
    assert result["status"] == "rejected"
    assert result["message"] == "storage quota exceeded: 12.6 kB of 30 kB used"
    assert db.session.scalar(select(func.count(Track.id))) == 1


def test_two_uploads_at_once_cannot_both_squeeze_under_the_quota(app, alice, user, db, monkeypatch):
    """Each file fits, both do not. The second upload is made while the first one's
    tags are being read (after its early quota check passed): exactly one is added."""
    from app.services.tags import ParserPool

    user.quota_bytes = 30_000
    db.session.commit()
    second = app.test_client()
    login(second, "alice")
    parse = ParserPool.parse
    during: list[dict] = []

    def parse_while_another_upload_lands(pool, path, original_name):
        if original_name == "a.mp3":
            during.append(upload_one(second, (DATA / "tagged.flac").read_bytes(), "b.flac"))  # 28 kB
        return parse(pool, path, original_name)

    monkeypatch.setattr(ParserPool, "parse", parse_while_another_upload_lands)
    first = upload_one(alice, (DATA / "tagged.mp3").read_bytes(), "a.mp3")  # 12.5 kB
    assert during[0]["status"] == "added"
    assert first["status"] == "rejected"
    assert first["message"] == "storage quota exceeded: 28.5 kB of 30 kB used"
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Track.id))) == 1
    assert db.session.scalar(select(func.sum(Track.size_bytes))) <= 30_000


def test_simultaneous_uploads_take_turns_at_the_quota(app, alice, user, db, monkeypatch):
    """Two uploads read their tags at the same moment, then both record their
    track: one is added, the other refused, and neither fails on a lock."""
    import threading

    from app.services.tags import ParserPool

    user.quota_bytes = 30_000
    db.session.commit()
    clients = [alice, app.test_client()]
    login(clients[1], "alice")
    both_parsing = threading.Barrier(2, timeout=20)
    parse = ParserPool.parse

    def parse_together(pool, path, original_name):
        both_parsing.wait()
        return parse(pool, path, original_name)

    monkeypatch.setattr(ParserPool, "parse", parse_together)
    results: list[dict] = []
    files = [("a.flac", "tagged.flac"), ("b.mp3", "tagged.mp3")]  # 28 kB and 12.5 kB
    uploads = [
        threading.Thread(
            target=lambda c=client, n=name, d=data: results.append(upload_one(c, (DATA / d).read_bytes(), n))
        )
        for client, (name, data) in zip(clients, files, strict=True)
    ]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join(60)
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["added", "rejected"], results


def test_quota_message_in_gigabytes(alice, user, db):
    user.quota_bytes = 2_000_000_000
    db.session.commit()
    from app.services.library.quotas import QuotaExceeded, check_limits
    from app.web.messages import message

    incoming = get_storage().incoming(10**12)
    incoming.size = 2_500_000_000
    with pytest.raises(QuotaExceeded) as raised:
        check_limits(user, incoming, 10**12)
    assert message(raised.value) == "storage quota exceeded: 0 bytes of 2 GB used"
    incoming.discard()


def test_listeners_cannot_upload(client, make_user, admin):
    make_user("lisa", role=Role.LISTENER)
    login(client, "lisa")
    assert client.get("/library/upload").status_code == 403
    assert "Upload" not in client.get("/library").get_data(as_text=True).split("<main")[0]


def test_upload_needs_csrf(alice, db):
    response = alice.post(
        "/library/upload",
        data={"files": [(io.BytesIO((DATA / "tagged.mp3").read_bytes()), "a.mp3")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Track.id))) == 0


def test_empty_form_asks_for_files(alice):
    token = csrf_from(alice, "/library/upload")
    response = alice.post("/library/upload", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert "Choose one or more audio files first." in alice.get("/library/upload").get_data(as_text=True)


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 64 kB file system for the uploads folder: a real full disk."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]
    done = subprocess.run(command, check=False, capture_output=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_gives_a_clear_error_and_leaves_nothing(make_app, tiny_disk):
    app = make_app(UPLOAD_FOLDER=str(tiny_disk))
    with app.app_context():
        make_user_in(app, "alice")
        client = app.test_client()
        login(client, "alice")
        big = (DATA / "tagged.flac").read_bytes() * 4  # 112 kB: more than the disk holds
        response = upload(client, [(big, "big.flac"), ((DATA / "tagged.mp3").read_bytes(), "small.mp3")], as_json=True)
        assert response.status_code == 200
        results = response.get_json()["results"]
        assert results[0]["status"] == "rejected"
        assert results[0]["message"].startswith("the server could not store the file")
        assert results[1]["status"] == "added"  # one bad file never stops the others
        files = stored_files(tiny_disk)
        assert [p.suffix for p in files] == [".mp3", ".json"]  # the small file and its waveform


# --- the tag-parser pool: processes start on demand and stop when idle ---------------------


def gone(pid: int) -> bool:
    """Whether the process has exited and been reaped (stop() waits for it)."""
    return not Path(f"/proc/{pid}").exists()


def wait_until(condition, seconds: float = 20.0) -> bool:
    """Poll `condition` every 20 ms for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_idle_parser_processes_stop_and_start_again_on_demand():
    from app.services.tags import ParserPool

    pool = ParserPool(size=2, timeout=30, idle_seconds=0.3)
    try:
        assert pool.processes == 0  # nothing starts before a file comes
        pool.warm()
        pids = [worker.process.pid for worker in pool._idle]
        assert len(pids) == 2 and not any(gone(pid) for pid in pids)
        assert pool.parse(DATA / "tagged.flac", "a.flac").title == "Flac Tone"

        assert wait_until(lambda: pool.processes == 0 and all(gone(pid) for pid in pids))
        assert wait_until(lambda: pool._reaper is None)  # the reaper goes too

        # The next file starts a process again, and it too stops when idle.
        assert pool.parse(DATA / "tagged.mp3", "b.mp3").artist == "Beyoncé"
        assert pool.processes == 1
        again = pool._idle[0].process.pid
        assert again not in pids
        assert wait_until(lambda: pool.processes == 0 and gone(again))
    finally:
        pool.close()


def test_a_parser_in_use_is_kept_while_the_spare_one_stops():
    """The most recently used process is reused first, so under a trickle of
    files one process stays and the other goes idle and stops."""
    from app.services.tags import ParserPool

    pool = ParserPool(size=2, timeout=30, idle_seconds=0.5)
    try:
        pool.warm()
        pids = {worker.process.pid for worker in pool._idle}
        used: set[int] = set()
        titles: list[str] = []

        def one_more_file() -> bool:
            titles.append(pool.parse(DATA / "tagged.ogg", "c.ogg").title)
            used.add(pool._idle[-1].process.pid)
            return pool.processes == 1

        assert wait_until(one_more_file)
        assert set(titles) == {"Vorbis Tone"}
        (kept,) = used
        assert [worker.process.pid for worker in pool._idle] == [kept]
        spare = (pids - {kept}).pop()
        # The count drops as the reaper takes the spare; its stop follows a moment later.
        assert wait_until(lambda: gone(spare))
    finally:
        pool.close()


def test_a_forked_process_gets_its_own_pool(tmp_path):
    """A gunicorn worker is a fork: it must not use its parent's parser processes,
    pipes or lock; it starts its own pool, and the parent's keeps working."""
    script = tmp_path / "fork.py"
    script.write_text(
        f"""
import os, sys
from app.services.tags import get_pool

parent = get_pool(1, 30, 1024, 60)
parent.warm()
parent_pid = parent._idle[0].process.pid
child = os.fork()
if child == 0:
    pool = get_pool(1, 30, 1024, 60)
    ok = pool is not parent and pool.processes == 0
    ok = ok and pool.parse({str(DATA / "tagged.mp3")!r}, "a.mp3").title == "Beyoncé Tone"
    ok = ok and pool._idle[0].process.pid != parent_pid
    pool.close()
    os._exit(0 if ok else 1)
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0, "the child used its parent's pool"
assert get_pool(1, 30, 1024, 60) is parent
assert parent.parse({str(DATA / "tagged.flac")!r}, "b.flac").title == "Flac Tone"
assert parent._idle[0].process.pid == parent_pid
parent.close()
print("ok")
"""
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_folders_file_is_filed_under_its_folder_when_untagged(alice, db):
    untagged = (DATA / "untagged.mp3").read_bytes()
    results = upload(
        alice,
        [
            (untagged, "My Band/Folder Album/03 - Lost Song.mp3"),
            ((DATA / "tagged.mp3").read_bytes(), "My Band/Folder Album/tagged.mp3"),
        ],
        as_json=True,
    ).get_json()["results"]
    assert [r["status"] for r in results] == ["added", "added"]
    assert results[0]["name"] == "03 - Lost Song.mp3"
    rows = {t.original_filename: t for t in db.session.scalars(select(Track))}
    lost = rows["03 - Lost Song.mp3"]
    assert (lost.album, lost.artist, lost.track_number) == ("Folder Album", "My Band", 3)
    tagged = rows["tagged.mp3"]
    assert tagged.album != "Folder Album" and tagged.artist == "Beyoncé"  # its own tags win


def test_a_hostile_folder_path_is_only_a_name(alice, db, uploads):
    result = upload_one(alice, (DATA / "untagged.mp3").read_bytes(), "../../../etc/x.mp3")
    assert result["status"] == "added"
    track = db.session.scalar(select(Track))
    assert track.original_filename == "x.mp3"
    # The file and its waveform, in the owner's folder and nowhere else.
    assert [p.relative_to(uploads).parts[0] for p in stored_files(uploads)] == [str(track.owner_id)] * 2
