"""Bulk editing: tick tracks (or all results), set tags, visibility or a playlist, delete,
and undo the last edit."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import Album, BulkEdit, Playlist, PlaylistEntry, Track, Visibility
from app.services.library.catalogue import apply_tags
from app.unit_of_work import commit
from tests.helpers import add_track, csrf_from

TAGGED = ["tagged.mp3", "tagged.flac", "tagged.ogg"]


def many_tracks(owner, count: int, prefix: str = "Song") -> list[Track]:
    """Rows for `count` tracks of `owner`, as an upload records them (the bulk edit never
    opens the files, so one real file stands behind them all)."""
    tracks = []
    for i in range(count):
        track = Track(
            owner_id=owner.id,
            storage_path=f"{owner.id}/bulk-{prefix}-{i}.mp3",
            original_filename=f"{prefix} {i}.mp3",
            size_bytes=1000,
            sha256=hashlib.sha256(f"{owner.id}-{prefix}-{i}".encode()).hexdigest(),
            mime_type="audio/mpeg",
            format="mp3",
            codec="mp3",
            duration=3.0,
        )
        apply_tags(track, title=f"{prefix} {i}", artist=f"Artist {i % 7}", album=f"Album {i % 13}", genre="Rock")
        _db.session.add(track)
        tracks.append(track)
    commit()
    return tracks


def choose(client, data: dict):
    token = csrf_from(client, "/library")
    return client.post("/library/bulk", data={"csrf_token": token, **data})


def apply(client, page: str, data: dict):
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ids = re.search(r'name="ids" type="hidden" value="([^"]*)"', page).group(1)
    return client.post("/library/bulk/apply", data={"csrf_token": token, "ids": ids, **data})


def test_tick_tracks_set_tags_and_visibility_then_undo(alice, user, db):
    a, b, c = (add_track(user, n) for n in TAGGED)
    page = alice.get("/library").get_data(as_text=True)
    assert page.count("data-bulk-pick") == 3 and "Select all 3 results" in page
    chosen = choose(alice, {"track": [str(a.id), str(b.id)]})
    text = chosen.get_data(as_text=True)
    assert "Change 2 tracks" in text
    done = apply(alice, text, {"artist": "New Band", "genre": "Jazz", "visibility": "public", "action": "edit"})
    assert done.status_code == 302
    assert "2 tracks changed." in alice.get("/library").get_data(as_text=True)
    db.session.expire_all()
    assert {(t.artist, t.genre, t.visibility) for t in (a, b)} == {("New Band", "Jazz", Visibility.PUBLIC)}
    assert c.artist == "Ogg Artist"
    before_albums = db.session.scalar(select(func.count(Album.id)))
    undo = alice.post("/library/bulk/undo", data={"csrf_token": csrf_from(alice, "/library")})
    assert undo.status_code == 302
    db.session.expire_all()
    assert a.artist == "Beyoncé" and b.artist == "Ünïcode Artist" and b.visibility is Visibility.PRIVATE
    assert db.session.scalar(select(func.count(BulkEdit.id))) == 0
    assert db.session.scalar(select(func.count(Album.id))) >= before_albums - 1
    assert "Undo it" not in alice.get("/library").get_data(as_text=True)


def test_select_all_results_across_pages_only_takes_your_own(alice, user, db, make_user):
    mine = many_tracks(user, 130, prefix="Mine")
    other = make_user("carol")
    theirs = many_tracks(other, 3, prefix="Mine")
    for t in theirs:
        t.visibility = Visibility.PUBLIC
    commit()
    chosen = choose(alice, {"all": "1", "q": "mine"})
    text = chosen.get_data(as_text=True)
    assert "Change 130 tracks" in text  # all pages, not carol's public ones
    apply(alice, text, {"album": "One Album", "action": "edit"})
    db.session.expire_all()
    assert {t.album for t in mine} == {"One Album"}
    assert {t.album for t in theirs} != {"One Album"}


def test_forged_ids_of_another_account_change_nothing(alice, bob, user, db):
    theirs = add_track(user, "tagged.mp3")
    response = choose(bob, {"track": [str(theirs.id)]})
    assert response.status_code == 302
    token = csrf_from(bob, "/library")
    bob.post(
        "/library/bulk/apply",
        data={"csrf_token": token, "ids": str(theirs.id), "artist": "Hacked", "action": "edit"},
    )
    db.session.expire_all()
    assert theirs.artist == "Beyoncé"


def test_delete_asks_how_many_first(alice, user, db, app):
    tracks = [add_track(user, n) for n in TAGGED]
    text = choose(alice, {"track": [str(t.id) for t in tracks[:2]]}).get_data(as_text=True)
    asked = apply(alice, text, {"action": "delete"})
    assert "Delete 2 tracks?" in asked.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Track.id))) == 3
    done = apply(alice, asked.get_data(as_text=True), {"action": "delete", "confirm": "1"})
    assert done.status_code == 302
    assert [t.original_filename for t in db.session.scalars(select(Track))] == ["tagged.ogg"]
    stored = {p.name for p in (Path(app.config["UPLOAD_FOLDER"]) / str(user.id)).glob("*.*")}
    # The two files (and their waveforms) are gone: the one left and its waveform stay.
    assert len(stored) == 2 and {name.split(".", 1)[1] for name in stored} == {"ogg", "waveform.json"}


def test_add_to_a_playlist(alice, user, db):
    tracks = [add_track(user, n) for n in TAGGED]
    playlist = Playlist(owner_id=user.id, name="Road")
    db.session.add(playlist)
    db.session.commit()
    text = choose(alice, {"track": [str(t.id) for t in tracks]}).get_data(as_text=True)
    assert "Road" in text
    apply(alice, text, {"playlist": str(playlist.id), "action": "edit"})
    positions = db.session.scalars(
        select(PlaylistEntry.track_id).where(PlaylistEntry.playlist_id == playlist.id).order_by(PlaylistEntry.position)
    )
    assert list(positions) == [t.id for t in tracks]


def test_five_hundred_tracks_and_their_undo(alice, user, db):
    tracks = many_tracks(user, 500)
    text = choose(alice, {"all": "1"}).get_data(as_text=True)
    assert "Change 500 tracks" in text
    apply(alice, text, {"artist": "Everyone", "year": "1999", "action": "edit"})
    db.session.expire_all()
    assert {(t.artist, t.year) for t in tracks} == {("Everyone", 1999)}
    alice.post("/library/bulk/undo", data={"csrf_token": csrf_from(alice, "/library")})
    db.session.expire_all()
    assert {t.artist for t in tracks} == {f"Artist {i}" for i in range(7)}
    assert all(t.year is None for t in tracks)
    assert tracks[8].artist == "Artist 1"
