"""Albums that survive messy tags: featured artists, compilations, discs, folders without
tags; and bulk editing from an album, an artist and a playlist page. Real files made by
ffmpeg and tagged with mutagen, added through the real upload, ZIP and import paths."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCMP, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.mp4 import MP4
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.models import Album, Artist, Playlist, PlaylistEntry, Track
from app.services.library import adding
from app.services.library.catalogue import is_various, main_artist
from app.services.storage import get_storage
from app.services.tags import get_pool
from app.unit_of_work import commit
from tests import archives as zips
from tests.audio import synthesize
from tests.helpers import csrf_from


@pytest.fixture(scope="session")
def tones(tmp_path_factory) -> dict[str, bytes]:
    """One short tone per format, rendered by ffmpeg once; each test file is a tagged copy."""
    root = tmp_path_factory.mktemp("tones")
    made = {}
    for ext, options in {
        "mp3": ("-c:a", "libmp3lame", "-b:a", "64k"),
        "flac": (
            "-c:a",
            "flac",
        ),
        "m4a": ("-c:a", "aac", "-b:a", "64k"),
    }.items():
        out = root / f"tone.{ext}"
        synthesize("sine=frequency=440:duration=1", out, "-ac", "1", "-ar", "22050", *options)
        made[ext] = out.read_bytes()
    return made


def tagged(tones: dict[str, bytes], tmp_path: Path, ext: str, **tags: str) -> bytes:
    """A copy of the tone with the given tags (title, artist, album, album_artist, track,
    disc, compilation), written the way each format stores them."""
    path = tmp_path / f"work.{ext}"
    path.write_bytes(tones[ext])
    if ext == "mp3":
        frames = {"title": TIT2, "artist": TPE1, "album": TALB, "album_artist": TPE2, "track": TRCK, "disc": TPOS}
        id3 = ID3()
        for key, frame in frames.items():
            if key in tags:
                id3.add(frame(encoding=3, text=tags[key]))
        if tags.get("compilation"):
            id3.add(TCMP(encoding=3, text="1"))
        id3.save(path)
    elif ext == "flac":
        audio = FLAC(path)
        names = {"album_artist": "albumartist", "track": "tracknumber", "disc": "discnumber"}
        for key, value in tags.items():
            audio[names.get(key, key)] = value
        audio.save()
    else:
        audio = MP4(path)
        names = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "album_artist": "aART"}
        for key, value in tags.items():
            if key in names:
                audio[names[key]] = [value]
        if tags.get("compilation"):
            audio["cpil"] = True
        if "track" in tags:
            audio["trkn"] = [(int(tags["track"]), 0)]
        if "disc" in tags:
            audio["disk"] = [tuple(int(n) for n in tags["disc"].split("/"))]
        audio.save()
    return path.read_bytes()


def upload(client, files: list[tuple[bytes, str]]) -> list[dict]:
    token = csrf_from(client, "/library/upload")
    response = client.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(content), name) for content, name in files]},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["added"] * len(files), results
    return results


def album_page(client, title: str) -> tuple[int, str]:
    """The albums list as the user sees it must show `title` once; its page's text."""
    listing = client.get("/library/albums").get_data(as_text=True)
    ids = re.findall(rf'href="/library/albums/(\d+)"[^>]*>(?:(?!</a>).)*?<bdi>{re.escape(title)}</bdi>', listing, re.S)
    assert len(set(ids)) == 1, listing
    page = client.get(f"/library/albums/{ids[0]}")
    assert page.status_code == 200
    return int(ids[0]), page.get_data(as_text=True)


def titles_in_order(page: str) -> list[str]:
    return re.findall(r'<th scope="row" class="title-cell"[^>]*>\s*<a [^>]*><bdi>([^<]*)</bdi>', page)


def test_main_artist_drops_only_clear_featuring_markers():
    assert main_artist("Main feat. Guest") == "Main"
    assert main_artist("Main ft. Guest") == "Main"
    assert main_artist("Main (feat. Guest)") == "Main"
    assert main_artist("Main [Feat Guest]") == "Main"
    assert main_artist("Main featuring Guest & Other") == "Main"
    for whole in ("Simon & Garfunkel", "Earth, Wind & Fire", "Little Feat", "Featuring Nobody", "Main feat."):
        assert main_artist(whole) == whole
    assert all(is_various(name) for name in ("Various Artists", "VA", "various", "VARIOUS ARTISTS"))
    assert not is_various("Various Cruelties")


def test_featured_artists_stay_on_the_main_artists_album(alice, db, tones, tmp_path):
    upload(
        alice,
        [
            (tagged(tones, tmp_path, "mp3", title="Solo", artist="Main", album="Duets", track="1"), "a.mp3"),
            (tagged(tones, tmp_path, "mp3", title="With A", artist="Main feat. Guest", album="Duets"), "b.mp3"),
            (tagged(tones, tmp_path, "flac", title="With B", artist="Main (ft. Other)", album="Duets"), "c.flac"),
            (tagged(tones, tmp_path, "m4a", title="With C", artist="Main featuring Third", album="Duets"), "d.m4a"),
            (tagged(tones, tmp_path, "mp3", title="Boxer", artist="Simon & Garfunkel", album="Duets"), "e.mp3"),
        ],
    )
    # Two albums named Duets: Main's (four tracks) and Simon & Garfunkel's, never split by guests.
    listing = alice.get("/library/albums").get_data(as_text=True)
    assert listing.count("<bdi>Duets</bdi>") == 2
    main = db.session.scalar(select(Artist).where(Artist.name == "Main"))
    album = db.session.scalar(select(Album).where(Album.artist_id == main.id))
    page = alice.get(f"/library/albums/{album.id}").get_data(as_text=True)
    assert sorted(titles_in_order(page)) == ["Solo", "With A", "With B", "With C"]
    assert "4 tracks" in page
    assert "<bdi>Main feat. Guest</bdi>" in page  # the track keeps its credit as tagged
    assert db.session.scalar(select(func.count()).select_from(Artist).where(Artist.name.like("Main%"))) == 1
    assert db.session.scalar(select(Artist).where(Artist.name == "Simon & Garfunkel")) is not None


def test_compilations_are_one_various_artists_album(alice, db, tones, tmp_path):
    upload(
        alice,
        [
            (tagged(tones, tmp_path, "mp3", title="One", artist="A", album="Hits", compilation="1"), "1.mp3"),
            (tagged(tones, tmp_path, "flac", title="Two", artist="B", album="Hits", compilation="1"), "2.flac"),
            (tagged(tones, tmp_path, "m4a", title="Three", artist="C", album="Hits", compilation="1"), "3.m4a"),
            (tagged(tones, tmp_path, "mp3", title="Four", artist="D", album="Hits", album_artist="VA"), "4.mp3"),
            (tagged(tones, tmp_path, "flac", title="Five", artist="E", album="Hits", album_artist="Various"), "5.flac"),
        ],
    )
    _album_id, page = album_page(alice, "Hits")
    assert "<bdi>Various Artists</bdi>" in page
    assert sorted(titles_in_order(page)) == ["Five", "Four", "One", "Three", "Two"]
    assert db.session.scalar(select(func.count()).select_from(Album)) == 1


def test_discs_are_ordered_and_headed(alice, db, tones, tmp_path):
    def song(title: str, track: str, disc: str, ext: str = "mp3") -> tuple[bytes, str]:
        data = tagged(tones, tmp_path, ext, title=title, artist="Band", album="Double", track=track, disc=disc)
        return data, f"{title}.{ext}"

    upload(
        alice,
        [
            song("Second disc opener", "1", "2/2"),
            song("First disc second", "2", "1/2", "flac"),
            song("Second disc closer", "2", "2/2", "m4a"),
            song("First disc opener", "1", "1/2"),
            (tagged(tones, tmp_path, "mp3", title="Single", artist="Band", album="Single", track="1"), "s.mp3"),
        ],
    )
    _album_id, page = album_page(alice, "Double")
    assert titles_in_order(page) == [
        "First disc opener",
        "First disc second",
        "Second disc opener",
        "Second disc closer",
    ]
    assert (
        page.index("Disc 1") < page.index("First disc opener") < page.index("Disc 2") < page.index("Second disc opener")
    )
    assert page.count("<tbody>") == 1  # one list: playing a row goes on into the next disc
    _album_id, single = album_page(alice, "Single")
    assert "Disc 1" not in single


def test_a_folder_of_several_artists_is_one_various_artists_album(alice, db, tones, tmp_path):
    # Sent one file per request, as the upload page does: the second artist arrives later.
    upload(alice, [(tagged(tones, tmp_path, "mp3", title="First", artist="Ann", album="Summer"), "Mixes/Summer/1.mp3")])
    _album_id, page = album_page(alice, "Summer")
    assert "<bdi>Ann</bdi>" in page
    assert db.session.scalar(select(Artist).where(Artist.name == "Various Artists")) is None  # no orphan row
    upload(alice, [(tagged(tones, tmp_path, "flac", title="Second", artist="Bob"), "Mixes/Summer/2.flac")])
    upload(alice, [(tagged(tones, tmp_path, "m4a", title="Third", artist="Cy", album="Summer"), "Mixes/Summer/3.m4a")])
    # The same album name by one artist in another folder stays that artist's.
    upload(alice, [(tagged(tones, tmp_path, "mp3", title="Other", artist="Dee", album="Summer"), "Dee/Summer/x.mp3")])
    various = db.session.scalar(select(Artist).where(Artist.name == "Various Artists"))
    album = db.session.scalar(select(Album).where(Album.artist_id == various.id))
    page = alice.get(f"/library/albums/{album.id}").get_data(as_text=True)
    assert "<bdi>Various Artists</bdi>" in page
    assert sorted(titles_in_order(page)) == ["First", "Second", "Third"]  # "Second" named by its folder
    assert db.session.scalar(select(func.count()).select_from(Album)) == 2  # Ann's old album was pruned
    dee = db.session.scalar(select(Track).where(Track.title == "Other"))
    assert dee.album_artist is None and dee.album_id != album.id


def test_a_zip_import_files_folders_and_compilations(alice, db, tones, tmp_path):
    data = zips.build(
        [
            ("Party/01.mp3", tagged(tones, tmp_path, "mp3", title="P1", artist="Ann", album="Party")),
            ("Party/02.flac", tagged(tones, tmp_path, "flac", title="P2", artist="Bob", album="Party")),
            ("Band/Untagged Album/03 - Lost.mp3", tagged(tones, tmp_path, "mp3", title="Lost")),
        ]
    )
    token = csrf_from(alice, "/library/upload")
    response = alice.post(
        "/library/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(data), "music.zip")]},
        content_type="multipart/form-data",
    )
    url = response.headers["Location"]
    page = alice.get(url).get_data(as_text=True)
    values = re.findall(r'name="entry" value="(\d+)"', page)
    assert len(values) == 3
    alice.post(url, data={"csrf_token": csrf_from(alice, url), "entry": values})
    _album_id, party = album_page(alice, "Party")
    assert "<bdi>Various Artists</bdi>" in party and sorted(titles_in_order(party)) == ["P1", "P2"]
    _album_id, lost = album_page(alice, "Untagged Album")
    assert titles_in_order(lost) == ["Lost"] and "<bdi>Band</bdi>" in lost


def test_flask_import_names_untagged_albums_by_folder_and_files_compilations(app, alice, db, tones, tmp_path):
    root = tmp_path / "music"
    (root / "Band" / "Folder Album").mkdir(parents=True)
    (root / "Sampler").mkdir()
    (root / "Band" / "Folder Album" / "01 - Untagged.mp3").write_bytes(tagged(tones, tmp_path, "mp3", title="Untagged"))
    (root / "Sampler" / "a.mp3").write_bytes(tagged(tones, tmp_path, "mp3", title="S1", artist="X", album="Sampler"))
    (root / "Sampler" / "b.m4a").write_bytes(tagged(tones, tmp_path, "m4a", title="S2", artist="Y", album="Sampler"))
    (root / "loose.flac").write_bytes(tagged(tones, tmp_path, "flac", title="Loose", artist="Z"))
    result = app.test_cli_runner().invoke(args=["import", str(root), "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert "Added 4" in result.output
    _album_id, folder = album_page(alice, "Folder Album")
    assert titles_in_order(folder) == ["Untagged"] and "<bdi>Band</bdi>" in folder
    _album_id, sampler = album_page(alice, "Sampler")
    assert "<bdi>Various Artists</bdi>" in sampler
    _album_id, loose = album_page(alice, "music")  # a file at the top: the folder given
    assert titles_in_order(loose) == ["Loose"]


def test_a_batched_import_files_albums_by_the_same_rules(app, user, db, tones, tmp_path):
    """`flask import` writes a batch of tracks with one insert: the album rules hold there
    too, and a folder's second artist arriving in a later batch moves the first one's tracks."""
    root = tmp_path / "music"
    (root / "Hits").mkdir(parents=True)
    (root / "Mix").mkdir()
    files = {
        "Hits/h1.mp3": {"title": "H1", "artist": "Dee", "album": "Hits", "compilation": "1"},
        "Hits/h2.m4a": {"title": "H2", "artist": "Eve", "album": "Hits", "compilation": "1"},
        "Mix/1.mp3": {"title": "M1", "artist": "Ann feat. Guest", "album": "Mix"},
        "Mix/2.mp3": {"title": "M2", "artist": "Ann", "album": "Mix"},
        "Mix/3.m4a": {"title": "M3", "artist": "Bob", "album": "Mix"},
        "Mix/4.mp3": {"title": "M4", "artist": "Cy"},  # no album tag: its folder's name
    }
    for name, tags in files.items():
        (root / name).write_bytes(tagged(tones, tmp_path, name.rsplit(".", 1)[1], **tags))
    sources = adding.source_files(root, adding.AUDIO_EXTENSIONS)
    savepoints, track_flushes = [], []

    def statement(_conn, _cursor, text, *_args):
        if text.lstrip().upper().startswith("SAVEPOINT"):
            savepoints.append(text)

    def flushed(session, _context):
        if any(isinstance(row, Track) for row in session.new):
            track_flushes.append(len(session.new))

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(Session, "after_flush", flushed)
    try:
        batches = adding.import_files(
            get_storage(), get_pool(2, 30, 1024), user, sources, max_bytes=10**9, root=root, batch_size=2
        )
        for batch in batches:
            assert all(result.outcome is adding.AddOutcome.ADDED for result in batch.results)
            commit(batch)
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(Session, "after_flush", flushed)
    # None per track or batch: only the one that creates the folder's Various Artists album when it moves.
    assert len(savepoints) == 1
    assert len(track_flushes) == 3  # the tracks of each batch of two flushed together
    tracks = {t.title: t for t in db.session.scalars(select(Track).where(Track.owner_id == user.id))}
    assert {t.source_folder for t in tracks.values()} == {"music/Hits", "music/Mix"}
    various = db.session.scalar(select(Artist).where(Artist.name == "Various Artists"))
    for title in ("H1", "H2", "M1", "M2", "M3", "M4"):
        assert tracks[title].album_artist_id == various.id, title
    assert tracks["M1"].artist_id == tracks["M2"].artist_id  # "feat. Guest" dropped
    names = set(db.session.scalars(select(Artist.name)))
    assert names == {"Various Artists", "Dee", "Eve", "Ann", "Bob", "Cy"}
    assert sorted(db.session.scalars(select(Album.title))) == ["Hits", "Mix"]  # Ann's "Mix" pruned


def test_regroup_albums_files_an_old_library_again(app, alice, user, db, tones, tmp_path):
    upload(
        alice,
        [
            (tagged(tones, tmp_path, "mp3", title="Solo", artist="Main", album="Duets"), "a.mp3"),
            (tagged(tones, tmp_path, "mp3", title="Duet", artist="Main feat. Guest", album="Duets"), "b.mp3"),
            (tagged(tones, tmp_path, "flac", title="Comp", artist="Q", album="Mix", album_artist="V.A."), "c.flac"),
        ],
    )
    # As a library filed before these rules: the guest's credit as an artist with its own album.
    duet = db.session.scalar(select(Track).where(Track.title == "Duet"))
    old_artist = Artist(name="Main feat. Guest", name_key="main feat. guest")
    db.session.add(old_artist)
    db.session.flush()
    old_album = Album(title="Duets", title_key="duets", artist_id=old_artist.id)
    db.session.add(old_album)
    db.session.flush()
    duet.artist_id = duet.album_artist_id = old_artist.id
    duet.album_id = old_album.id
    comp = db.session.scalar(select(Track).where(Track.title == "Comp"))
    q_artist = db.session.scalar(select(Artist).where(Artist.name == "Q"))
    q_album = Album(title="Mix", title_key="mix", artist_id=q_artist.id)
    db.session.add(q_album)
    db.session.flush()
    comp.album_id, comp.album_artist_id = q_album.id, q_artist.id
    commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["regroup-albums"])
    assert result.exit_code == 0, result.output
    assert "Filed 2 tracks under another album or artist." in result.output
    db.session.expire_all()
    assert db.session.get(Album, old_album.id) is None and db.session.get(Artist, old_artist.id) is None
    assert db.session.get(Album, q_album.id) is None
    _album_id, page = album_page(alice, "Duets")
    assert sorted(titles_in_order(page)) == ["Duet", "Solo"]
    _album_id, mix = album_page(alice, "Mix")
    assert "<bdi>Various Artists</bdi>" in mix
    again = runner.invoke(args=["regroup-albums"])
    assert "Filed 0 tracks" in again.output


def bar_token(page: str) -> str:
    form = re.search(r'<form method="post" action="/library/bulk" id="bulk-form".*?</form>', page, re.S).group(0)
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def test_tracks_ticked_on_an_album_page_are_bulk_edited(alice, bob, user, db, tones, tmp_path):
    upload(
        alice,
        [
            (tagged(tones, tmp_path, "mp3", title=f"Song {i}", artist="Band", album="Record", track=str(i)), f"{i}.mp3")
            for i in (1, 2, 3)
        ],
    )
    album_id, page = album_page(alice, "Record")
    boxes = re.findall(r'name="track" value="(\d+)" form="bulk-form" data-bulk-pick', page)
    assert len(boxes) == 3 and "data-bulk-page" in page
    url = f"/library/albums/{album_id}"
    chosen = alice.post(
        "/library/bulk", data={"csrf_token": bar_token(page), "track": boxes[:2], "next": url}
    ).get_data(as_text=True)
    assert "Change 2 tracks" in chosen
    assert f'href="{url}"' in chosen  # the way back is the album page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', chosen).group(1)
    ids = re.search(r'name="ids" type="hidden" value="([^"]*)"', chosen).group(1)
    done = alice.post(
        "/library/bulk/apply",
        data={"csrf_token": token, "ids": ids, "next": url, "genre": "Chamber Pop", "action": "edit"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "2 tracks changed." in done
    genres = dict(db.session.execute(select(Track.title, Track.genre)).tuples().all())
    assert genres == {"Song 1": "Chamber Pop", "Song 2": "Chamber Pop", "Song 3": None}
    # Bob sees no boxes on alice's public album, and cannot change her tracks by posting ids.
    for track in db.session.scalars(select(Track)):
        track.visibility = track.visibility.PUBLIC
    commit()
    assert "data-bulk-pick" not in bob.get(url).get_data(as_text=True)
    bob_page = bob.get("/library").get_data(as_text=True)
    answer = bob.post("/library/bulk", data={"csrf_token": bar_token(bob_page), "track": boxes, "next": url})
    assert answer.status_code == 302


def test_artist_and_playlist_pages_offer_the_same_selection(alice, user, db, tones, tmp_path):
    upload(
        alice,
        [
            (tagged(tones, tmp_path, "mp3", title=f"Tune {i}", artist="Solo Act", album=f"LP {i % 2}"), f"{i}.mp3")
            for i in range(3)
        ],
    )
    artist = db.session.scalar(select(Artist).where(Artist.name == "Solo Act"))
    page = alice.get(f"/library/artists/{artist.id}").get_data(as_text=True)
    assert "Select all 3 of your tracks by this artist" in page
    chosen = alice.post(
        "/library/bulk", data={"csrf_token": bar_token(page), "all": "1", "artist": str(artist.id)}
    ).get_data(as_text=True)
    assert "Change 3 tracks" in chosen

    playlist = Playlist(owner_id=user.id, name="Mix tape")
    db.session.add(playlist)
    db.session.flush()
    for position, track in enumerate(db.session.scalars(select(Track).order_by(Track.id)), start=1):
        db.session.add(PlaylistEntry(playlist_id=playlist.id, track_id=track.id, position=position))
    commit()
    page = alice.get(f"/playlists/{playlist.id}").get_data(as_text=True)
    boxes = re.findall(r'name="track" value="(\d+)" form="bulk-form" data-bulk-pick', page)
    assert len(boxes) == 3 and "data-bulk-page" in page
    chosen = alice.post("/library/bulk", data={"csrf_token": bar_token(page), "track": boxes[:1]})
    assert "Change 1 track" in chosen.get_data(as_text=True)


def test_the_compilation_flag_is_read_from_each_format(tones, tmp_path):
    from app.services.tags import parse_here

    for ext in ("mp3", "flac", "m4a"):
        path = tmp_path / f"c.{ext}"
        path.write_bytes(tagged(tones, tmp_path, ext, title="T", artist="A", album="B", compilation="1"))
        assert parse_here(str(path), path.name).compilation, ext
        shutil.copy(tmp_path / f"work.{ext}", path)
        path.write_bytes(tagged(tones, tmp_path, ext, title="T", artist="A", album="B", disc="2/3"))
        found = parse_here(str(path), path.name)
        assert not found.compilation and found.disc_number == 2, ext
