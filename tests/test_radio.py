"""Radio through /api/radio: endless from a track, an artist or a genre, never a repeat within
the session, never a disliked track, never another account's private track, and skips steer."""

from __future__ import annotations

import pytest

from app.models import Visibility
from app.services import likes
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track, csrf_from, login


@pytest.fixture
def library(user, make_user, tmp_path):
    """Alice's public tracks by three artists, one private track of hers, and Bob's private track."""
    bob = make_user("bob")
    made = {}
    specs = [
        ("A1", "Ann", "Folk", 1970), ("A2", "Ann", "Folk", 1971), ("A3", "Ann", "Folk", 1972),
        ("B1", "Ben", "Folk", 1990), ("B2", "Ben", "Folk", 1991),
        ("C1", "Cat", "Metal", 2010), ("C2", "Cat", "Metal", 2011),
    ]  # fmt: skip
    for i, (title, artist, genre, year) in enumerate(specs):
        content = hostile.mp3_with_tags(
            tmp_path / f"{i}.mp3", title=title, artist=artist, album=artist, genre=genre, year=str(year)
        )
        made[title] = add_track(user, f"{i}.mp3", visibility=Visibility.PUBLIC, content=content)
    content = hostile.mp3_with_tags(tmp_path / "bob.mp3", title="Bob secret", artist="Ann", album="x", genre="Folk")
    made["bob"] = add_track(bob, "bob.mp3", content=content)
    made["bob_user"] = bob
    return made


def ask(client, token, seed, played=(), skipped=(), count=10):
    body = {"seed": seed, "played": list(played), "skipped": list(skipped), "count": count}
    response = client.post("/api/radio", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [t["title"] for t in response.get_json()["tracks"]]


def test_a_track_radio_plays_on_without_repeats(alice, library):
    token = csrf_from(alice, "/library")
    ids = {t.title: t.id for t in library.values() if hasattr(t, "title")}
    first = ask(alice, token, {"kind": "track", "value": ids["A1"]}, played=[ids["A1"]], count=3)
    # The same artist first, the seed itself never again.
    assert first == ["A2", "A3", "B1"]
    played = [ids["A1"], *(ids[t] for t in first)]
    rest = ask(alice, token, {"kind": "track", "value": ids["A1"]}, played=played, count=10)
    assert set(rest) == {"B2", "C1", "C2"} and not set(rest) & set(first)
    # Everything played: the radio has nothing left rather than a repeat.
    assert ask(alice, token, {"kind": "track", "value": ids["A1"]}, played=played + [ids[t] for t in rest]) == []


def test_dislikes_skips_and_privacy(alice, user, library):
    token = csrf_from(alice, "/library")
    a1 = library["A1"]
    likes.dislike(user.id, library["A2"].id)
    commit()
    titles = ask(alice, token, {"kind": "artist", "value": a1.artist_id})
    assert "A2" not in titles and "Bob secret" not in titles
    assert titles[:2] == ["A1", "A3"]
    # A skipped Ben track sends the other Ben track below Cat's.
    skipped = ask(alice, token, {"kind": "genre", "value": "folk"}, played=[a1.id], skipped=[library["B1"].id])
    assert "B1" not in skipped and skipped.index("B2") > skipped.index("A3")


def test_bobs_radio_has_his_private_track_but_never_alices(app, library, make_user):
    bob = app.test_client()
    login(bob, "bob")
    token = csrf_from(bob, "/library")
    titles = ask(bob, token, {"kind": "genre", "value": "Folk"}, count=25)
    assert "Bob secret" in titles
    seed_private = {"kind": "track", "value": library["bob"].id}
    alice_client = app.test_client()
    login(alice_client, "alice")
    alice_token = csrf_from(alice_client, "/library")
    response = alice_client.post("/api/radio", json={"seed": seed_private}, headers={"X-CSRFToken": alice_token})
    assert response.status_code == 404


def test_bad_radio_requests(alice, library):
    token = csrf_from(alice, "/library")
    headers = {"X-CSRFToken": token}
    for body in (
        {},
        {"seed": {"kind": "mood", "value": 1}},
        {"seed": {"kind": "track", "value": "1"}},
        {"seed": {"kind": "track", "value": 2**40}},
        {"seed": {"kind": "genre", "value": 5}},
        {"seed": {"kind": "track", "value": library["A1"].id}, "played": [2**63]},
        {"seed": {"kind": "track", "value": library["A1"].id}, "skipped": "x"},
        {"seed": {"kind": "track", "value": library["A1"].id}, "count": "ten"},
    ):
        assert alice.post("/api/radio", json=body, headers=headers).status_code == 400, body
    assert (
        alice.post("/api/radio", json={"seed": {"kind": "genre", "value": "Polka"}}, headers=headers).status_code == 404
    )
    assert alice.post("/api/radio", json={"seed": {"kind": "track", "value": library["A1"].id}}).status_code == 400


def test_artist_and_genre_radios_start_with_the_seeds_visible_liked_tracks(alice, user, library):
    token = csrf_from(alice, "/library")
    likes.dislike(user.id, library["C1"].id)
    likes.dislike(user.id, library["A3"].id)
    commit()
    # The pages' buttons carry the seeds.
    artist_page = alice.get(f"/library/artists/{library['A1'].artist_id}").get_data(as_text=True)
    assert f"""data-radio='{{"kind": "artist", "value": {library["A1"].artist_id}}}'""" in artist_page
    genre_page = alice.get("/library?genre=Metal").get_data(as_text=True)
    assert """data-radio='{"kind": "genre", "value": "Metal"}'""" in genre_page

    titles = ask(alice, token, {"kind": "genre", "value": "Metal"})
    assert titles[0] == "C2" and "C1" not in titles
    titles = ask(alice, token, {"kind": "artist", "value": library["A1"].artist_id})
    assert titles[:2] == ["A1", "A2"] and "A3" not in titles and "Bob secret" not in titles
    # The whole radio, to its end: never a disliked or a private track, never twice.
    played: list[int] = []
    ids = {t.title: t.id for t in library.values() if hasattr(t, "title")}
    while batch := ask(alice, token, {"kind": "genre", "value": "folk"}, played=played, count=2):
        played += [ids[t] for t in batch]
    assert len(played) == len(set(played)) == 5 and ids["A3"] not in played and ids["C1"] not in played


def test_shuffle_by_recommendation_never_plays_a_disliked_track(app, alice, user, library):
    token = csrf_from(alice, "/library/for-you")
    assert "Shuffle (recommended)" in alice.get("/library/for-you").get_data(as_text=True)
    ids = {t.title: t.id for t in library.values() if hasattr(t, "title")}
    # No history yet: it still plays (tracks she can see, at random), never Bob's private one.
    first = ask(alice, token, {"kind": "recommended"}, count=25)
    assert sorted(first) == ["A1", "A2", "A3", "B1", "B2", "C1", "C2"]

    likes.like(user.id, ids["C1"])
    likes.dislike(user.id, ids["A2"])
    likes.dislike(user.id, ids["C2"])
    commit()
    for _ in range(3):  # shuffled: three runs, each to its end
        played: list[int] = []
        while batch := ask(alice, token, {"kind": "recommended"}, played=played, count=2):
            played += [ids[t] for t in batch]
        titles = [t for t, i in ids.items() for p in played if p == i]
        assert len(played) == len(set(played)) == 5, titles
        assert "A2" not in titles and "C2" not in titles
    # Her favourite (the liked C1) and its like come first.
    first = ask(alice, token, {"kind": "recommended"}, count=1)
    assert first == ["C1"]

    bob = app.test_client()
    login(bob, "bob")
    bob_titles = ask(bob, csrf_from(bob, "/library"), {"kind": "recommended"}, count=25)
    assert "Bob secret" in bob_titles
    assert (
        alice.post(
            "/api/radio", json={"seed": {"kind": "recommended", "value": 1}}, headers={"X-CSRFToken": token}
        ).status_code
        == 400
    )
