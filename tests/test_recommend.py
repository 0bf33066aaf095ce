"""Similar tracks: content (artist, genre, era) and co-listening (sessions, from three
distinct people up), on the track page and through the Subsonic API, never another
account's private track, never a disliked one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CoListen, PlayEvent, Visibility
from app.models.types import utcnow
from app.services import credentials, history, likes, listening, playlists, recommend
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track


@pytest.fixture
def make_track(tmp_path):
    made = 0

    def factory(owner, title, artist, genre, year, visibility=Visibility.PUBLIC):
        nonlocal made
        made += 1
        content = hostile.mp3_with_tags(
            tmp_path / f"{made}.mp3", title=title, artist=artist, album=f"{artist} album", genre=genre, year=str(year)
        )
        return add_track(owner, f"{made}.mp3", visibility=visibility, content=content)

    return factory


def similar_titles(user, track) -> list[str]:
    return [s.track.title for s in recommend.similar_tracks(user.id, track.id)]


def similar_section(page: str) -> str:
    return page[page.index("Similar tracks") :]


def listen(user, *tracks) -> None:
    """One listening session: the tracks one after the other, as the player reports them."""
    for track in tracks:
        listening.record_play(user.id, track.id)
        commit()


def test_content_similarity_is_explained_and_follows_the_access_rules(app, alice, user, make_user, make_track):
    bob = make_user("bob")
    seed = make_track(user, "Seed", "Xavier", "Rock", 1990)
    mine = make_track(user, "Mine", "Xavier", "Rock", 1991, Visibility.PRIVATE)
    same_genre = make_track(user, "Genre mate", "Other", "Rock", 2020)
    make_track(user, "Unrelated", "Nobody", "Jazz", 1950)
    bobs = make_track(bob, "Bob's secret", "Xavier", "Rock", 1990, Visibility.PRIVATE)

    assert similar_titles(user, seed) == ["Mine", "Genre mate"]
    # Bob sees the public ones and his own private track, never Alice's.
    assert similar_titles(bob, seed) == ["Bob's secret", "Genre mate"]

    page = similar_section(alice.get(f"/library/tracks/{seed.id}").get_data(as_text=True))
    assert re.search(
        r"<bdi>Mine</bdi></a>\s*— <bdi>Xavier</bdi>\s*"
        r"<span class=\"reason\">\(by the same artist · same genre and era\)",
        page,
    )
    assert "(same genre)" in page and "Bob&#39;s secret" not in page and "Unrelated" not in page
    assert str(bobs.id) not in re.findall(r'data-track-id="(\d+)"', page)
    # A disliked track is left out.
    likes.dislike(user.id, same_genre.id)
    commit()
    assert similar_titles(user, seed) == ["Mine"]
    assert mine.id in {s.track.id for s in recommend.similar_tracks(user.id, seed.id)}


def test_co_listening_counts_from_three_people(app, alice, user, make_user, make_track):
    a = make_track(user, "Alpha", "Ann", "Folk", 1970)
    b = make_track(user, "Beta", "Ben", "Techno", 2015)
    make_track(user, "Gamma", "Gus", "Metal", 1985)
    people = [make_user(name) for name in ("bob", "carol", "dave")]

    listen(people[0], a, b)
    listen(people[1], b, a)
    # Two people: not shown, not even stored.
    assert similar_titles(user, a) == []
    assert app.extensions["sqlalchemy"].session.query(CoListen).count() == 0
    assert "Beta" not in similar_section(alice.get(f"/library/tracks/{a.id}").get_data(as_text=True))

    listen(people[2], a, b)
    assert similar_titles(user, a) == ["Beta"]
    assert similar_titles(user, b) == ["Alpha"]
    page = similar_section(alice.get(f"/library/tracks/{a.id}").get_data(as_text=True))
    assert "<bdi>Beta</bdi>" in page and "(listened together by 3 people)" in page

    # The track turns private: nobody else is shown it, whatever the table says.
    b.visibility = Visibility.PRIVATE
    commit()
    assert similar_titles(people[0], a) == []
    # A recompute drops it: only public tracks count.
    recommend.update_co_listens([a.id, b.id])
    commit()
    assert app.extensions["sqlalchemy"].session.query(CoListen).count() == 0


def test_a_private_track_never_counts_as_co_listened(app, user, make_user, make_track):
    a = make_track(user, "Alpha", "Ann", "Folk", 1970)
    people = [make_user(name) for name in ("bob", "carol", "dave")]
    secret = [
        make_track(person, f"Secret {i}", "Sid", "Noise", 2001, Visibility.PRIVATE) for i, person in enumerate(people)
    ]
    for person, own in zip(people, secret, strict=True):
        listen(person, a, own)
    recommend.rebuild_all()
    commit()
    for person in people:
        assert all(
            s.track.id not in {t.id for t in secret} or s.track.owner_id == person.id
            for s in recommend.similar_tracks(person.id, a.id)
        )
    assert app.extensions["sqlalchemy"].session.query(CoListen).count() == 0


def test_subsonic_similar_songs_use_the_recommender(app, client, user, make_user, make_track):
    bob = make_user("bob")
    _row, password = credentials.create_app_password(bob.id, "Phone")
    commit()
    seed = make_track(user, "Seed", "Xavier", "Rock", 1990)
    make_track(user, "Alice's own", "Xavier", "Rock", 1990, Visibility.PRIVATE)
    make_track(bob, "Bob's own", "Xavier", "Rock", 1991, Visibility.PRIVATE)
    make_track(user, "Public mate", "Xavier", "Pop", 2024)
    disliked = make_track(user, "Disliked", "Xavier", "Rock", 1990)
    likes.dislike(bob.id, disliked.id)
    commit()
    query = {"u": "bob", "p": password, "v": "1.16.1", "c": "tests", "f": "json", "id": str(seed.id)}
    for method, key in (("getSimilarSongs2", "similarSongs2"), ("getSimilarSongs", "similarSongs")):
        body = client.get(f"/rest/{method}", query_string=query).get_json()["subsonic-response"]
        titles = [song["title"] for song in body[key]["song"]]
        # Ranked by the recommender: same artist, genre and era first; never Alice's private
        # track, nor one Bob disliked.
        assert titles == ["Bob's own", "Public mate"], titles


def test_the_nightly_rebuild_gives_the_same_rows_as_the_per_event_updates(app, user, make_user, make_track):
    tracks = [make_track(user, f"T{i}", f"Artist {i}", f"Genre {i}", 1950 + 10 * i) for i in range(5)]
    private = make_track(user, "Private", "P", "P", 2000, Visibility.PRIVATE)
    people = [make_user(name) for name in ("bob", "carol", "dave", "erin")]
    listen(people[0], tracks[0], tracks[1], tracks[2])
    listen(people[1], tracks[1], tracks[0], tracks[0])
    listen(people[2], tracks[0], tracks[1], tracks[3], tracks[2])
    listen(user, tracks[0], private, tracks[1])
    liked = playlists.create(people[3].id, "Mine")
    commit()
    playlists.add_tracks(people[3].id, liked.id, [tracks[0].id, tracks[2].id, tracks[1].id])
    likes.like(people[3].id, tracks[4].id)
    likes.like(people[3].id, tracks[0].id)
    likes.dislike(people[2].id, tracks[3].id)
    commit()

    def rows():
        found = db.session.execute(select(CoListen.track_id, CoListen.other_id, CoListen.listeners, CoListen.score))
        return sorted((a, b, n, round(score, 9)) for a, b, n, score in found)

    recommend.update_co_listens([t.id for t in [*tracks, private]])
    commit()
    per_event = rows()
    assert per_event, "the community makes some pairs"
    assert (tracks[0].id, tracks[1].id, 5, per_event[0][3]) in per_event
    assert all(private.id not in (a, b) for a, b, _, _ in per_event)
    recommend.rebuild_all()
    commit()
    assert rows() == per_event


def _co_listen_rows():
    found = db.session.execute(select(CoListen.track_id, CoListen.other_id, CoListen.listeners, CoListen.score))
    return sorted((a, b, n, round(score, 9)) for a, b, n, score in found)


def _earlier(user, minutes: int) -> None:
    """Move the user's listens so far back in time: what they play next starts a new session."""
    for event in db.session.scalars(select(PlayEvent).where(PlayEvent.user_id == user.id)):
        event.played_at -= timedelta(minutes=minutes)
    commit()


def test_each_listen_updates_its_pairs_as_the_nightly_rebuild_would(app, user, make_user, make_track):
    tracks = [make_track(user, f"T{i}", f"Artist {i}", f"Genre {i}", 1950 + 10 * i) for i in range(6)]
    private = make_track(user, "Private", "P", "P", 2000, Visibility.PRIVATE)
    people = [make_user(name) for name in ("bob", "carol", "dave", "erin")]
    likes.dislike(people[2].id, tracks[3].id)
    commit()
    # Sessions: each person's listens, then an hour later another session of theirs.
    listen(people[0], tracks[0], tracks[1], tracks[2])
    listen(people[1], tracks[1], tracks[0], tracks[0])
    listen(people[2], tracks[0], tracks[1], tracks[3], tracks[2])
    listen(user, tracks[0], private, tracks[1])
    for person in (*people, user):
        _earlier(person, 60)
    listen(people[0], tracks[4], tracks[0])
    listen(people[1], tracks[4], tracks[2], tracks[0])
    listen(people[2], tracks[0], tracks[4])
    listen(people[3], tracks[4], tracks[0], tracks[5], tracks[1])
    per_listen = _co_listen_rows()
    # Only the listens' own pairs were recomputed, yet the table is the rebuild's.
    assert (tracks[0].id, tracks[1].id, 5, per_listen[0][3]) in per_listen
    assert any(a == tracks[0].id and b == tracks[4].id and n == 4 for a, b, n, _ in per_listen)
    # T2 and T4 met in one session only (carol's second): no pair.
    assert all({a, b} != {tracks[2].id, tracks[4].id} for a, b, _, _ in per_listen)
    assert all(private.id not in (a, b) for a, b, _, _ in per_listen)
    assert similar_titles(people[3], tracks[4])[0] == "T0"
    recommend.rebuild_all()
    commit()
    assert _co_listen_rows() == per_listen


def test_sessions_follow_the_history_after_a_deletion(app, user, make_user, make_track):
    a, b, c = (make_track(user, title, "Ann", "Folk", 1970) for title in ("A", "B", "C"))
    for track in (a, b, c):
        listen(user, track)
        _earlier(user, 20)
    keys = dict(db.session.execute(select(PlayEvent.track_id, PlayEvent.session_start)).tuples().all())
    # Twenty minutes apart: one session.
    assert keys[a.id] == keys[b.id] == keys[c.id]
    played_b = db.session.scalar(select(PlayEvent.played_at).where(PlayEvent.track_id == b.id))
    assert history.delete_between(user.id, played_b, played_b + timedelta(seconds=1)) == 1
    commit()
    keys = dict(db.session.execute(select(PlayEvent.track_id, PlayEvent.session_start)).tuples().all())
    # Forty minutes between A and C now: two sessions.
    assert keys[a.id] != keys[c.id] and None not in keys.values()


def test_a_first_listen_alone_in_its_session_rescales_the_rows_that_hold_the_track(app, user, make_user, make_track):
    a, b, c = (make_track(user, title, f"Artist {title}", "Folk", 1970) for title in ("A", "B", "C"))
    for name in ("bob", "carol", "dave"):
        person = make_user(name)
        listen(person, a, b)
        _earlier(person, 60)
    before = {(t, o): score for t, o, _n, score in _co_listen_rows()}
    # Erin's first listen of B pairs with nothing, yet B has one more listener now.
    erin = make_user("erin")
    listen(erin, b)
    _earlier(erin, 60)
    listen(erin, c)
    after = {(t, o): score for t, o, _n, score in _co_listen_rows()}
    assert after[a.id, b.id] < before[a.id, b.id]
    assert after[b.id, a.id] == before[b.id, a.id]
    per_listen = _co_listen_rows()
    recommend.rebuild_all()
    commit()
    assert _co_listen_rows() == per_listen


def test_a_session_key_that_is_not_one_of_its_listens_is_set_right():
    """SQLite can give a deleted listen's id to a new one: a session keeps a key only when it
    is the id of one of its own listens."""
    at = utcnow()
    fixes: list[dict] = []
    sessions = recommend._derive_sessions([(100, 1, at, 150), (150, 2, at + timedelta(hours=5), 150)], fixes)
    assert sessions == [[1], [2]]
    assert fixes == [{"id": 100, "session_start": 100}]
