"""Ranked search (services/search.py) through the REST API and the library page:
the ranking order, one typo forgiven in a long word, case and accents ignored,
highlights escaped, facets counted over what the user may see. On SQLite and
PostgreSQL (real uploads, real tags)."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.jobs import tasks
from app.models import AccessScope, SearchWord, Visibility
from app.services import credentials
from app.services.library import editing
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track, login


@pytest.fixture
def make_track(tmp_path):
    made = 0

    def factory(owner, title, artist, album="Singles", genre=None, year=None, visibility=Visibility.PRIVATE):
        nonlocal made
        made += 1
        content = hostile.mp3_with_tags(
            tmp_path / f"{made}.mp3", title=title, artist=artist, album=album, genre=genre, year=year
        )
        return add_track(owner, f"{made}.mp3", visibility=visibility, content=content)

    return factory


@pytest.fixture
def token(user):
    _row, plain = credentials.create_access_token(user, "test", AccessScope.READ)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def api_search(client, token, q, **params):
    response = client.get("/api/v1/search", query_string={"q": q, **params}, headers=token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def titles(body) -> list[str]:
    return [t["title"] for t in body["data"]]


@pytest.fixture
def crafted(user, make_track):
    """A library where "River" sits in every field, at every rank."""
    make_track(user, "Songs of the River Valley", "Ann", genre="Folk")  # in the title
    make_track(user, "Quiet", "Bob", album="River", genre="Folk")  # exact album
    make_track(user, "Morning", "River", genre="Folk")  # exact artist
    make_track(user, "River", "Carl", genre="Folk")  # exact title
    make_track(user, "Evening", "Rivers and Roads", genre="Folk")  # part of the artist
    make_track(user, "Night", "Dora", genre="River Rock")  # the genre only
    make_track(user, "Nothing", "Here", genre="Folk")  # no match


def test_ranking_order_on_the_api(client, token, crafted):
    body = api_search(client, token, "river")
    assert titles(body) == ["River", "Morning", "Quiet", "Songs of the River Valley", "Evening", "Night"]
    scores = [t["score"] for t in body["data"]]
    assert scores == sorted(scores, reverse=True)
    assert body["meta"]["total"] == 6


def test_free_tags_rank_below_the_tags_and_above_the_description(client, token, user, crafted, make_track):
    """The issue's order: an exact title, an exact artist, a partial title, ..., a free
    tag, the description. Free tags and descriptions are set as the edit page sets them."""
    tagged = make_track(user, "Afternoon", "Eli", genre="Folk")
    editing.set_metadata(tagged, tags=["River songs", "calm"])
    described = make_track(user, "Dusk", "Fay", genre="Folk")
    editing.set_metadata(described, description="Recorded by a river at dusk, near Lisbon.")
    commit()
    body = api_search(client, token, "river")
    assert titles(body) == [
        "River",
        "Morning",
        "Quiet",
        "Songs of the River Valley",
        "Evening",
        "Night",
        "Afternoon",
        "Dusk",
    ]
    by_title = {t["title"]: t for t in body["data"]}
    assert by_title["Afternoon"]["highlight"]["tags"] == "<mark>River</mark> songs, calm"
    assert by_title["Dusk"]["highlight"]["description"] == "Recorded by a <mark>river</mark> at dusk, near Lisbon."
    # A typo in a tag's word is forgiven like one in a title; removing the tag forgets it.
    assert titles(api_search(client, token, "lisbon")) == ["Dusk"]
    assert titles(api_search(client, token, "lisbno")) == ["Dusk"]
    assert titles(api_search(client, token, "lsibno")) == []
    editing.set_metadata(tagged, tags=["calm"])
    editing.set_metadata(described, description="")
    commit()
    assert "Afternoon" not in titles(api_search(client, token, "river"))
    assert titles(api_search(client, token, "lisbon")) == []


def test_a_free_tag_with_markup_is_highlighted_as_text(client, token, user, make_track):
    track = make_track(user, "Plain", "Gus")
    editing.set_metadata(track, tags=["<script>x</script>"], description="<img src=x onerror=alert(1)> loud")
    commit()
    hit = api_search(client, token, "script")["data"][0]
    assert hit["highlight"]["tags"] == "&lt;<mark>script</mark>&gt;x&lt;/<mark>script</mark>&gt;"
    hit = api_search(client, token, "loud")["data"][0]
    assert hit["highlight"]["description"] == "&lt;img src=x onerror=alert(1)&gt; <mark>loud</mark>"


def test_the_library_page_shows_the_same_order_with_highlights(client, user, crafted):
    login(client, "alice")
    page = client.get("/library?q=RIVER").get_data(as_text=True)
    shown = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r'class="title-cell".*?<bdi>(.*?)</bdi>', page, re.S)]
    assert shown == ["River", "Morning", "Quiet", "Songs of the River Valley", "Evening", "Night"]
    assert "<bdi><mark>River</mark></bdi>" in page
    assert "Songs of the <mark>River</mark> Valley" in page


def test_one_typo_in_a_long_word_accents_and_case(client, token, user, make_track):
    make_track(user, "Let It Be", "The Beatles", genre="Rock")
    make_track(user, "Halo", "Beyoncé", genre="Pop")
    make_track(user, "Rock Lobster", "The B-52's", genre="Rock")
    body = api_search(client, token, "beatels")
    assert titles(body) == ["Let It Be"]
    assert body["meta"]["terms"] == {"beatels": ["beatels", "beatles"]}
    assert body["data"][0]["highlight"]["artist"] == "The <mark>Beatles</mark>"
    assert titles(api_search(client, token, "BEYONCE")) == ["Halo"]
    assert api_search(client, token, "beyonce")["data"][0]["highlight"]["artist"] == "<mark>Beyoncé</mark>"
    assert titles(api_search(client, token, "Béatles")) == ["Let It Be"]
    # Two typos, or one in a word of four letters, find nothing.
    assert titles(api_search(client, token, "baetels")) == []
    assert titles(api_search(client, token, "rokc")) == []
    assert titles(api_search(client, token, "rock")) == ["Rock Lobster", "Let It Be"]


def test_highlights_come_back_escaped(client, token, user, make_track):
    make_track(user, "<script>alert(1)</script> Song", "Eve & <b>Co</b>")
    body = api_search(client, token, "script")
    hit = body["data"][0]
    assert hit["title"] == "<script>alert(1)</script> Song"
    assert hit["highlight"]["title"] == "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; Song"
    artist = api_search(client, token, "co")["data"][0]["highlight"]["artist"]
    assert artist == "Eve &amp; &lt;b&gt;<mark>Co</mark>&lt;/b&gt;"
    login(client, "alice")
    page = client.get("/library?q=script").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;<mark>script</mark>&gt;alert(1)" in page


def test_facets_count_only_what_the_user_may_see(client, token, user, make_user, make_track):
    make_track(user, "Blue Moon", "Ann", genre="Jazz", year="1961")
    make_track(user, "Blue Sky", "Ann", genre="Jazz", year="1995")
    make_track(user, "Blue Train", "Bob", genre="Blues", year="1998")
    bob = make_user("bob")
    make_track(bob, "Blue Secret", "Ann", genre="Jazz", year="1999")  # private: never counted
    make_track(bob, "Blue Public", "Carl", genre="Soul", year="2004", visibility=Visibility.PUBLIC)
    body = api_search(client, token, "blue")
    assert sorted(titles(body)) == ["Blue Moon", "Blue Public", "Blue Sky", "Blue Train"]
    facets = body["facets"]
    assert [(f["label"], f["count"]) for f in facets["genre"]] == [("Jazz", 2), ("Blues", 1), ("Soul", 1)]
    assert [(f["label"], f["count"]) for f in facets["artist"]] == [("Ann", 2), ("Bob", 1), ("Carl", 1)]
    assert [(f["value"], f["count"]) for f in facets["format"]] == [("mp3", 4)]
    assert [(f["value"], f["label"], f["count"]) for f in facets["decade"]] == [
        (1960, "1960s", 1),
        (1990, "1990s", 2),
        (2000, "2000s", 1),
    ]
    # A facet's value is the filter that narrows to it.
    narrowed = api_search(client, token, "blue", decade=1990)
    assert sorted(titles(narrowed)) == ["Blue Sky", "Blue Train"]
    ann = facets["artist"][0]["value"]
    assert sorted(titles(api_search(client, token, "blue", artist_id=ann))) == ["Blue Moon", "Blue Sky"]
    assert titles(api_search(client, token, "blue", genre="soul")) == ["Blue Public"]
    # Another account's private track is not found by its own words either.
    assert api_search(client, token, "secret")["meta"]["total"] == 0


def test_the_library_page_lists_facets_as_filters(client, user, make_track):
    make_track(user, "Blue Moon", "Ann", genre="Jazz", year="1961")
    make_track(user, "Blue Sky", "Ann", genre="Jazz", year="1995")
    make_track(user, "Blue Train", "Bob", genre="Blues", year="1998")
    login(client, "alice")
    page = client.get("/library?q=blue").get_data(as_text=True)
    facets = re.search(r'<nav class="facets".*?</nav>', page, re.S).group(0)
    link = re.search(r'href="([^"]*decade=1990[^"]*)"[^>]*><bdi>1990s</bdi> <span class="count">2</span>', facets)
    assert link, facets
    narrowed = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Blue Sky" in narrowed and "Blue Train" in narrowed and "Blue Moon" not in narrowed


def test_a_bad_query_is_a_422_not_a_500(client, token):
    assert client.get("/api/v1/search", headers=token).status_code == 422
    assert client.get("/api/v1/search?q=", headers=token).status_code == 422
    assert client.get("/api/v1/search?q=a&decade=12345", headers=token).status_code == 422
    assert client.get("/api/v1/search?q=%00%25_", headers=token).status_code == 200


def test_the_vocabulary_follows_edits_and_can_be_rebuilt(client, token, user, make_track):
    track = make_track(user, "Untitled", "Nobody")
    editing.update_track(track, visibility=track.visibility, title="Wonderwall")
    commit()
    assert titles(api_search(client, token, "wonderwal")) == ["Wonderwall"]
    editing.delete_track(track)
    commit()
    assert db.session.get(SearchWord, ("wonderwall", "wonderwall")) is not None
    # The nightly job drops the words no track has any more.
    assert any(p.job == "rebuild_search_words" for p in tasks.PERIODIC)
    assert tasks.TASKS["rebuild_search_words"]() == {"words": 0}
    commit()
    assert db.session.get(SearchWord, ("wonderwall", "wonderwall")) is None


def test_subsonic_search3_uses_the_same_order_and_forgives_typos(client, user, crafted, make_track):
    _row, password = credentials.create_app_password(user.id, "Phone")
    commit()
    make_track(user, "Let It Be", "The Beatles")

    def songs(query):
        params = {"v": "1.16.1", "c": "tests", "f": "json", "u": "alice", "p": password, "query": query}
        body = client.get("/rest/search3", query_string={**params, "artistCount": 0, "albumCount": 0}).get_json()
        return [s["title"] for s in body["subsonic-response"]["searchResult3"].get("song", [])]

    assert songs("river") == ["River", "Morning", "Quiet", "Songs of the River Valley", "Evening", "Night"]
    assert songs("beatels") == ["Let It Be"]
