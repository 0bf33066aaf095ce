"""The Subsonic stream's fast path (app/subsonic/fastpath.py): it answers a
player's seeks with token auth before Flask, exactly as the view would, and
hands everything it is not sure of to the view."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import request

from app.extensions import db
from app.models import AppPassword, Track, User, Visibility
from app.models.types import utcnow
from app.services import accounts, credentials
from app.services.storage import get_storage
from app.streaming.ranges import starts_playing
from app.unit_of_work import commit
from tests.helpers import PASSWORD, add_track
from tests.test_streaming import GUNICORN, TWIN_REQUESTS


def _token(password: str, salt: str = "c0ffee") -> dict[str, str]:
    return {"u": "alice", "s": salt, "t": hashlib.md5((password + salt).encode(), usedforsecurity=False).hexdigest()}


def _url(track_id: int, password: str, path: str = "/rest/stream", **extra: str) -> str:
    params = {"v": "1.16.1", "c": "tests", "f": "json", "id": str(track_id), **_token(password), **extra}
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.fixture
def setup(make_app):
    """An app recording what reaches Flask, alice with an app password (stamped
    just now by a first request through the view) and her private track, bob's private track."""

    def build(**config):
        app = make_app(**config)
        seen: list[str] = []
        app.before_request(lambda: seen.append(request.path))
        with app.app_context():
            accounts.create_user("admin", PASSWORD, rounds=4)  # the first account is the admin
            alice = accounts.create_user("alice", PASSWORD, rounds=4)
            bob = accounts.create_user("bob", PASSWORD, rounds=4)
            _row, password = credentials.create_app_password(alice.id, "Phone")
            commit()
            mine = add_track(alice, "cover.flac")
            bobs = add_track(bob, "tagged.flac")
            alice_id = alice.id
        client = app.test_client()
        # The first request stamps the app password: the view's job.
        assert client.get(_url(mine.id, password), headers={"Range": "bytes=0-9"}).status_code == 206
        assert seen == ["/rest/stream"]
        seen.clear()
        return app, client, password, mine.id, bobs.id, seen, alice_id

    return build


def test_seeks_skip_flask_once_stamped(setup):
    app, client, password, mine, _bobs, seen, _ = setup()
    with app.app_context():
        data = get_storage().local_path(db.session.get_one(Track, mine).storage_path).read_bytes()
    for path in ("/rest/stream", "/rest/stream.view"):
        response = client.get(_url(mine, password, path), headers={"Range": "bytes=100-199"})
        assert response.status_code == 206 and response.data == data[100:200]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert seen == []


@pytest.mark.parametrize(
    "extra",
    [
        {"maxBitRate": "128"},
        {"format": "mp3"},
        {"timeOffset": "10"},
        {"estimateContentLength": "true"},
        {"f": "jsonp"},
        {"p": "x"},
        {"id": "al-1"},
        {"u": "al\u00efce"},
    ],
)
def test_what_it_does_not_understand_goes_to_the_view(setup, extra):
    _app, client, password, mine, _bobs, seen, _ = setup()
    client.get(_url(mine, password, **extra), headers={"Range": "bytes=0-9"})
    assert seen == ["/rest/stream"]


def test_duplicates_posts_and_downloads_go_to_the_view(setup):
    _app, client, password, mine, _bobs, seen, _ = setup()
    client.get(_url(mine, password) + "&id=" + str(mine))
    client.post(_url(mine, password))
    client.get(_url(mine, password, "/rest/download"))
    assert seen == ["/rest/stream", "/rest/stream", "/rest/download"]


def test_it_never_says_no_itself(setup):
    _app, client, password, mine, bobs, seen, _alice_id = setup()
    # Another's private track: the view's error 70.
    body = client.get(_url(bobs, password)).get_json()["subsonic-response"]
    assert body["error"]["code"] == 70
    # A wrong token: the view's error 40.
    body = client.get(_url(mine, "wrong")).get_json()["subsonic-response"]
    assert body["error"]["code"] == 40
    assert seen == ["/rest/stream", "/rest/stream"]


def test_revoking_and_disabling_stop_the_next_request(setup):
    app, client, password, mine, _bobs, seen, alice_id = setup()
    assert client.get(_url(mine, password), headers={"Range": "bytes=0-9"}).status_code == 206
    assert seen == []
    with app.app_context():
        user = db.session.get_one(User, alice_id)
        accounts.set_disabled(user, True)
        commit()
    assert client.get(_url(mine, password)).get_json()["subsonic-response"]["error"]["code"] == 40
    with app.app_context():
        user = db.session.get_one(User, alice_id)
        accounts.set_disabled(user, False)
        credentials.revoke_all(alice_id)
        commit()
    assert client.get(_url(mine, password)).get_json()["subsonic-response"]["error"]["code"] == 40
    assert seen == ["/rest/stream", "/rest/stream"]


def test_a_track_made_private_stops_the_next_request(setup):
    app, client, _password, _mine, _bobs, seen, alice_id = setup()
    with app.app_context():
        bob = accounts.find_by_username("bob")
        _row, bob_password = credentials.create_app_password(bob.id, "Phone")
        commit()
        public = add_track(db.session.get_one(User, alice_id), "cover.mp3", visibility=Visibility.PUBLIC)
        public_id = public.id
    bobs_url = _url(public_id, bob_password).replace("u=alice", "u=bob")
    assert client.get(bobs_url, headers={"Range": "bytes=0-9"}).status_code == 206  # stamps
    assert client.get(bobs_url, headers={"Range": "bytes=0-9"}).status_code == 206
    assert seen == ["/rest/stream"]
    with app.app_context():
        track = db.session.get_one(Track, public_id)
        track.visibility = Visibility.PRIVATE
        commit()
    assert client.get(bobs_url).get_json()["subsonic-response"]["error"]["code"] == 70
    assert seen == ["/rest/stream", "/rest/stream"]


def test_a_due_stamp_or_another_client_goes_to_the_view_which_writes_it(setup):
    app, client, password, mine, _bobs, seen, _alice_id = setup()
    with app.app_context():
        row = db.session.scalars(db.select(AppPassword)).one()
        row.last_used_at = utcnow() - timedelta(seconds=120)
        commit()
    assert client.get(_url(mine, password), headers={"Range": "bytes=0-9"}).status_code == 206
    assert client.get(_url(mine, password), headers={"Range": "bytes=0-9"}).status_code == 206
    assert seen == ["/rest/stream"]  # the view stamped it; the next was the fast path's
    assert client.get(_url(mine, password, c="other"), headers={"Range": "bytes=0-9"}).status_code == 206
    assert seen == ["/rest/stream", "/rest/stream"]
    with app.app_context():
        row = db.session.scalars(db.select(AppPassword)).one()
        assert row.last_client == "other" and utcnow() - row.last_used_at < timedelta(seconds=30)


def test_a_blocked_username_gets_no_yes(setup):
    _app, client, password, mine, _bobs, seen, _ = setup(
        RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="100 per minute", LOGIN_LIMIT_PER_USERNAME="3 per minute"
    )
    assert client.get(_url(mine, password), headers={"Range": "bytes=0-9"}).status_code == 206
    assert seen == []
    for _ in range(3):
        client.get(_url(mine, "wrong"))
    seen.clear()
    body = client.get(_url(mine, password)).get_json()["subsonic-response"]
    assert body["status"] == "failed" and body["error"]["code"] == 0
    assert seen == ["/rest/stream"]


@pytest.mark.parametrize("mode", ["python", "x-accel", "x-sendfile"])
@pytest.mark.parametrize(("method", "headers"), TWIN_REQUESTS)
def test_the_fast_path_answers_exactly_like_the_view(make_app, mode, method, headers):
    """Status, headers and bytes are the view's, only sooner."""
    fast = make_app(SEND_FILE_MODE=mode)
    flask_only = make_app(SEND_FILE_MODE=mode, STREAM_FAST_PATH=False)
    seen: list[str] = []
    fast.before_request(lambda: seen.append(request.path))
    with fast.app_context():
        alice = accounts.create_user("alice", PASSWORD, rounds=4)
        _row, password = credentials.create_app_password(alice.id, "Phone")
        commit()
        track = add_track(alice, "cover.flac")
    url = _url(track.id, password)
    assert flask_only.test_client().get(url, headers={"Range": "bytes=0-0"}).status_code in (200, 206)  # stamps
    if headers.get("If-Range") == "ETAG":
        headers = dict(headers, **{"If-Range": flask_only.test_client().head(url).headers.get("ETag", '"none"')})
    answers = []
    for app in (fast, flask_only):
        response = app.test_client().open(
            url, method=method, headers=headers, environ_overrides=GUNICORN, buffered=False
        )
        length = int(response.headers["Content-Length"])
        # Every answer has its own X-Request-ID; everything else must be the same.
        answered = sorted((name, value) for name, value in response.headers.items() if name != "X-Request-ID")
        answers.append((response.status_code, answered, response.get_data()[:length]))
        response.close()
    assert answers[0] == answers[1]
    # The fast app reached Flask only to start playing (the view notes it for getNowPlaying).
    assert seen == (["/rest/stream"] if starts_playing(method, headers.get("Range")) else [])
