"""The apps' album lists that come from a listener's own history and the uploads
(getAlbumList2 frequent, recent, newest), through the Subsonic API: the most played
albums follow listens, imports, edits, visibility, deletions and cut history; the
lists read in chunks come in the grouped query's order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import tasks
from app.models import AlbumPlays, Track, User, Visibility
from app.models.types import utcnow
from app.services import accounts, album_plays, credentials, history
from app.services.library import editing, lists
from app.unit_of_work import commit
from tests import hostile
from tests.helpers import add_track
from tests.test_subsonic import api


@pytest.fixture
def listener(app, user, make_user):
    """alice's app password, and bob (who shares some tracks)."""
    _row, password = credentials.create_app_password(user.id, "Phone")
    bob = make_user("bob")
    commit()
    return {"u": "alice", "p": password}, bob


def tune(tmp_path, owner, title: str, album: str, visibility=Visibility.PRIVATE) -> Track:
    content = hostile.mp3_with_tags(tmp_path / f"{title}.mp3", title=title, artist="Someone", album=album)
    return add_track(owner, f"{title}.mp3", content=content, visibility=visibility)


def albums(client, who, kind: str, **extra: str) -> list[str]:
    body = api(client, "getAlbumList2", **who, type=kind, **extra)
    return [a["name"] for a in body["albumList2"].get("album", [])]


def counts_are_exact() -> bool:
    """The kept counts are what counting the whole history again gives."""
    kept = set(db.session.execute(select(AlbumPlays.user_id, AlbumPlays.album_id, AlbumPlays.play_count)).tuples())
    return kept == set(db.session.execute(album_plays._counted()).tuples())


def test_most_played_albums_follow_the_history_and_the_library(client, user, listener, tmp_path):
    who, bob = listener
    a1, a2 = tune(tmp_path, user, "a1", "Aleph"), tune(tmp_path, user, "a2", "Aleph")
    b1 = tune(tmp_path, user, "b1", "Beth")
    g1 = tune(tmp_path, bob, "g1", "Gimel", Visibility.PUBLIC)
    hidden = tune(tmp_path, bob, "h1", "Heth")  # bob's own: alice never sees it
    assert albums(client, who, "frequent") == []

    for track in (a1, a2, b1, g1):
        assert api(client, "scrobble", **who, id=str(track.id))["status"] == "ok"
    assert albums(client, who, "frequent")[0] == "Aleph"  # two listens; Beth and Gimel one each
    assert set(albums(client, who, "frequent")) == {"Aleph", "Beth", "Gimel"}

    # Three older listens of Gimel come in from a file.
    week_ago = utcnow() - timedelta(days=7)
    listens = [history.Listen(week_ago + timedelta(minutes=i), "Someone", "g1", g1.id) for i in range(3)]
    assert history.import_listens(user.id, listens).added == 3
    commit()
    assert albums(client, who, "frequent") == ["Gimel", "Aleph", "Beth"]  # 4, 2, 1
    assert albums(client, who, "frequent", size="1", offset="1") == ["Aleph"]
    assert counts_are_exact()

    # a1 is filed under Beth now: its listen goes with it.
    editing.update_track(db.session.get(Track, a1.id), visibility=Visibility.PRIVATE, album="Beth")
    commit()
    assert albums(client, who, "frequent") == ["Gimel", "Beth", "Aleph"]  # 4, 2, 1
    # Bob makes his track private: alice's listens of it no longer count.
    editing.update_track(db.session.get(Track, g1.id), visibility=Visibility.PRIVATE)
    commit()
    assert albums(client, who, "frequent") == ["Beth", "Aleph"]
    assert counts_are_exact()

    # Deleting a track takes its listens with it; an album left empty is gone.
    editing.delete_track(db.session.get(Track, b1.id))
    commit()
    editing.delete_track(db.session.get(Track, a1.id))
    commit()
    assert albums(client, who, "frequent") == ["Aleph"]
    assert counts_are_exact()

    # Bob's listens are his own, and his private album is in his list only.
    bob_password = credentials.create_app_password(bob.id, "Phone")[1]
    commit()
    bob_who = {"u": "bob", "p": bob_password}
    assert api(client, "scrobble", **bob_who, id=str(hidden.id))["status"] == "ok"
    assert albums(client, bob_who, "frequent") == ["Heth"]
    assert "Heth" not in albums(client, who, "frequent")

    # Alice clears her history (a2's listen, and Gimel's four, which stay in it while
    # hidden): nothing is most played any more.
    assert history.delete_between(user.id, week_ago - timedelta(days=1), utcnow() + timedelta(minutes=1)) == 5
    commit()
    assert albums(client, who, "frequent") == []
    assert albums(client, bob_who, "frequent") == ["Heth"]
    assert counts_are_exact()
    assert tasks.recount_album_plays() == {"listeners": 1}  # the nightly count finds the same (bob's)
    assert counts_are_exact() and albums(client, bob_who, "frequent") == ["Heth"]


def test_a_deleted_account_takes_its_listens_out_of_the_counts(client, user, listener, make_user, tmp_path):
    who, _bob = listener
    carol = make_user("carol")
    mine = tune(tmp_path, user, "m1", "Shared")
    hers = tune(tmp_path, carol, "c1", "Shared", Visibility.PUBLIC)  # the same album: title and artist
    other = tune(tmp_path, user, "o1", "Other")
    for track in (mine, hers, other):
        assert api(client, "scrobble", **who, id=str(track.id))["status"] == "ok"
    assert albums(client, who, "frequent") == ["Shared", "Other"]  # 2, 1
    accounts.delete_user(db.session.get(User, carol.id))
    commit()
    assert counts_are_exact()  # Shared: 1, with carol's track and its listen gone
    assert set(albums(client, who, "frequent")) == {"Shared", "Other"}


def test_a_savepoint_rolled_back_keeps_the_albums_to_count(client, user, listener, tmp_path):
    who, _bob = listener
    first, second = tune(tmp_path, user, "x1", "Alpha"), tune(tmp_path, user, "x2", "Alpha")
    for track in (first, second):
        assert api(client, "scrobble", **who, id=str(track.id))["status"] == "ok"
    editing.update_track(db.session.get(Track, first.id), visibility=Visibility.PRIVATE, album="Beta")
    savepoint = db.session.begin_nested()  # as an upload batch does for each file
    savepoint.rollback()
    commit()
    assert counts_are_exact()
    assert set(albums(client, who, "frequent")) == {"Alpha", "Beta"}


def test_lists_read_in_chunks_keep_the_grouped_order(client, user, listener, tmp_path, monkeypatch):
    who, bob = listener
    # Uploads interleaved between albums and owners, bob's private ones included.
    tracks = []
    for i, (owner, album, visibility) in enumerate(
        [
            (user, "One", Visibility.PRIVATE),
            (bob, "Two", Visibility.PUBLIC),
            (user, "Three", Visibility.PRIVATE),
            (bob, "Secret", Visibility.PRIVATE),
            (user, "One", Visibility.PRIVATE),
            (bob, "Four", Visibility.PUBLIC),
            (user, "Two", Visibility.PRIVATE),
            (bob, "Secret", Visibility.PRIVATE),
            (user, "Five", Visibility.PRIVATE),
            (bob, "Three", Visibility.PUBLIC),
        ]
    ):
        tracks.append(tune(tmp_path, owner, f"t{i}", album, visibility))
    # Alice's listens, an hour apart, in an order of their own.
    start = utcnow() - timedelta(days=1)
    played = [tracks[i] for i in (2, 0, 5, 9, 4, 1, 6, 0, 8)]
    listens = [history.Listen(start + timedelta(hours=n), "Someone", t.title, t.id) for n, t in enumerate(played)]
    assert history.import_listens(user.id, listens).added == len(played)
    commit()

    expected_newest = ["Three", "Five", "Two", "Four", "One"]  # by each album's last upload alice sees
    expected_recent = ["Five", "One", "Two", "Three", "Four"]  # by alice's last listen of each
    windows = [{}, {"size": "2"}, {"size": "2", "offset": "2"}, {"size": "3", "offset": "4"}, {"offset": "5"}]
    for chunk, limit, most in [(2, 100_000, 1000), (3, 6, 1000), (2, 100_000, 3), (1000, 0, 1000)]:
        # Chunks of 2 rows read to the end; reading stopped after 6 rows (then the
        # grouped query answers); the grouped query for slices that end past the
        # third album; the grouped query alone.
        monkeypatch.setattr(lists, "SCAN_CHUNK", chunk)
        monkeypatch.setattr(lists, "SCAN_LIMIT", limit)
        monkeypatch.setattr(lists, "SCAN_ALBUMS", most)
        for window in windows:
            first = int(window.get("offset", 0))
            last = first + int(window.get("size", 10))
            case = (chunk, limit, most, window)
            assert albums(client, who, "newest", **window) == expected_newest[first:last], case
            assert albums(client, who, "recent", **window) == expected_recent[first:last], case
