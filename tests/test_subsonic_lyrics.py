"""Lyrics from the files' own tags (OpenSubsonic songLyrics): getLyricsBySongId and
getLyrics on real files, made by ffmpeg and tagged with mutagen as a tagger would,
in XML and JSON; another account's private track is error 70; broken, missing or
oversized lyrics give an answer, never an error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3, SYLT, USLT
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis

from app.extensions import db
from app.models import Track, Visibility
from app.services import credentials
from app.services.storage import get_storage
from app.services.tags import MAX_LYRIC_LINES, MAX_LYRICS_CHARS
from app.unit_of_work import commit
from tests.audio import synthesize
from tests.helpers import add_track
from tests.test_subsonic import NS, api, error_code

LRC = "[ar:Night Drive]\n[00:01.00]Un\n[00:02.50]Deux\n[00:04.25]Trois"


def _audio(folder: Path, ext: str, title: str, *codec: str) -> Path:
    path = folder / f"{title}.{ext}"
    tags = ("-metadata", f"title={title}", "-metadata", "artist=Night Drive")
    synthesize("sine=frequency=330:duration=1", path, *tags, *codec)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """Real files carrying lyrics in each format's own tag."""
    folder = tmp_path_factory.mktemp("lyrics")
    made: dict[str, Path] = {}

    mp3 = made["mp3"] = _audio(folder, "mp3", "Synced and plain")
    id3 = ID3(mp3)
    id3.add(USLT(encoding=3, lang="eng", desc="", text="Hello\r\nWorld\x00"))
    id3.add(SYLT(encoding=3, lang="fra", format=2, type=1, desc="", text=[("Deux", 2500), ("Un", 1000)]))
    id3.save(mp3)

    flac = made["flac"] = _audio(folder, "flac", "As LRC")
    tagged = FLAC(flac)
    tagged["LYRICS"] = LRC
    tagged.save()

    ogg = made["ogg"] = _audio(folder, "ogg", "Plain Vorbis", "-c:a", "libvorbis")
    tagged = OggVorbis(ogg)
    tagged["UNSYNCEDLYRICS"] = "Line one\nLine two"
    tagged.save()

    m4a = made["m4a"] = _audio(folder, "m4a", "In MP4", "-c:a", "aac")
    tagged = MP4(m4a)
    tagged["\xa9lyr"] = "Sur la route\nDe nuit"
    tagged.save()

    huge = made["huge"] = _audio(folder, "mp3", "Too long")
    id3 = ID3(huge)
    id3.add(USLT(encoding=3, lang="eng", desc="", text="la\n" * (MAX_LYRICS_CHARS // 2)))
    id3.add(SYLT(encoding=3, lang="eng", format=2, type=1, desc="", text=[("x" * 1000, i) for i in range(300)]))
    id3.save(huge)

    made["none"] = _audio(folder, "mp3", "No words")

    secret = made["secret"] = _audio(folder, "mp3", "Only bob")
    id3 = ID3(secret)
    id3.add(USLT(encoding=3, lang="eng", desc="", text="Private words"))
    id3.save(secret)
    return {name: path.read_bytes() for name, path in made.items()}


@pytest.fixture
def lyric_tracks(app, user, make_user, files):
    """alice's tracks of `files` (by name), bob's private and public ones, alice's credentials."""
    _row, password = credentials.create_app_password(user.id, "Phone")
    bob = make_user("bob")
    commit()
    tracks = {}
    for name, data in files.items():
        if name != "secret":
            tracks[name] = add_track(user, f"{name}.{'mp3' if name in ('huge', 'none') else name}", content=data).id
    tracks["bobs_private"] = add_track(bob, "x.mp3", content=files["secret"]).id
    tracks["bobs_public"] = add_track(bob, "y.m4a", content=files["m4a"], visibility=Visibility.PUBLIC).id
    return {"u": "alice", "p": password}, tracks


def _structured(client, alice, track_id: int) -> list[dict]:
    body = api(client, "getLyricsBySongId", **alice, id=str(track_id))
    assert body["status"] == "ok", body
    return body["lyricsList"].get("structuredLyrics", [])


def _lines(found: dict) -> list[tuple[int | None, str]]:
    return [(line.get("start"), line["value"]) for line in found["line"]]


def test_lyrics_from_every_format(client, lyric_tracks):
    alice, tracks = lyric_tracks
    synced, plain = _structured(client, alice, tracks["mp3"])
    assert (synced["synced"], synced["lang"], _lines(synced)) == (True, "fra", [(1000, "Un"), (2500, "Deux")])
    assert (plain["synced"], plain["lang"], _lines(plain)) == (False, "eng", [(None, "Hello"), (None, "World")])
    assert (synced["displayTitle"], synced["displayArtist"], synced["offset"]) == ("Synced and plain", "Night Drive", 0)

    (lrc,) = _structured(client, alice, tracks["flac"])
    assert (lrc["synced"], lrc["lang"]) == (True, "und")
    assert _lines(lrc) == [(1000, "Un"), (2500, "Deux"), (4250, "Trois")]
    (vorbis,) = _structured(client, alice, tracks["ogg"])
    assert (vorbis["synced"], _lines(vorbis)) == (False, [(None, "Line one"), (None, "Line two")])
    (mp4,) = _structured(client, alice, tracks["m4a"])
    assert _lines(mp4) == [(None, "Sur la route"), (None, "De nuit")]
    assert _structured(client, alice, tracks["none"]) == []


def test_xml_carries_the_same_lyrics(client, lyric_tracks):
    alice, tracks = lyric_tracks
    response = api(client, "getLyricsBySongId", fmt=None, **alice, id=str(tracks["mp3"]))
    root = ET.fromstring(response.data)  # noqa: S314 - our own server's answer, in a test
    assert root.get("status") == "ok" and root.get("openSubsonic") == "true"
    sets = root.findall(f"{NS}lyricsList/{NS}structuredLyrics")
    assert [(s.get("synced"), s.get("lang")) for s in sets] == [("true", "fra"), ("false", "eng")]
    assert [(line.get("start"), line.text) for line in sets[0].findall(f"{NS}line")] == [
        ("1000", "Un"),
        ("2500", "Deux"),
    ]
    assert [(line.get("start"), line.text) for line in sets[1].findall(f"{NS}line")] == [
        (None, "Hello"),
        (None, "World"),
    ]

    response = api(client, "getLyrics", fmt=None, **alice, artist="night drive", title="AS LRC")
    lyrics = ET.fromstring(response.data).find(f"{NS}lyrics")  # noqa: S314 - our own answer
    assert (lyrics.get("artist"), lyrics.get("title"), lyrics.text) == ("Night Drive", "As LRC", "Un\nDeux\nTrois")


def test_get_lyrics_by_artist_and_title(client, lyric_tracks):
    alice, _tracks = lyric_tracks
    found = api(client, "getLyrics", **alice, artist="Night Drive", title="Plain Vorbis")["lyrics"]
    assert found == {"artist": "Night Drive", "title": "Plain Vorbis", "value": "Line one\nLine two"}
    assert api(client, "getLyrics", **alice, title="In MP4")["lyrics"]["value"] == "Sur la route\nDe nuit"
    for params in (
        {"artist": "Someone else", "title": "Plain Vorbis"},
        {"title": "No words"},
        {"artist": "Night Drive"},
        {},
    ):
        body = api(client, "getLyrics", **alice, **params)
        assert body["status"] == "ok" and body["lyrics"] == {}, params


def test_another_accounts_private_track_is_not_found(client, lyric_tracks):
    alice, tracks = lyric_tracks
    assert error_code(api(client, "getLyricsBySongId", **alice, id=str(tracks["bobs_private"]))) == 70
    for bad in ("999999", "../../etc/passwd", "-1", "al-1"):
        assert error_code(api(client, "getLyricsBySongId", **alice, id=bad)) == 70
    assert error_code(api(client, "getLyricsBySongId", **alice)) == 10
    # bob's public track is everybody's: its lyrics too.
    assert _lines(_structured(client, alice, tracks["bobs_public"])[0])[0] == (None, "Sur la route")
    # getLyrics never finds another account's private track.
    assert api(client, "getLyrics", **alice, artist="Night Drive", title="Only bob")["lyrics"] == {}


def test_oversized_broken_and_missing_files_give_an_answer(app, client, lyric_tracks):
    alice, tracks = lyric_tracks
    sets = _structured(client, alice, tracks["huge"])
    assert [found["synced"] for found in sets] == [True, False]
    for found in sets:
        assert 0 < len(found["line"]) <= MAX_LYRIC_LINES
        assert 0 < sum(len(line["value"]) for line in found["line"]) <= MAX_LYRICS_CHARS

    with app.app_context():
        store = get_storage()
        ogg = store.local_path(db.session.get_one(Track, tracks["ogg"]).storage_path)
        m4a = store.local_path(db.session.get_one(Track, tracks["m4a"]).storage_path)
    ogg.write_bytes(b"OggS" + b"\xff" * 4000)  # the file went bad on disk after upload
    m4a.unlink()  # and this one is gone
    for track in ("ogg", "m4a"):
        assert _structured(client, alice, tracks[track]) == []
    assert api(client, "getLyrics", **alice, title="Plain Vorbis")["lyrics"] == {}


def test_song_lyrics_extension_is_advertised(client):
    body = api(client, "getOpenSubsonicExtensions")
    assert {"name": "songLyrics", "versions": [1]} in body["openSubsonicExtensions"]
