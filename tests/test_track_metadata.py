"""Richer track metadata: description, free tags, BPM, key, licence and downloads,
read from real files' tags, set on the edit page and through the REST API, filtered
and shown (on SQLite and PostgreSQL, as every DB test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen.id3 import ID3, TBPM, TCOP, TKEY, WCOP
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis
from sqlalchemy import select

from app.models import Track, TrackTag, Visibility
from tests.audio import synthesize
from tests.helpers import add_track, post_form
from tests.test_api_v1 import bearer, error_of, token_for

TONE = "sine=frequency=440:duration=1"


def _mp3(tmp_path: Path) -> bytes:
    path = tmp_path / "meta.mp3"
    synthesize(TONE, path, "-c:a", "libmp3lame")
    tags = ID3()
    tags.add(TBPM(encoding=3, text=["128"]))
    tags.add(TKEY(encoding=3, text=["F#m"]))
    tags.add(TCOP(encoding=3, text=["2024 Someone"]))
    tags.add(WCOP(url="https://creativecommons.org/licenses/by-sa/4.0/"))
    tags.save(path)
    return path.read_bytes()


def _ogg(tmp_path: Path) -> bytes:
    path = tmp_path / "meta.ogg"
    synthesize(TONE, path, "-c:a", "libvorbis")
    audio = OggVorbis(path)
    audio["BPM"] = "92.6"
    audio["INITIALKEY"] = "Bb"
    audio["LICENSE"] = "CC BY-NC 4.0"
    audio.save()
    return path.read_bytes()


def _m4a(tmp_path: Path) -> bytes:
    path = tmp_path / "meta.m4a"
    synthesize(TONE, path, "-c:a", "aac")
    audio = MP4(path)
    audio["tmpo"] = [174]
    audio.save()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "name", "bpm", "key", "licence"),
    [
        (_mp3, "meta.mp3", 128, "F#m", "cc-by-sa"),
        (_ogg, "meta.ogg", 93, "Bb", "cc-by-nc"),
        (_m4a, "meta.m4a", 174, None, "all-rights-reserved"),
    ],
)
def test_bpm_key_and_licence_are_read_from_the_files_tags(alice, user, db, tmp_path, make, name, bpm, key, licence):
    track = add_track(user, name, content=make(tmp_path))
    assert (track.bpm, track.musical_key, track.licence) == (bpm, key, licence)
    page = alice.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert f"<dd>{bpm}</dd>" in page
    if key:
        assert f"<dd>{key}</dd>" in page


def test_untagged_files_have_no_bpm_and_the_default_licence(user, db):
    track = add_track(user, "tagged.flac")
    assert (track.bpm, track.musical_key, track.licence, track.tags) == (None, None, "all-rights-reserved", [])
    assert track.allow_download is False


def _edit(client, track, **fields):
    data = {
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "visibility": track.visibility.value,
        "licence": "all-rights-reserved",
    }
    data.update(fields)
    url = f"/library/tracks/{track.id}/edit"
    return post_form(client, url, url, data)


def test_the_edit_page_saves_the_metadata_and_the_track_page_shows_it(alice, user, db):
    track = add_track(user, "tagged.flac")
    response = _edit(
        alice,
        track,
        description="Recorded live.\nSecond line <b>bold</b>",
        tags=" Chill , chill, Été, <script>alert(1)</script>",
        bpm="120",
        musical_key="C#m",
        licence="cc-by",
    )
    assert response.status_code == 302
    db.session.refresh(track)
    assert track.tags == ["Chill", "Été", "<script>alert(1)</script>"]
    assert (track.bpm, track.musical_key, track.licence) == (120, "C#m", "cc-by")
    keys = set(db.session.scalars(select(TrackTag.tag_key).where(TrackTag.track_id == track.id)))
    assert keys == {"chill", "ete", "<script>alert(1)</script>"}
    page = alice.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert "Recorded live." in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="/library?tag=Chill"' in page
    assert "CC BY" in page
    # The tag's link lists the tracks with that tag, whatever its case or accents.
    other = add_track(user, "tagged.mp3")
    listing = alice.get("/library?tag=ETE").get_data(as_text=True)
    assert f"/library/tracks/{track.id}" in listing and f"/library/tracks/{other.id}" not in listing
    assert "data-tag-filter" in listing
    # The edit page shows the tags back as one line.
    assert 'value="Chill, Été, &lt;script&gt;' in alice.get(f"/library/tracks/{track.id}/edit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bpm": "39"}, "A tempo from 40 to 300 BPM."),
        ({"bpm": "301"}, "A tempo from 40 to 300 BPM."),
        ({"musical_key": "H"}, "A key such as C, F#m or Bb."),
        ({"tags": ",".join(f"t{i}" for i in range(11))}, "At most 10 tags."),
        ({"tags": "x" * 31}, "Each tag has at most 30 characters."),
        ({"description": "d" * 2001}, "At most 2,000 characters."),
    ],
)
def test_the_edit_form_refuses_bad_values_with_a_clear_message(alice, user, db, fields, message):
    track = add_track(user, "tagged.flac")
    response = _edit(alice, track, title="Changed", **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.refresh(track)
    assert track.title != "Changed" and track.tags == [] and track.bpm is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bpm": 39}, "bpm"),
        ({"bpm": 301}, "bpm"),
        ({"key": "H"}, "key"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"tags": ["x" * 31]}, "tags"),
        ({"description": "d" * 2001}, "description"),
        ({"licence": "CC0"}, "licence"),
    ],
)
def test_the_api_refuses_bad_values_with_a_clear_message(client, user, db, body, field):
    track = add_track(user, "tagged.flac")
    response = client.patch(
        f"/api/v1/tracks/{track.id}", json={"title": "Changed", **body}, headers=bearer(token_for(user))
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_FAILED"
    assert field in str(error["details"])
    db.session.refresh(track)
    assert track.title != "Changed"


def test_the_api_sets_lists_and_filters_the_metadata(client, user, make_user, db):
    token = token_for(user)
    slow = add_track(user, "tagged.flac", visibility=Visibility.PUBLIC)
    fast = add_track(user, "tagged.mp3")
    plain = add_track(user, "tagged.ogg")
    response = client.patch(
        f"/api/v1/tracks/{slow.id}",
        json={"tags": ["Chill", "Night drive"], "bpm": 90, "key": "Am", "licence": "cc-by", "description": "Slow."},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["changes"]["tags"] == {"old": [], "new": ["Chill", "Night drive"]}
    assert answer["changes"]["bpm"] == {"old": None, "new": 90}
    assert answer["changes"]["key"] == {"old": None, "new": "Am"}
    assert answer["track"]["licence"] == "cc-by" and answer["track"]["description"] == "Slow."
    client.patch(f"/api/v1/tracks/{fast.id}", json={"tags": ["chill"], "bpm": 170}, headers=bearer(token))
    client.patch(f"/api/v1/tracks/{plain.id}", json={"tags": ["night DRIVE"], "bpm": 95}, headers=bearer(token))

    def ids(query: str) -> list[int]:
        got = client.get(f"/api/v1/tracks?sort=title&{query}", headers=bearer(token))
        assert got.status_code == 200, got.get_json()
        return sorted(t["id"] for t in got.get_json()["data"])

    assert ids("tags=CHILL") == sorted([slow.id, fast.id])
    assert ids("tags=chill&tags=night%20drive") == [slow.id]
    assert ids("tags=chill&bpm_min=100") == [fast.id]
    assert ids("bpm_min=80&bpm_max=100") == sorted([slow.id, plain.id])
    assert ids("key=Am&tags=night%20drive&bpm_max=92") == [slow.id]
    assert ids("tags=nothing") == []
    meta = client.get("/api/v1/tracks?tags=chill&bpm_max=100", headers=bearer(token)).get_json()["meta"]
    assert meta["filters"] == {"tags": ["chill"], "bpm_max": 100}
    assert client.get("/api/v1/tracks?key=H", headers=bearer(token)).status_code == 422
    # Tags come back as text.
    client.patch(f"/api/v1/tracks/{fast.id}", json={"tags": ["<script>x</script>"]}, headers=bearer(token))
    got = client.get(f"/api/v1/tracks/{fast.id}", headers=bearer(token)).get_json()
    assert got["tags"] == ["<script>x</script>"]
    # Another account sees the public track's metadata, and cannot change it.
    bob = make_user("bob")
    seen = client.get(f"/api/v1/tracks/{slow.id}", headers=bearer(token_for(bob))).get_json()
    assert seen["bpm"] == 90 and seen["tags"] == ["Chill", "Night drive"]
    refused = client.patch(f"/api/v1/tracks/{slow.id}", json={"bpm": 100}, headers=bearer(token_for(bob)))
    assert refused.status_code == 403


def test_others_download_the_original_only_when_the_owner_allows_it(alice, bob, user, db):
    track = add_track(user, "tagged.flac", visibility=Visibility.PUBLIC)
    page = bob.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert "Download original" not in page
    assert bob.get(f"/stream/{track.id}/download").status_code == 403
    # Listening never depends on it.
    assert bob.get(f"/stream/{track.id}").status_code == 200
    # The owner always downloads.
    assert alice.get(f"/stream/{track.id}/download").status_code == 200

    assert _edit(alice, track, visibility="public", allow_download="y").status_code == 302
    page = bob.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert "Download original" in page
    download = bob.get(f"/stream/{track.id}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]

    # A private track is downloadable by nobody else, whatever the flag says.
    assert _edit(alice, track, visibility="private", allow_download="y").status_code == 302
    db.session.refresh(track)
    assert track.allow_download is True
    assert bob.get(f"/stream/{track.id}/download").status_code == 404


def test_deleting_a_track_deletes_its_tag_rows(alice, user, db):
    track = add_track(user, "tagged.flac")
    _edit(alice, track, tags="one, two")
    assert db.session.scalars(select(TrackTag)).all()
    post_form(alice, f"/library/tracks/{track.id}", f"/library/tracks/{track.id}/delete")
    assert db.session.scalars(select(TrackTag)).all() == []
    assert db.session.scalars(select(Track)).all() == []
