"""The REST API's albums, artists, genres, playlists, plays and likes, as a
script drives them, with another account's objects. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Visibility
from tests.helpers import add_track
from tests.test_api_v1 import bearer, error_of, token_for


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def token(user) -> str:
    return token_for(user)


@pytest.fixture
def bob_token(bob) -> str:
    return token_for(bob)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json() if status != 204 else {}


def test_albums_artists_genres_with_their_tracks(client, user, bob, token):
    mine = add_track(user, "tagged.mp3")
    hidden = add_track(bob, "tagged.flac")
    public = add_track(bob, "tagged.ogg", Visibility.PUBLIC)
    mine.genre, mine.genre_key = "Pop", "pop"
    db.session.commit()
    albums = ok(client.get("/api/v1/albums", headers=bearer(token)))
    assert {a["id"] for a in albums["data"]} == {mine.album_id, public.album_id}
    assert albums["meta"]["total"] == 2
    assert ok(client.get("/api/v1/albums?limit=1&page=2", headers=bearer(token)))["meta"]["has_prev"]
    album = ok(client.get(f"/api/v1/albums/{mine.album_id}", headers=bearer(token)))
    assert [t["id"] for t in album["tracks"]] == [mine.id]
    missing = client.get(f"/api/v1/albums/{hidden.album_id}", headers=bearer(token))
    assert missing.status_code == 404 and error_of(missing)["code"] == "ALBUM_NOT_FOUND"
    artists = ok(client.get("/api/v1/artists", headers=bearer(token)))
    assert hidden.artist_id not in {a["id"] for a in artists["data"]} or hidden.artist_id == public.artist_id
    artist = ok(client.get(f"/api/v1/artists/{mine.artist_id}", headers=bearer(token)))
    assert [t["id"] for t in artist["tracks"]] == [mine.id] and artist["albums"][0]["id"] == mine.album_id
    assert client.get("/api/v1/artists/999999", headers=bearer(token)).status_code == 404
    genres = ok(client.get("/api/v1/genres", headers=bearer(token)))["data"]
    assert {"name": "Pop", "track_count": 1, "album_count": 1} in genres
    pop = ok(client.get("/api/v1/genres/POP", headers=bearer(token)))
    assert [t["id"] for t in pop["tracks"]] == [mine.id] and pop["meta"]["total"] == 1


def test_playlists_lifecycle_and_entries(client, user, bob, token):
    first, second = add_track(user, "tagged.mp3"), add_track(user, "tagged.flac")
    created = ok(
        client.post("/api/v1/playlists", json={"name": "Road trip", "description": "vroom"}, headers=bearer(token)),
        201,
    )
    pid = created["id"]
    assert created["visibility"] == "private" and created["entries"] == [] and created["mine"]
    added = ok(
        client.post(
            f"/api/v1/playlists/{pid}/tracks",
            json={"track_ids": [first.id, second.id, first.id]},
            headers=bearer(token),
        )
    )
    assert [e["track"]["id"] for e in added["entries"]] == [first.id, second.id, first.id]
    assert added["track_count"] == 3
    last = added["entries"][2]["entry_id"]
    moved = ok(client.patch(f"/api/v1/playlists/{pid}/entries/{last}", json={"position": 1}, headers=bearer(token)))
    assert moved["entries"][0]["entry_id"] == last
    assert [e["position"] for e in moved["entries"]] == [1, 2, 3]
    ok(client.delete(f"/api/v1/playlists/{pid}/entries/{last}", headers=bearer(token)), 204)
    after = ok(client.get(f"/api/v1/playlists/{pid}", headers=bearer(token)))
    assert [e["track"]["id"] for e in after["entries"]] == [first.id, second.id]
    assert client.delete(f"/api/v1/playlists/{pid}/entries/{last}", headers=bearer(token)).status_code == 404
    renamed = ok(client.patch(f"/api/v1/playlists/{pid}", json={"name": "Long trip"}, headers=bearer(token)))
    assert renamed["name"] == "Long trip" and renamed["description"] == "vroom"
    assert client.patch(f"/api/v1/playlists/{pid}", json={"name": ""}, headers=bearer(token)).status_code == 422
    assert (
        client.patch(f"/api/v1/playlists/{pid}", json={"visibility": "world"}, headers=bearer(token)).status_code == 422
    )
    found = ok(client.get("/api/v1/playlists?search=LONG", headers=bearer(token)))["data"]
    assert [p["id"] for p in found] == [pid]
    assert ok(client.get("/api/v1/playlists?search=short", headers=bearer(token)))["data"] == []
    ok(client.delete(f"/api/v1/playlists/{pid}", headers=bearer(token)), 204)
    assert client.get(f"/api/v1/playlists/{pid}", headers=bearer(token)).status_code == 404


def test_playlist_visibility_share_link_and_another_account(client, user, bob, token, bob_token):
    track = add_track(user, "tagged.mp3")
    pid = ok(client.post("/api/v1/playlists", json={"name": "Mine"}, headers=bearer(token)), 201)["id"]
    ok(client.post(f"/api/v1/playlists/{pid}/tracks", json={"track_ids": [track.id]}, headers=bearer(token)))
    for method, url, body in [
        ("get", f"/api/v1/playlists/{pid}", None),
        ("patch", f"/api/v1/playlists/{pid}", {"name": "x"}),
        ("delete", f"/api/v1/playlists/{pid}", None),
        ("post", f"/api/v1/playlists/{pid}/tracks", {"track_ids": [track.id]}),
    ]:
        response = getattr(client, method)(url, json=body, headers=bearer(bob_token))
        assert response.status_code == 404, (method, url)
        assert error_of(response)["code"] == "PLAYLIST_NOT_FOUND"
    shared = ok(client.patch(f"/api/v1/playlists/{pid}", json={"visibility": "link"}, headers=bearer(token)))
    assert shared["visibility"] == "link" and "/s/" in shared["share_url"]
    anonymous = client.application.test_client()
    assert anonymous.get(shared["share_url"]).status_code == 200
    public = ok(client.patch(f"/api/v1/playlists/{pid}", json={"visibility": "instance"}, headers=bearer(token)))
    assert public["share_url"] is None
    assert anonymous.get(shared["share_url"]).status_code == 404  # the old link stopped
    seen = ok(client.get(f"/api/v1/playlists/{pid}", headers=bearer(bob_token)))
    assert seen["entries"] == [] and not seen["mine"]  # alice's private track stays hidden from bob
    refused = client.patch(f"/api/v1/playlists/{pid}", json={"name": "x"}, headers=bearer(bob_token))
    assert refused.status_code == 403 and error_of(refused)["code"] == "PLAYLIST_NOT_OWNED"
    alices = ok(client.get("/api/v1/playlists?owner=alice", headers=bearer(bob_token)))["data"]
    assert [p["id"] for p in alices] == [pid]
    assert ok(client.get("/api/v1/playlists?mine=true", headers=bearer(bob_token)))["data"] == []
    bob_pid = ok(client.post("/api/v1/playlists", json={"name": "Bob's"}, headers=bearer(bob_token)), 201)["id"]
    hidden = client.post(
        f"/api/v1/playlists/{bob_pid}/tracks", json={"track_ids": [track.id]}, headers=bearer(bob_token)
    )
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "TRACK_NOT_FOUND"


def test_plays_recent_stats_and_likes(client, user, bob, token):
    track = add_track(user, "tagged.mp3")
    other = add_track(bob, "tagged.flac")
    recorded = ok(client.post("/api/v1/plays", json={"track_id": track.id}, headers=bearer(token)), 201)
    assert recorded["play_count"] == 1 and recorded["track_id"] == track.id
    hidden = client.post("/api/v1/plays", json={"track_id": other.id}, headers=bearer(token))
    assert hidden.status_code == 404
    assert client.post("/api/v1/plays", json={"track_id": "x"}, headers=bearer(token)).status_code == 422
    recent = ok(client.get("/api/v1/plays", headers=bearer(token)))["data"]
    assert [p["track"]["id"] for p in recent] == [track.id]
    stats = ok(client.get("/api/v1/plays/stats", headers=bearer(token)))
    assert stats["plays"] == 1 and stats["distinct_tracks"] == 1 and stats["seconds"] == pytest.approx(track.duration)
    assert stats["top_tracks"][0]["track"]["id"] == track.id and stats["top_artists"][0]["plays"] == 1
    assert ok(client.put(f"/api/v1/tracks/{track.id}/like", headers=bearer(token))) == {
        "track_id": track.id,
        "liked": True,
        "state": "like",
    }
    got = ok(client.get(f"/api/v1/tracks/{track.id}?include=stats", headers=bearer(token)))
    assert got["stats"]["likes"] == 1 and got["stats"]["your_plays"] == 1
    # The API's likes are the pages' thumbs (not the favourites' hearts).
    from app.services import likes, playlists

    assert likes.state(user.id, [track.id]) == {track.id: "like"}
    assert playlists.favourite_ids(user.id, [track.id]) == set()
    disliked = ok(client.put(f"/api/v1/tracks/{track.id}/dislike", headers=bearer(token)))
    assert disliked == {"track_id": track.id, "liked": False, "state": "dislike"}
    assert likes.state(user.id, [track.id]) == {track.id: "dislike"}
    got = ok(client.get(f"/api/v1/tracks/{track.id}?include=stats", headers=bearer(token)))
    assert got["stats"]["likes"] == 0
    assert ok(client.delete(f"/api/v1/tracks/{track.id}/dislike", headers=bearer(token)))["state"] == "none"
    assert ok(client.delete(f"/api/v1/tracks/{track.id}/like", headers=bearer(token)))["liked"] is False
    assert likes.state(user.id, [track.id]) == {}
    assert client.put(f"/api/v1/tracks/{other.id}/like", headers=bearer(token)).status_code == 404
    assert client.put(f"/api/v1/tracks/{other.id}/dislike", headers=bearer(token)).status_code == 404


def test_admin_endpoints_need_an_admin_token_of_an_admin(client, user, admin, bob, token):
    from app.models import AccessScope, Role

    admin_token = token_for(admin, AccessScope.ADMIN)
    write_token = token_for(admin, AccessScope.WRITE)
    for refused_token in (token, write_token):
        refused = client.get("/api/v1/admin/users", headers=bearer(refused_token))
        assert refused.status_code == 403 and error_of(refused)["code"] == "INSUFFICIENT_SCOPE"
    listed = ok(client.get("/api/v1/admin/users", headers=bearer(admin_token)))
    assert [u["username"] for u in listed["data"]] == ["admin", "alice", "bob"] and listed["meta"]["total"] == 3
    changed = ok(
        client.patch(
            f"/api/v1/admin/users/{bob.id}",
            json={"role": "listener", "quota_bytes": 5_000_000},
            headers=bearer(admin_token),
        )
    )
    assert changed["role"] == "listener" and changed["quota_bytes"] == 5_000_000
    bob_token = token_for(bob)
    assert client.get("/api/v1/tracks", headers=bearer(bob_token)).status_code == 200
    ok(client.patch(f"/api/v1/admin/users/{bob.id}", json={"disabled": True}, headers=bearer(admin_token)))
    assert client.get("/api/v1/tracks", headers=bearer(bob_token)).status_code == 401
    last = client.patch(f"/api/v1/admin/users/{admin.id}", json={"role": "user"}, headers=bearer(admin_token))
    assert last.status_code == 409 and error_of(last)["code"] == "LAST_ADMIN_DEMOTED"
    assert client.patch("/api/v1/admin/users/99999", json={}, headers=bearer(admin_token)).status_code == 404
    bad = client.patch(f"/api/v1/admin/users/{bob.id}", json={"quota_bytes": -1}, headers=bearer(admin_token))
    assert bad.status_code == 422
    # A demoted admin's admin token stops working at once.
    user.role = Role.ADMIN
    db.session.commit()
    ok(client.patch(f"/api/v1/admin/users/{admin.id}", json={"role": "user"}, headers=bearer(admin_token)))
    assert client.get("/api/v1/admin/users", headers=bearer(admin_token)).status_code == 403


def test_admin_sets_the_upload_limits_of_a_role_and_uploads_meet_them(client, user, admin, token):
    from app.models import AccessScope

    admin_token = token_for(admin, AccessScope.ADMIN)
    assert client.get("/api/v1/admin/limits", headers=bearer(token)).status_code == 403
    listed = ok(client.get("/api/v1/admin/limits", headers=bearer(admin_token)))["data"]
    unlimited = {"max_file_bytes": None, "max_duration_seconds": None, "monthly_uploads": None, "storage_bytes": None}
    assert listed == [{"role": "user", **unlimited}, {"role": "admin", **unlimited}]

    changed = ok(
        client.patch(
            "/api/v1/admin/limits/user",
            json={"monthly_uploads": 1, "max_file_bytes": 10**8},
            headers=bearer(admin_token),
        )
    )
    assert changed == {**unlimited, "role": "user", "monthly_uploads": 1, "max_file_bytes": 10**8}
    # Only the fields given change; null lifts a limit.
    changed = ok(client.patch("/api/v1/admin/limits/user", json={"max_file_bytes": None}, headers=bearer(admin_token)))
    assert changed == {**unlimited, "role": "user", "monthly_uploads": 1}
    assert ok(client.get("/api/v1/admin/limits", headers=bearer(admin_token)))["data"][0] == changed

    # The user's uploads meet the role's limit at once: the month's second track is refused.
    def send(name: str):
        from tests.helpers import DATA

        return client.post(
            "/api/v1/tracks",
            data={"file": ((DATA / name).open("rb"), name)},
            content_type="multipart/form-data",
            headers=bearer(token),
        )

    assert send("tagged.mp3").status_code == 201
    refused = send("tagged.flac")
    assert refused.status_code == 403 and error_of(refused)["code"] == "UPLOAD_LIMIT_MONTHLY"

    for role, body, status, code in (
        ("listener", {"monthly_uploads": 5}, 404, "ROLE_NOT_FOUND"),
        ("nobody", {}, 404, "ROLE_NOT_FOUND"),
        ("user", {"monthly_uploads": 0}, 422, "VALIDATION_FAILED"),
        # The admin page's bounds (a month's uploads and a duration fit the database's integers).
        ("user", {"monthly_uploads": 2**31}, 422, "VALIDATION_FAILED"),
        ("user", {"max_duration_seconds": 2**40}, 422, "VALIDATION_FAILED"),
        ("user", {"storage_bytes": "lots"}, 422, "VALIDATION_FAILED"),
    ):
        bad = client.patch(f"/api/v1/admin/limits/{role}", json=body, headers=bearer(admin_token))
        assert bad.status_code == status and error_of(bad)["code"] == code, (role, body)
    missing = client.patch("/api/v1/admin/limits/listener", json={}, headers=bearer(admin_token))
    assert error_of(missing)["message"] == "There is no role listener with upload limits (listeners cannot upload)."
