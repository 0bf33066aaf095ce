"""Likely duplicates: a FLAC and an MP3 of one tone, found, and kept or removed in bulk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import KeptDuplicates, Track
from tests.audio import synthesize
from tests.helpers import add_track, csrf_from, post_form


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The same tone as FLAC and MP3 (3 s), the same song a second longer, another song,
    and a longer version (10 s) that is not the same recording."""
    folder = tmp_path_factory.mktemp("tones")
    tags = ("-metadata", "artist=The Tones", "-metadata", "title=Same Song")
    made = {
        "song.flac": ("sine=frequency=440:duration=3", "-sample_fmt", "s16", *tags),
        "song.mp3": ("sine=frequency=440:duration=3", "-b:a", "128k", *tags),
        "song-low.mp3": ("sine=frequency=440:duration=4", "-b:a", "64k", *tags),
        "extended.mp3": ("sine=frequency=440:duration=10", "-b:a", "128k", *tags),
        "other.mp3": ("sine=frequency=550:duration=3", "-b:a", "128k", "-metadata", "title=Other Song"),
    }
    files = {}
    for name, (source, *options) in made.items():
        synthesize(source, folder / name, *options)
        files[name] = (folder / name).read_bytes()
    return files


def add(user, tones, *names: str) -> dict[str, Track]:
    return {name: add_track(user, name, content=tones[name]) for name in names}


def key_of(tracks) -> str:
    return ",".join(str(i) for i in sorted(t.id for t in tracks))


def groups_on(page: str) -> list[str]:
    return sorted(set(re.findall(r'name="keep-([\d,]+)"', page)))


def test_a_flac_and_an_mp3_of_one_tone_are_likely_duplicates(alice, user, db, tones):
    tracks = add(user, tones, "song.flac", "song.mp3", "extended.mp3", "other.mp3")
    page = alice.get("/library/duplicates").get_data(as_text=True)
    key = key_of(tracks[n] for n in ("song.flac", "song.mp3"))
    assert groups_on(page) == [key]  # not the 10 s version, not the other song
    assert "1 group." in page and "FLAC" in page and "MP3 128 kbit/s" in page
    # The FLAC is offered as the better quality (listed first).
    assert page.index(f'value="{tracks["song.flac"].id}"') < page.index(f'value="{tracks["song.mp3"].id}"')


def test_keep_the_better_quality_asks_first_then_deletes_the_others(alice, user, db, tones, app):
    tracks = add(user, tones, "song.flac", "song.mp3", "song-low.mp3", "other.mp3")
    mp3_path = Path(app.config["UPLOAD_FOLDER"]) / tracks["song.mp3"].storage_path
    key = key_of([tracks[n] for n in ("song.flac", "song.mp3", "song-low.mp3")])
    asked = post_form(alice, "/library/duplicates", "/library/duplicates", {"all_best": "1"})
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Delete 2 tracks?" in text
    assert db.session.scalar(select(Track).where(Track.id == tracks["song.mp3"].id)) is not None  # not yet
    done = post_form(alice, "/library/duplicates", "/library/duplicates", {f"keep-{key}": "best", "confirm": "1"})
    assert done.status_code == 302
    left = {t.original_filename for t in db.session.scalars(select(Track))}
    assert left == {"song.flac", "other.mp3"}
    assert not mp3_path.exists()
    assert "No likely duplicates" in alice.get("/library/duplicates").get_data(as_text=True)


def test_keep_one_by_hand_and_keep_both(alice, user, db, tones):
    tracks = add(user, tones, "song.flac", "song.mp3")
    key = key_of(tracks.values())
    post_form(alice, "/library/duplicates", "/library/duplicates", {f"keep-{key}": "both", "confirm": "1"})
    assert db.session.scalar(select(KeptDuplicates.track_ids)) == key
    assert groups_on(alice.get("/library/duplicates").get_data(as_text=True)) == []
    # A third copy makes it a new group, offered again; keep the MP3 by hand.
    third = add(user, tones, "song-low.mp3")["song-low.mp3"]
    page = alice.get("/library/duplicates").get_data(as_text=True)
    (new_key,) = groups_on(page)
    assert str(third.id) in new_key.split(",")
    post_form(
        alice,
        "/library/duplicates",
        "/library/duplicates",
        {f"keep-{new_key}": str(tracks["song.mp3"].id), "confirm": "1"},
    )
    assert [t.original_filename for t in db.session.scalars(select(Track))] == ["song.mp3"]


def test_another_accounts_groups_are_out_of_reach(alice, bob, user, db, tones):
    tracks = add(user, tones, "song.flac", "song.mp3")
    key = key_of(tracks.values())
    assert groups_on(bob.get("/library/duplicates").get_data(as_text=True)) == []
    token = csrf_from(bob, "/library/duplicates")
    answer = bob.post("/library/duplicates", data={"csrf_token": token, f"keep-{key}": "best", "confirm": "1"})
    assert answer.status_code == 302
    assert db.session.scalar(select(Track.id).where(Track.id == tracks["song.mp3"].id)) is not None
