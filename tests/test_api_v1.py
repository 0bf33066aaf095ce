"""The REST API (/api/v1) as a script drives it: Bearer tokens, every track
endpoint, error shapes and statuses, scopes, expiry, revocation, another user's
objects, pagination edges and combined filters. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AccessScope, Role, Track, Visibility
from app.models.types import utcnow
from app.services import credentials
from tests.helpers import DATA, PASSWORD, add_track, login, post_form


def token_for(user, scope: AccessScope = AccessScope.WRITE, expires=None) -> str:
    _row, plain = credentials.create_access_token(user, "test", scope, expires)
    db.session.commit()
    return plain


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


# --- the foundation -----------------------------------------------------------------------


def test_openapi_document_lists_the_operations_and_the_docs_page_is_vendored(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert {"/api/v1/tracks", "/api/v1/tracks/{track_id}", "/api/v1/auth/token"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html


def test_no_token_is_401_in_the_error_shape(client):
    response = client.get("/api/v1/tracks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == "UNAUTHORIZED"
    assert error_of(client.get("/api/v1/tracks", headers=bearer("mct_nope")))["code"] == "INVALID_TOKEN"
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "NOT_FOUND"


def test_a_session_cookie_is_not_accepted(client, user):
    login(client, "alice")
    assert client.get("/library").status_code == 200  # the cookie works on the pages
    response = client.get("/api/v1/tracks")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_writes_need_no_csrf_token_but_the_player_api_keeps_it(client, user):
    token = token_for(user)
    response = client.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    track = add_track(user, "tagged.mp3")
    assert client.patch(f"/api/v1/tracks/{track.id}", json={"title": "New"}, headers=bearer(token)).status_code == 200
    login(client, "alice")
    assert client.post("/api/plays", json={"track_id": track.id}).status_code == 400  # CSRF missing


# --- tokens -----------------------------------------------------------------------------


def test_sign_in_gives_a_short_lived_token_and_wrong_passwords_look_alike(client, user):
    response = client.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["scope"] == "write" and body["user"]["username"] == "alice"
    assert body["expires_at"]
    me = client.get("/api/v1/tracks", headers=bearer(body["token"]))
    assert me.status_code == 200
    wrong = client.post("/api/v1/auth/token", json={"username": "alice", "password": "wrong one"})
    unknown = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong one"})
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong) == error_of(unknown)
    invalid = client.post("/api/v1/auth/token", json={"username": "alice"})
    assert invalid.status_code == 422
    assert "password" in error_of(invalid)["details"]["json"]


def test_sign_in_is_rate_limited_with_the_login_forms_limits(make_app, user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_USERNAME="3 per minute", LOGIN_LIMIT_PER_IP="100 per minute")
    limited = app.test_client()
    for _ in range(3):
        assert limited.post("/api/v1/auth/token", json={"username": "alice", "password": "nope"}).status_code == 401
    response = limited.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert error_of(response)["code"] == "RATE_LIMITED"


def test_register_when_open_and_not_when_closed(make_app, client, admin):
    response = client.post("/api/v1/auth/register", json={"username": "newbie", "password": PASSWORD})
    assert response.status_code == 201
    assert response.get_json()["user"]["role"] == "user"
    taken = client.post("/api/v1/auth/register", json={"username": "NEWBIE", "password": PASSWORD})
    assert taken.status_code == 409 and error_of(taken)["code"] == "USERNAME_TAKEN"
    weak = client.post("/api/v1/auth/register", json={"username": "other", "password": "x"})
    assert weak.status_code == 400 and error_of(weak)["code"] == "PASSWORD_TOO_SHORT"
    closed = make_app(ALLOW_REGISTRATION=False).test_client()
    refused = closed.post("/api/v1/auth/register", json={"username": "late", "password": PASSWORD})
    assert refused.status_code == 403 and error_of(refused)["code"] == "REGISTRATION_CLOSED"


def test_read_scope_cannot_write(client, user):
    track = add_track(user, "tagged.mp3")
    token = token_for(user, AccessScope.READ)
    assert client.get(f"/api/v1/tracks/{track.id}", headers=bearer(token)).status_code == 200
    response = client.patch(f"/api/v1/tracks/{track.id}", json={"title": "x"}, headers=bearer(token))
    assert response.status_code == 403 and error_of(response)["code"] == "INSUFFICIENT_SCOPE"


def test_expired_revoked_and_disabled_tokens_stop_at_once(client, user, admin):
    live = token_for(user)
    assert client.get("/api/v1/tracks", headers=bearer(live)).status_code == 200
    soon = token_for(user, expires=utcnow() + timedelta(seconds=60))
    row = credentials.find_access_token(soon)[0]
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/tracks", headers=bearer(soon)).status_code == 401
    user.disabled = True
    db.session.commit()
    assert client.get("/api/v1/tracks", headers=bearer(live)).status_code == 401
    user.disabled = False
    db.session.commit()
    assert client.get("/api/v1/tracks", headers=bearer(live)).status_code == 200
    credentials.revoke_access_token(user.id, credentials.find_access_token(live)[0].id)
    db.session.commit()
    assert client.get("/api/v1/tracks", headers=bearer(live)).status_code == 401


def test_admin_scope_is_for_admins_only(user, admin):
    with pytest.raises(credentials.CredentialError) as refused:
        credentials.create_access_token(user, "x", AccessScope.ADMIN)
    assert refused.value.code == "TOKEN_SCOPE_NOT_ALLOWED"
    row, _plain = credentials.create_access_token(admin, "x", AccessScope.ADMIN)
    assert row.scope is AccessScope.ADMIN


def test_tokens_page_creates_shows_once_lists_and_revokes(client, user):
    login(client, "alice")
    page = client.get("/account/tokens").get_data(as_text=True)
    assert 'value="admin"' not in page  # not an admin
    response = post_form(
        client,
        "/account/tokens",
        "/account/tokens",
        {"token-name": "Tagger", "token-scope": "write", "token-expires_in_days": "30"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    plain = html.split('<code class="secret" translate="no">')[1].split("</code>")[0]
    assert plain.startswith("mct_")
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert "Tagger" in listed and plain not in listed
    api = client.application.test_client()
    assert api.get("/api/v1/tracks", headers=bearer(plain)).status_code == 200
    assert "Never" not in client.get("/account/tokens").get_data(as_text=True).split("Tagger")[1].split("</tr>")[0]
    token_id = credentials.access_tokens(user.id)[0].id
    post_form(client, "/account/tokens", f"/account/tokens/{token_id}/revoke")
    assert api.get("/api/v1/tracks", headers=bearer(plain)).status_code == 401
    bad = post_form(client, "/account/tokens", "/account/tokens", {"token-name": "", "token-scope": "admin"})
    assert bad.status_code == 400


# --- tracks -------------------------------------------------------------------------------


@pytest.fixture
def alice_token(user) -> str:
    return token_for(user)


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def test_another_users_private_track_is_404_and_public_is_readonly(client, user, bob, alice_token):
    private = add_track(bob, "tagged.flac")
    public = add_track(bob, "tagged.ogg", Visibility.PUBLIC)
    for method, url in [
        ("get", f"/api/v1/tracks/{private.id}"),
        ("patch", f"/api/v1/tracks/{private.id}"),
        ("delete", f"/api/v1/tracks/{private.id}"),
        ("get", f"/api/v1/tracks/{private.id}/stream-url"),
    ]:
        kwargs = {"json": {"title": "x"}} if method == "patch" else {}
        response = getattr(client, method)(url, headers=bearer(alice_token), **kwargs)
        assert response.status_code == 404, (method, url)
        assert error_of(response)["code"] == "TRACK_NOT_FOUND"
    assert client.get(f"/api/v1/tracks/{public.id}", headers=bearer(alice_token)).get_json()["mine"] is False
    refused = client.patch(f"/api/v1/tracks/{public.id}", json={"title": "x"}, headers=bearer(alice_token))
    assert refused.status_code == 403 and error_of(refused)["code"] == "TRACK_NOT_OWNED"
    assert client.delete(f"/api/v1/tracks/{public.id}", headers=bearer(alice_token)).status_code == 403


def test_admin_may_delete_another_users_track(client, admin, bob):
    track = add_track(bob, "tagged.flac")
    token, track_id = token_for(admin), track.id
    assert client.delete(f"/api/v1/tracks/{track_id}", headers=bearer(token)).status_code == 204
    assert db.session.get(Track, track_id) is None


def test_upload_with_metadata_overriding_tags(client, user, alice_token, app):
    metadata = json.dumps({"title": "From the script", "genre": "Ambient", "visibility": "public", "year": 1999})
    response = client.post(
        "/api/v1/tracks",
        data={"file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "song.mp3"), "metadata": metadata},
        headers=bearer(alice_token),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    track = response.get_json()["track"]
    assert track["title"] == "From the script" and track["genre"] == "Ambient" and track["year"] == 1999
    assert track["visibility"] == "public" and track["artist"] == "Beyoncé" and track["format"] == "mp3"
    assert response.get_json()["processing_status"] in ("ready", "processing")
    again = client.post(
        "/api/v1/tracks",
        data={"file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "again.mp3")},
        headers=bearer(alice_token),
        content_type="multipart/form-data",
    )
    assert again.status_code == 409
    assert error_of(again)["details"] == {"track_id": track["id"]}


def test_bad_uploads_leave_nothing(client, user, alice_token, app):
    def send(data):
        return client.post("/api/v1/tracks", data=data, headers=bearer(alice_token), content_type="multipart/form-data")

    not_audio = send({"file": (io.BytesIO(b"hello, not audio" * 100), "x.mp3")})
    assert not_audio.status_code == 415 and error_of(not_audio)["code"] in ("NOT_AUDIO", "UNSUPPORTED_AUDIO")
    bad_meta = send({"file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "a.mp3"), "metadata": "{not json"})
    assert bad_meta.status_code == 422
    bad_field = send({"file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "a.mp3"), "metadata": '{"year": "x"}'})
    assert bad_field.status_code == 422 and "year" in error_of(bad_field)["details"]["metadata"]
    no_file = send({"metadata": "{}"})
    assert no_file.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Track)) == 0
    files = [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]
    assert files == []


def test_upload_too_large_is_413(make_app, user):
    app = make_app(MAX_UPLOAD_MB=0.001)
    with app.app_context():
        token = token_for(db.session.merge(user))
    response = app.test_client().post(
        "/api/v1/tracks",
        data={"file": (io.BytesIO((DATA / "tagged.flac").read_bytes()), "big.flac")},
        headers=bearer(token),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert error_of(response)["code"] in ("FILE_TOO_LARGE", "PAYLOAD_TOO_LARGE")


def test_listener_may_not_upload(client, make_user):
    listener = make_user("lena", role=Role.LISTENER)
    response = client.post(
        "/api/v1/tracks",
        data={"file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "a.mp3")},
        headers=bearer(token_for(listener)),
        content_type="multipart/form-data",
    )
    assert response.status_code == 403 and error_of(response)["code"] == "UPLOAD_NOT_ALLOWED"


def test_patch_lists_changes_and_validates(client, user, alice_token):
    track = add_track(user, "tagged.mp3")
    old_title = track.title
    response = client.patch(
        f"/api/v1/tracks/{track.id}",
        json={"title": "Renamed", "genre": None, "year": 2001},
        headers=bearer(alice_token),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["changes"]["title"] == {"old": old_title, "new": "Renamed"}
    assert body["changes"]["year"]["new"] == 2001
    assert "artist" not in body["changes"]
    assert body["track"]["title"] == "Renamed"
    for bad in ({"year": "soon"}, {"visibility": "everyone"}, {"title": ""}, {"unknown": 1}, {"year": 10**6}):
        rejected = client.patch(f"/api/v1/tracks/{track.id}", json=bad, headers=bearer(alice_token))
        assert rejected.status_code == 422, bad
        assert error_of(rejected)["code"] == "VALIDATION_FAILED"
    not_json = client.patch(
        f"/api/v1/tracks/{track.id}", data="x", headers={**bearer(alice_token), "Content-Type": "text/plain"}
    )
    assert not_json.status_code in (415, 422)


def test_get_with_stats_and_delete(client, user, alice_token, app):
    track = add_track(user, "tagged.mp3")
    got = client.get(f"/api/v1/tracks/{track.id}?include=stats", headers=bearer(alice_token)).get_json()
    assert got["stats"] == {"plays": 0, "your_plays": 0, "likes": 0}
    assert "stats" not in client.get(f"/api/v1/tracks/{track.id}", headers=bearer(alice_token)).get_json()
    assert client.get(f"/api/v1/tracks/{track.id}?include=plays", headers=bearer(alice_token)).status_code == 422
    stored, track_id = track.storage_path, track.id
    assert client.delete(f"/api/v1/tracks/{track_id}", headers=bearer(alice_token)).status_code == 204
    assert client.get(f"/api/v1/tracks/{track_id}", headers=bearer(alice_token)).status_code == 404
    assert not (Path(app.config["UPLOAD_FOLDER"]) / stored).exists()


def test_stream_url_plays_without_headers_until_it_expires(make_app, user):
    app = make_app()
    with app.app_context():
        owner = db.session.merge(user)
        track = add_track(owner, "tagged.mp3")
        token = token_for(owner)
        track_id = track.id
    api = app.test_client()
    answer = api.get(f"/api/v1/tracks/{track_id}/stream-url", headers=bearer(token)).get_json()
    player = app.test_client()  # no cookie, no header
    played = player.get(answer["url"], headers={"Range": "bytes=0-9"})
    assert played.status_code == 206 and len(played.data) == 10
    other = player.get(answer["url"].replace(f"/stream/{track_id}?", f"/stream/{track_id + 1}?"))
    assert other.status_code == 401
    tampered = player.get(answer["url"][:-3] + "abc")
    assert tampered.status_code == 401
    expired_app = make_app(STREAM_URL_SECONDS=-1)
    assert expired_app.test_client().get(answer["url"]).status_code == 401
    with app.app_context():
        owner = db.session.merge(user)
        owner.disabled = True
        db.session.commit()
    assert player.get(answer["url"]).status_code == 401


# --- lists ----------------------------------------------------------------------------------


@pytest.fixture
def library(user, bob):
    """Alice's tracks (mp3, flac, ogg) and Bob's public m4a and private opus."""
    tracks = {
        "mp3": add_track(user, "tagged.mp3"),
        "flac": add_track(user, "tagged.flac"),
        "ogg": add_track(user, "tagged.ogg"),
        "m4a": add_track(bob, "tagged.m4a", Visibility.PUBLIC),
        "opus": add_track(bob, "tagged.opus"),
    }
    tracks["flac"].genre = "Jazz"
    tracks["flac"].genre_key = "jazz"
    tracks["ogg"].genre = "Jazz"
    tracks["ogg"].genre_key = "jazz"
    db.session.commit()
    return tracks


def listing(client, token, query=""):
    response = client.get("/api/v1/tracks" + query, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_list_pages_and_meta(client, library, alice_token):
    everything = listing(client, alice_token)
    assert {t["format"] for t in everything["data"]} == {"mp3", "flac", "ogg", "m4a"}  # not Bob's private opus
    meta = everything["meta"]
    assert meta["total"] == 4 and meta["total_pages"] == 1 and not meta["has_next"] and not meta["has_prev"]
    first = listing(client, alice_token, "?limit=3&sort=title&order=asc")
    second = listing(client, alice_token, "?limit=3&page=2&sort=title&order=asc")
    assert first["meta"]["has_next"] and not first["meta"]["has_prev"] and first["meta"]["total_pages"] == 2
    assert len(first["data"]) == 3 and len(second["data"]) == 1 and second["meta"]["has_prev"]
    titles = [t["title"].casefold() for t in first["data"] + second["data"]]
    assert titles == sorted(titles)
    beyond = listing(client, alice_token, "?page=50")
    assert beyond["data"] == [] and beyond["meta"]["total"] == 4
    for bad in ("?limit=0", "?limit=101", "?page=0", "?sort=size", "?order=up", "?min_duration=-1", "?format=exe"):
        response = client.get("/api/v1/tracks" + bad, headers=bearer(alice_token))
        assert response.status_code == 422, bad
    assert listing(client, alice_token, "?limit=100")["meta"]["per_page"] == 100


def test_filters_combine(client, library, alice_token):
    jazz = listing(client, alice_token, "?genre=JAZZ")
    assert {t["format"] for t in jazz["data"]} == {"flac", "ogg"}
    assert jazz["meta"]["filters"] == {"genre": "JAZZ"}
    assert [t["format"] for t in listing(client, alice_token, "?genre=jazz&format=flac")["data"]] == ["flac"]
    assert listing(client, alice_token, "?genre=jazz&format=mp3")["data"] == []
    mine = listing(client, alice_token, "?mine=true")
    assert {t["format"] for t in mine["data"]} == {"mp3", "flac", "ogg"} and all(t["mine"] for t in mine["data"])
    bobs = listing(client, alice_token, "?uploader=bob")
    assert [t["format"] for t in bobs["data"]] == ["m4a"] and bobs["data"][0]["uploader"] == "bob"
    assert listing(client, alice_token, "?uploader=nobody")["data"] == []
    by_artist = listing(client, alice_token, "?artist=beyonce")
    assert [t["format"] for t in by_artist["data"]] == ["mp3"]
    searched = listing(client, alice_token, "?search=beyonce&mine=true")
    assert [t["format"] for t in searched["data"]] == ["mp3"]
    durations = [t["duration"] for t in listing(client, alice_token, "?sort=duration&order=asc")["data"]]
    assert durations == sorted(durations)
    low, high = durations[1], durations[2]
    ranged = listing(client, alice_token, f"?min_duration={low}&max_duration={high}")
    assert all(low <= t["duration"] <= high for t in ranged["data"]) and ranged["meta"]["total"] >= 2
    assert listing(client, alice_token, f"?min_duration={high + 1000}")["meta"]["total"] == 0


def test_sort_by_plays_and_likes(client, library, alice_token, user):
    from app.models import PlayEvent
    from app.services import likes, playlists

    # Plays on different days (record_play counts a quick repeat once).
    for days in range(4):
        db.session.add(
            PlayEvent(user_id=user.id, track_id=library["ogg"].id, played_at=utcnow() - timedelta(days=days))
        )
    for days in range(2):
        db.session.add(
            PlayEvent(user_id=user.id, track_id=library["mp3"].id, played_at=utcnow() - timedelta(days=days))
        )
    likes.like(user.id, library["flac"].id)
    # A heart is a favourite, not a like: it does not count.
    playlists.set_favourite(user.id, library["mp3"].id, True)
    db.session.commit()
    by_plays = listing(client, alice_token, "?sort=plays")["data"]
    assert [t["format"] for t in by_plays[:2]] == ["ogg", "mp3"]
    assert listing(client, alice_token, "?sort=likes")["data"][0]["format"] == "flac"
    assert listing(client, alice_token, "?sort=popularity")["data"][0]["format"] == "ogg"
    assert listing(client, alice_token, "?sort=plays&order=asc")["data"][-1]["format"] == "ogg"


def test_nul_and_control_characters_in_text_are_no_server_error(client, library, alice_token):
    for query in ("?artist=a%00b", "?search=%00", "?genre=%01jazz", "?uploader=bo%00b", "?album=%00"):
        assert client.get("/api/v1/tracks" + query, headers=bearer(alice_token)).status_code == 200, query
    assert client.get("/api/v1/genres/ja%00zz", headers=bearer(alice_token)).status_code == 200
    assert client.get("/api/v1/playlists?owner=a%00", headers=bearer(alice_token)).status_code == 200
    refused = client.post("/api/v1/auth/token", json={"username": "ali\u0000ce", "password": PASSWORD})
    assert refused.status_code == 401
    assert client.post("/api/v1/auth/register", json={"username": "x\u0000y", "password": PASSWORD}).status_code == 400


def test_per_token_rate_limits_answer_429_with_retry_after(make_app, user):
    app = make_app(RATELIMIT_ENABLED=True, API_LIMIT_UPDATE="2 per minute", API_LIMIT_READ="3 per minute")
    with app.app_context():
        owner = db.session.merge(user)
        track = add_track(owner, "tagged.mp3")
        first, second = token_for(owner), token_for(owner)
        track_id = track.id
    api = app.test_client()
    for _ in range(2):
        assert api.patch(f"/api/v1/tracks/{track_id}", json={"year": 2000}, headers=bearer(first)).status_code == 200
    limited = api.patch(f"/api/v1/tracks/{track_id}", json={"year": 2000}, headers=bearer(first))
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "RATE_LIMITED" and int(limited.headers["Retry-After"]) > 0
    # Shared by every update endpoint of the token, and per token.
    assert api.post("/api/v1/playlists", json={"name": "x"}, headers=bearer(first)).status_code == 429
    assert api.patch(f"/api/v1/tracks/{track_id}", json={"year": 2001}, headers=bearer(second)).status_code == 200
    # Reads have their own count.
    for _ in range(3):
        assert api.get("/api/v1/tracks", headers=bearer(first)).status_code == 200
    assert api.get("/api/v1/tracks", headers=bearer(first)).status_code == 429
    assert api.get(f"/api/v1/tracks/{track_id}", headers=bearer(first)).status_code == 200  # one track is no list


def test_related_tracks_are_the_recommenders_similar_tracks_that_one_may_see(client, user, bob, alice_token):
    first = add_track(user, "tagged.mp3")
    same_album = add_track(user, "tagged.mp3", content=(DATA / "tagged.mp3").read_bytes() + b"\0" * 10)
    hidden = add_track(bob, "tagged.mp3")  # bob's private copy: same tags, not visible to alice
    answer = client.get(f"/api/v1/tracks/{first.id}?include=related,stats", headers=bearer(alice_token)).get_json()
    related = {t["id"]: t["why"] for t in answer["related"]}
    assert same_album.id in related and "by the same artist" in related[same_album.id]
    assert hidden.id not in related and first.id not in related
    assert answer["stats"]["plays"] == 0
    # The track page suggests the same.
    login(client, "alice")
    page = client.get(f"/library/tracks/{first.id}")
    assert f"/library/tracks/{same_album.id}" in page.get_data(as_text=True)


def test_register_is_limited_per_address_like_the_form(make_app, admin):
    app = make_app(RATELIMIT_ENABLED=True, REGISTER_LIMIT_PER_IP="2 per hour")
    api = app.test_client()
    for name in ("one", "two"):
        assert api.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD}).status_code == 201
    refused = api.post("/api/v1/auth/register", json={"username": "three", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_a_stream_url_at_a_quality_plays_the_transcoded_copy_without_a_cookie(make_app, user):
    app = make_app()
    with app.app_context():
        owner = db.session.merge(user)
        track_id = add_track(owner, "tagged.flac").id
        token = token_for(owner)
    api = app.test_client()
    assert api.get(f"/api/v1/tracks/{track_id}/stream-url?quality=ultra", headers=bearer(token)).status_code == 422
    answer = api.get(f"/api/v1/tracks/{track_id}/stream-url?quality=low&format=mp3", headers=bearer(token)).get_json()
    assert "quality=low" in answer["url"] and "format=mp3" in answer["url"]
    played = app.test_client().get(answer["url"])  # no cookie, no header
    assert played.status_code == 200
    assert played.headers["Content-Type"] == "audio/mpeg"
    assert played.data[:3] == b"ID3" or played.data[0] == 0xFF  # an MP3, not the FLAC
    assert "X-Content-Duration" in played.headers


def test_a_track_deleted_during_its_update_is_not_found_and_nothing_changes(client, user, alice_token):
    """A PATCH racing a DELETE of the same track (two requests at once): the delete wins,
    and the update answers 404 in the API's shape instead of a server error."""
    from sqlalchemy import event, text

    track = add_track(user, "tagged.mp3")
    track_id = track.id
    deleted = []

    def delete_first(session, _context, _instances):
        # At the flush that writes the track's new title, not before it was read.
        if deleted or not any(isinstance(row, Track) for row in session.dirty):
            return
        deleted.append(True)
        with db.engine.connect() as other:  # another request's connection
            other.execute(text("DELETE FROM tracks WHERE id = :id"), {"id": track_id})
            other.commit()

    event.listen(db.session, "before_flush", delete_first)
    try:
        response = client.patch(f"/api/v1/tracks/{track_id}", json={"title": "Renamed"}, headers=bearer(alice_token))
    finally:
        event.remove(db.session, "before_flush", delete_first)
    assert deleted
    assert response.status_code == 404, response.get_data(as_text=True)
    assert error_of(response)["code"] == "NOT_FOUND"
    assert "deleted by another request" in error_of(response)["message"]
    db.session.expire_all()
    assert db.session.get(Track, track_id) is None
