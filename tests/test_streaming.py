"""Streaming: RFC 9110 range semantics case by case, downloads, hand-off modes, access, memory."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from flask import request
from werkzeug.wsgi import FileWrapper

from app.models import Visibility
from app.services.storage import get_storage
from tests.helpers import DATA, PASSWORD, add_track, login, owner_with_track
from tests.seaweed import both_storages

# Every test runs on local files and on the object store (SeaweedFS), except those
# about local files' hand-off: they ask for local_storage and run on local files only.
storage_settings = pytest.fixture(both_storages)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "storage_settings" in metafunc.fixturenames:
        kinds = ["local"] if "local_storage" in metafunc.fixturenames else ["local", "s3"]
        metafunc.parametrize("storage_settings", kinds, indirect=True)


@pytest.fixture
def local_storage(storage_settings):
    """Marks a test about local files (see pytest_generate_tests)."""
    assert storage_settings == {}


@pytest.fixture
def flac(user, app):
    track = add_track(user, "cover.flac")
    with get_storage().open(track.storage_path) as fh:
        data = fh.read()
    return track, data


SIZE = 39100  # tests/data/cover.flac

RANGE_CASES = [
    # (Range header, status, (first, last) of the bytes sent or None for all)
    ("bytes=0-0", 206, (0, 0)),
    ("bytes=0-1", 206, (0, 1)),  # what Apple's players ask first ...
    ("bytes=2-", 206, (2, SIZE - 1)),  # ... and next
    ("bytes=-500", 206, (SIZE - 500, SIZE - 1)),
    ("bytes=1000-", 206, (1000, SIZE - 1)),
    ("bytes=1000-1999", 206, (1000, 1999)),
    ("bytes=30000-999999", 206, (30000, SIZE - 1)),  # an end past the file is clamped
    ("bytes=-99999", 206, (0, SIZE - 1)),  # a suffix longer than the file: all of it
    ("bytes=0-10,5-20", 206, (0, 20)),  # overlapping ranges are merged
    ("bytes=0-9,10-19", 206, (0, 19)),  # so are adjacent ones
    ("bytes=0-1,5000-6000", 200, None),  # disjoint ranges: the whole file, once
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 400, 2)), 200, None),  # too many ranges
    ("items=0-5", 200, None),  # an unknown unit is ignored
    ("bytes=5-2", 200, None),  # invalid syntax is ignored
    ("bytes=abc", 200, None),
    ("bytes", 200, None),
    ("garbage\u00e9", 200, None),
    ("bytes=39100-", 416, None),  # starts at the end: nothing to send
    ("bytes=50000-60000", 416, None),
    ("bytes=-0", 416, None),
]


@pytest.mark.parametrize(("header", "status", "span"), RANGE_CASES)
def test_range_requests(alice, flac, header, status, span):
    track, data = flac
    response = alice.get(f"/stream/{track.id}", headers={"Range": header})
    assert response.status_code == status, response.headers
    assert response.headers["Accept-Ranges"] == "bytes"
    if status != 416:
        assert response.headers["Content-Type"] == "audio/flac"
    if status == 206:
        first, last = span
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
        assert response.data == data[first : last + 1]
        assert response.headers["Content-Length"] == str(last - first + 1)
    elif status == 200:
        assert response.data == data
        assert "Content-Range" not in response.headers
    else:
        assert response.headers["Content-Range"] == f"bytes */{SIZE}"
        assert response.data == b""
    response.close()


def test_head_gives_headers_only(alice, flac):
    track, _ = flac
    response = alice.head(f"/stream/{track.id}", headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "100"
    assert response.data == b""


def test_validators_and_caching_headers(alice, flac):
    track, data = flac
    response = alice.get(f"/stream/{track.id}")
    etag = response.headers["ETag"]
    assert etag == f'"{track.sha256}"'  # strong
    assert response.headers["Last-Modified"]
    assert response.headers["Cache-Control"].startswith("private")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()

    assert alice.get(f"/stream/{track.id}", headers={"If-None-Match": etag}).status_code == 304
    later = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    assert alice.get(f"/stream/{track.id}", headers={"If-Modified-Since": later}).status_code == 304

    fresh = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=10-19", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.data == data[10:20]
    stale = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=10-19", "If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.data == data


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("tagged.mp3", "audio/mpeg"),
        ("tagged.flac", "audio/flac"),
        ("tagged.ogg", "audio/ogg"),
        ("tagged.opus", "audio/ogg"),
        ("tagged.m4a", "audio/mp4"),
        ("plain.wav", "audio/wav"),
    ],
)
def test_content_type_per_format(alice, user, name, mime):
    track = add_track(user, name)
    response = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=0-15"})
    assert response.headers["Content-Type"] == mime
    response.close()


# --- downloads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "disposition"),
    [
        ("song.flac", "attachment; filename=song.flac"),
        (
            "Beyoncé \u2013 Halo.flac",  # an en dash
            "attachment; filename=\"Beyonce  Halo.flac\"; filename*=UTF-8''Beyonc%C3%A9%20%E2%80%93%20Halo.flac",
        ),
        # Quotes stay inside a quoted-string: nothing can be injected.
        ('say "hi"; x=y.flac', 'attachment; filename="say \\"hi\\"; x=y.flac"'),
        ("日本語", "attachment; filename=track.flac; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.flac"),
        # Only the last part of a path, and no control or bidi characters.
        ("../../../../tmp/pwn.mp3", "attachment; filename=pwn.mp3.flac"),
        ("C:\\Music\\a.flac", "attachment; filename=a.flac"),
        ("evil\u202egalf.exe", "attachment; filename=evilgalf.exe.flac"),
        ("line\r\nX-Injected: 1.flac", 'attachment; filename="lineX-Injected: 1.flac"'),
        ("../.hidden.flac", "attachment; filename=hidden.flac"),
    ],
)
def test_download_names_follow_rfc_6266(alice, user, db, original, disposition):
    track = add_track(user, "cover.flac")
    track.original_filename = original
    db.session.commit()
    response = alice.get(f"/stream/{track.id}/download")
    assert response.headers["Content-Disposition"] == disposition
    assert response.data == (DATA / "cover.flac").read_bytes()


def test_download_supports_ranges_too(alice, flac):
    track, data = flac
    response = alice.get(f"/stream/{track.id}/download", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206 and response.data == data[100:200]


# --- hand-off to the web server ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["x-accel", "x-sendfile"])
def test_hand_off_modes_send_headers_not_bytes(local_storage, make_app, mode):
    app = make_app(SEND_FILE_MODE=mode)
    with app.app_context():
        client, _, track = owner_with_track(app, "cover.flac")
        response = client.get(f"/stream/{track.id}", headers={"Range": "bytes=0-1"})
        assert response.status_code == 200
        assert response.data == b""
        assert response.headers["Content-Type"] == "audio/flac"
        if mode == "x-accel":
            assert response.headers["X-Accel-Redirect"] == f"/_media/{track.storage_path}"
        else:
            sent = Path(response.headers["X-Sendfile"])
            assert sent.is_absolute() and sent == get_storage().local_path(track.storage_path)
            assert sent.read_bytes() == (DATA / "cover.flac").read_bytes()
        download = client.get(f"/stream/{track.id}/download")
        assert download.headers["Content-Disposition"] == "attachment; filename=cover.flac"
        # Access is still checked by the app: others get 404.
        from app.extensions import db
        from app.services import accounts

        accounts.create_user("bob", PASSWORD, rounds=4)
        db.session.commit()
        other = app.test_client()
        login(other, "bob")
        assert other.get(f"/stream/{track.id}").status_code == 404


# --- access ----------------------------------------------------------------------------------


def test_access_rules_for_media(app, user, make_user, db):
    private = add_track(user, "cover.flac")
    public = add_track(user, "tagged.mp3", visibility=Visibility.PUBLIC)
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    anonymous = app.test_client()
    for suffix in ("", "/download", "/cover"):
        assert bob.get(f"/stream/{private.id}{suffix}").status_code == 404
        response = bob.get(f"/stream/{public.id}{suffix}")
        # Another account downloads only what its owner allows (tests/test_track_metadata.py).
        assert response.status_code == (403 if suffix == "/download" else 200)
        response.close()
        for track in (private, public):
            response = anonymous.get(f"/stream/{track.id}{suffix}")
            assert response.status_code == 401
            assert "Location" not in response.headers
    assert bob.get("/stream/999999").status_code == 404


# --- memory ------------------------------------------------------------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_streaming_a_large_file_keeps_memory_flat(local_storage, alice, user, app, db):
    """A 300 MB file (sparse: no disk used) streams in chunks; the process does not grow with it."""
    track = add_track(user, "plain.wav")
    path = get_storage().local_path(track.storage_path)
    with path.open("r+b") as fh:
        fh.truncate(300 * 1024 * 1024)
    response = alice.get(f"/stream/{track.id}", buffered=False)
    before = _rss_kb()
    total = 0
    for chunk in response.response:
        total += len(chunk)
    response.close()
    grown_mb = (_rss_kb() - before) / 1024
    assert total == 300 * 1024 * 1024
    assert grown_mb < 20, f"the process grew by {grown_mb:.1f} MB"
    os.truncate(path, 16078)


# --- the fast path for seeks -----------------------------------------------------------------


@pytest.fixture
def watched(make_app):
    """An app that records every request reaching Flask, with alice's track, and her client."""
    with _watched(make_app) as watched:
        yield watched


@contextmanager
def _watched(make_app, **config):
    app = make_app(**config)
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.path))
    with app.app_context():
        client, owner, track = owner_with_track(app, "cover.flac", "bob")
        seen.clear()
        yield app, client, track, seen, owner


def test_seeks_skip_the_flask_stack(local_storage, watched):
    _app, alice, track, seen, _ = watched
    data = get_storage().local_path(track.storage_path).read_bytes()
    response = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206 and response.data == data[100:200]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"]
    assert seen == []  # answered before Flask
    alice.get(f"/stream/{track.id}/download")
    assert seen == [f"/stream/{track.id}/download"]  # everything else goes through Flask


def test_the_fast_path_leaves_query_strings_to_flask(watched):
    """A later ?format= or ?quality= must never get the original file from the fast path."""
    _app, alice, track, seen, _ = watched
    response = alice.get(f"/stream/{track.id}?quality=low", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert seen == [f"/stream/{track.id}"]


def test_a_fast_path_failure_is_logged_and_flask_answers(local_storage, watched, caplog):
    app, alice, track, seen, _ = watched
    fast_path = app.wsgi_app
    while type(fast_path).__name__ != "StreamFastPath":
        fast_path = fast_path.wsgi_app

    def broken(rel):
        raise OSError("disk gone")

    fast_path.storage = type("Broken", (), {"local_path": staticmethod(broken)})()
    with caplog.at_level(logging.WARNING, logger="app.streaming.fastpath"):
        response = alice.get(f"/stream/{track.id}", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206  # Flask served it with the app's own storage
    assert seen == [f"/stream/{track.id}"]
    assert "stream fast path failed" in caplog.text
    assert "disk gone" in caplog.text


def test_the_fast_path_never_says_no_itself(watched):
    from app.extensions import db

    app, alice, track, seen, owner = watched
    bob = app.test_client()
    login(bob, "bob")
    seen.clear()
    assert bob.get(f"/stream/{track.id}").status_code == 404  # not bob's: Flask answers
    assert seen == [f"/stream/{track.id}"]
    stolen = alice.get_cookie("mc_session").value
    owner.rotate_session_token()  # as a logout elsewhere does
    db.session.commit()
    thief = app.test_client()
    thief.set_cookie("mc_session", stolen)
    assert thief.get(f"/stream/{track.id}").status_code == 401
    forged = app.test_client()
    forged.set_cookie("mc_session", stolen[:-2] + "xx")
    assert forged.get(f"/stream/{track.id}").status_code == 401


@pytest.fixture
def twins(make_app):
    """For a send-file mode: the app as deployed (with the fast path) and the
    same app without it, on one database, each with a logged-in client."""

    def build(mode: str):
        from app.extensions import db
        from app.services import accounts

        fast = make_app(SEND_FILE_MODE=mode)
        flask_only = make_app(SEND_FILE_MODE=mode, STREAM_FAST_PATH=False)
        seen: list[str] = []
        fast.before_request(lambda: seen.append(request.path))
        with fast.app_context():
            owner = accounts.create_user("alice", PASSWORD, rounds=4)
            db.session.commit()
            track = add_track(owner, "cover.flac")
        clients = []
        for app in (fast, flask_only):
            client = app.test_client()
            login(client, "alice")
            clients.append(client)
        seen.clear()
        return (*clients, f"/stream/{track.id}", seen)

    return build


TWIN_REQUESTS = [
    ("GET", {"Range": "bytes=100-"}),  # a plain seek: plain_range()
    ("GET", {"Range": "bytes=-500"}),
    ("GET", {}),
    ("HEAD", {"Range": "bytes=0-1"}),
    ("GET", {"Range": "bytes=100-", "If-Range": "ETAG"}),  # validators: serve_audio()
    ("GET", {"Range": "bytes=0-10,5-20"}),
    ("GET", {"Range": f"bytes={SIZE}-"}),
]


@pytest.mark.parametrize("mode", ["python", "x-accel", "x-sendfile"])
@pytest.mark.parametrize(("method", "headers"), TWIN_REQUESTS)
def test_the_fast_path_answers_exactly_like_the_view(local_storage, twins, mode, method, headers):
    """Status, headers and bytes are the view's, only sooner."""
    fast, flask_only, url, seen = twins(mode)
    if headers.get("If-Range") == "ETAG":
        headers = dict(headers, **{"If-Range": flask_only.head(url).headers.get("ETag", '"none"')})
    answers = []
    for client in (fast, flask_only):
        # What gunicorn puts in the environ: a file wrapper it sends with sendfile() for
        # Content-Length bytes from the file's offset (this one reads on to the end).
        response = client.open(url, method=method, headers=headers, environ_overrides=GUNICORN, buffered=False)
        length = int(response.headers["Content-Length"])
        # Every answer has its own X-Request-ID; everything else must be the same.
        answered = sorted((name, value) for name, value in response.headers.items() if name != "X-Request-ID")
        answers.append((response.status_code, answered, response.get_data()[:length]))
        response.close()
    assert answers[0] == answers[1]
    assert seen == []  # the fast app never reached Flask


GUNICORN = {"SERVER_SOFTWARE": "gunicorn/27.0.1", "wsgi.file_wrapper": FileWrapper}


def test_a_remembered_session_cookie_still_expires(local_storage, make_app):
    with _watched(make_app, PERMANENT_SESSION_LIFETIME=timedelta(seconds=2)) as (_, alice, track, seen, _):
        url = f"/stream/{track.id}"
        assert alice.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        assert alice.get(url, headers={"Range": "bytes=10-19"}).status_code == 206
        assert seen == []
        time.sleep(3.1)
        assert alice.get(url, headers={"Range": "bytes=0-9"}).status_code == 401


@pytest.mark.parametrize("server", [{}, GUNICORN], ids=["werkzeug", "gunicorn"])
def test_a_file_missing_from_the_disk_is_a_404_not_a_crash(local_storage, alice, user, app, server, caplog):
    track = add_track(user, "cover.flac")
    get_storage().local_path(track.storage_path).unlink()
    for url, headers in [
        (f"/stream/{track.id}", {"Range": "bytes=0-9"}),
        (f"/stream/{track.id}", {}),
        (f"/stream/{track.id}/download", {}),
    ]:
        response = alice.get(url, headers=headers, environ_overrides=server)
        assert response.status_code == 404
        assert "audio file is missing" in response.get_data(as_text=True)
    assert f"track {track.id}: its file" in caplog.text  # the admin hears of it


def _count_statements(app):
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lstrip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    return statements, lambda: event.remove(engine, "before_cursor_execute", record)


SEEKS = ("bytes=0-1", "bytes=2-", "bytes=-500", "bytes=0-1,5-9", None)


@pytest.mark.parametrize("server", [{}, GUNICORN], ids=["werkzeug", "gunicorn"])
def test_a_first_request_costs_one_read_query_and_the_seeks_after_it_none(local_storage, watched, server):
    app, alice, track, seen, _ = watched
    url = f"/stream/{track.id}"
    statements, stop = _count_statements(app)
    try:
        response = alice.get(url, headers={"Range": "bytes=0-1"}, environ_overrides=server)
        assert response.status_code == 206
        response.close()
        assert statements == ["SELECT"]  # the session's token and the track, in one query
        for header in SEEKS:
            statements.clear()
            response = alice.get(url, headers={"Range": header} if header else {}, environ_overrides=server)
            assert response.status_code in (200, 206)
            response.close()
            assert statements == [], header  # the yes is remembered
    finally:
        stop()
    assert seen == []  # all answered by the fast path


def test_without_a_grant_every_seek_costs_one_read_query_and_writes_nothing(local_storage, make_app):
    with _watched(make_app, STREAM_GRANT_SECONDS=0) as (app, alice, track, seen, _):
        url = f"/stream/{track.id}"
        alice.get(url, headers={"Range": "bytes=0-1"}).close()  # the pool has its connection
        statements, stop = _count_statements(app)
        try:
            for header in SEEKS:
                statements.clear()
                response = alice.get(url, headers={"Range": header} if header else {}, environ_overrides=GUNICORN)
                assert response.status_code in (200, 206)
                response.close()
                assert statements == ["SELECT"], header
        finally:
            stop()
        assert seen == []


def test_a_remembered_yes_ends_within_the_bound_after_a_logout_or_a_track_made_private(make_app):
    from app.extensions import db
    from app.models import Visibility

    with _watched(make_app, STREAM_GRANT_SECONDS=1) as (app, alice, track, _, owner):
        url = f"/stream/{track.id}"
        track.visibility = Visibility.PUBLIC
        db.session.commit()
        bob = app.test_client()
        login(bob, "bob")
        for client in (alice, bob):
            assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        owner.rotate_session_token()  # alice logged out elsewhere
        track.visibility = Visibility.PRIVATE
        db.session.commit()
        time.sleep(1.2)
        assert alice.get(url, headers={"Range": "bytes=0-9"}).status_code == 401
        assert bob.get(url, headers={"Range": "bytes=0-9"}).status_code == 404


def test_a_remembered_yes_is_never_anothers(make_app):
    with _watched(make_app) as (app, alice, track, seen, _):
        url = f"/stream/{track.id}"
        assert alice.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        bob = app.test_client()
        login(bob, "bob")
        seen.clear()
        assert bob.get(url, headers={"Range": "bytes=0-9"}).status_code == 404  # alice's private track
        assert seen == [url]  # Flask said no, as before
