"""Seeks behind nginx under a grant (deploy/nginx.conf, app/streaming/fastpath.py).

nginx asks the app once whether a session cookie may hear a track, keeps the
yes for STREAM_GRANT_SECONDS and sends the bytes itself meanwhile. In process
(on SQLite and PostgreSQL): what the app answers nginx's question. Live, with
gunicorn and nginx as tests/test_serving.py runs them: seeks under a grant do
not reach the app, a revocation stops a listener within the bound and then
gets the app's own answer, a grant is never another cookie's, and nobody
outside can ask for one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import request as flask_request

from app.security import SECURITY_HEADERS
from app.streaming.fastpath import GRANT_TYPES
from app.streaming.files import CACHE_CONTROL
from tests.helpers import DATA, add_track, free_port, login, owner_with_track, wait_for_port
from tests.servers import Gunicorn, csrf_token, flask, log_in, request, server_env, upload

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import nginx_local  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
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
        # Nothing but the request's own id (app/ops), which every answer carries.
        headers = sorted((name, value) for name, value in response.headers.items() if name != "X-Request-ID")
        assert headers == [("Content-Length", "0")], reason
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


def test_nginx_sends_the_apps_types_under_a_grant():
    """deploy/nginx.conf's types for granted files are the app's own (FORMATS)."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    blocks = re.findall(r"^\s*types \{(.*?)\}", conf, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    nginx = {}
    for line in blocks[0].strip().splitlines():
        mime, *extensions = line.strip().rstrip(";").split()
        nginx.update(dict.fromkeys(extensions, mime))
    assert nginx == GRANT_TYPES


def test_a_grant_is_for_plain_stored_names_only(accel):
    from app.extensions import db

    _, alice, _, owner, _, _ = accel
    odd = add_track(owner, "tagged.mp3")
    odd.storage_path = odd.storage_path.replace(".", "..", 1)  # never made by storage; nginx would take it as is
    db.session.commit()
    assert alice.get(f"/stream/{odd.id}", headers=GRANT).status_code == 403


# --- live, through nginx -------------------------------------------------------------------------

BOUND = 2  # STREAM_GRANT_SECONDS of the live server
MARGIN = 1.5  # for a slow machine


@dataclass(frozen=True)
class Live:
    port: int  # nginx
    app: Gunicorn

    def cookie(self, username: str) -> str:
        """A new session (a player's), logged in through nginx."""
        return log_in(self.port, username, "serving password")

    def upload(self, username: str, name: str) -> int:
        result = upload(self.port, self.cookie(username), name, (DATA / name).read_bytes())
        assert result["status"] == "added", result
        return result["track"]["id"]

    def seek(self, cookie: str, track: int, start: int = 0, port: int | None = None) -> tuple[int, dict, bytes]:
        headers = {"Cookie": cookie, "Range": f"bytes={start}-{start + 999}"} if cookie else {"Range": "bytes=0-9"}
        return request(port or self.port, f"/stream/{track}", headers=headers)

    def asked(self, track: int) -> int:
        """How many requests for the track reached the app, as its access log shows (after
        the log has caught up with the answers already received)."""
        time.sleep(0.3)
        return len(re.findall(rf'"(?:GET|HEAD) /stream/{track} ', self.app.log.read_text()))

    def post(self, cookie: str, page: str, action: str, fields: dict[str, str]) -> int:
        """Submit a form as the browser holding `cookie` would (the page puts the CSRF token
        in that browser's session, a new cookie)."""
        _, headers, body = request(self.port, page, headers={"Cookie": cookie})
        if "set-cookie" in headers:
            cookie = headers["set-cookie"].split(";")[0]
        form = urllib.parse.urlencode({**fields, "csrf_token": csrf_token(body)})
        content = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        return request(self.port, action, "POST", content, form)[0]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> Iterator[Live]:
    """gunicorn (x-accel, grants kept BOUND seconds) behind deploy/nginx.conf; accounts owner and other."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx-light")
    tmp = tmp_path_factory.mktemp("grants")
    database_url, uploads = f"sqlite:///{tmp / 'grants.db'}", tmp / "uploads"
    settings = {
        "RATELIMIT_ENABLED": "false",
        "SEND_FILE_MODE": "x-accel",
        "TRUSTED_PROXIES": "1",
        "STREAM_GRANT_SECONDS": str(BOUND),
    }
    env = server_env(database_url, uploads, **settings)
    flask(env, "db", "upgrade")
    for name in ("owner", "other"):
        flask(env, "create-admin", name, stdin="serving password\n" * 2)
    app = start_gunicorn(database_url, uploads, **settings)
    port = free_port()
    conf = nginx_local.render(tmp, app.port, port, uploads)
    nginx = subprocess.Popen([NGINX, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port), f"nothing listens on {port}"
        yield Live(port, app)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def test_seeks_under_a_grant_do_not_reach_the_app(live):
    track = live.upload("owner", "cover.flac")
    data = (DATA / "cover.flac").read_bytes()
    cookie = live.cookie("owner")
    before = live.asked(track)
    started = time.monotonic()
    for start in range(0, 30000, 3000):
        status, _, body = live.seek(cookie, track, start)
        assert status == 206 and body == data[start : start + 1000]
    elapsed = time.monotonic() - started
    # One question, then nginx on its own (one more for each time the grant ran out).
    assert live.asked(track) - before <= 1 + int(elapsed / BOUND)
    time.sleep(BOUND + 0.5)  # the grant ran out: nginx asks again
    asked = live.asked(track)
    assert live.seek(cookie, track)[0] == 206
    assert live.asked(track) == asked + 1


def assert_refused_as_the_app_refuses(live: Live, cookie: str, track: int, status: int) -> None:
    """From the first seek of a listener, wait out the bound: then every seek gets the app's own no."""
    got = live.seek(cookie, track)
    the_app = live.seek(cookie, track, port=live.app.port)
    assert got[0] == the_app[0] == status
    assert got[1]["content-type"] == the_app[1]["content-type"]
    assert without_tokens(got[2]) == without_tokens(the_app[2])


def without_tokens(page: bytes) -> bytes:
    """A page without its CSRF token (a new one each time for a session that had none)."""
    return re.sub(rb'(name="csrf_token" value="|"csrf": ")[^"]+', rb"\1", page)


def test_logging_out_stops_a_listener_within_the_bound(live):
    track = live.upload("owner", "cover.mp3")
    player = live.cookie("owner")
    assert live.seek(player, track)[0] == 206  # the grant nginx keeps
    assert live.post(player, "/library", "/auth/logout", {}) == 302  # ends every session of the account
    revoked = time.monotonic()
    assert live.seek(player, track)[0] in (206, 401)  # within the bound, either
    time.sleep(max(0.0, revoked + BOUND + MARGIN - time.monotonic()))
    assert_refused_as_the_app_refuses(live, player, track, 401)


def test_a_track_made_private_stops_another_listener_within_the_bound(live):
    track = live.upload("owner", "tagged.mp3")
    owner = live.cookie("owner")
    edit = f"/library/tracks/{track}/edit"
    fields = {"title": "Tone", "artist": "Someone", "album": "Tests"}
    assert live.post(owner, edit, edit, {**fields, "visibility": "public"}) == 302
    listener = live.cookie("other")
    assert live.seek(listener, track)[0] == 206
    assert live.post(owner, edit, edit, {**fields, "visibility": "private"}) == 302
    revoked = time.monotonic()
    assert live.seek(listener, track)[0] in (206, 404)
    time.sleep(max(0.0, revoked + BOUND + MARGIN - time.monotonic()))
    assert_refused_as_the_app_refuses(live, listener, track, 404)
    assert live.seek(owner, track)[0] == 206  # still the owner's


def test_a_deleted_track_stops_its_listener_within_the_bound(live):
    track = live.upload("owner", "tagged.flac")
    player = live.cookie("owner")
    assert live.seek(player, track)[0] == 206
    assert live.post(player, f"/library/tracks/{track}", f"/library/tracks/{track}/delete", {}) == 302
    # The file is gone at once: even under the grant nginx has nothing to send and asks the app.
    assert_refused_as_the_app_refuses(live, player, track, 404)
    time.sleep(BOUND + MARGIN)
    assert_refused_as_the_app_refuses(live, player, track, 404)


def test_a_grant_is_never_another_cookies(live):
    track = live.upload("owner", "cover.m4a")
    owner, other = live.cookie("owner"), live.cookie("other")
    owner_value, other_value = owner.split("=", 1)[1], other.split("=", 1)[1]
    assert live.seek(owner, track)[0] == 206  # the owner's grant, kept
    attempts = [
        other,
        f"mc_session={other_value}; mc_session={owner_value}",  # nginx and the app both take the first
        f"mc_session={owner_value[:-2]}xx",  # a forgery close to the key
        f"mc_session={owner_value}x",
        "",
    ]
    for _ in range(2):
        for cookie in attempts:
            status = live.seek(cookie, track)[0]
            assert status == (401 if cookie in ("", attempts[2], attempts[3]) else 404), cookie
    assert live.seek(owner, track)[0] == 206


def test_nobody_outside_can_ask_for_a_grant(live):
    track = live.upload("owner", "plain.wav")
    owner, other = live.cookie("owner"), live.cookie("other")
    # nginx's own question is an internal location: from outside it does not exist.
    for cookie in ("", owner):
        assert request(live.port, "/_musiccloud/grant", headers={"Cookie": cookie})[0] == 404
    # The header nginx asks with changes nothing in a client's request.
    for path, cookie in [
        (f"/stream/{track}", ""),
        (f"/stream/{track}", other),
        (f"/stream/{track}", owner),
        (f"/stream/{track}?x=1", owner),
        (f"/stream/{track}/download", owner),
        ("/stream/999999", owner),
    ]:
        plain = request(live.port, path, headers={"Cookie": cookie})
        asking = request(live.port, path, headers={"Cookie": cookie, **GRANT})
        assert asking[0] == plain[0], path
        assert without_tokens(asking[2]) == without_tokens(plain[2]), path
        assert not [name for name in asking[1] if name.startswith(("x-musiccloud", "x-accel"))], path
