"""The "For you" page: a daily mix per taste, rediscover, new for you; with one user too,
never another account's private track, each playable in one click."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import tasks
from app.models import Job, JobState, PlayEvent, StoredMixes, TrackLike, Visibility
from app.models.discovery import DISLIKE
from app.models.types import utcnow
from app.services import jobs, likes, listening, playlists
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track, login


@pytest.fixture
def make_track(tmp_path):
    made = 0

    def factory(owner, title, artist, genre, visibility=Visibility.PRIVATE):
        nonlocal made
        made += 1
        content = hostile.mp3_with_tags(tmp_path / f"{made}.mp3", title=title, artist=artist, album=artist, genre=genre)
        return add_track(owner, f"{made}.mp3", visibility=visibility, content=content)

    return factory


def mixes(page: str) -> dict[str, list[str]]:
    """{mix title: titles of its one-click play list}."""
    found = {}
    for section in re.findall(r'<section class="card mix".*?</section>', page, re.S):
        title = re.search(r"<h2><bdi>(.*?)</bdi></h2>", section).group(1)
        data = re.search(r"data-play-list='(.*?)'", section).group(1)
        found[title] = [t["title"] for t in json.loads(data.replace("&#39;", "'").replace("&#34;", '"'))]
    return found


def test_empty_then_mixes_for_one_user(alice, user, make_user, make_track):
    assert "Nothing here yet" in alice.get("/library/for-you").get_data(as_text=True)
    folk = [make_track(user, f"Folk {i}", "Ann", "Folk") for i in range(3)]
    jazz = [make_track(user, f"Jazz {i}", "Jim", "Jazz") for i in range(2)]
    bob = make_user("bob")
    make_track(bob, "Bob secret", "Ann", "Folk")
    make_track(bob, "Bob public", "Bo", "Jazz", Visibility.PUBLIC)
    listening.record_play(user.id, folk[0].id)
    commit()
    listening.record_play(user.id, jazz[0].id)
    commit()
    likes.like(user.id, folk[1].id)
    playlists.set_favourite(user.id, jazz[1].id, True)
    commit()
    # An old listen of the heart-ed track: months ago.
    db.session.add(PlayEvent(user_id=user.id, track_id=jazz[1].id, played_at=utcnow() - timedelta(days=200)))
    commit()

    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert set(found) == {"Daily mix: Folk", "Daily mix: Jazz", "Rediscover", "New for you"}
    assert sorted(found["Daily mix: Folk"]) == ["Folk 0", "Folk 1", "Folk 2"]
    assert sorted(found["Daily mix: Jazz"]) == ["Bob public", "Jazz 0", "Jazz 1"]
    assert found["Rediscover"] == ["Folk 1", "Jazz 1"]
    assert found["New for you"] == ["Bob public"]
    assert all("Bob secret" not in titles for titles in found.values())

    # Played: no longer new; disliked: out of every mix.
    likes.dislike(user.id, folk[2].id)
    listening.record_play(user.id, jazz[1].id)
    commit()
    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert "Folk 2" not in found["Daily mix: Folk"]
    assert found["Rediscover"] == ["Folk 1"]


def home(client) -> tuple[str, str]:
    """The home page, and its mixes as the page loads them (the URL in its hx-get): the
    part of that page htmx swaps in."""
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'<div class="for-you-mixes" hx-get="([^"]+)"[^>]*hx-select="\.for-you-mixes"', page)
    assert found, "no mixes on the home page"
    loaded = client.get(found.group(1)).get_data(as_text=True)
    return page, re.search(r'<div class="for-you-mixes">.*?\n</div>', loaded, re.S).group(0)


def test_home_page_has_the_mixes_above_the_library(alice, user, make_user, make_track):
    # A new account with nothing anywhere: the empty state, the library below it.
    page, loaded = home(alice)
    assert 'id="for-you-heading"' in page and 'href="/library/for-you"' in page and "Shuffle (recommended)" in page
    assert "Nothing here yet" in loaded and not mixes(loaded)

    folk = [make_track(user, f"Folk {i}", "Ann", "Folk") for i in range(3)]
    bob = make_user("bob")
    make_track(bob, "Bob secret", "Ann", "Folk")
    make_track(bob, "Bob public", "Bo", "Jazz", Visibility.PUBLIC)
    # Still no history: what is new on the server is the whole of it.
    assert mixes(home(alice)[1]) == {"New for you": ["Bob public"]}

    listening.record_play(user.id, folk[0].id)
    commit()
    page, loaded = home(alice)
    found = mixes(loaded)
    assert set(found) == {"Daily mix: Folk", "New for you"}
    assert sorted(found["Daily mix: Folk"]) == ["Folk 0", "Folk 1", "Folk 2"]
    assert "Bob secret" not in page + loaded and "Nothing here yet" not in loaded
    # The library is still there, under the mixes.
    assert page.index('id="for-you-heading"') < page.index('<table class="data tracks"')
    assert all(f"Folk {i}" in page.split('<table class="data tracks"')[1] for i in range(3))

    # Bob's home has his own mixes, never Alice's private tracks.
    bob_client = alice.application.test_client()
    login(bob_client, "bob")
    bob_page, bob_loaded = home(bob_client)
    assert "Folk 0" not in bob_page + bob_loaded and "Folk 1" not in bob_page + bob_loaded

    # A search or a filter is about the library, not the mixes; the Tracks tab is current.
    for url in ("/?q=Folk", "/?genre=Folk", "/?page=2", "/library"):
        other = alice.get(url).get_data(as_text=True)
        assert 'id="for-you-heading"' not in other and "for-you-mixes" not in other, url
    assert '<a href="/library" aria-current="page">' in page


def refresh_jobs() -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.name == jobs.REFRESH_MIXES).order_by(Job.id)))


def test_the_pages_read_the_stored_mixes_as_the_tracks_are_now(alice, user, make_user, make_track):
    folk = [make_track(user, f"Folk {i}", "Ann", "Folk") for i in range(4)]
    bob = make_user("bob")
    shared = make_track(bob, "Bob public", "Bo", "Jazz", Visibility.PUBLIC)
    other = make_track(bob, "Bob other", "Bo", "Jazz", Visibility.PUBLIC)
    gone = make_track(bob, "Bob gone", "Bo", "Jazz", Visibility.PUBLIC)
    listening.record_play(user.id, folk[0].id)
    commit()
    # The first visit computes the mixes and stores them.
    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert sorted(found["Daily mix: Folk"]) == ["Folk 0", "Folk 1", "Folk 2", "Folk 3"]
    assert sorted(found["New for you"]) == ["Bob gone", "Bob other", "Bob public"]
    stored = db.session.get(StoredMixes, user.id)
    assert stored is not None and stored.changes == 0

    # Until the job runs again, the pages show the stored mixes: a track uploaded since is
    # not there yet...
    make_track(bob, "Bob newer", "Bo", "Jazz", Visibility.PUBLIC)
    # ...and what changed since is filtered as it is now, even before any job ran (rows
    # written directly, as if the refresh had not run yet): a track its owner made
    # private, one deleted, one disliked, one played (no longer new).
    shared.visibility = Visibility.PRIVATE
    db.session.delete(gone)
    db.session.add(TrackLike(user_id=user.id, track_id=folk[3].id, value=DISLIKE))
    db.session.add(PlayEvent(user_id=user.id, track_id=other.id))
    commit()
    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert sorted(found["Daily mix: Folk"]) == ["Folk 0", "Folk 1", "Folk 2"]
    assert "New for you" not in found
    assert refresh_jobs() == []

    # The nightly refresh brings what is new.
    assert tasks.TASKS[jobs.REFRESH_ALL_MIXES]() == {"listeners": 1}
    commit()
    assert [job.state for job in refresh_jobs()] == [JobState.DONE]
    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert found["New for you"] == ["Bob newer"]
    assert "Bob public" not in str(found)


def test_enough_new_listens_refresh_the_mixes_once(alice, user, make_track):
    folk = [make_track(user, f"Folk {i}", "Ann", "Folk") for i in range(10)]
    jazz = [make_track(user, f"Jazz {i}", "Jim", "Jazz") for i in range(3)]
    for track in folk:
        listening.record_play(user.id, track.id)
        commit()
    assert mixes(alice.get("/library/for-you").get_data(as_text=True)).keys() == {"Daily mix: Folk"}
    # Ten tracks of taste: two new listens or likes are a meaningful change, one is not.
    assert db.session.get(StoredMixes, user.id).basis == 10
    listening.record_play(user.id, jazz[0].id)
    commit()
    assert refresh_jobs() == []
    assert db.session.get(StoredMixes, user.id).changes == 1
    likes.like(user.id, jazz[1].id)
    commit()
    assert [job.state for job in refresh_jobs()] == [JobState.DONE]
    # The liked track, never played, is in Rediscover too.
    found = mixes(alice.get("/library/for-you").get_data(as_text=True))
    assert set(found) == {"Daily mix: Folk", "Daily mix: Jazz", "Rediscover"}
    db.session.expire_all()
    assert db.session.get(StoredMixes, user.id).changes == 0

    # A refresh already queued is not queued again; one queued long ago (a worker that
    # died) is.
    stored = db.session.get(StoredMixes, user.id)
    stored.refresh_queued_at = utcnow() - timedelta(minutes=5)
    commit()
    playlists.set_favourite(user.id, jazz[2].id, True)
    likes.like(user.id, folk[0].id)
    likes.dislike(user.id, folk[1].id)
    commit()
    assert len(refresh_jobs()) == 1
    stored.refresh_queued_at = utcnow() - timedelta(hours=2)
    commit()
    listening.record_play(user.id, jazz[2].id)
    commit()
    assert [job.state for job in refresh_jobs()] == [JobState.DONE, JobState.DONE]
    assert "Folk 1" not in str(mixes(alice.get("/library/for-you").get_data(as_text=True)))


def test_the_nightly_refresh_covers_listeners_with_a_history_only(alice, user, make_user, make_track):
    folk = make_track(user, "Folk", "Ann", "Folk", Visibility.PUBLIC)
    bob, carol, dave = make_user("bob"), make_user("carol"), make_user("dave")
    for person in (bob, carol):
        listening.record_play(person.id, folk.id)
        commit()
    carol.disabled = True
    commit()
    # Alice has no history yet: her page (New for you alone) is computed each time, not stored.
    assert mixes(alice.get("/library/for-you").get_data(as_text=True)) == {}
    make_track(dave, "Dave public", "Di", "Jazz", Visibility.PUBLIC)
    assert mixes(alice.get("/library/for-you").get_data(as_text=True)) == {"New for you": ["Dave public"]}
    assert db.session.get(StoredMixes, user.id) is None

    assert tasks.TASKS[jobs.REFRESH_ALL_MIXES]() == {"listeners": 1}
    commit()
    assert [job.args for job in refresh_jobs()] == [[bob.id]]
    stored = db.session.get(StoredMixes, bob.id)
    assert [mix["kind"] for mix in stored.mixes] == ["daily", "new"]
    assert db.session.get(StoredMixes, carol.id) is None
    # The job of an account deleted in the meantime does nothing.
    assert tasks.TASKS[jobs.REFRESH_MIXES](999_999) == {"mixes": 0, "tracks": 0}
