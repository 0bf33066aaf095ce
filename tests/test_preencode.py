"""Pre-encoding a listener's favourites and playlists for phones that download ahead:
real ffmpeg, real files, both databases."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs.tasks import PERIODIC, TASKS
from app.models import Job, JobState
from app.services import accounts, jobs, playlists
from app.services.storage import get_storage
from app.services.transcode import cache, preencode
from app.services.transcode.cache import Limits, TranscodeBusy, Variant
from app.services.transcode.presets import PRESETS
from app.unit_of_work import commit
from tests.helpers import add_track, login, post_form
from tests.test_transcode import FFPROBE, make_source, probe, slow_ffmpeg

pytestmark = pytest.mark.skipif(not Path(FFPROBE).exists(), reason="Debian's ffprobe (TEST_DEBS) is missing")

OPUS_128 = PRESETS["opus-128"]


def _variant_files() -> list[str]:
    """The cache's variants and partial files (not its locks and slots)."""
    return sorted(
        f.rel
        for f in get_storage().list_variants()
        if not f.rel.startswith("slot-") and not f.rel.endswith((".lock", ".readers"))
    )


def _jobs(name: str) -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(select(Job).where(Job.name == name).order_by(Job.id)))


def test_turning_it_on_encodes_the_favourites_which_then_serve_as_complete_files(app, user, client, tmp_path):
    flac = add_track(user, "song.flac", content=make_source(tmp_path, "flac", 6.0))
    lossy = add_track(user, "tagged.mp3")  # 32 kbit/s: smaller than Medium already
    later = add_track(user, "later.flac", content=make_source(tmp_path, "flac", 5.0))
    listed = add_track(user, "listed.flac", content=make_source(tmp_path, "flac", 4.0))
    playlists.set_favourite(user.id, flac.id, True)
    playlists.set_favourite(user.id, lossy.id, True)
    playlist = playlists.create(user.id, "Commute")
    playlists.add_tracks(user.id, playlist.id, [listed.id])
    commit()
    assert _variant_files() == []  # off by default: nothing is encoded
    assert _jobs(jobs.PREENCODE) == []

    login(client, "alice")
    page = client.get("/account").get_data(as_text=True)
    assert "Pre-encoding for phones" in page
    assert 'id="pre-quality"' in page and "tracks ready" not in page
    answer = post_form(
        client, "/account", "/account/preencode", {"pre-favourites": "y", "pre-quality": "medium", "pre-format": "opus"}
    )
    assert answer.status_code == 302

    # The job ran (immediately, in tests): the FLAC favourite is a complete variant; the
    # small MP3 is sent as it is and the playlist's track is not wanted (playlists are off).
    wanted = Variant(flac.sha256, OPUS_128)
    assert _variant_files() == [wanted.name]
    [job] = _jobs(jobs.PREENCODE)
    assert job.state is JobState.DONE
    assert job.result == {
        "tracks": 2, "encoded": 1, "ready": 0, "as_is": 1, "failed": 0, "postponed": 0, "handed_over": 0,
    }  # fmt: skip
    assert "2 of 2 tracks ready at Medium" in client.get("/account").get_data(as_text=True)

    info = probe(get_storage().variant_path(wanted.name))
    assert info["streams"][0]["codec_name"] == "opus"
    assert abs(float(info["format"]["duration"]) - 6.0) < 0.5
    _served_whole(client, f"/stream/{flac.id}?quality=medium", wanted)

    # A heart while it is on queues the new favourite's encode.
    assert post_form(client, "/library", f"/favourites/{later.id}").status_code == 302
    assert Variant(later.sha256, OPUS_128).name in _variant_files()
    assert "3 of 3 tracks ready at Medium" in client.get("/account").get_data(as_text=True)

    # Playlists on too: the playlist's track joins, and an addition to a playlist queues its encode.
    answer = post_form(
        client,
        "/account",
        "/account/preencode",
        {"pre-favourites": "y", "pre-playlists": "y", "pre-quality": "medium", "pre-format": "opus"},
    )
    assert answer.status_code == 302
    assert Variant(listed.sha256, OPUS_128).name in _variant_files()
    assert "4 of 4 tracks ready at Medium" in client.get("/account").get_data(as_text=True)
    added = add_track(user, "added.flac", content=make_source(tmp_path, "flac", 3.0))
    playlists.add_tracks(user.id, playlist.id, [added.id])
    commit()
    assert Variant(added.sha256, OPUS_128).name in _variant_files()
    assert [j.state for j in _jobs(jobs.PREENCODE)] == [JobState.DONE] * 4

    # MP3, for apps that ask for it: the MP3 192 variants, which such a request then gets whole.
    answer = post_form(
        client,
        "/account",
        "/account/preencode",
        {"pre-favourites": "y", "pre-playlists": "y", "pre-quality": "medium", "pre-format": "mp3"},
    )
    assert answer.status_code == 302
    assert "5 of 5 tracks ready at Medium" in client.get("/account").get_data(as_text=True)
    _served_whole(client, f"/stream/{flac.id}?quality=medium&format=mp3", Variant(flac.sha256, PRESETS["mp3-192"]))


def _served_whole(client, url: str, variant: Variant) -> None:
    """The complete variant is what `url` serves at once: exact size, ranges of its bytes, its ETag."""
    finished = get_storage().variant_path(variant.name).read_bytes()
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.headers["Content-Length"] == str(len(finished))
    assert whole.data == finished
    assert whole.headers["ETag"] == f'"{variant.etag}"'
    part = client.get(url, headers={"Range": "bytes=1000-4999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-4999/{len(finished)}"
    assert part.headers["Content-Length"] == "4000"
    assert part.data == finished[1000:5000]


def test_original_quality_and_bad_input_are_refused_without_a_change(app, user, client):
    login(client, "alice")
    for quality, fmt in (("original", "opus"), ("ultra", "opus"), ("low", "flac"), ("low", None)):
        data = {"pre-favourites": "y", "pre-quality": quality} | ({"pre-format": fmt} if fmt else {})
        answer = post_form(client, "/account", "/account/preencode", data)
        assert answer.status_code == 400
    db.session.refresh(user)
    assert (user.preencode_favourites, user.preencode_playlists) == (False, False)
    assert _jobs(jobs.PREENCODE) == []


def test_the_trim_keeps_pinned_variants_and_turning_it_off_unpins_them(app, user, client, tmp_path):
    flac = add_track(user, "song.flac", content=make_source(tmp_path, "flac", 6.0))
    playlists.set_favourite(user.id, flac.id, True)
    commit()
    login(client, "alice")
    post_form(
        client, "/account", "/account/preencode", {"pre-favourites": "y", "pre-quality": "low", "pre-format": "opus"}
    )
    storage = get_storage()
    pinned = storage.variant_path(Variant(flac.sha256, PRESETS["opus-64"]).name)
    assert pinned.is_file()
    size = pinned.stat().st_size
    # Other listeners' variants, all used more recently than the pinned one.
    now = time.time()
    os.utime(pinned, (now - 1000, now - 1000))
    others = []
    for i in range(3):
        path = storage.variant_path(Variant(f"{i:064x}", PRESETS["mp3-192"]).name)
        path.write_bytes(bytes(1000))
        os.utime(path, (now - 100 + i, now - 100 + i))
        others.append(path)

    app.config["TRANSCODE_CACHE_MB"] = (size + 1500) / (1024 * 1024)
    removed = TASKS[jobs.TRIM_VARIANTS]()
    # The pinned one counts against the cap, and stays: the least recently used unpinned go.
    assert removed == {"variants": 2, "partial": 0, "bytes": 2000, "pinned": 0}
    assert pinned.is_file() and others[2].is_file()
    assert not others[0].exists() and not others[1].exists()

    # Off: it is one variant like any other, the least recently used, and goes first.
    post_form(client, "/account", "/account/preencode", {"pre-quality": "low", "pre-format": "opus"})
    assert "tracks ready" not in client.get("/account").get_data(as_text=True)
    app.config["TRANSCODE_CACHE_MB"] = 1500 / (1024 * 1024)
    removed = TASKS[jobs.TRIM_VARIANTS]()
    assert removed == {"variants": 1, "partial": 0, "bytes": size, "pinned": 0}
    assert not pinned.exists() and others[2].is_file()


def test_pinned_variants_alone_over_the_cap_go_oldest_first(app, user, client, tmp_path):
    first = add_track(user, "one.flac", content=make_source(tmp_path, "flac", 4.0))
    second = add_track(user, "two.flac", content=make_source(tmp_path, "flac", 5.0))
    for track in (first, second):
        playlists.set_favourite(user.id, track.id, True)
    commit()
    login(client, "alice")
    post_form(
        client, "/account", "/account/preencode", {"pre-favourites": "y", "pre-quality": "low", "pre-format": "opus"}
    )
    storage = get_storage()
    old, new = (storage.variant_path(Variant(t.sha256, PRESETS["opus-64"]).name) for t in (first, second))
    now = time.time()
    os.utime(old, (now - 500, now - 500))
    app.config["TRANSCODE_CACHE_MB"] = (new.stat().st_size + 10) / (1024 * 1024)
    removed = TASKS[jobs.TRIM_VARIANTS]()
    assert removed["pinned"] == 1 and removed["variants"] == 1
    assert not old.exists() and new.is_file()
    assert "1 of 2 tracks ready at Low" in client.get("/account").get_data(as_text=True)


def _alice_with_a_favourite(tmp_path, favourite_seconds: float, listened_seconds: float):
    """Alice, pre-encoding her favourites at Medium, one favourite and two other tracks."""
    owner = accounts.create_user("alice", "correct horse battery", rounds=4)
    db.session.commit()
    favourite = add_track(owner, "fav.flac", content=make_source(tmp_path, "flac", favourite_seconds))
    listened = [
        add_track(owner, f"l{i}.flac", content=make_source(tmp_path, "flac", listened_seconds + i)) for i in range(2)
    ]
    playlists.set_favourite(owner.id, favourite.id, True)
    owner.preencode_favourites = True
    owner.preencode_quality = "medium"
    db.session.commit()
    return owner, favourite, listened


@pytest.fixture
def hold(tmp_path: Path) -> Iterator[Path]:
    """A file that keeps a held ffmpeg (slow_ffmpeg's `hold`) from starting; gone at the
    end of the test whatever happens, so no encode is left waiting."""
    path = tmp_path / "hold"
    path.touch()
    yield path
    path.unlink(missing_ok=True)


def _run_in_background(
    app, tmp_path, user_id: int, limits: Limits, pace, part: Path, outcome: dict, speed=4, hold: Path | None = None
):
    """A pre-encode job in a thread, returned once its first `part` is being written.
    With `hold`, its ffmpeg waits for that file to go (see slow_ffmpeg)."""
    ffmpeg = slow_ffmpeg(tmp_path, speed, hold)

    def background() -> None:
        with app.app_context():
            outcome.update(preencode.run(get_storage(), ffmpeg, user_id, limits, pace))

    worker = threading.Thread(target=background)
    worker.start()
    end = time.monotonic() + 20
    while not part.exists():
        assert time.monotonic() < end, "the pre-encode never started"
        time.sleep(0.05)
    return worker


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # slots and ffmpeg, not the database
def test_pre_encoding_gives_way_when_a_listener_is_refused_a_slot(make_app, tmp_path):
    app = make_app(FFMPEG=slow_ffmpeg(tmp_path, speed=4), TRANSCODE_MAX_JOBS=2, TRANSCODE_ABANDON_SECONDS=30)
    with app.app_context():
        owner, favourite, listened = _alice_with_a_favourite(tmp_path, 40.0, 30.0)
        for job in _jobs(jobs.PREENCODE):  # the heart came before the setting: nothing was queued
            pytest.fail(f"unexpected job {job.id}")
        storage = get_storage()
        part = storage.variant_path(Variant(favourite.sha256, OPUS_128).name + ".part")
        outcome: dict = {}
        pace = preencode.Pace(calm=0.5, max_wait=1.5)
        worker = _run_in_background(app, tmp_path, owner.id, Limits(2, 2), pace, part, outcome)
        client = app.test_client()
        login(client, "alice", "correct horse battery")
        # One listener takes the second slot; the next one is refused (no slot is left) ...
        first = client.get(f"/stream/{listened[0].id}?quality=medium", buffered=False)
        assert first.status_code == 200
        refused = client.get(f"/stream/{listened[1].id}?quality=medium", headers={"Accept": "application/json"})
        assert refused.status_code == 429
        # ... so the pre-encode stops at once, frees its slot, and leaves the rest for later.
        end = time.monotonic() + 5
        while part.exists():
            assert time.monotonic() < end, "the pre-encode did not give way"
            time.sleep(0.05)
        again = client.get(f"/stream/{listened[1].id}?quality=medium", buffered=False)
        assert again.status_code == 200
        worker.join(30)
        first.close()
        again.close()
        # The listeners' encodes hold both slots past the job's patience (1.5 s): it ends.
        assert outcome == {
            "tracks": 1, "encoded": 0, "ready": 0, "as_is": 0, "failed": 0, "postponed": 1, "handed_over": 0,
        }  # fmt: skip
        assert not storage.variant_path(Variant(favourite.sha256, OPUS_128).name).exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # slots and ffmpeg, not the database
def test_after_giving_way_the_pre_encode_starts_the_track_again_once_listeners_are_served(make_app, tmp_path, hold):
    app = make_app(FFMPEG=slow_ffmpeg(tmp_path, speed=4), TRANSCODE_MAX_JOBS=2)
    with app.app_context():
        owner, favourite, listened = _alice_with_a_favourite(tmp_path, 16.0, 8.0)
        variant = get_storage().variant_path(Variant(favourite.sha256, OPUS_128).name)
        part = variant.with_name(variant.name + ".part")
        outcome: dict = {}
        pace = preencode.Pace(calm=0.5, max_wait=30)
        # The favourite's encode stays under way until a listener is refused.
        worker = _run_in_background(app, tmp_path, owner.id, Limits(2, 2), pace, part, outcome, hold=hold)
        client = app.test_client()
        login(client, "alice", "correct horse battery")
        first = client.get(f"/stream/{listened[0].id}?quality=medium", buffered=False)
        assert first.status_code == 200
        refused = client.get(f"/stream/{listened[1].id}?quality=medium", headers={"Accept": "application/json"})
        assert refused.status_code == 429
        hold.unlink()
        first.close()
        worker.join(60)
        # It gave way, then, the listener served, encoded the whole track after all.
        assert outcome == {
            "tracks": 1, "encoded": 1, "ready": 0, "as_is": 0, "failed": 0, "postponed": 0, "handed_over": 0,
        }  # fmt: skip
        assert abs(float(probe(variant)["format"]["duration"]) - 16.0) < 0.5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a machine lock, not the database
def test_a_pre_encode_that_finds_another_running_hands_its_listener_over(make_app, tmp_path, hold):
    app = make_app(FFMPEG=slow_ffmpeg(tmp_path, speed=8), TRANSCODE_MAX_JOBS=4)
    with app.app_context():
        people = [accounts.create_user(name, "correct horse battery", rounds=4) for name in ("alice", "bob")]
        db.session.commit()
        wanted = []
        for i, person in enumerate(people):
            track = add_track(person, f"{i}.flac", content=make_source(tmp_path, "flac", 8.0 + i))
            playlists.set_favourite(person.id, track.id, True)
            person.preencode_favourites = True
            person.preencode_quality = "medium"
            wanted.append(track)
        db.session.commit()
        ids = [person.id for person in people]
        storage = get_storage()
        first_part = storage.variant_path(Variant(wanted[0].sha256, OPUS_128).name + ".part")
        outcome: dict = {}
        pace = preencode.Pace(calm=0.5, max_wait=30)
        # Alice's job stays under way until Bob's has looked.
        worker = _run_in_background(app, tmp_path, ids[0], Limits(4, 2), pace, first_part, outcome, speed=8, hold=hold)
        # Bob's job does not wait for Alice's: it hands Bob over and ends at once.
        started = time.monotonic()
        handed = preencode.run(storage, slow_ffmpeg(tmp_path, 8), ids[1], Limits(4, 2), preencode.Pace())
        assert handed["handed_over"] == 1 and handed["encoded"] == 0
        assert time.monotonic() - started < 2
        hold.unlink()
        worker.join(60)
        assert outcome["encoded"] == 2 and outcome["tracks"] == 2
        for track in wanted:
            assert storage.variant_path(Variant(track.sha256, OPUS_128).name).is_file()
        # Both are ready now: the next job finds nothing to do and nobody left to it.
        again = preencode.run(storage, slow_ffmpeg(tmp_path, 8), ids[1], Limits(4, 2), preencode.Pace())
        assert again == {
            "tracks": 1, "encoded": 0, "ready": 1, "as_is": 0, "failed": 0, "postponed": 0, "handed_over": 0,
        }  # fmt: skip


def test_the_nightly_catch_up_queues_everyone_who_has_it_on(app, make_user):
    on = make_user("carol", preencode_playlists=True)
    make_user("dave")
    make_user("erin", preencode_favourites=True, disabled=True)
    assert any(p.job == jobs.PREENCODE_ALL for p in PERIODIC)
    assert TASKS[jobs.PREENCODE_ALL]() == {"listeners": 1}
    commit()
    [job] = _jobs(jobs.PREENCODE)
    assert job.args == [on.id]
    assert job.state is JobState.DONE


def test_a_listener_at_their_own_limit_does_not_stop_pre_encoding(app):
    """Pre-encoding gives way when the machine has no slot left, not when one listener
    reaches TRANSCODE_MAX_PER_USER with slots free: stopping it would not help them."""
    storage = get_storage()
    limits = Limits(4, 1)
    mine = cache.take_slots(storage, limits, user_id=7)
    with pytest.raises(TranscodeBusy):
        cache.take_slots(storage, limits, user_id=7)
    assert cache.last_refusal(storage) == 0.0
    taken = [cache.take_slots(storage, limits, user_id=8 + i) for i in range(3)]
    with pytest.raises(TranscodeBusy):
        cache.take_slots(storage, limits, user_id=20)
    assert cache.last_refusal(storage) > 0
    for slots in [mine, *taken]:
        slots.release()
