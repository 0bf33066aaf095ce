"""The player's JSON API and listens."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import PlayEvent, Visibility
from tests.helpers import add_track, csrf_from, login


def report(client, track_id, token: str | None = "page"):
    headers = {}
    if token == "page":
        token = csrf_from(client, "/library")
    if token:
        headers["X-CSRFToken"] = token
    return client.post("/api/plays", json={"track_id": track_id}, headers=headers)


def test_track_and_album_json(alice, user):
    track = add_track(user, "cover.flac")
    data = alice.get(f"/api/tracks/{track.id}").get_json()
    # Measured after the upload (a job): the waveform's address and the gain to -18 LUFS.
    assert data.pop("waveform").startswith(f"/library/tracks/{track.id}/waveform.json?v=")
    assert data.pop("gain")["source"] == "loudness"
    assert data == {
        "id": track.id,
        "title": "Flac Tone",
        "artist": "Ünïcode Artist",
        "album": "Lossless",
        "duration": 3.0,
        "stream": f"/stream/{track.id}",
        "cover": f"/stream/{track.id}/cover?v={track.cover_path.rpartition('/')[2][:16]}",
        "page": f"/library/tracks/{track.id}",
        "favourite": False,
        "like": "none",
    }
    album = alice.get(f"/api/albums/{track.album_id}").get_json()
    assert album["title"] == "Lossless" and [t["id"] for t in album["tracks"]] == [track.id]


def test_api_follows_the_access_rules(app, user, make_user):
    private = add_track(user, "cover.flac")
    public = add_track(user, "tagged.mp3", visibility=Visibility.PUBLIC)
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    assert bob.get(f"/api/tracks/{private.id}").status_code == 404
    assert bob.get(f"/api/albums/{private.album_id}").status_code == 404
    assert bob.get(f"/api/tracks/{public.id}").status_code == 200
    assert report(bob, private.id).status_code == 404
    anonymous = app.test_client()
    response = anonymous.get(f"/api/tracks/{public.id}")
    assert response.status_code == 401
    assert response.get_json()["status"] == 401


def test_a_listen_is_recorded_and_counted(alice, user, db):
    track = add_track(user, "cover.flac")
    response = report(alice, track.id)
    assert response.status_code == 201
    assert response.get_json()["play_count"] == 1
    # A duplicate report moments later (a retry) is the same listen.
    assert report(alice, track.id).get_json()["play_count"] == 1
    assert db.session.scalar(select(func.count(PlayEvent.id))) == 1
    assert "Flac Tone" in alice.get("/library/history").get_data(as_text=True)
    page = alice.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert "<dd data-play-count>1</dd>" in page


def test_listens_need_csrf_and_a_valid_id(alice, user, db):
    track = add_track(user, "cover.flac")
    assert report(alice, track.id, token=None).status_code == 400
    assert report(alice, track.id, token="forged").status_code == 400
    token = csrf_from(alice, "/library")
    for payload in ({"track_id": "1"}, {"track_id": True}, {}, {"track_id": None}):
        assert alice.post("/api/plays", json=payload, headers={"X-CSRFToken": token}).status_code == 400
    assert alice.post("/api/plays", data="not json", headers={"X-CSRFToken": token}).status_code == 400
    assert db.session.scalar(select(func.count(PlayEvent.id))) == 0


def test_history_shows_only_own_listens(app, alice, user, make_user):
    track = add_track(user, "cover.flac", visibility=Visibility.PUBLIC)
    report(alice, track.id)
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    assert "Nothing yet" in bob.get("/library/history").get_data(as_text=True)


# --- the saved play queue (the same one the Subsonic API's savePlayQueue/getPlayQueue use) ---


def test_the_web_players_queue_is_saved_and_restored_on_another_device(app, alice, user):
    from app.services import play_queue

    first, second = add_track(user, "cover.flac"), add_track(user, "tagged.mp3")
    assert alice.get("/api/queue").get_json()["tracks"] == []
    token = csrf_from(alice, "/library")
    payload = {"track_ids": [second.id, first.id], "current": 1, "position_ms": 1500}
    response = alice.post("/api/queue", json=payload, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    # What a Subsonic app reads with getPlayQueue.
    saved = play_queue.saved_queue(user.id)
    assert [t.id for t in saved.tracks] == [second.id, first.id] and saved.current_index == 1
    assert saved.position_ms == 1500 and saved.changed_by == "Music Cloud web player"

    # Another browser: log in afresh and the player finds the queue.
    other = app.test_client()
    login(other, user.username)
    data = other.get("/api/queue").get_json()
    assert [t["id"] for t in data["tracks"]] == [second.id, first.id]
    assert data["tracks"][1]["stream"] == f"/stream/{first.id}"
    assert (data["current"], data["position_ms"], data["changed_by"]) == (1, 1500, "Music Cloud web player")

    response = alice.post("/api/queue", json={"track_ids": []}, headers={"X-CSRFToken": token})
    assert response.status_code == 200 and play_queue.saved_queue(user.id) is None


def test_a_saved_queue_is_checked(alice, bob, user, make_user):
    mine = add_track(user, "cover.flac")
    token = csrf_from(alice, "/library")
    bad = [
        "not json",
        {"track_ids": "1"},
        {"track_ids": [True]},
        {"track_ids": [mine.id], "current": "0"},
        {"track_ids": [mine.id], "position_ms": 1.5},
    ]
    for payload in bad:
        kwargs = {"data": payload} if isinstance(payload, str) else {"json": payload}
        assert alice.post("/api/queue", headers={"X-CSRFToken": token}, **kwargs).status_code == 400, payload
    assert (
        alice.post(
            "/api/queue", json={"track_ids": [mine.id], "current": 1}, headers={"X-CSRFToken": token}
        ).status_code
        == 400
    )
    assert alice.post("/api/queue", json={"track_ids": [mine.id]}).status_code == 400  # no CSRF token
    # Another user's private track is not found, and nothing is saved.
    bob_token = csrf_from(bob, "/library")
    assert bob.post("/api/queue", json={"track_ids": [mine.id]}, headers={"X-CSRFToken": bob_token}).status_code == 404
    assert bob.get("/api/queue").get_json()["tracks"] == []


def test_the_queue_needs_a_login(client):
    assert client.get("/api/queue").status_code == 401
