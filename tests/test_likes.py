"""Likes and dislikes: the row and track-page forms, the player's /api route, the undo,
the dimmed rows, and the access rules (another account's private track does not exist)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from app.models import AccessScope, Visibility
from app.services import credentials, likes, playlists, stars
from app.subsonic import objects
from app.unit_of_work import commit
from tests.helpers import add_track, csrf_from, post_form


def like_buttons(page: str, track_id: int) -> dict[str, str]:
    """{"like": aria-pressed, "dislike": aria-pressed} of the like forms of one track on a page."""
    found = {}
    for form in re.findall(rf'<form method="post" action="/library/tracks/{track_id}/like".*?</form>', page, re.S):
        kind, pressed = re.search(r'data-like-kind="(\w+)" aria-pressed="(\w+)"', form).groups()
        found[kind] = pressed
    return found


def row_of(page: str, track_id: int) -> str:
    match = re.search(rf'<tr data-track-id="{track_id}"[^>]*>', page)
    assert match, f"no row for track {track_id}"
    return match.group(0)


def test_like_dislike_and_undo_through_the_forms(alice, user):
    track = add_track(user, "tagged.mp3")
    page_url = f"/library/tracks/{track.id}"
    assert like_buttons(alice.get(page_url).get_data(as_text=True), track.id) == {"like": "false", "dislike": "false"}

    response = post_form(alice, page_url, f"{page_url}/like", {"value": "like", "next": page_url})
    assert response.status_code == 302 and response.headers["Location"] == page_url
    assert like_buttons(alice.get(page_url).get_data(as_text=True), track.id) == {"like": "true", "dislike": "false"}
    assert likes.state(user.id, [track.id]) == {track.id: "like"}

    # A dislike replaces the like; the library row shows it, dimmed.
    post_form(alice, page_url, f"{page_url}/like", {"value": "dislike"})
    library = alice.get("/library").get_data(as_text=True)
    assert like_buttons(library, track.id) == {"like": "false", "dislike": "true"}
    assert 'class="disliked"' in row_of(library, track.id)
    # The pressed button's form undoes: it posts "none".
    assert re.search(r'name="value" value="none">\s*<button type="submit" class="icon-button small dislike"', library)

    post_form(alice, page_url, f"{page_url}/like", {"value": "none"})
    library = alice.get("/library").get_data(as_text=True)
    assert like_buttons(library, track.id) == {"like": "false", "dislike": "false"}
    assert "disliked" not in row_of(library, track.id)
    assert likes.state(user.id, [track.id]) == {}


def test_the_dimming_is_a_setting(alice, user):
    track = add_track(user, "tagged.mp3")
    likes.dislike(user.id, track.id)
    assert 'class="disliked"' in row_of(alice.get("/library").get_data(as_text=True), track.id)
    response = post_form(alice, "/account", "/account/preferences", {"pref-language": "", "pref-timezone": ""})
    assert response.status_code == 302
    library = alice.get("/library").get_data(as_text=True)
    assert "disliked" not in row_of(library, track.id)
    # Still disliked, just not dimmed.
    assert like_buttons(library, track.id)["dislike"] == "true"
    post_form(
        alice, "/account", "/account/preferences", {"pref-language": "", "pref-timezone": "", "pref-dim_disliked": "y"}
    )
    assert 'class="disliked"' in row_of(alice.get("/library").get_data(as_text=True), track.id)


def test_the_players_api(alice, user):
    track = add_track(user, "tagged.mp3")
    token = csrf_from(alice, "/library")
    headers = {"X-CSRFToken": token}
    assert alice.get(f"/api/tracks/{track.id}").get_json()["like"] == "none"
    response = alice.post(f"/api/tracks/{track.id}/like", json={"value": "like"}, headers=headers)
    assert response.status_code == 200 and response.get_json() == {"track_id": track.id, "like": "like"}
    assert alice.get(f"/api/tracks/{track.id}").get_json()["like"] == "like"
    # Twice is the same.
    assert alice.post(f"/api/tracks/{track.id}/like", json={"value": "like"}, headers=headers).status_code == 200
    assert likes.counts(track.id) == (1, 0)
    assert (
        alice.post(f"/api/tracks/{track.id}/like", json={"value": "none"}, headers=headers).get_json()["like"] == "none"
    )
    assert likes.counts(track.id) == (0, 0)

    for bad in ({"value": "love"}, {"value": 1}, {}, ["like"]):
        assert alice.post(f"/api/tracks/{track.id}/like", json=bad, headers=headers).status_code == 400
    assert alice.post(f"/api/tracks/{track.id}/like", data="nope", headers=headers).status_code == 400
    # No CSRF token: refused, nothing written.
    assert alice.post(f"/api/tracks/{track.id}/like", json={"value": "dislike"}).status_code == 400
    assert likes.state(user.id, [track.id]) == {}


def test_another_accounts_private_track_cannot_be_liked(app, alice, bob, user, make_user):
    mine = add_track(user, "tagged.mp3")
    shared = add_track(user, "tagged.flac", visibility=Visibility.PUBLIC)
    token = csrf_from(bob, "/library")
    headers = {"X-CSRFToken": token}
    assert bob.post(f"/api/tracks/{mine.id}/like", json={"value": "like"}, headers=headers).status_code == 404
    assert bob.post(f"/api/tracks/{shared.id}/like", json={"value": "dislike"}, headers=headers).status_code == 200
    form = {"value": "like", "csrf_token": token}
    assert bob.post(f"/library/tracks/{mine.id}/like", data=form).status_code == 404
    assert likes.counts(mine.id) == (0, 0)
    assert likes.counts(shared.id) == (0, 1)
    # Bob's dislike is his: Alice sees her own state only.
    assert like_buttons(alice.get("/library").get_data(as_text=True), shared.id) == {
        "like": "false",
        "dislike": "false",
    }


def test_bad_form_values_are_refused(alice, user):
    track = add_track(user, "tagged.mp3")
    page_url = f"/library/tracks/{track.id}"
    assert post_form(alice, page_url, f"{page_url}/like", {"value": "meh"}).status_code == 400
    assert post_form(alice, page_url, "/library/tracks/999999/like", {"value": "like"}).status_code == 404
    assert likes.state(user.id, [track.id]) == {}


def test_many_devices_liking_and_starring_the_same_track_at_once_never_fail(make_app, make_user):
    """Two phones and a browser sending the same like, heart or star at the same moment:
    every answer is a success (no 500, no "deleted by another request") and the last
    state is what the requests asked for."""
    app = make_app(API_LIMIT_UPDATE="100000 per minute")
    with app.app_context():
        alice = make_user("alice")
        track = add_track(alice, "tagged.mp3")
        _row, token = credentials.create_access_token(alice, "phone", AccessScope.WRITE)
        _row, password = credentials.create_app_password(alice.id, "Phone")
        commit()
        user_id, track_id, album_id = alice.id, track.id, track.album_id
    bearer = {"Authorization": f"Bearer {token}"}
    subsonic = {"u": "alice", "p": password, "v": "1.16.1", "c": "tests", "f": "json"}

    def device(number: int) -> list[str]:
        client = app.test_client()
        answers = []
        for round_ in range(6):
            on = (number + round_) % 2 == 0
            response = (client.put if on else client.delete)(f"/api/v1/tracks/{track_id}/like", headers=bearer)
            answers.append(f"like {response.status_code}")
            method = "star" if on else "unstar"
            for ids in ({"id": str(track_id)}, {"albumId": objects.album_id(album_id)}):
                body = client.get(f"/rest/{method}", query_string={**subsonic, **ids}).get_json()
                answer = body["subsonic-response"]
                answers.append(f"{method} {answer['status']} {answer.get('error', '')}")
        return answers

    with ThreadPoolExecutor(6) as pool:
        answers = [a for one in pool.map(device, range(6)) for a in one]
    assert {a.split()[1] for a in answers} <= {"200", "ok"}, sorted(set(answers))

    # Everyone ends in agreement: one more request from a quiet moment decides.
    client = app.test_client()
    assert client.put(f"/api/v1/tracks/{track_id}/like", headers=bearer).get_json()["state"] == "like"
    client.get("/rest/unstar", query_string={**subsonic, "id": str(track_id), "albumId": objects.album_id(album_id)})
    with app.app_context():
        assert likes.state(user_id, [track_id]) == {track_id: "like"}
        assert playlists.favourite_ids(user_id, [track_id]) == set()
        assert stars.album_star_times(user_id, [album_id]) == {}
