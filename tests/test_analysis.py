"""Loudness, waveform, ReplayGain and decoded length, measured by a job after upload
(real ffmpeg, real files), the waveform's address, the retry and `flask reprocess`."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX
from mutagen.mp4 import MP4, MP4FreeForm

from app.extensions import db as _db
from app.jobs.consumer import start_in_thread
from app.models import AnalysisState, Job, Track, Visibility
from app.services import accounts, credentials
from app.services.library.analysis import Peaks
from app.services.storage import get_storage
from app.unit_of_work import commit
from tests.audio import ffmpeg, synthesize, tone_at_loudness
from tests.helpers import DATA, PASSWORD, add_track, csrf_from, login
from tests.test_jobs import wait_for


def subsonic_song(app: Flask, secret: str, track_id: int) -> dict:
    """getSong as a Subsonic app sees it (JSON)."""
    query = {"u": "alice", "p": secret, "v": "1.16.1", "c": "tests", "f": "json", "id": track_id}
    return app.test_client().get("/rest/getSong", query_string=query).get_json()["subsonic-response"]["song"]


def fresh(track: Track) -> Track:
    _db.session.expire_all()
    return _db.session.get(Track, track.id)


def added(owner, path: Path) -> Track:
    return add_track(owner, path.name, content=path.read_bytes())


# --- loudness -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_loudness_of_a_tone_is_measured_within_half_a_unit(app, user, tmp_path, target):
    tone = tmp_path / f"tone{int(-target)}.flac"
    tone_at_loudness(tone, target)
    track = added(user, tone)  # the job ran when the upload committed (jobs run at once in tests)
    assert track.analysis_state is AnalysisState.DONE
    assert track.loudness == pytest.approx(target, abs=0.5)
    # A stereo 1 kHz sine peaks at about its loudness (K-weighting and channel sum cancel out).
    assert track.true_peak == pytest.approx(target, abs=1.0)
    # Without ReplayGain tags, the player gets the gain to the -18 LUFS reference.
    gain = app.test_client()
    login(gain, "alice")
    data = gain.get(f"/api/tracks/{track.id}").get_json()
    assert data["gain"]["source"] == "loudness"
    assert data["gain"]["track"] == pytest.approx(-18.0 - target, abs=0.5)
    page = gain.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    assert f"{track.loudness:.1f} LUFS" in page
    # Subsonic apps get the same gain, and the true peak as a sample value (OpenSubsonic's replayGain).
    _row, secret = credentials.create_app_password(user.id, "Phone")
    commit()
    song = subsonic_song(app, secret, track.id)
    assert song["replayGain"]["trackGain"] == data["gain"]["track"]
    assert song["replayGain"]["albumGain"] == data["gain"]["album"]
    assert song["replayGain"]["trackPeak"] == pytest.approx(10 ** (track.true_peak / 20), rel=1e-3)


@pytest.mark.parametrize("true_peak", [True, False])
def test_a_peak_between_samples_above_full_scale_is_measured(make_app, tmp_path, true_peak):
    """A sine at a quarter of the sample rate, a quarter-cycle out of phase: every sample
    sits at 0.707 of the wave's crest, so the samples peak at -0.7 dBFS while the
    wave between them reaches +2.3 dBTP, an over a DAC would clip. The true-peak
    meter sees it; the sample meter does not."""
    app = make_app(ANALYSIS_TRUE_PEAK=true_peak)
    source = tmp_path / "overs.flac"
    wave = "1.3*sin(2*PI*11025*t+PI/4)"
    synthesize(f"aevalsrc='{wave}|{wave}':s=44100:d=5", source, "-sample_fmt", "s32")
    with app.app_context():
        owner = accounts.create_user("alice", PASSWORD, rounds=4)
        commit()
        track = added(owner, source)
        assert track.analysis_state is AnalysisState.DONE
        if true_peak:
            assert track.true_peak == pytest.approx(2.3, abs=0.7)
        else:
            assert track.true_peak == pytest.approx(-0.73, abs=0.05)


def test_album_gain_comes_from_the_albums_tracks_together(app, user, tmp_path):
    loud, quiet = tmp_path / "loud.flac", tmp_path / "quiet.flac"
    for path, lufs in ((loud, -10.0), (quiet, -20.0)):
        tone_at_loudness(path, lufs)
        tags = FLAC(path)
        tags["album"], tags["artist"], tags["title"] = "Both", "Tones", path.stem
        tags.save()
    first, second = added(user, loud), added(user, quiet)
    first, second = fresh(first), fresh(second)
    # Equal lengths: the energies average to about 2.6 LU below the louder track.
    assert first.album_loudness == second.album_loudness
    assert first.album_loudness == pytest.approx(-12.6, abs=0.5)


# --- the waveform ---------------------------------------------------------------------------


def test_waveform_shows_the_silence_in_the_middle(app, user, tmp_path):
    source = tmp_path / "gap.flac"
    # 3 s of tone, 3 s of silence, 3 s of tone.
    synthesize("aevalsrc='if(between(t,3,6),0,0.5*sin(2*PI*440*t))':d=9:s=44100", source)
    track = added(user, source)
    assert track.waveform_path and track.waveform_path.endswith(".waveform.json")
    with get_storage().open(track.waveform_path) as fh:
        waveform = json.load(fh)
    assert {k: waveform[k] for k in ("version", "channels", "bits", "sample_rate")} == {
        "version": 2,
        "channels": 1,
        "bits": 8,
        "sample_rate": 4000,
    }
    length = waveform["length"]
    assert 990 <= length <= 1000 and len(waveform["data"]) == 2 * length
    seconds_per_pixel = waveform["samples_per_pixel"] / waveform["sample_rate"]
    assert length * seconds_per_pixel == pytest.approx(9.0, abs=0.1)
    for pixel in range(length):
        low, high = waveform["data"][2 * pixel : 2 * pixel + 2]
        start = pixel * seconds_per_pixel
        if 3.05 < start < 5.95:
            assert (low, high) == (0, 0) or max(-low, high) <= 1, f"sound at {start:.2f} s"
        elif start < 2.95 or start > 6.05:
            assert high > 50 and low < -50, f"silence at {start:.2f} s"


def test_waveform_endpoint_follows_the_tracks_access_rules(app, client, user, bob):
    track = add_track(user, "tagged.flac")
    login(client, "alice")
    url = client.get(f"/api/tracks/{track.id}").get_json()["waveform"]
    assert url.startswith(f"/library/tracks/{track.id}/waveform.json?v=")
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["version"] == 2
    assert "max-age=31536000" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # Another account's private track does not exist for them.
    assert bob.get(url).status_code == 404
    assert bob.get(f"/library/tracks/{track.id}/waveform.json").status_code == 404
    # Public, it is theirs to see.
    fresh(track).visibility = Visibility.PUBLIC
    commit()
    assert bob.get(url).status_code == 200
    # Logged out: the login page, never the data.
    assert app.test_client().get(url).status_code in (302, 401)


def test_waveform_and_file_go_with_a_deleted_track(app, user):
    track = add_track(user, "tagged.mp3")
    waveform = get_storage().local_path(track.waveform_path)
    assert waveform.exists()
    client = app.test_client()
    login(client, "alice")
    token = csrf_from(client, f"/library/tracks/{track.id}")
    assert client.post(f"/library/tracks/{track.id}/delete", data={"csrf_token": token}).status_code == 302
    assert not waveform.exists()


# --- ReplayGain tags and the decoded length -----------------------------------------------------


def test_replaygain_tags_are_read_from_id3_vorbis_and_mp4(app, user, tmp_path):
    mp3, flac, m4a = tmp_path / "rg.mp3", tmp_path / "rg.flac", tmp_path / "rg.m4a"
    mp3.write_bytes((DATA / "tagged.mp3").read_bytes())
    tags = ID3(mp3)
    for desc, text in (("REPLAYGAIN_TRACK_GAIN", "-6.48 dB"), ("replaygain_track_peak", "0.988525")):
        tags.add(TXXX(encoding=3, desc=desc, text=text))
    tags.add(TXXX(encoding=3, desc="REPLAYGAIN_ALBUM_GAIN", text="-7.10 dB"))
    tags.save(mp3)
    flac.write_bytes((DATA / "tagged.flac").read_bytes())
    vorbis = FLAC(flac)
    vorbis["REPLAYGAIN_TRACK_GAIN"], vorbis["REPLAYGAIN_ALBUM_GAIN"] = "+2.50 dB", "+1.25 dB"
    vorbis["REPLAYGAIN_ALBUM_PEAK"] = "0.5"
    vorbis.save()
    m4a.write_bytes((DATA / "tagged.m4a").read_bytes())
    itunes = MP4(m4a)
    itunes["----:com.apple.iTunes:replaygain_track_gain"] = [MP4FreeForm(b"-3.00 dB")]
    itunes.save()

    got = {path.suffix: added(user, path) for path in (mp3, flac, m4a)}
    assert (got[".mp3"].rg_track_gain, got[".mp3"].rg_track_peak, got[".mp3"].rg_album_gain) == (-6.48, 0.988525, -7.1)
    assert (got[".flac"].rg_track_gain, got[".flac"].rg_album_gain, got[".flac"].rg_album_peak) == (2.5, 1.25, 0.5)
    assert got[".m4a"].rg_track_gain == -3.0 and got[".m4a"].rg_album_gain is None
    client = app.test_client()
    login(client, "alice")
    gain = client.get(f"/api/tracks/{got['.mp3'].id}").get_json()["gain"]
    assert gain == {"track": -6.48, "album": -7.1, "source": "replaygain"}
    page = client.get(f"/library/tracks/{got['.flac'].id}").get_data(as_text=True)
    assert "+2.50 dB" in page and "from the ReplayGain tags" in page
    _row, secret = credentials.create_app_password(user.id, "Phone")
    commit()
    song = subsonic_song(app, secret, got[".mp3"].id)
    assert song["replayGain"] == {"trackGain": -6.48, "albumGain": -7.1, "trackPeak": 0.988525}
    xml = app.test_client().get(
        "/rest/getSong.view", query_string={"u": "alice", "p": secret, "v": "1.16.1", "c": "t", "id": got[".flac"].id}
    )
    root = ET.fromstring(xml.data)  # noqa: S314 - our own server's answer, in a test
    gain_element = root.find(".//{*}song/{*}replayGain")
    assert gain_element is not None
    assert (gain_element.get("trackGain"), gain_element.get("albumGain"), gain_element.get("albumPeak")) == (
        "2.5",
        "1.25",
        "0.5",
    )


def test_vbr_mp3_without_a_xing_header_gets_its_decoded_length(app, user, tmp_path):
    vbr = tmp_path / "vbr.mp3"
    # 6 s of silence (tiny frames) then 10 s of noise: the first frame's bitrate says nothing.
    subprocess.run(
        [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo:d=6", "-f", "lavfi", "-i", "anoisesrc=d=10:a=0.3:r=44100",
         "-filter_complex", "[1:a]aformat=channel_layouts=stereo[n];[0:a][n]concat=n=2:v=0:a=1",
         "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0", str(vbr)],
        check=True,
    )  # fmt: skip
    track = added(user, vbr)
    assert track.duration == pytest.approx(16.0, abs=0.1)
    assert track.bitrate == pytest.approx(track.size_bytes * 8 / track.duration, rel=0.001)
    assert fresh(track).waveform_path is not None


# --- failures -------------------------------------------------------------------------------


def undecodable_flac() -> bytes:
    """Real FLAC headers, then a frame sync code and noise: the tag reader takes it, ffmpeg cannot decode it."""
    data = (DATA / "tagged.flac").read_bytes()
    pos = 4
    while True:  # past the metadata blocks
        header = data[pos : pos + 4]
        pos += 4 + int.from_bytes(header[1:4], "big")
        if header[0] & 0x80:
            break
    noise = bytes((i * 7919 + 13) % 251 for i in range(20_000))
    return data[:pos] + b"\xff\xf8" + noise


def test_an_undecodable_file_fails_with_its_reason_and_the_owner_retries(app, user, bob):
    track = add_track(user, "broken.flac", content=undecodable_flac())
    assert track.analysis_state is AnalysisState.FAILED
    assert track.analysis_error == "UNDECODABLE_AUDIO"
    client = app.test_client()
    login(client, "alice")
    page = client.get(f"/library/tracks/{track.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "The sound could not be measured: the audio could not be decoded." in text
    assert "Try again" in text
    # The player gets no waveform and no gain, and the waveform's address says so.
    data = client.get(f"/api/tracks/{track.id}").get_json()
    assert data["waveform"] is None and data["gain"] is None
    assert client.get(f"/library/tracks/{track.id}/waveform.json").status_code == 404
    # Another account sees no button and cannot retry it.
    assert bob.get(f"/library/tracks/{track.id}").status_code == 404

    # The file is repaired on disk (as an admin would restore it): the retry measures it.
    get_storage().local_path(track.storage_path).write_bytes((DATA / "tagged.flac").read_bytes())
    token = csrf_from(client, f"/library/tracks/{track.id}")
    response = client.post(f"/library/tracks/{track.id}/analyse", data={"csrf_token": token})
    assert response.status_code == 302
    track = fresh(track)
    assert track.analysis_state is AnalysisState.DONE and track.analysis_error is None
    assert track.waveform_path is not None
    # Done: nothing to retry.
    assert client.post(f"/library/tracks/{track.id}/analyse", data={"csrf_token": token}).status_code == 409
    assert client.post(f"/library/tracks/{track.id}/analyse", data={}).status_code == 400


def test_only_the_owner_retries(app, user, make_user):
    track = add_track(user, "broken.flac", content=undecodable_flac(), visibility=Visibility.PUBLIC)
    make_user("bob")
    bob = app.test_client()
    login(bob, "bob")
    assert "Try again" not in bob.get(f"/library/tracks/{track.id}").get_data(as_text=True)
    token = csrf_from(bob, f"/library/tracks/{track.id}")
    assert bob.post(f"/library/tracks/{track.id}/analyse", data={"csrf_token": token}).status_code == 403


def test_a_missing_ffmpeg_fails_the_analysis_with_a_message(make_app, tmp_path):
    app = make_app(FFMPEG=str(tmp_path / "no-ffmpeg"))
    with app.app_context():
        owner = accounts.create_user("alice", PASSWORD, rounds=4)
        commit()
        track = add_track(owner, "tagged.flac")
        assert track.analysis_state is AnalysisState.FAILED and track.analysis_error == "FFMPEG_UNAVAILABLE"
        client = app.test_client()
        login(client, "alice")
        text = client.get(f"/library/tracks/{track.id}").get_data(as_text=True)
        assert "the server could not start ffmpeg" in text


# --- through a real queue: "processing" until the worker is done --------------------------------


@pytest.fixture
def queued_app(make_app, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(JOBS_IMMEDIATE=False, HUEY_URL=f"sqlite:///{tmp_path / 'queue.db'}", JOBS_RETRY_DELAY=1)
    with app.app_context():
        yield app


def test_upload_answers_at_once_and_the_page_says_processing_until_the_worker_is_done(queued_app):
    owner = accounts.create_user("alice", PASSWORD, rounds=4)
    commit()
    client = queued_app.test_client()
    login(client, "alice")
    token = csrf_from(client, "/library/upload")
    with (DATA / "tagged.flac").open("rb") as fh:
        answer = client.post(
            "/library/upload",
            data={"csrf_token": token, "files": [(fh, "tagged.flac")]},
            headers={"Accept": "application/json"},
        )
    track_id = answer.get_json()["results"][0]["track"]["id"]
    page = client.get(f"/library/tracks/{track_id}").get_data(as_text=True)
    assert "Processing: measuring the loudness and drawing the waveform…" in page
    assert 'hx-trigger="every 3s"' in page  # the section asks for itself again until done
    assert client.get(f"/library/tracks/{track_id}/waveform.json").status_code == 404
    consumer = start_in_thread(queued_app)
    try:
        wait_for(lambda: _db.session.get(Track, track_id).analysis_state is AnalysisState.DONE, what="the analysis")
    finally:
        consumer.stop(graceful=True)
    page = client.get(f"/library/tracks/{track_id}").get_data(as_text=True)
    assert "Processing" not in page and "LUFS" in page and 'data-waveform="' in page
    assert "hx-trigger" not in page
    assert owner.id == _db.session.get(Track, track_id).owner_id


# --- flask reprocess --------------------------------------------------------------------------


def test_reprocess_queues_the_analysis_of_existing_tracks(app, user, make_user):
    mine = add_track(user, "tagged.flac")
    other = add_track(make_user("bob"), "tagged.mp3")
    for track in (mine, other):  # as tracks added before the analysis existed
        track.analysis_state, track.loudness, track.waveform_path = None, None, None
    commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reprocess", "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert "Queued the analysis of 1 track." in result.output
    assert fresh(mine).analysis_state is AnalysisState.DONE and fresh(mine).loudness is not None
    assert fresh(other).analysis_state is None
    result = runner.invoke(args=["reprocess", "--all"])
    assert "Queued the analysis of 2 tracks." in result.output
    assert fresh(other).analysis_state is AnalysisState.DONE
    assert _db.session.query(Job).filter(Job.name == "analyse_track").count() == 5
    assert runner.invoke(args=["reprocess"]).exit_code == 2
    assert runner.invoke(args=["reprocess", "--all", "--user", "alice"]).exit_code == 2
    missing = runner.invoke(args=["reprocess", "--user", "ghost"])
    assert missing.exit_code == 1 and "No account named 'ghost'." in missing.output


def test_peaks_of_a_file_far_longer_than_it_claims_stay_bounded():
    # Claimed: 1 s at 8 kHz (blocks of one sample); decoded: 40 times longer.
    peaks = Peaks(block=1, limit=1000)
    samples = array("h", [(i % 200) - 100 if (i // 8000) % 2 == 0 else 0 for i in range(320_000)])
    data = samples.tobytes()
    for start in range(0, len(data), 4096):
        peaks.feed(data[start : start + 4096])
    peaks.finish()
    assert peaks.samples == 320_000 and len(peaks.mins) < 1000
    waveform = peaks.waveform(100, 8000)
    seconds = waveform["samples_per_pixel"] / 8000
    assert waveform["length"] * seconds == pytest.approx(40, abs=0.5)
    pairs = list(zip(waveform["data"][::2], waveform["data"][1::2], strict=True))
    assert pairs[0] == (-100 >> 8, 99 >> 8)
    # Every other second is silent: the pixel in the middle of one shows it.
    assert pairs[int(1.5 / seconds)] == (0, 0)
