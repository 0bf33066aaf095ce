"""Resumable uploads (tus 1.0.0): create, ask the offset, send pieces, resume after a drop."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import ArchiveImport, ResumableUpload, Track
from app.models.types import utcnow
from app.services.library.quotas import bytes_used
from tests import archives as zips
from tests.helpers import DATA, csrf_from
from tests.servers import flask, log_in, request, server_env

TUS = {"Tus-Resumable": "1.0.0"}
SONG = (DATA / "tagged.flac").read_bytes()


def meta(name: str) -> str:
    return "filename " + base64.b64encode(name.encode()).decode()


class Tus:
    """A tus client on the Flask test client, with the page's CSRF token."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = csrf_from(client, "/library/upload")

    def create(self, name: str, length: int, **headers: str):
        sent = {**TUS, "X-CSRFToken": self.token, "Upload-Length": str(length), "Upload-Metadata": meta(name)}
        return self.client.post("/library/uploads/", headers={**sent, **headers})

    def head(self, url: str):
        return self.client.head(url, headers=TUS)

    def patch(self, url: str, offset: int, data: bytes, **headers: str):
        sent = {
            **TUS,
            "X-CSRFToken": self.token,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        return self.client.patch(url, data=data, headers={**sent, **headers})

    def send(self, name: str, data: bytes, pieces: int = 3) -> dict:
        url = self.create(name, len(data)).headers["Location"]
        step = -(-len(data) // pieces)
        for start in range(0, len(data), step):
            assert self.patch(url, start, data[start : start + step]).status_code == 204
        return self.client.get(url, headers=TUS).get_json()["result"]


@pytest.fixture
def uploads(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


def partials(uploads: Path) -> list[Path]:
    folder = uploads / ".partial"
    return list(folder.iterdir()) if folder.exists() else []


def test_a_file_sent_in_pieces_is_added_byte_for_byte(alice, db, uploads):
    tus = Tus(alice)
    created = tus.create("Album/song.flac", len(SONG))
    assert created.status_code == 201
    assert created.headers["Tus-Resumable"] == "1.0.0" and created.headers["Upload-Expires"].endswith("GMT")
    url = created.headers["Location"]
    assert tus.head(url).headers["Upload-Offset"] == "0"
    half = len(SONG) // 2
    answer = tus.patch(url, 0, SONG[:half])
    assert answer.status_code == 204 and answer.headers["Upload-Offset"] == str(half)
    head = tus.head(url)
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (str(half), str(len(SONG)))
    assert tus.patch(url, half, SONG[half:]).status_code == 204
    result = alice.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "added" and result["track"]["title"] == "Flac Tone"
    track = db.session.scalar(select(Track))
    assert track.original_filename == "song.flac"
    assert (uploads / track.storage_path).read_bytes() == SONG
    assert partials(uploads) == []


def test_a_piece_at_the_wrong_offset_is_refused_with_the_right_one(alice, db):
    tus = Tus(alice)
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    tus.patch(url, 0, SONG[:1000])
    wrong = tus.patch(url, 500, SONG[500:2000])
    assert wrong.status_code == 409 and wrong.get_json()["offset"] == 1000
    assert tus.head(url).headers["Upload-Offset"] == "1000"


def test_protocol_errors(alice, db):
    tus = Tus(alice)
    no_version = {"Upload-Length": "10", "X-CSRFToken": tus.token}
    assert alice.post("/library/uploads/", headers=no_version).status_code == 412
    assert tus.create("big.flac", 10**12).status_code == 413
    assert tus.create("none.flac", 0).status_code == 400
    assert tus.create("bad.flac", 10, **{"Upload-Length": "ten"}).status_code == 400
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    assert tus.patch(url, 0, b"x", **{"Content-Type": "text/plain"}).status_code == 415
    assert tus.patch(url, 0, b"x", **{"X-CSRFToken": "forged"}).status_code == 400
    options = alice.options("/library/uploads/")
    assert options.status_code == 204 and "creation" in options.headers["Tus-Extension"]


def test_a_piece_past_the_length_is_cut_at_the_length(alice, db, uploads):
    tus = Tus(alice)
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    assert tus.patch(url, 0, SONG + b"extra bytes").headers["Upload-Offset"] == str(len(SONG))
    track = db.session.scalar(select(Track))
    assert (uploads / track.storage_path).read_bytes() == SONG


def test_another_account_cannot_see_send_to_or_drop_an_upload(alice, bob, db):
    url = Tus(alice).create("song.flac", len(SONG)).headers["Location"]
    other = Tus(bob)
    assert other.head(url).status_code == 404
    assert other.patch(url, 0, SONG).status_code == 404
    assert bob.delete(url, headers={**TUS, "X-CSRFToken": other.token}).status_code == 404
    assert Tus(alice).head(url).status_code == 200


def test_termination_removes_the_bytes(alice, db, uploads):
    tus = Tus(alice)
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    tus.patch(url, 0, SONG[:5000])
    assert len(partials(uploads)) == 1
    assert alice.delete(url, headers={**TUS, "X-CSRFToken": tus.token}).status_code == 204
    assert partials(uploads) == [] and tus.head(url).status_code == 404


def test_partial_uploads_count_against_no_quota_and_expire(alice, db, uploads, user):
    user.quota_bytes = 30_000  # room for the declared length (checked at creation), not more
    db.session.commit()
    tus = Tus(alice)
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    tus.patch(url, 0, SONG[:20_000])
    assert bytes_used(user.id) == 0
    db.session.scalar(select(ResumableUpload)).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert tus.head(url).status_code == 404
    from app.jobs.tasks import hourly_cleanup

    assert hourly_cleanup()["uploads_expired"] == 1
    assert partials(uploads) == [] and db.session.scalar(select(func.count(ResumableUpload.id))) == 0


def test_over_quota_at_creation_is_refused_before_a_byte(alice, db, uploads, user):
    user.quota_bytes = 10_000
    db.session.commit()
    created = Tus(alice).create("song.flac", len(SONG))
    assert created.status_code == 413
    assert created.get_json()["message"] == "storage quota exceeded: 0 bytes of 10 kB used"
    assert [p for p in uploads.rglob("*") if p.is_file()] == []
    assert db.session.scalar(select(func.count(ResumableUpload.id))) == 0


def test_over_quota_when_it_completes_leaves_nothing(alice, db, uploads, user):
    """Room for it when it began, filled by another upload while it was sent."""
    user.quota_bytes = 35_000
    db.session.commit()
    tus = Tus(alice)
    url = tus.create("song.flac", len(SONG)).headers["Location"]
    other = (DATA / "tagged.mp3").read_bytes()
    alice.post(
        "/library/upload",
        data={"csrf_token": tus.token, "files": [(io.BytesIO(other), "other.mp3")]},
        content_type="multipart/form-data",
    )
    assert tus.patch(url, 0, SONG).status_code == 204
    result = alice.get(url, headers=TUS).get_json()["result"]
    assert result["status"] == "rejected" and result["code"] == "QUOTA_EXCEEDED"
    kept = [p for p in uploads.rglob("*") if p.is_file() and p.suffix in {".flac", ".mp3"}]
    assert [p.suffix for p in kept] == [".mp3"] and partials(uploads) == []


def test_a_zip_sent_resumably_gets_its_preview(alice, db):
    data = zips.build([("Album/a.mp3", zips.mp3_variant("A")), ("Album/b.mp3", zips.mp3_variant("B"))])
    result = Tus(alice).send("music.zip", data)
    assert result["status"] == "archive"
    page = alice.get(result["url"]).get_data(as_text=True)
    assert "2 audio files to add" in page
    assert db.session.scalar(select(func.count(ArchiveImport.id))) == 1


# --- a real gunicorn and a connection that drops mid-file ------------------------------------


def test_resume_after_a_dropped_connection_through_gunicorn(tmp_path, start_gunicorn):
    database_url, uploads = f"sqlite:///{tmp_path / 'tus.db'}", tmp_path / "uploads"
    env = server_env(database_url, uploads)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "owner", stdin="a resumable password\n" * 2)
    server = start_gunicorn(database_url, uploads)
    port = server.port
    cookie = log_in(port, "owner", "a resumable password")
    _, got, page = request(port, "/library/upload", headers={"Cookie": cookie})
    cookie = got["set-cookie"].split(";")[0] if "set-cookie" in got else cookie
    token = re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1).decode()
    auth = {**TUS, "Cookie": cookie, "X-CSRFToken": token}

    # A 3 MB file of real audio, with enough bytes to cut in the middle.
    source = zips.mp3_variant("Long Song") + bytes(range(256)) * 12_000
    status, headers, _ = request(
        port,
        "/library/uploads/",
        "POST",
        {**auth, "Upload-Length": str(len(source)), "Upload-Metadata": meta("long.mp3")},
    )
    assert status == 201
    url = headers["location"]

    # The connection drops after 60% of the file: the client announced all of it.
    cut = int(len(source) * 0.6)
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nX-CSRFToken: {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(source)}\r\n\r\n"
    ).encode()
    sock.sendall(head + source[:cut])
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()

    # The client comes back and asks how much arrived (the server may still be saving it).
    deadline = time.monotonic() + 20
    offset = 0
    while time.monotonic() < deadline:
        status, headers, _ = request(port, url, "HEAD", auth)
        assert status == 200
        offset = int(headers["upload-offset"])
        if offset > 0:
            status, headers, body = request(
                port,
                url,
                "PATCH",
                {**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                source[offset:],
            )
            if status == 204:
                break
            assert status == 409, body  # still busy saving the first piece
        time.sleep(0.1)
    assert 0 < offset <= cut
    assert headers["upload-offset"] == str(len(source))
    status, _, body = request(port, url, "GET", auth)
    result = json.loads(body)["result"]
    assert result["status"] == "added", result
    status, _, stored = request(port, f"/stream/{result['track']['id']}/download", headers={"Cookie": cookie})
    assert status == 200 and stored == source
    assert not (uploads / ".partial").exists() or list((uploads / ".partial").iterdir()) == []
