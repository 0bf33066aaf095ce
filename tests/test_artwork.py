"""Uploaded artwork: a picture the owner sends for a track (edit page, REST API) or for
their tracks of an album replaces the file's embedded cover everywhere the cover is
shown, until they remove it; hostile pictures are refused with a message and leave
nothing behind."""

from __future__ import annotations

import io
import os
import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from flask import request
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import AccessScope, Track, Visibility
from app.services import credentials
from app.services.library import covers
from app.services.library.check import check_library
from app.services.storage import get_storage
from app.services.tags import get_pool
from tests.helpers import DATA, add_track, csrf_from, login

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def picture(colour: tuple[int, int, int] = RED, fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A real, complete PNG of width x height one-bit pixels: about 60 KB that would
    decode to 400 megapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + width // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'

HOSTILE = {
    "text named .jpg": (b"this is not a picture at all\n" * 10, "cover.jpg", "ARTWORK_INVALID"),
    "truncated PNG": (picture()[:400], "cover.png", "ARTWORK_INVALID"),
    "20000x20000 PNG bomb": (png_bomb(), "bomb.png", "ARTWORK_TOO_MANY_PIXELS"),
    "SVG": (SVG, "cover.svg", "ARTWORK_INVALID"),
    "GIF": (picture(fmt="GIF"), "cover.gif", "ARTWORK_INVALID"),
}
MESSAGES = {
    "ARTWORK_INVALID": "The file is not a picture the server can use: send a whole JPEG, PNG or WebP image.",
    "ARTWORK_TOO_MANY_PIXELS": "The picture has too many pixels: the limit is 36 megapixels (6000 by 6000).",
}


def colour_of(jpeg: bytes) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        return image.convert("RGB").getpixel((image.width // 2, image.height // 2))


def near(found: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 30 for a, b in zip(found, wanted, strict=True))


def stored() -> set[str]:
    return {f.rel for f in get_storage().list_files()}


def age_covers(seconds: float = 7200) -> None:
    """Make every stored thumbnail look saved `seconds` ago, as a picture chosen some
    time before is (a picture saved in the last minutes is kept: covers.remove_unused)."""
    store = get_storage()
    then = time.time() - seconds
    for rel in stored():
        if "/covers/" in rel:
            os.utime(store.local_path(rel), (then, then))


def incoming_left(app) -> list[Path]:
    return [p for p in (Path(app.config["UPLOAD_FOLDER"]) / ".incoming").glob("*") if p.is_file()]


def send_artwork(client, action: str, content: bytes, name: str, page: str):
    token = csrf_from(client, page)
    return client.post(
        action,
        data={"csrf_token": token, "artwork": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def cover_address(client, track_id: int) -> str:
    """The cover's address on the track page, as the browser would load it."""
    page = client.get(f"/library/tracks/{track_id}").get_data(as_text=True)
    found = re.search(rf'src="(/stream/{track_id}/cover[^"]*)"', page)
    assert found, page[:2000]
    return found.group(1).replace("&amp;", "&")


# --- the edit page ---------------------------------------------------------------------------


def test_upload_replace_and_remove_on_the_edit_page(app, alice, user):
    track = add_track(user, "cover.flac")
    embedded = track.cover_path
    embedded_address = cover_address(alice, track.id)
    assert "?v=" in embedded_address
    edit = f"/library/tracks/{track.id}/edit"
    page = alice.get(edit).get_data(as_text=True)
    assert "Upload artwork" in page and "Remove uploaded artwork" not in page

    age_covers()
    done = send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(RED), "red.png", edit)
    assert done.status_code == 200 and "The artwork is saved." in done.get_data(as_text=True)
    assert "Remove uploaded artwork" in done.get_data(as_text=True)
    db.session.refresh(track)
    assert track.artwork_uploaded and not track.cover_pending and track.cover_path != embedded
    # The embedded thumbnail no row names any more is gone; the new one is the only cover.
    assert [rel for rel in stored() if "/covers/" in rel] == [track.cover_path]

    # The listener's browser: a new address (the old one could be cached for good), the picture.
    address = cover_address(alice, track.id)
    assert address != embedded_address
    served = alice.get(address)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert near(colour_of(served.data), RED)
    with Image.open(io.BytesIO(served.data)) as thumb:
        assert max(thumb.size) == 320  # a thumbnail, not the upload
    # An address without the picture's name (Subsonic's, an album's) is checked each time.
    plain = alice.get(f"/stream/{track.id}/cover")
    assert plain.headers["Cache-Control"] == "private, no-cache" and plain.headers.get("ETag")
    assert near(colour_of(plain.data), RED)
    # The player's data names it too.
    player = alice.get(f"/api/tracks/{track.id}").get_json()
    assert player["cover"] == address

    # Replaced: the first upload's thumbnail is removed.
    first = track.cover_path
    age_covers()
    send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(BLUE, "WEBP"), "blue.webp", edit)
    db.session.refresh(track)
    assert track.cover_path != first and first not in stored() and track.cover_path in stored()
    assert near(colour_of(alice.get(cover_address(alice, track.id)).data), BLUE)

    # Removed: the embedded cover comes back (made again by the cover job).
    age_covers()
    token = csrf_from(alice, edit)
    gone = alice.post(f"/library/tracks/{track.id}/artwork/delete", data={"csrf_token": token}, follow_redirects=True)
    text = gone.get_data(as_text=True)
    assert "The uploaded artwork is removed: the cover embedded in the file is shown again." in text
    assert "Remove uploaded artwork" not in text
    db.session.refresh(track)
    assert not track.artwork_uploaded and track.cover_path == embedded and not track.cover_pending
    assert [rel for rel in stored() if "/covers/" in rel] == [embedded]
    assert alice.get(cover_address(alice, track.id)).data[:3] == b"\xff\xd8\xff"


def test_artwork_uploaded_while_the_cover_job_reads_the_file_is_kept(app, alice, user):
    """The cover job reads the file's embedded art for a while; an upload of artwork
    committed meanwhile wins: the job does not put the embedded art back."""
    track = add_track(user, "cover.flac")
    track.cover_path, track.cover_pending = None, True  # as before its cover job ran
    db.session.commit()
    edit = f"/library/tracks/{track.id}/edit"

    class UploadMeanwhile:
        """The real reader, with the owner's upload committed while it reads."""

        def __init__(self, pool) -> None:
            self.pool = pool

        def cover(self, path):
            send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(BLUE), "blue.png", edit)
            return self.pool.cover(path)

    assert covers.make_cover(get_storage(), UploadMeanwhile(get_pool(2, 30, 1024)), track.id) is None
    db.session.commit()
    db.session.refresh(track)
    assert track.artwork_uploaded and not track.cover_pending
    assert near(colour_of(alice.get(cover_address(alice, track.id)).data), BLUE)


def test_a_replaced_picture_another_request_is_saving_again_stays(app, alice, user):
    """Pictures are stored once per owner, saved before the rows naming them commit. A
    picture replaced on one track while another request saves it for another track is
    not removed under that request; a replaced picture is kept while recent, and the
    library check removes it once it is not."""
    first = add_track(user, "tagged.ogg")
    second = add_track(user, "tagged.mp3")
    edit = f"/library/tracks/{first.id}/edit"
    send_artwork(alice, f"/library/tracks/{first.id}/artwork", picture(RED), "red.png", edit)
    db.session.refresh(first)
    red = first.cover_path
    age_covers()
    # Another request, giving the second track the same picture, has saved it...
    store = get_storage()
    with store.open(red) as fh:
        assert store.save_cover(user.id, red.rpartition("/")[2].removesuffix(".jpg"), fh.read()) == red
    # ...when the first track's picture is replaced: no committed row names red now.
    send_artwork(alice, f"/library/tracks/{first.id}/artwork", picture(BLUE), "blue.png", edit)
    assert red in stored()
    second.cover_path, second.artwork_uploaded = red, True  # the other request commits
    db.session.commit()
    assert near(colour_of(alice.get(cover_address(alice, second.id)).data), RED)

    # Blue replaced at once: recent, it stays (unused) until it is not.
    blue = db.session.get(Track, first.id).cover_path
    send_artwork(alice, f"/library/tracks/{first.id}/artwork", picture((20, 220, 20)), "green.png", edit)
    assert blue in stored()
    assert check_library(store).removed == []
    age_covers()
    assert check_library(store).removed == [blue]
    green = db.session.get(Track, first.id).cover_path
    assert {rel for rel in stored() if "/covers/" in rel} == {red, green}


def test_track_without_embedded_art_gets_the_placeholder_back(alice, user):
    track = add_track(user, "tagged.ogg")
    edit = f"/library/tracks/{track.id}/edit"
    send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(fmt="JPEG"), "photo.jpeg", edit)
    db.session.refresh(track)
    assert track.artwork_uploaded and track.cover_path in stored()
    uploaded = track.cover_path
    age_covers()
    token = csrf_from(alice, edit)
    alice.post(f"/library/tracks/{track.id}/artwork/delete", data={"csrf_token": token})
    db.session.refresh(track)
    assert track.cover_path is None and not track.cover_pending and uploaded not in stored()
    placeholder = alice.get(f"/stream/{track.id}/cover")
    assert placeholder.headers["Content-Type"].startswith("image/svg+xml")


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_pictures_are_refused_with_a_message_and_leave_nothing(app, alice, user, case):
    content, name, code = HOSTILE[case]
    track = add_track(user, "cover.flac")
    before = (track.cover_path, stored())
    edit = f"/library/tracks/{track.id}/edit"
    response = send_artwork(alice, f"/library/tracks/{track.id}/artwork", content, name, edit)
    assert response.status_code == 200
    assert MESSAGES[code] in response.get_data(as_text=True)
    db.session.refresh(track)
    assert not track.artwork_uploaded and (track.cover_path, stored()) == before
    assert incoming_left(app) == []


def test_a_picture_over_the_size_limit_is_refused(make_app, make_user):
    app = make_app(ARTWORK_MAX_MB=1)
    user = make_user("alice")
    track = add_track(user, "tagged.mp3")
    client = app.test_client()
    login(client, "alice")
    big = picture(size=(2000, 2000), fmt="BMP")  # 12 MB
    edit = f"/library/tracks/{track.id}/edit"
    assert "up to 1 MB and 6000 by 6000 pixels" in client.get(edit).get_data(as_text=True)
    before = stored()
    response = send_artwork(client, f"/library/tracks/{track.id}/artwork", big, "big.png", edit)
    assert "The picture is too large: 12 MB, the limit is 1 MB." in response.get_data(as_text=True)
    db.session.refresh(track)
    assert not track.artwork_uploaded and stored() == before and incoming_left(app) == []


def test_an_artwork_part_is_written_to_disk_only_up_to_the_artwork_limit(make_app):
    app = make_app(ARTWORK_MAX_MB=1, MAX_UPLOAD_MB=50)
    for path, limit in (("/library/tracks/1/artwork", 1_000_000), ("/api/v1/tracks", 50_000_000)):
        with app.test_request_context(path, method="POST"):
            incoming = request._get_file_stream(None, "image/png", "big.png")
            incoming.write(b"x" * 1_500_000)
            incoming.flush()
            assert (incoming.max_bytes, incoming.too_large, incoming.size) == (limit, limit < 1_500_000, 1_500_000)
            assert incoming.path.stat().st_size == (0 if limit < 1_500_000 else 1_500_000)
            incoming.discard()


def test_no_file_chosen(alice, user):
    track = add_track(user, "tagged.mp3")
    edit = f"/library/tracks/{track.id}/edit"
    token = csrf_from(alice, edit)
    response = alice.post(
        f"/library/tracks/{track.id}/artwork",
        data={"csrf_token": token, "artwork": (io.BytesIO(b""), "")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Choose a picture first." in response.get_data(as_text=True)


def test_another_accounts_tracks(app, alice, user, make_user):
    bob_user = make_user("bob")
    private = add_track(bob_user, "cover.flac")
    public = add_track(bob_user, "cover.mp3", Visibility.PUBLIC)
    token = csrf_from(alice, "/library")
    for track, status in ((private, 404), (public, 403)):
        for action in ("artwork", "artwork/delete"):
            response = alice.post(
                f"/library/tracks/{track.id}/{action}",
                data={"csrf_token": token, "artwork": (io.BytesIO(picture()), "x.png")},
                content_type="multipart/form-data",
            )
            assert response.status_code == status, (track.id, action)
        assert alice.get(f"/stream/{private.id}/cover").status_code == 404
    db.session.refresh(private)
    db.session.refresh(public)
    assert not private.artwork_uploaded and not public.artwork_uploaded


def test_no_orphan_file_when_the_database_refuses(app, alice, user, monkeypatch):
    track = add_track(user, "tagged.mp3")
    edit = f"/library/tracks/{track.id}/edit"
    token = csrf_from(alice, edit)
    before = stored()

    commit = db.session.commit

    def refuse() -> None:
        # The request's commit fails (the test client's own, before the request, goes through).
        if request:
            raise OperationalError("COMMIT", {}, Exception("the database refuses"))
        commit()

    monkeypatch.setattr(db.session, "commit", refuse)
    refused = alice.post(
        f"/library/tracks/{track.id}/artwork",
        data={"csrf_token": token, "artwork": (io.BytesIO(picture()), "x.png")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 503, refused.status_code
    monkeypatch.undo()
    db.session.rollback()
    db.session.refresh(track)
    assert not track.artwork_uploaded and incoming_left(app) == []
    # Only the picture stays, named by no row (another request could be saving the same
    # one): the library check removes it once it is not recent.
    (left,) = stored() - before
    assert "/covers/" in left
    age_covers()
    assert check_library(get_storage()).removed == [left] and stored() == before


def test_deleting_the_track_removes_its_artwork_and_the_check_knows_the_files(app, alice, user):
    track = add_track(user, "cover.flac")
    edit = f"/library/tracks/{track.id}/edit"
    age_covers()  # the embedded art's thumbnail, replaced, goes at once
    send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(), "x.png", edit)
    db.session.refresh(track)
    uploaded = track.cover_path
    report = check_library(get_storage(), fix=True, stale_after=0)
    assert report.orphans == [] and report.missing == [] and uploaded in stored()
    age_covers()
    token = csrf_from(alice, f"/library/tracks/{track.id}")
    alice.post(f"/library/tracks/{track.id}/delete", data={"csrf_token": token})
    assert uploaded not in stored()


# --- albums ----------------------------------------------------------------------------------


def test_album_artwork_changes_only_the_uploaders_own_tracks(app, alice, user, make_user):
    bob = make_user("bob")
    mine = add_track(user, "tagged.flac", Visibility.PUBLIC)
    bobs = add_track(bob, "cover.flac", Visibility.PUBLIC)  # the same album: "Lossless"
    assert mine.album_id == bobs.album_id
    bobs_cover = bobs.cover_path
    album = f"/library/albums/{mine.album_id}"
    page = alice.get(album).get_data(as_text=True)
    assert "A picture you upload here becomes the cover of your 1 track of this album" in page
    done = send_artwork(alice, f"{album}/artwork", picture(BLUE), "blue.png", album)
    assert "The artwork is saved for your 1 track of this album." in done.get_data(as_text=True)
    db.session.refresh(mine)
    db.session.refresh(bobs)
    assert mine.artwork_uploaded and not bobs.artwork_uploaded and bobs.cover_path == bobs_cover
    # The album's cover, for alice, is her artwork (bob's track is the newer one).
    hero = re.search(r'<img src="(/stream/(\d+)/cover[^"]*)"', alice.get(album).get_data(as_text=True))
    assert int(hero.group(2)) == mine.id and near(colour_of(alice.get(hero.group(1)).data), BLUE)

    # bob owns a track of the album too, but cannot remove alice's artwork through it.
    bob_client = app.test_client()
    login(bob_client, "bob")
    token = csrf_from(bob_client, album)
    gone = bob_client.post(f"{album}/artwork/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "There is no uploaded artwork to remove." in gone.get_data(as_text=True)
    db.session.refresh(mine)
    assert mine.artwork_uploaded

    token = csrf_from(alice, album)
    alice.post(f"{album}/artwork/delete", data={"csrf_token": token})
    db.session.refresh(mine)
    assert not mine.artwork_uploaded and mine.cover_path is None


def test_an_albums_cover_is_the_viewers_own_then_embedded_art(app, alice, user, make_user):
    """Another account's uploaded picture stays on their track: the album shows the
    viewer's own cover, else art embedded in a file."""
    bob = make_user("bob")
    make_user("carol")
    bobs = add_track(bob, "cover.flac", Visibility.PUBLIC)  # embedded art, the older track
    mine = add_track(user, "cover.flac", Visibility.PUBLIC)  # the same album: "Lossless"
    assert mine.album_id == bobs.album_id
    album = f"/library/albums/{mine.album_id}"
    send_artwork(alice, f"/library/tracks/{mine.id}/artwork", picture(BLUE), "blue.png", album)

    def hero(client) -> int:
        return int(re.search(r'<img src="/stream/(\d+)/cover', client.get(album).get_data(as_text=True)).group(1))

    assert hero(alice) == mine.id
    for name in ("bob", "carol"):
        viewer = app.test_client()
        login(viewer, name)
        assert hero(viewer) == bobs.id, name
    # Without embedded art anywhere, the uploaded picture is the album's only cover.
    bobs.cover_path = None
    db.session.commit()
    carol = app.test_client()
    login(carol, "carol")
    assert hero(carol) == mine.id


def test_album_of_nobody_visible_is_404_and_of_others_only_403(app, alice, user, make_user):
    bob = make_user("bob")
    private = add_track(bob, "tagged.mp3")
    public = add_track(bob, "tagged.ogg", Visibility.PUBLIC)
    token = csrf_from(alice, "/library")
    for track, status in ((private, 404), (public, 403)):
        response = alice.post(
            f"/library/albums/{track.album_id}/artwork",
            data={"csrf_token": token, "artwork": (io.BytesIO(picture()), "x.png")},
            content_type="multipart/form-data",
        )
        assert response.status_code == status
    assert "Album artwork" not in alice.get(f"/library/albums/{public.album_id}").get_data(as_text=True)


# --- the REST API and Subsonic ---------------------------------------------------------------


def bearer(user) -> dict[str, str]:
    _row, plain = credentials.create_access_token(user, "test", AccessScope.WRITE)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_api_upload_with_artwork_then_replace_and_remove(app, client, user):
    headers = bearer(user)
    login(client, "alice")  # the listener's browser, for the cover
    response = client.post(
        "/api/v1/tracks",
        data={
            "file": (io.BytesIO((DATA / "cover.mp3").read_bytes()), "cover.mp3"),
            "artwork": (io.BytesIO(picture(RED)), "front.png"),
            "metadata": '{"title": "With art"}',
        },
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()["track"]
    assert data["artwork_uploaded"] is True and data["title"] == "With art"
    assert data["processing_status"] == "ready"
    track = db.session.get(Track, data["id"])
    assert near(colour_of(client.get(f"/stream/{track.id}/cover", headers=headers).data), RED)
    assert [rel for rel in stored() if "/covers/" in rel] == [track.cover_path]

    url = f"/api/v1/tracks/{track.id}/artwork"
    age_covers()
    replaced = client.put(url, data={"artwork": (io.BytesIO(picture(BLUE, "JPEG")), "b.jpg")}, headers=headers)
    assert replaced.status_code == 200 and replaced.get_json()["track"]["artwork_uploaded"] is True
    db.session.refresh(track)
    assert [rel for rel in stored() if "/covers/" in rel] == [track.cover_path]
    assert near(colour_of(client.get(f"/stream/{track.id}/cover", headers=headers).data), BLUE)

    age_covers()
    removed = client.delete(url, headers=headers)
    assert removed.status_code == 200 and removed.get_json()["track"]["artwork_uploaded"] is False
    db.session.refresh(track)
    # cover.mp3 has embedded art: its thumbnail is back.
    assert track.cover_path and not track.artwork_uploaded
    assert [rel for rel in stored() if "/covers/" in rel] == [track.cover_path]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_api_refuses_hostile_artwork_and_adds_nothing(app, client, user, case):
    content, name, code = HOSTILE[case]
    headers = bearer(user)
    response = client.post(
        "/api/v1/tracks",
        data={
            "file": (io.BytesIO((DATA / "tagged.mp3").read_bytes()), "t.mp3"),
            "artwork": (io.BytesIO(content), name),
        },
        content_type="multipart/form-data",
        headers=headers,
    )
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == ((413 if "PIXELS" in code else 415), code)
    assert error["message"] == MESSAGES[code]
    assert db.session.scalar(select(Track)) is None and stored() == set() and incoming_left(app) == []

    track = add_track(user, "tagged.mp3")
    before = stored()
    put = client.put(
        f"/api/v1/tracks/{track.id}/artwork", data={"artwork": (io.BytesIO(content), name)}, headers=headers
    )
    assert put.get_json()["error"]["code"] == code
    db.session.refresh(track)
    assert not track.artwork_uploaded and stored() == before and incoming_left(app) == []


def test_api_artwork_too_large_and_other_accounts(make_app, make_user):
    app = make_app(ARTWORK_MAX_MB=1)
    alice, bob = make_user("alice"), make_user("bob")
    client = app.test_client()
    headers = bearer(alice)
    mine = add_track(alice, "tagged.mp3")
    private = add_track(bob, "tagged.flac")
    public = add_track(bob, "tagged.ogg", Visibility.PUBLIC)
    big = picture(size=(2000, 2000), fmt="BMP")
    response = client.put(
        f"/api/v1/tracks/{mine.id}/artwork", data={"artwork": (io.BytesIO(big), "b.png")}, headers=headers
    )
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "ARTWORK_TOO_LARGE"
    small = picture()
    for track, status, code in ((private, 404, "TRACK_NOT_FOUND"), (public, 403, "TRACK_NOT_OWNED")):
        put = client.put(
            f"/api/v1/tracks/{track.id}/artwork", data={"artwork": (io.BytesIO(small), "s.png")}, headers=headers
        )
        assert (put.status_code, put.get_json()["error"]["code"]) == (status, code)
        delete = client.delete(f"/api/v1/tracks/{track.id}/artwork", headers=headers)
        assert delete.status_code == status
    album = client.put(
        f"/api/v1/albums/{public.album_id}/artwork", data={"artwork": (io.BytesIO(small), "s.png")}, headers=headers
    )
    assert (album.status_code, album.get_json()["error"]["code"]) == (403, "ALBUM_NOT_OWNED")
    hidden = client.put(
        f"/api/v1/albums/{private.album_id}/artwork", data={"artwork": (io.BytesIO(small), "s.png")}, headers=headers
    )
    assert (hidden.status_code, hidden.get_json()["error"]["code"]) == (404, "ALBUM_NOT_FOUND")
    own = client.put(
        f"/api/v1/albums/{mine.album_id}/artwork", data={"artwork": (io.BytesIO(small), "s.png")}, headers=headers
    )
    assert own.status_code == 200 and own.get_json() == {"album_id": mine.album_id, "track_ids": [mine.id]}
    removed = client.delete(f"/api/v1/albums/{mine.album_id}/artwork", headers=headers)
    assert removed.get_json() == {"album_id": mine.album_id, "track_ids": [mine.id]}


def test_subsonic_cover_art_is_the_uploaded_picture(app, alice, user):
    track = add_track(user, "cover.flac")
    edit = f"/library/tracks/{track.id}/edit"
    send_artwork(alice, f"/library/tracks/{track.id}/artwork", picture(BLUE), "b.png", edit)
    _row, password = credentials.create_app_password(user.id, "Phone")
    db.session.commit()
    params = {"u": "alice", "p": password, "v": "1.16.1", "c": "tests"}
    for ident in (str(track.id), f"al-{track.album_id}"):
        response = app.test_client().get("/rest/getCoverArt", query_string={**params, "id": ident})
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
        assert near(colour_of(response.data), BLUE)


def test_a_phone_photo_stored_sideways_is_shown_upright(app, alice, user):
    track = add_track(user, "tagged.mp3")
    sideways = Image.new("RGB", (640, 320), RED)
    exif = sideways.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees to show
    out = io.BytesIO()
    sideways.save(out, "JPEG", exif=exif)
    edit = f"/library/tracks/{track.id}/edit"
    send_artwork(alice, f"/library/tracks/{track.id}/artwork", out.getvalue(), "IMG_0001.JPG", edit)
    with Image.open(io.BytesIO(alice.get(cover_address(alice, track.id)).data)) as thumb:
        assert thumb.size == (160, 320)
