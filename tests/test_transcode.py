"""Transcoding with real ffmpeg (the imageio-ffmpeg build the app runs) and real
files, checked with Debian's ffprobe: presets, seeking at every stage of an
encode, the limits and the cache."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from app.extensions import db
from app.services import accounts, credentials
from app.services.audio_tools import ffmpeg_path
from app.services.storage import get_storage
from app.services.transcode.cache import Variant, evict
from app.services.transcode.presets import PRESETS
from app.unit_of_work import commit
from tests.audio import synthesize
from tests.helpers import add_track, login, post_form
from tests.servers import flask, log_in, request, server_env, upload

FFPROBE = "/usr/bin/ffprobe"
pytestmark = pytest.mark.skipif(not Path(FFPROBE).exists(), reason="Debian's ffprobe (TEST_DEBS) is missing")

# Sources a phone would want smaller: lossless, or lossy above every preset.
SOURCES = {
    "flac": ["-ac", "2", "-ar", "44100", "-c:a", "flac"],
    "wav": ["-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le"],
    "mp3": ["-ac", "2", "-c:a", "libmp3lame", "-b:a", "320k"],
    "ogg": ["-ac", "2", "-c:a", "libvorbis", "-q:a", "10"],
    "opus": ["-ac", "2", "-c:a", "libopus", "-b:a", "256k"],
    "m4a": ["-ac", "2", "-c:a", "aac", "-b:a", "320k"],
}
# quality, format -> (codec, kbit/s)
EXPECTED = {
    ("high", "opus"): ("mp3", 320),
    ("medium", "opus"): ("opus", 128),
    ("medium", "mp3"): ("mp3", 192),
    ("low", "opus"): ("opus", 64),
    ("low", "mp3"): ("mp3", 96),
}


def real_ffmpeg() -> str:
    return ffmpeg_path(None)[0]


def make_source(folder: Path, ext: str, seconds: float) -> bytes:
    out = folder / f"source-{ext}-{seconds}.{ext}"
    if not out.exists():
        # Noise and a tone: hard enough to encode that VBR sources stay above the presets.
        synthesize(f"anoisesrc=d={seconds}:c=pink:a=0.3,volume=1", out, *SOURCES[ext])
    return out.read_bytes()


def probe(path: Path) -> dict:
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "stream=codec_name:format=duration,size", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def slow_ffmpeg(folder: Path, speed: float = 4, hold: Path | None = None) -> str:
    """The real ffmpeg, made to read its input at `speed` times the speed of
    playback (-readrate), so a test can look at an encode while it runs. With
    `hold`, it starts only once that file is gone: the encode stays under way (its
    slots taken, its .part there) for as long as the test needs, however busy the
    machine."""
    script = folder / ("ffmpeg-held" if hold else "ffmpeg-slow")
    wait = f'while [ -e "{hold}" ]; do sleep 0.05; done\n' if hold else ""
    script.write_text(f'#!/bin/sh\n{wait}exec "{real_ffmpeg()}" -readrate {speed} "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("ext", sorted(SOURCES))
def test_every_preset_from_every_source_has_its_codec_bitrate_and_duration(app, user, client, tmp_path, ext):
    source = make_source(tmp_path, ext, 6.0)
    track = add_track(user, f"source.{ext}", content=source)
    login(client, "alice")
    for (quality, fmt), (codec, kbps) in EXPECTED.items():
        answer = client.get(f"/stream/{track.id}?quality={quality}&format={fmt}")
        assert answer.status_code == 200, (quality, fmt, answer.status_code)
        if ext not in ("flac", "wav") and track.bitrate <= kbps * 1050:
            assert answer.data == source  # never upwards: the original, as it is
            continue
        assert answer.headers["X-Content-Duration"] == f"{track.duration:.3f}"
        assert answer.headers["Accept-Ranges"] == "bytes"
        out = tmp_path / f"out-{quality}-{fmt}.{codec}"
        out.write_bytes(answer.data)
        info = probe(out)
        assert info["streams"][0]["codec_name"] == codec, (ext, quality, fmt)
        duration = float(info["format"]["duration"])
        assert abs(duration - 6.0) < 0.5, (ext, quality, fmt, duration)
        measured = len(answer.data) * 8 / duration / 1000
        assert abs(measured - kbps) / kbps < 0.10, (ext, quality, fmt, measured)


def test_a_lossy_track_is_never_transcoded_upwards(app, user, client):
    track = add_track(user, "tagged.mp3")  # 32 kbit/s
    login(client, "alice")
    answer = client.get(f"/stream/{track.id}?quality=high")
    assert answer.status_code == 200
    assert answer.data == (Path(__file__).parent / "data" / "tagged.mp3").read_bytes()
    assert "X-Content-Duration" not in answer.headers


def test_an_unknown_quality_is_a_clear_400(app, user, client):
    track = add_track(user, "tagged.flac")
    login(client, "alice")
    answer = client.get(f"/stream/{track.id}?quality=ultra", headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert "Unknown sound quality" in answer.json["message"]


def test_another_users_private_track_is_404_at_every_quality(app, user, bob):
    track = add_track(user, "tagged.flac")
    assert bob.get(f"/stream/{track.id}?quality=medium").status_code == 404
    assert bob.get(f"/stream/{track.id}/download?quality=low").status_code == 404


def test_download_is_the_finished_copy_with_its_extension(app, user, client, tmp_path):
    track = add_track(user, "tagged.flac")
    login(client, "alice")
    answer = client.get(f"/stream/{track.id}/download?quality=medium")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == "attachment; filename=tagged.opus"
    assert answer.mimetype == "audio/ogg"
    (tmp_path / "d.opus").write_bytes(answer.data)
    assert probe(tmp_path / "d.opus")["streams"][0]["codec_name"] == "opus"
    answer = client.get(f"/stream/{track.id}/download?quality=low&format=mp3")
    assert answer.headers["Content-Disposition"] == "attachment; filename=tagged.mp3"
    assert answer.mimetype == "audio/mpeg"


def _wait_complete(app, variant: Variant, seconds: float = 60) -> Path:
    path = get_storage().variant_path(variant.name)
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, "the encode never finished"
        time.sleep(0.1)
    return path


# The variant's bytes do not depend on the database: each codec runs on one of the two.
@pytest.mark.parametrize(
    ("database_url", "fmt", "preset_name"),
    [("sqlite", "mp3", "mp3-192"), ("postgresql", "opus", "opus-128")],
    indirect=["database_url"],
)
def test_ranges_into_a_partial_and_a_complete_variant_are_the_finished_files_bytes(
    make_app, tmp_path, fmt, preset_name
):
    app = make_app(FFMPEG=slow_ffmpeg(tmp_path), TRANSCODE_ABANDON_SECONDS=30)
    with app.app_context():
        from app.extensions import db
        from app.services import accounts

        owner = accounts.create_user("alice", "correct horse battery", rounds=4)
        db.session.commit()
        track = add_track(owner, "long.flac", content=make_source(tmp_path, "flac", 40.0))
        client = app.test_client()
        login(client, "alice", "correct horse battery")
        preset = PRESETS[preset_name]
        url = f"/stream/{track.id}?quality=medium&format={fmt}"
        first = client.get(url, buffered=False)
        # While ffmpeg runs: the size it will have, from the CBR bitrate.
        assert first.status_code == 200
        estimate = int(first.headers["Content-Length"])
        assert estimate == preset.estimated_size(track.duration)
        assert "ETag" not in first.headers
        time.sleep(2.5)  # about 10 s of audio encoded: 240 kB
        part = client.get(url, headers={"Range": "bytes=1000-20999"})
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 1000-20999/{estimate}"
        # Far past the encoded part: a second ffmpeg from that time answers at once.
        far = int(estimate * 0.8)
        started = time.monotonic()
        beyond = client.get(url, headers={"Range": f"bytes={far}-"})
        assert time.monotonic() - started < 5
        assert beyond.status_code == 206
        assert beyond.headers["Content-Range"] == f"bytes {far}-{estimate - 1}/{estimate}"
        assert len(beyond.data) == estimate - far
        if fmt == "mp3":
            assert beyond.data[0] == 0xFF and beyond.data[1] & 0xE0 == 0xE0  # an MP3 frame starts it
        else:
            # An Ogg page of audio (not the stream's headers again), at about 80 % of the duration.
            assert beyond.data[:4] == b"OggS"
            granule = int.from_bytes(beyond.data[6:14], "little") / 48000
            assert abs(granule - 0.8 * track.duration) < 2.5, granule
        done = _wait_complete(app, Variant(track.sha256, preset))
        first.close()
        finished = done.read_bytes()
        assert abs(len(finished) - estimate) < 0.005 * estimate
        assert part.data == finished[1000:21000]
        # Complete: served like a stored file, with its real size and the variant's ETag.
        whole = client.get(url, headers={"Range": "bytes=5000-9999"})
        assert whole.status_code == 206
        assert whole.headers["Content-Range"] == f"bytes 5000-9999/{len(finished)}"
        assert whole.data == finished[5000:10000]
        assert whole.headers["ETag"] == f'"{track.sha256}-{preset_name}"'
        assert whole.headers["X-Content-Duration"] == f"{track.duration:.3f}"


def test_a_hostile_file_fails_cleanly_with_a_message(app, user, client, caplog):
    track = add_track(user, "tagged.flac")
    path = get_storage().local_path(track.storage_path)
    data = bytearray(path.read_bytes())
    data[42:] = bytes((i * 7919) % 251 for i in range(len(data) - 42))  # the frames become noise
    path.write_bytes(bytes(data[:4] + b"\x00garbage" + data[12:]))
    login(client, "alice")
    for _ in range(2):  # the second answer comes from the remembered failure
        answer = client.get(f"/stream/{track.id}?quality=medium", headers={"Accept": "application/json"})
        assert answer.status_code == 422
        assert answer.json["message"].startswith("This track could not be converted")
    assert any("transcode of track" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert not [f for f in get_storage().list_variants() if f.rel.endswith(".part")]


def test_the_cache_evicts_the_least_recently_used_variants_under_its_cap(app):
    storage = get_storage()
    now = time.time()
    for i, preset in enumerate(["mp3-320", "mp3-192", "opus-128", "opus-64"]):
        path = storage.variant_path(Variant(f"{i:064x}", PRESETS[preset]).name)
        path.write_bytes(bytes(1000))
        os.utime(path, (now - 100 + i * 10, now - 100 + i * 10))
    stale = storage.variant_path(Variant("f" * 64, PRESETS["mp3-96"]).name + ".part")
    stale.write_bytes(bytes(10))  # a crash left it: nobody holds its lock
    removed = evict(storage, 2500)
    left = sorted(f.rel for f in storage.list_variants() if not f.rel.endswith((".lock", ".readers")))
    assert removed == {"variants": 2, "partial": 1, "bytes": 2000, "pinned": 0}
    assert left == [Variant(f"{2:064x}", PRESETS["opus-128"]).name, Variant(f"{3:064x}", PRESETS["opus-64"]).name]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # ffmpeg and HTTP, not the database
def test_subsonic_max_bitrate_format_time_offset_and_busy(make_app, tmp_path):
    app = make_app(TRANSCODE_MAX_PER_USER=1, FFMPEG=slow_ffmpeg(tmp_path, speed=2))
    with app.app_context():
        owner = accounts.create_user("alice", "correct horse battery", rounds=4)
        _row, password = credentials.create_app_password(owner.id, "Phone")
        commit()
        track = add_track(owner, "long.flac", content=make_source(tmp_path, "flac", 20.0))
        client = app.test_client()
        auth = {"u": "alice", "p": password, "v": "1.16.1", "c": "tests", "id": str(track.id)}

        raw = client.get("/rest/stream", query_string={**auth, "format": "raw"})
        assert raw.data == get_storage().local_path(track.storage_path).read_bytes()
        # 128 kbit/s at most, as MP3: the largest MP3 preset under it, 96.
        mp3 = client.get("/rest/stream", query_string={**auth, "maxBitRate": "128", "format": "mp3"}, buffered=False)
        assert mp3.status_code == 200
        assert mp3.mimetype == "audio/mpeg"
        assert int(mp3.headers["Content-Length"]) == PRESETS["mp3-96"].estimated_size(track.duration)
        # alice's one slot is taken by that encode: error 0, saying so.
        busy = client.get("/rest/stream", query_string={**auth, "maxBitRate": "64", "format": "opus", "f": "json"})
        error = busy.get_json()["subsonic-response"]["error"]
        assert error["code"] == 0
        assert "try again" in error["message"]
        mp3.close()
        time.sleep(4)  # nobody listens: the encode stops and frees the slot
        # timeOffset: from 15 s on, the size estimated when asked.
        late = client.get(
            "/rest/stream",
            query_string={**auth, "format": "opus", "timeOffset": "15", "estimateContentLength": "true"},
        )
        assert late.status_code == 200, late.data[:300]
        assert late.headers["X-Content-Duration"] == f"{track.duration - 15:.3f}"
        assert int(late.headers["Content-Length"]) == len(late.data)
        out = tmp_path / "late.opus"
        out.write_bytes(late.data)
        assert probe(out)["streams"][0]["codec_name"] == "opus"
        # Apps learn that timeOffset works on transcoded streams from the extensions list.
        listed = client.get("/rest/getOpenSubsonicExtensions", query_string={"f": "json"}).get_json()
        assert {"name": "transcodeOffset", "versions": [1]} in listed["subsonic-response"]["openSubsonicExtensions"]


def test_doctor_and_the_admin_page_name_the_ffmpeg_and_its_encoders(app, admin, client):
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    path = ffmpeg_path(None)[0]
    assert f"ffmpeg: {path} (from imageio-ffmpeg)" in result.output
    for name in ("libmp3lame", "libopus", "libvorbis", "aac"):
        assert f"encoder {name}: yes" in result.output
    login(client, "admin")
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert path in page
    assert "libopus: yes" in page


def test_the_trim_job_runs_on_a_schedule():
    from app.jobs.tasks import PERIODIC, TASKS

    assert any(p.job == "trim_variants" for p in PERIODIC)
    assert TASKS["trim_variants"].__name__ == "trim_variants"


def test_limits_answer_429_and_free_up_when_a_client_drops(tmp_path, start_gunicorn):
    database = str(tmp_path / "limits.db")
    url, uploads = f"sqlite:///{database}", tmp_path / "uploads"
    settings = {
        "FFMPEG": slow_ffmpeg(tmp_path, speed=1),
        "TRANSCODE_MAX_PER_USER": "1",
        "TRANSCODE_ABANDON_SECONDS": "1",
        "LOG_LEVEL": "warning",
    }
    env = server_env(url, uploads, **settings)
    flask(env, "db", "upgrade")
    flask(env, "create-admin", "owner", stdin="serving password\n" * 2)
    server = start_gunicorn(url, uploads, **settings)
    cookie = log_in(server.port, "owner", "serving password")
    ids = [
        upload(server.port, cookie, f"{name}.flac", make_source(tmp_path, "flac", seconds))["track"]["id"]
        for name, seconds in (("one", 30.0), ("two", 30.5))
    ]
    listener = socket.create_connection(("127.0.0.1", server.port))
    listener.sendall(f"GET /stream/{ids[0]}?quality=medium HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
    assert listener.recv(65536).startswith(b"HTTP/1.1 200")
    parts = list((uploads / ".variants").glob("*.part"))
    assert len(parts) == 1

    # The account's one slot is taken: 429 with Retry-After, or the original for a client that takes it.
    status, headers, _ = request(server.port, f"/stream/{ids[1]}?quality=medium", headers={"Cookie": cookie})
    assert status == 429
    assert headers["retry-after"] == "5"
    status, headers, body = request(
        server.port, f"/stream/{ids[1]}?quality=medium", headers={"Cookie": cookie, "Accept": "audio/*"}
    )
    assert status == 200
    assert headers["content-type"] == "audio/flac"
    assert body == make_source(tmp_path, "flac", 30.5)

    listener.close()  # the only listener drops: its encode stops, its slot and .part go
    deadline = time.monotonic() + 15
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", f"/stream/{ids[1]}?quality=medium", headers={"Cookie": cookie, "Range": "bytes=0-99"})
        status = conn.getresponse().status
        conn.close()
        if status == 206:
            break
        assert status == 429
        assert time.monotonic() < deadline, "the dropped client's encode kept its slot"
        time.sleep(0.5)
    assert not parts[0].exists()


def test_sound_quality_settings_are_kept_and_reach_the_player(app, user, client):
    login(client, "alice")
    page = client.get("/account").get_data(as_text=True)
    assert "Sound quality" in page
    answer = post_form(client, "/account", "/account/sound-quality", {"sound-web": "medium", "sound-metered": "low"})
    assert answer.status_code == 302
    db.session.refresh(user)
    assert (user.quality_web, user.quality_metered) == ("medium", "low")
    config = client.get("/library").get_data(as_text=True)
    assert '"quality": {"metered": "low", "web": "medium"}' in config or '"web": "medium"' in config
    bad = post_form(client, "/account", "/account/sound-quality", {"sound-web": "ultra", "sound-metered": "low"})
    assert bad.status_code == 400
    db.session.refresh(user)
    assert user.quality_web == "medium"


def test_the_sound_endpoint_says_what_plays(app, user, client):
    flac = add_track(user, "tagged.flac")
    mp3 = add_track(user, "tagged.mp3")
    login(client, "alice")
    assert client.get(f"/api/tracks/{flac.id}/sound?quality=medium").json == {
        "codec": "Opus",
        "bitrate": 128,
        "transcoded": True,
    }
    assert client.get(f"/api/tracks/{flac.id}/sound?quality=low&format=mp3").json["codec"] == "MP3"
    sound = client.get(f"/api/tracks/{mp3.id}/sound?quality=high").json
    assert sound["transcoded"] is False
    assert sound["bitrate"] == round(mp3.bitrate / 1000)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # ffmpeg and HTTP, not the database
def test_a_far_seek_without_a_free_slot_waits_for_the_encode(make_app, tmp_path):
    app = make_app(FFMPEG=slow_ffmpeg(tmp_path, speed=8), TRANSCODE_MAX_PER_USER=1, TRANSCODE_ABANDON_SECONDS=30)
    with app.app_context():
        owner = accounts.create_user("alice", "correct horse battery", rounds=4)
        db.session.commit()
        track = add_track(owner, "long.flac", content=make_source(tmp_path, "flac", 40.0))
        client = app.test_client()
        login(client, "alice", "correct horse battery")
        url = f"/stream/{track.id}?quality=low&format=mp3"
        first = client.get(url, buffered=False)
        estimate = int(first.headers["Content-Length"])
        far = int(estimate * 0.9)
        # alice's one slot runs the encode: no second ffmpeg, the range comes from the encode when it gets there.
        beyond = client.get(url, headers={"Range": f"bytes={far}-{far + 999}"})
        assert beyond.status_code == 206
        finished = _wait_complete(app, Variant(track.sha256, PRESETS["mp3-96"])).read_bytes()
        first.close()
        assert beyond.data == finished[far : far + 1000]
