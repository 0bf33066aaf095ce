"""Stars on album and artist pages and ratings on track and album pages: the same rows the
Subsonic API reads and writes."""

from __future__ import annotations

import re

import pytest

from app.services import stars
from tests import hostile
from tests.helpers import add_track, post_form


@pytest.fixture
def album(user, tmp_path):
    made = []
    for i, title in enumerate(["Ünus", "Duo"]):
        content = hostile.mp3_with_tags(
            tmp_path / f"{i}.mp3", title=title, artist="Numbers", album="Counting", track=str(i + 1)
        )
        made.append(add_track(user, f"{i}.mp3", content=content))
    return made


def star_button(page: str) -> str:
    match = re.search(r'<button type="submit" class="button star" aria-pressed="(\w+)">.*?</svg> (\w+)</button>', page)
    assert match, "no star button"
    return f"{match.group(1)} {match.group(2)}"


def test_star_an_album_and_see_it_on_the_favourites_page(alice, album, user):
    page_url = f"/library/albums/{album[0].album_id}"
    assert star_button(alice.get(page_url).get_data(as_text=True)) == "false Star"
    assert "No starred albums yet." in alice.get("/playlists/favourites").get_data(as_text=True)

    response = post_form(alice, page_url, f"{page_url}/star", {"star": "1", "next": page_url})
    assert response.status_code == 302 and response.headers["Location"] == page_url
    assert star_button(alice.get(page_url).get_data(as_text=True)) == "true Starred"
    favourites = alice.get("/playlists/favourites").get_data(as_text=True)
    assert "<h2>Starred albums</h2>" in favourites and "<bdi>Counting</bdi>" in favourites
    # The Subsonic API's getStarred reads the same rows.
    assert [a.title for a in stars.starred_albums(user.id)] == ["Counting"]

    post_form(alice, page_url, f"{page_url}/star", {"star": "0"})
    assert star_button(alice.get(page_url).get_data(as_text=True)) == "false Star"
    assert "No starred albums yet." in alice.get("/playlists/favourites").get_data(as_text=True)


def test_star_an_artist(alice, album, user):
    page_url = f"/library/artists/{album[0].artist_id}"
    post_form(alice, page_url, f"{page_url}/star", {"star": "1"})
    assert star_button(alice.get(page_url).get_data(as_text=True)) == "true Starred"
    favourites = alice.get("/playlists/favourites").get_data(as_text=True)
    assert "<h2>Starred artists</h2>" in favourites and "<bdi>Numbers</bdi>" in favourites
    assert [a.name for a in stars.starred_artists(user.id)] == ["Numbers"]


def pressed_stars(page: str) -> int:
    return len(re.findall(r'class="icon-button small rating-star" aria-pressed="true"', page))


@pytest.mark.parametrize("kind", ["track", "album"])
def test_rate_and_clear(alice, album, user, kind):
    ident = album[0].id if kind == "track" else album[0].album_id
    page_url = f"/library/{kind}s/{ident}"
    page = alice.get(page_url).get_data(as_text=True)
    assert "Not rated" in page and pressed_stars(page) == 0

    response = post_form(alice, page_url, f"{page_url}/rating", {"rating": "4", "next": page_url})
    assert response.status_code == 302 and response.headers["Location"] == page_url
    page = alice.get(page_url).get_data(as_text=True)
    assert "Rating: 4 of 5" in page and pressed_stars(page) == 4
    assert stars.ratings(user.id, kind, [ident]) == {ident: 4}

    post_form(alice, page_url, f"{page_url}/rating", {"rating": "0"})
    page = alice.get(page_url).get_data(as_text=True)
    assert "Not rated" in page and pressed_stars(page) == 0
    assert stars.ratings(user.id, kind, [ident]) == {}


def test_a_rating_out_of_range_or_without_the_form_token_is_refused(alice, album, user):
    page_url = f"/library/tracks/{album[0].id}"
    assert post_form(alice, page_url, f"{page_url}/rating", {"rating": "6"}).status_code == 400
    assert post_form(alice, page_url, f"{page_url}/rating", {"rating": "x"}).status_code == 400
    assert alice.post(f"{page_url}/rating", data={"rating": "3"}).status_code == 400
    assert alice.post(f"/library/albums/{album[0].album_id}/star", data={"star": "1"}).status_code == 400
    assert stars.ratings(user.id, "track", None) == {}
    assert stars.starred_albums(user.id) == []


def test_another_users_private_album_cannot_be_starred_or_rated(alice, bob, album):
    track = album[0]
    for url, data in [
        (f"/library/albums/{track.album_id}/star", {"star": "1"}),
        (f"/library/artists/{track.artist_id}/star", {"star": "1"}),
        (f"/library/albums/{track.album_id}/rating", {"rating": "3"}),
        (f"/library/tracks/{track.id}/rating", {"rating": "3"}),
    ]:
        assert post_form(bob, "/library", url, data).status_code == 404, url


def test_anonymous_is_sent_to_login(client, album):
    response = post_form(client, "/auth/login", f"/library/albums/{album[0].album_id}/star", {"star": "1"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
