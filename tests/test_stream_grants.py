"""Seeks behind nginx under a grant (app/streaming/fastpath.py).

nginx asks the app whether a session cookie may hear a track, keeps the yes
for STREAM_GRANT_SECONDS and sends the bytes itself meanwhile. Here, in
process (on SQLite and PostgreSQL): what the app answers nginx's question.
"""

from __future__ import annotations

import pytest
from flask import request as flask_request

from app.security import SECURITY_HEADERS
from app.streaming.files import CACHE_CONTROL
from tests.helpers import add_track, login, owner_with_track

# What nginx adds to its question (and strips from every client's request).
GRANT = {"X-Musiccloud-Grant": "1"}


# --- the app's answer to nginx -----------------------------------------------------------------


@pytest.fixture
def accel(make_app):
    """An x-accel app that records every request reaching Flask, alice's private track,
    her client and bob's."""
    app = make_app(SEND_FILE_MODE="x-accel", STREAM_GRANT_SECONDS=7)
    seen: list[str] = []
    app.before_request(lambda: seen.append(flask_request.path))
    with app.app_context():
        alice, owner, track = owner_with_track(app, "cover.flac", "bob")
        bob = app.test_client()
        login(bob, "bob")
        seen.clear()
        yield app, alice, bob, owner, track, seen


def test_a_grant_names_the_file_and_carries_the_answers_headers(accel):
    _, alice, _, _, track, seen = accel
    for method in ("GET", "HEAD"):
        response = alice.open(f"/stream/{track.id}", method=method, headers=GRANT)
        assert response.status_code == 200
        assert response.data == b""
        assert response.headers["X-Musiccloud-File"] == track.storage_path
        assert response.headers["X-Accel-Expires"] == "7"  # STREAM_GRANT_SECONDS: how long nginx keeps it
        assert response.headers["Cache-Control"] == CACHE_CONTROL
        assert response.headers["Vary"] == "Cookie"
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value
        assert "X-Accel-Redirect" not in response.headers
        assert "Set-Cookie" not in response.headers  # nothing that could stop nginx from keeping it
    assert seen == []  # the grant never runs the Flask stack


def test_every_no_is_the_same_bare_403(accel, make_app):
    """nginx then sends the request to the app, which tells 401 from 404; the grant
    itself says nothing more, to nginx or to anyone who reached it otherwise."""
    from app.extensions import db

    app, alice, bob, owner, track, seen = accel
    url = f"/stream/{track.id}"
    stolen = alice.get_cookie("mc_session").value
    forged = app.test_client()
    forged.set_cookie("mc_session", stolen[:-2] + "xx")
    answers = {
        "no session": app.test_client().get(url, headers=GRANT),
        "someone else's private track": bob.get(url, headers=GRANT),
        "no such track": alice.get("/stream/999999", headers=GRANT),
        "not a track": alice.get(f"/stream/{track.id}/download", headers=GRANT),
        "a forged cookie": forged.get(url, headers=GRANT),
    }
    owner.rotate_session_token()  # as logging out elsewhere does
    db.session.commit()
    answers["a session ended"] = alice.get(url, headers=GRANT)
    login(alice, "alice")
    owner.disabled = True
    db.session.commit()
    answers["a disabled account"] = alice.get(url, headers=GRANT)
    seen.clear()
    for reason, response in answers.items():
        assert response.status_code == 403, reason
        assert response.data == b"", reason
        assert sorted(response.headers.items()) == [("Content-Length", "0")], reason
    assert seen == []


def test_no_grant_when_the_app_sends_the_files_itself(make_app):
    app = make_app(SEND_FILE_MODE="python")
    with app.app_context():
        alice, _, track = owner_with_track(app, "cover.flac")
        assert alice.get(f"/stream/{track.id}", headers=GRANT).status_code == 403
        assert alice.get(f"/stream/{track.id}", headers={"Range": "bytes=0-1"}).status_code == 206


def test_grants_are_answered_without_the_fast_path_and_zero_keeps_none(make_app):
    """STREAM_FAST_PATH=false sends the clients' seeks through Flask; nginx's
    question is still answered. STREAM_GRANT_SECONDS=0: nginx asks every time."""
    app = make_app(SEND_FILE_MODE="x-accel", STREAM_FAST_PATH=False, STREAM_GRANT_SECONDS=0)
    with app.app_context():
        alice, _, track = owner_with_track(app, "cover.flac")
        response = alice.get(f"/stream/{track.id}", headers=GRANT)
        assert response.status_code == 200
        assert response.headers["X-Accel-Expires"] == "0"


@pytest.mark.parametrize("seconds", [-1, 61])
def test_the_revocation_bound_is_at_most_a_minute(make_app, seconds):
    with pytest.raises(RuntimeError, match="STREAM_GRANT_SECONDS"):
        make_app(STREAM_GRANT_SECONDS=seconds)


def test_a_track_of_another_type_than_nginx_would_send_is_left_to_the_hand_off(accel):
    """nginx names the type after the stored file's extension; an older row with
    another type gets the X-Accel-Redirect path, which sends the row's own."""
    from app.extensions import db

    _, alice, _, _, track, _ = accel
    track.mime_type = "audio/x-flac"
    db.session.commit()
    assert alice.get(f"/stream/{track.id}", headers=GRANT).status_code == 403
    assert alice.get(f"/stream/{track.id}").headers["Content-Type"] == "audio/x-flac"


def test_a_grant_is_for_plain_stored_names_only(accel):
    from app.extensions import db

    _, alice, _, owner, _, _ = accel
    odd = add_track(owner, "tagged.mp3")
    odd.storage_path = odd.storage_path.replace(".", "..", 1)  # never made by storage; nginx would take it as is
    db.session.commit()
    assert alice.get(f"/stream/{odd.id}", headers=GRANT).status_code == 403
