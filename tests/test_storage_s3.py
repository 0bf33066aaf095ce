"""The object-store backend (STORAGE_URL=s3://...) against a real SeaweedFS: what it
keeps, what a failure leaves, what the library check finds, and how a track is sent."""

from __future__ import annotations

import hashlib
import io
import os
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import current_app
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.tasks import TASKS
from app.models import ArchiveImport, ImportState, Job, JobState, Role, Track
from app.services import credentials, jobs
from app.services.errors import NotFound
from app.services.library import check
from app.services.library.check import check_library
from app.services.storage import PartialConflict, StorageError, StorageUnavailable, get_storage
from app.services.storage_s3 import S3Storage
from app.web.sending import presign_seconds
from tests import archives as zips
from tests.helpers import DATA, add_track, csrf_from, free_port, login
from tests.seaweed import Seaweed
from tests.test_archives import FLAC, TAGGED, confirm, offered, preview_of, track_count
from tests.test_playlists import add, create, share
from tests.test_resumable import TUS, Tus


@pytest.fixture
def storage_settings(s3_settings: dict[str, str]) -> dict[str, str]:
    return s3_settings


def bucket_of(app) -> str:
    return urlsplit(app.config["STORAGE_URL"]).netloc


def key_of(app, rel: str) -> str:
    return urlsplit(app.config["STORAGE_URL"]).path.strip("/") + "/" + rel


def upload(client, content: bytes, name: str) -> dict:
    token = csrf_from(client, "/library/upload")
    response = client.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(content), name)]},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["results"][0]


def incoming_files(app) -> list[Path]:
    return [p for p in (Path(app.config["UPLOAD_FOLDER"]) / ".incoming").rglob("*") if p.is_file()]


def test_an_upload_is_put_to_the_bucket_and_nothing_stays_on_disk(app, alice, db, seaweedfs: Seaweed):
    content = (DATA / "tagged.mp3").read_bytes()
    result = upload(alice, content, "song.mp3")
    assert result["status"] == "added", result
    track = db.session.scalars(select(Track)).one()
    # The file, and its waveform beside it (the analysis job ran on commit).
    waveform = track.storage_path.rsplit(".", 1)[0] + ".waveform.json"
    assert seaweedfs.keys_of(app.config) == sorted([track.storage_path, waveform])
    store = get_storage()
    assert store.size(track.storage_path) == len(content)
    with store.open(track.storage_path) as fh:
        assert fh.read() == content
    assert incoming_files(app) == []
    # Nothing of the library lands in the local folder.
    assert [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()] == []


def test_covers_go_to_the_bucket_and_are_served(app, alice, db, seaweedfs: Seaweed):
    result = upload(alice, (DATA / "cover.mp3").read_bytes(), "cover.mp3")
    assert result["status"] == "added", result
    track = db.session.scalars(select(Track)).one()
    assert track.cover_path and track.cover_path.startswith(f"{track.owner_id}/covers/")
    assert track.cover_path in seaweedfs.keys_of(app.config)
    response = alice.get(f"/stream/{track.id}/cover")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.get_data()[:3] == b"\xff\xd8\xff"


def test_uploaded_artwork_goes_to_the_bucket_and_the_replaced_one_goes_away(app, alice, db, seaweedfs: Seaweed):
    upload(alice, (DATA / "cover.mp3").read_bytes(), "cover.mp3")
    track = db.session.scalars(select(Track)).one()
    embedded = track.cover_path
    edit = f"/library/tracks/{track.id}/edit"
    for colour in ((200, 0, 0), (0, 0, 200)):
        picture = io.BytesIO()
        Image.new("RGB", (400, 400), colour).save(picture, "PNG")
        picture.seek(0)
        token = csrf_from(alice, edit)
        alice.post(
            f"/library/tracks/{track.id}/artwork",
            data={"csrf_token": token, "artwork": (picture, "art.png")},
            content_type="multipart/form-data",
        )
        db.session.refresh(track)
        covers = [key for key in seaweedfs.keys_of(app.config) if "/covers/" in key]
        # The replaced picture is recent: kept a while, then removed by the library check
        # (stale_after=0: older than now counts as old).
        assert track.artwork_uploaded and track.cover_path in covers and len(covers) == 2
        assert check_library(get_storage(), stale_after=0).removed == [c for c in covers if c != track.cover_path]
        covers = [key for key in seaweedfs.keys_of(app.config) if "/covers/" in key]
        assert covers == [track.cover_path] and embedded not in covers
        served = alice.get(f"/stream/{track.id}/cover")
        assert served.mimetype == "image/jpeg" and served.headers.get("ETag")
        with Image.open(io.BytesIO(served.get_data())) as thumb:
            red, _green, blue = thumb.convert("RGB").getpixel((100, 100))
        assert (red > 100, blue > 100) == (colour[0] > 100, colour[2] > 100)
    assert incoming_files(app) == []


def test_a_failed_put_leaves_neither_object_nor_row(make_app, make_user, s3_settings, seaweedfs: Seaweed):
    # A store nobody answers at: every put fails.
    app = make_app(S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    with app.app_context():
        make_user("admin")
        make_user("carol")
        client = app.test_client()

        login(client, "carol")
        result = upload(client, (DATA / "tagged.mp3").read_bytes(), "song.mp3")
        assert result["status"] == "rejected", result
        assert db.session.scalar(select(func.count()).select_from(Track)) == 0
        assert incoming_files(app) == []
    assert seaweedfs.keys_of(s3_settings) == []


def test_a_crash_between_put_and_commit_is_found_and_cleaned_by_the_check(app, user, db, seaweedfs: Seaweed):
    store = get_storage()
    incoming = store.incoming(max_bytes=10**6)
    incoming.write(b"bytes no row names")
    rel = store.keep(incoming, user.id, "mp3")  # put, then the process "dies": no commit
    report = check_library(store, stale_after=0, fix=False)
    assert [o.path for o in report.orphans] == [rel]
    report = check_library(store, stale_after=0, fix=True)
    assert report.removed == [rel]
    assert seaweedfs.keys_of(app.config) == []


def test_large_files_go_up_in_parts(app, user, seaweedfs: Seaweed):
    store = get_storage()
    assert isinstance(store, S3Storage)
    store.transfer.multipart_threshold = store.transfer.multipart_chunksize = 5 * 1024 * 1024
    data = os.urandom(12 * 1024 * 1024 + 123)
    incoming = store.incoming(max_bytes=10**9)
    incoming.write(data)
    rel = store.keep(incoming, user.id, "flac")
    head = seaweedfs.client().head_object(Bucket=bucket_of(app), Key=key_of(app, rel))
    assert head["ETag"].endswith('-3"')  # a multipart object's ETag counts its parts
    with store.open(rel) as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(data).digest()
    with store.local_copy(rel) as path:
        assert path.read_bytes() == data
    assert incoming_files(app) == []


@pytest.mark.parametrize("rel", ["../etc/passwd", "/1/a.mp3", "1/../../x", "", "1/a\0b.mp3", "x/a.mp3", "1"])
def test_names_outside_the_library_are_refused(app, rel):
    with pytest.raises(NotFound):
        get_storage().key(rel)


def test_bad_extension_is_refused_and_the_temporary_file_removed(app, user):
    store = get_storage()
    incoming = store.incoming(max_bytes=100)
    incoming.write(b"data")
    with pytest.raises(StorageError):
        store.keep(incoming, user.id, "../x")
    assert incoming_files(app) == []


def test_deleting_an_account_empties_its_folder_only(app, user, admin, seaweedfs: Seaweed):
    store = get_storage()
    kept = {}
    for owner in (user, admin):
        incoming = store.incoming(max_bytes=100)
        incoming.write(f"file of {owner.id}".encode())
        kept[owner.id] = store.keep(incoming, owner.id, "mp3")
    store.delete_user(user.id)
    assert seaweedfs.keys_of(app.config) == [kept[admin.id]]


# --- sending ------------------------------------------------------------------------------


@pytest.fixture
def stored(app, alice, db) -> tuple[Track, bytes]:
    content = (DATA / "tagged.flac").read_bytes()
    assert upload(alice, content, "song.flac")["status"] == "added"
    return db.session.scalars(select(Track)).one(), content


def test_ranges_are_read_from_the_store(alice, stored):
    track, content = stored
    response = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=100-1123"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 100-1123/{len(content)}"
    assert response.get_data() == content[100:1124]
    suffix = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=-10"})
    assert suffix.get_data() == content[-10:]
    whole = alice.get(f"/stream/{track.id}")
    assert whole.status_code == 200
    assert whole.get_data() == content
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]
    assert alice.get(f"/stream/{track.id}", headers={"If-None-Match": etag}).status_code == 304
    beyond = alice.get(f"/stream/{track.id}", headers={"Range": f"bytes={len(content) + 5}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(content)}"


def test_analysis_waveform_and_transcoding_work_from_the_store(app, alice, stored):
    track, _ = stored
    db.session.refresh(track)
    assert track.analysis_state.value == "done", track.analysis_error
    assert track.loudness is not None
    waveform = alice.get(f"/library/tracks/{track.id}/waveform.json")
    assert waveform.status_code == 200
    assert waveform.get_json()["version"] == 2 and waveform.get_json()["data"]
    again = alice.get(f"/library/tracks/{track.id}/waveform.json", headers={"If-None-Match": waveform.headers["ETag"]})
    assert again.status_code == 304
    low = alice.get(f"/stream/{track.id}?quality=low&format=mp3")
    assert low.status_code == 200
    assert low.headers["Content-Type"] == "audio/mpeg"
    assert len(low.get_data()) > 1000
    # Only the transcode cache is on this machine; the library stays in the bucket.
    local = [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file() and ".variants" not in p.parts]
    assert local == []


def test_another_users_track_is_404(stored, bob):
    track, _ = stored
    assert bob.get(f"/stream/{track.id}").status_code == 404


def test_a_store_that_cannot_be_reached_is_a_503_not_a_500(make_app, make_user, s3_settings):
    app = make_app(**s3_settings)
    with app.app_context():
        make_user("admin")
        client = app.test_client()
        make_user("carol")

        login(client, "carol")
        content = (DATA / "tagged.mp3").read_bytes()
        assert upload(client, content, "song.mp3")["status"] == "added"

        track_id = db.session.scalars(select(Track.id)).one()
    down = make_app(**{**s3_settings, "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    client = down.test_client()

    with down.app_context():
        login(client, "carol")
    response = client.get(f"/stream/{track_id}", headers={"Range": "bytes=0-99"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "music store cannot be reached" in response.get_data(as_text=True)


@pytest.mark.parametrize("mode", ["python", "x-accel"])
def test_a_store_that_cannot_be_reached_is_a_subsonic_error(make_app, make_user, s3_settings, mode):
    """Subsonic apps read errors in the API's envelope: streams, downloads and covers
    say so even behind nginx (the app asks the store before it hands the file over)."""
    app = make_app(**s3_settings)
    with app.app_context():
        make_user("admin")
        carol = make_user("carol")
        _row, password = credentials.create_app_password(carol.id, "Phone")
        db.session.commit()
        client = app.test_client()
        login(client, "carol")
        assert upload(client, (DATA / "cover.mp3").read_bytes(), "song.mp3")["status"] == "added"
        track_id = db.session.scalars(select(Track.id)).one()
    down = make_app(**{**s3_settings, "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "SEND_FILE_MODE": mode})
    client = down.test_client()
    for method in ("stream", "download", "getCoverArt"):
        response = client.get(f"/rest/{method}?id={track_id}&u=carol&p={password}&v=1.16.1&c=tests&f=json")
        assert response.status_code == 200
        envelope = response.get_json()["subsonic-response"]
        assert envelope["status"] == "failed"
        assert envelope["error"]["code"] == 0
        assert "music store cannot be reached" in envelope["error"]["message"]


def _carol_uploads_a_track(make_user) -> tuple:
    """Carol (an admin exists) logged in, with one uploaded track: her client, the track, its bytes."""
    make_user("admin")
    make_user("carol")
    client = current_app.test_client()
    login(client, "carol")
    content = (DATA / "tagged.mp3").read_bytes()
    assert upload(client, content, "song.mp3")["status"] == "added"
    return client, db.session.scalars(select(Track)).one(), content


def test_redirect_mode_gives_an_address_that_outlives_the_track(make_app, make_user, s3_settings):
    app = make_app(**s3_settings, S3_STREAM="redirect")
    with app.app_context():
        client, track, content = _carol_uploads_a_track(make_user)
        response = client.get(f"/stream/{track.id}")
        assert response.status_code == 302
        location = response.headers["Location"]
        lifetime = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
        assert lifetime == presign_seconds(track.duration) >= 3600
        request = urllib.request.Request(location, headers={"Range": "bytes=10-19"})  # noqa: S310 - the test store
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            assert answer.status == 206
            assert answer.read() == content[10:20]


def test_presigned_lifetime_covers_long_tracks():
    assert presign_seconds(None) == 3600
    assert presign_seconds(600) == 3600
    assert presign_seconds(3 * 3600) == 6 * 3600


def test_behind_nginx_the_app_hands_over_a_presigned_address(make_app, make_user, s3_settings):
    app = make_app(**s3_settings, SEND_FILE_MODE="x-accel")
    with app.app_context():
        client, track, _content = _carol_uploads_a_track(make_user)
        response = client.get(f"/stream/{track.id}", headers={"Range": "bytes=0-1"})
        assert response.status_code == 200
        assert response.get_data() == b""
        target = urlsplit(response.headers["X-Accel-Redirect"])
        assert target.path == f"/_s3/{bucket_of(app)}/{key_of(app, track.storage_path)}"
        query = parse_qs(target.query)
        assert query["X-Amz-Expires"] == ["300"]
        assert "X-Amz-Signature" in query
        assert response.headers["Content-Type"] == "audio/mpeg"


def test_an_object_gone_from_the_store_is_a_404(alice, stored, seaweedfs: Seaweed, app):
    track, _ = stored
    seaweedfs.client().delete_object(Bucket=bucket_of(app), Key=key_of(app, track.storage_path))
    response = alice.get(f"/stream/{track.id}")
    assert response.status_code == 404
    assert "audio file is missing" in response.get_data(as_text=True)


@pytest.mark.parametrize(("mode", "elsewhere"), [("redirect", True), ("proxy", False)])
def test_a_share_page_plays_without_web_audio_when_its_streams_leave_for_the_store(
    make_app, make_user, s3_settings, mode, elsewhere
):
    """With S3_STREAM=redirect the audio comes from the store's host, which a Web Audio
    graph would hear as silence: the share page then plays it as it is."""
    app = make_app(**s3_settings, S3_STREAM=mode)
    with app.app_context():
        client, track, _content = _carol_uploads_a_track(make_user)
        pid = create(client, "Party")
        add(client, pid, track.id)
        page = app.test_client().get(share(client, pid)).get_data(as_text=True)
        assert ("data-streams-elsewhere" in page) is elsewhere
        assert 'class="share-track"' in page


# --- what every app server shares: resumable uploads and archives waiting for import ---


def two_servers(make_app, tmp_path: Path, username: str) -> tuple:
    """Two app servers on the same database and bucket, each with a folder of its own,
    and a client of each logged in as `username`."""
    servers = [make_app(UPLOAD_FOLDER=str(tmp_path / name)) for name in ("one", "two")]
    clients = [server.test_client() for server in servers]
    for client in clients:
        login(client, username)
    return servers, clients


def local_files(*servers) -> list[Path]:
    """What the servers keep on their own disks, the transcode cache aside."""
    return [
        p
        for server in servers
        for p in Path(server.config["UPLOAD_FOLDER"]).rglob("*")
        if p.is_file() and ".variants" not in p.parts
    ]


def test_a_resumable_upload_goes_on_with_another_server(app, make_app, make_user, s3_settings, seaweedfs, tmp_path):
    make_user("carol")
    servers, (one, two) = two_servers(make_app, tmp_path, "carol")
    tus_one, tus_two = Tus(one), Tus(two)
    data = (DATA / "tagged.flac").read_bytes()
    third = len(data) // 3
    url = tus_one.create("Album/song.flac", len(data)).headers["Location"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert tus_one.patch(url, 0, data[:third]).status_code == 204
    # The piece is in the bucket, not on the server that received it.
    assert [k for k in seaweedfs.keys_of(s3_settings) if k.startswith(".partial/")] == [f".partial/{token}/{0:015d}"]
    assert local_files(*servers) == []
    # The other server knows how far it got, refuses a stale offset, and takes the next piece.
    assert tus_two.head(url).headers["Upload-Offset"] == str(third)
    stale = tus_two.patch(url, 0, data[:third])
    assert stale.status_code == 409 and stale.get_json()["offset"] == third
    assert tus_two.patch(url, third, data[third : 2 * third]).headers["Upload-Offset"] == str(2 * third)
    assert tus_one.patch(url, 2 * third, data[2 * third :]).headers["Upload-Offset"] == str(len(data))
    result = two.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "added", result
    track = db.session.get(Track, result["track"]["id"])
    assert track.sha256 == hashlib.sha256(data).hexdigest()
    with get_storage().open(track.storage_path) as fh:
        assert fh.read() == data
    assert [k for k in seaweedfs.keys_of(s3_settings) if k.startswith(".partial/")] == []
    assert local_files(*servers) == []


def test_pieces_saved_late_over_one_another_still_give_the_file(app, seaweedfs, s3_settings):
    store = get_storage()
    data = bytes(range(256)) * 8
    store.partial_create("late")
    assert store.partial_append("late", 0, iter([data[:100]]), len(data)) == 100
    assert store.partial_append("late", 100, iter([data[100:200]]), len(data) - 100) == 200
    # A request that began at 0 and broke off after 60 bytes, saved only now (by
    # another server), replaces the first piece: the bytes that follow on are 60.
    seaweedfs.client().put_object(Bucket=bucket_of(app), Key=key_of(app, f".partial/late/{0:015d}"), Body=data[:60])
    assert store.partial_size("late") == 60
    with pytest.raises(PartialConflict):
        store.partial_append("late", 200, iter([data[200:]]), len(data) - 200)
    # The client asks, and sends again from 60: over the piece at 100, which is skipped past.
    assert store.partial_append("late", 60, iter([data[60:300]]), len(data) - 60) == 300
    assert store.partial_size("late") == 300
    assert store.partial_append("late", 300, iter([data[300:1000], data[1000:]]), len(data) - 300) == len(data)
    assert [(f.rel, f.size) for f in store.list_partials()] == [("late", 60 + 100 + 240 + len(data) - 300)]
    received = store.partial_take("late", len(data), len(data))
    try:
        received.finish()
        assert received.path.read_bytes() == data and received.sha256 == hashlib.sha256(data).hexdigest()
    finally:
        received.discard()
    # The pieces stay until the file's outcome is committed and the caller removes them.
    assert [f.rel for f in store.list_partials()] == ["late"]
    store.partial_delete("late")
    assert list(store.list_partials()) == []
    with pytest.raises(NotFound):
        store.partial_size("late")


def test_an_archive_received_by_one_server_is_imported_by_another(
    app, make_app, make_user, s3_settings, seaweedfs, tmp_path
):
    make_user("carol")
    servers, (one, _two) = two_servers(make_app, tmp_path, "carol")
    archive = zips.build([("Band/one.mp3", TAGGED), ("Band/two.flac", FLAC)])
    import_id, page = preview_of(one, archive)
    assert set(offered(page)) == {"Band/one.mp3", "Band/two.flac"}
    # The archive waits in the bucket; the server that previewed it kept no copy.
    (staged,) = [k for k in seaweedfs.keys_of(s3_settings) if k.startswith(".staging/")]
    assert local_files(*servers) == []
    # Confirmed on a server that cannot reach the store: its job waits to be tried again.
    down = make_app(UPLOAD_FOLDER=str(tmp_path / "down"), S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    client = down.test_client()
    login(client, "carol")
    assert confirm(client, import_id, list(offered(page).values())).status_code == 302
    found = db.session.get(ArchiveImport, import_id)
    assert found.state == ImportState.RUNNING and found.archive_path == staged
    assert db.session.get(Job, found.job_id).state == JobState.QUEUED
    assert track_count() == 0
    assert staged in seaweedfs.keys_of(s3_settings)
    # The retry, by a worker on the other server, fetches it from the bucket and imports it.
    with servers[1].app_context():
        assert TASKS[jobs.IMPORT_ARCHIVE](import_id)["added"] == 2
    db.session.expire_all()
    assert db.session.get(ArchiveImport, import_id).state == ImportState.DONE
    kept = db.session.scalars(select(Track)).all()
    assert sorted(t.sha256 for t in kept) == sorted(hashlib.sha256(x).hexdigest() for x in (TAGGED, FLAC))
    assert not [k for k in seaweedfs.keys_of(s3_settings) if k.startswith(".staging/")]
    assert local_files(*servers, down) == []


def test_a_piece_saved_late_over_a_finished_upload_is_sent_again_not_added_short(app, seaweedfs, s3_settings):
    store = get_storage()
    data = bytes(range(256)) * 8
    store.partial_create("short")
    assert store.partial_append("short", 0, iter([data]), len(data)) == len(data)
    # A broken request of the same piece, saved only now: 40 bytes where the file was.
    seaweedfs.client().put_object(Bucket=bucket_of(app), Key=key_of(app, f".partial/short/{0:015d}"), Body=data[:40])
    with pytest.raises(PartialConflict) as refused:
        store.partial_take("short", len(data), len(data))
    assert refused.value.params["offset"] == 40
    assert store.partial_append("short", 40, iter([data[40:]]), len(data) - 40) == len(data)
    received = store.partial_take("short", len(data), len(data))
    try:
        received.finish()
        assert received.path.read_bytes() == data
    finally:
        received.discard()


def test_an_upload_whose_file_could_not_be_added_is_added_when_the_client_asks(
    alice, db, monkeypatch, seaweedfs, s3_settings
):
    data = (DATA / "tagged.flac").read_bytes()
    tus = Tus(alice)
    url = tus.create("song.flac", len(data)).headers["Location"]
    take = S3Storage.partial_take
    calls = []

    def store_away_once(self, *args):
        calls.append(args)
        if len(calls) == 1:
            raise StorageUnavailable(reason="EndpointConnectionError")
        return take(self, *args)

    monkeypatch.setattr(S3Storage, "partial_take", store_away_once)
    # The last byte arrives while the store cannot give the pieces back: a 503, nothing lost.
    assert tus.patch(url, 0, data).status_code == 503
    assert tus.head(url).headers["Upload-Offset"] == str(len(data))
    # The client, with every byte sent, asks for the result: the file is added then.
    result = alice.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "added", result
    assert db.session.get(Track, result["track"]["id"]).sha256 == hashlib.sha256(data).hexdigest()
    assert alice.get(url, headers=TUS).get_json()["result"] == result  # once
    assert len(calls) == 2
    assert [k for k in seaweedfs.keys_of(s3_settings) if k.startswith(".partial/")] == []


def test_an_upload_the_store_cannot_keep_is_added_when_the_client_asks_again(app, make_user, client, monkeypatch):
    """The store away for the file's put (the pieces read back fine): a 503, the bytes
    kept, and a listener's GET never adds a file."""
    carol = make_user("carol")
    login(client, "carol")
    tus = Tus(client)
    data = (DATA / "tagged.flac").read_bytes()
    url = tus.create("song.flac", len(data)).headers["Location"]
    keep = S3Storage.keep
    calls = []

    def store_away_once(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            args[0].discard()
            raise StorageUnavailable(reason="EndpointConnectionError")
        return keep(self, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "keep", store_away_once)
    assert tus.patch(url, 0, data).status_code == 503
    assert tus.head(url).headers["Upload-Offset"] == str(len(data))
    assert track_count() == 0
    # Carol made a listener meanwhile: she may not add it.
    carol.role = Role.LISTENER
    db.session.commit()
    assert client.get(url, headers=TUS).status_code == 403
    carol.role = Role.USER
    db.session.commit()
    result = client.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "added", result
    assert track_count() == 1 and len(calls) == 2


def test_a_put_the_store_refuses_is_store_failed_and_one_it_cannot_answer_is_unavailable(
    make_app, make_user, app, s3_settings
):
    make_user("carol")
    answers = {}
    for case, settings in {
        "refused": {"S3_SECRET_ACCESS_KEY": "not-the-secret"},
        "away": {"S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
    }.items():
        client = make_app(**settings).test_client()
        login(client, "carol")
        answers[case] = upload(client, (DATA / "tagged.mp3").read_bytes(), "song.mp3")
    assert answers["refused"]["status"] == "rejected" and answers["refused"]["code"] == "STORE_FAILED"
    assert answers["away"]["status"] == "rejected" and answers["away"]["code"] == "STORAGE_UNAVAILABLE"
    assert track_count() == 0


def test_a_copy_in_use_outlives_the_stale_upload_clean_up_and_a_crashs_does_not(app, user, seaweedfs):
    track = add_track(user, "tagged.mp3")
    store = get_storage()
    incoming = Path(app.config["UPLOAD_FOLDER"]) / ".incoming"
    left = incoming / "copy-left-by-a-crash.mp3"
    hours_ago = time.time() - 7200
    with store.local_copy(track.storage_path) as path:
        left.write_bytes(b"x")
        for old in (path, left):
            os.utime(old, (hours_ago, hours_ago))  # a long import, and a crash long ago
        removed = check.remove_stale_incoming(store)
        assert path.is_file() and not left.exists()
        assert removed == [f".incoming/{left.name}"]
    assert not path.exists()


def test_uploads_and_archives_begun_before_the_move_to_the_store_go_on(app, make_app, make_user, tmp_path, monkeypatch):
    make_user("carol")
    folder = tmp_path / "library"
    before = make_app(STORAGE_URL="", UPLOAD_FOLDER=str(folder))
    client = before.test_client()
    login(client, "carol")
    data = (DATA / "tagged.flac").read_bytes()
    tus = Tus(client)
    url = tus.create("song.flac", len(data)).headers["Location"]
    assert tus.patch(url, 0, data[:1000]).status_code == 204
    import_id, page = preview_of(client, zips.build([("Box/one.mp3", TAGGED)]))
    # The app restarted on the bucket, reading what is not moved yet from the folder.
    after = make_app(UPLOAD_FOLDER=str(folder), STORAGE_FALLBACK_URL=str(folder))
    client = after.test_client()
    login(client, "carol")
    tus = Tus(client)
    assert tus.head(url).headers["Upload-Offset"] == "1000"
    # The store away as the file is put: a 503, and the bytes on the old disk stay.
    keep = S3Storage.keep
    monkeypatch.setattr(S3Storage, "keep", lambda self, incoming, *a, **k: incoming.discard() or _away())
    assert tus.patch(url, 1000, data[1000:]).status_code == 503
    assert tus.head(url).headers["Upload-Offset"] == str(len(data))
    monkeypatch.setattr(S3Storage, "keep", keep)
    result = client.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "added", result
    assert confirm(client, import_id, list(offered(page).values())).status_code == 302
    assert db.session.get(ArchiveImport, import_id).state == ImportState.DONE
    assert track_count() == 2
    assert [p for p in folder.rglob("*") if p.is_file() and ".variants" not in p.parts] == []


def _away():
    raise StorageUnavailable(reason="EndpointConnectionError")


def test_the_hourly_clean_up_goes_on_without_the_store(make_app):
    down = make_app(S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    with down.app_context():
        done = TASKS[jobs.HOURLY_CLEANUP]()
    assert done["archives_expired"] == 0 and done["uploads_expired"] == 0 and "jobs_pruned" in done
