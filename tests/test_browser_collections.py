"""Bringing a collection in a real browser: a folder chosen on the upload page, a ZIP
archive's preview and import, and big files whose upload is cut, paused and resumed
(Debian's Chromium, Playwright, a real gunicorn)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.audio import synthesize
from tests.browser import launch, register, screenshot
from tests.servers import flask, server_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as people keep music: untagged files in Artist/Album folders, with extras."""
    root = tmp_path_factory.mktemp("music") / "Road Trip"
    album = root / "Side A"
    album.mkdir(parents=True)
    synthesize("sine=frequency=440:duration=2", album / "01 - First Light.mp3", "-ac", "1", "-b:a", "32k")
    synthesize("sine=frequency=550:duration=2", album / "02 - Second Wind.flac", "-ac", "1", "-sample_fmt", "s16")
    (album / "cover.jpg").write_bytes(b"\xff\xd8\xff not a real picture")
    (root / "notes.txt").write_text("liner notes")
    return root


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instance's uploads folder (its database is beside it)."""
    return tmp_path_factory.mktemp("server") / "uploads"


@pytest.fixture(scope="module")
def live_server(uploads: Path, start_gunicorn) -> str:
    database_url = f"sqlite:///{uploads.parent / 'browser.db'}"
    flask(server_env(database_url, uploads), "db", "upgrade")
    # The archive's import job runs in the web process as it is confirmed.
    return start_gunicorn(database_url, uploads, JOBS_IMMEDIATE="true").url


@pytest.fixture(scope="module")
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        register(page, live_server, "collector")
        yield page
        browser.close()


def test_choosing_a_folder_sends_its_audio_and_lists_the_rest_as_skipped(page, live_server, collection):
    page.goto(live_server + "/library/upload")
    page.set_input_files("#folder", str(collection))
    page.wait_for_selector(".upload-item.status-added >> nth=1", timeout=30_000)
    page.wait_for_selector(".upload-item.status-skipped >> nth=1")
    names = page.locator(".upload-item.status-added .upload-name").all_text_contents()
    assert sorted(names) == ["Road Trip/Side A/01 - First Light.mp3", "Road Trip/Side A/02 - Second Wind.flac"]
    skipped = page.locator(".upload-item.status-skipped").all_text_contents()
    assert any("cover.jpg" in s and "not an audio file" in s for s in skipped)
    assert any("notes.txt" in s for s in skipped)
    # No album tags: the folder names the album, the one above it the artist.
    page.goto(live_server + "/library/albums")
    assert page.get_by_text("Side A").count() >= 1
    page.goto(live_server + "/library?q=first+light")
    assert "Road Trip" in page.inner_text("main")


def test_zip_preview_untick_confirm_and_see_it_finish(page, live_server, collection, tmp_path):
    archive = tmp_path / "mixtape.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for i, freq in enumerate((330, 390, 470), start=1):
            song = tmp_path / f"{i}.mp3"
            synthesize(f"sine=frequency={freq}:duration=2", song, "-ac", "1", "-b:a", "32k")
            out.write(song, f"Mixtape/0{i} - Song {i}.mp3")
        out.writestr("../escape.mp3", b"not even audio")
        out.writestr("Mixtape/playlist.m3u", "#EXTM3U")
    page.goto(live_server + "/library/upload")
    page.set_input_files("#files", str(archive))
    link = page.wait_for_selector(".upload-item.status-archive a", timeout=30_000)
    link.click()
    page.wait_for_selector("[data-import-preview]")
    text = page.inner_text("main")
    assert "3 audio files to add" in text and "2 files skipped" in text
    assert "its name is unsafe" in text
    screenshot(page, "zip-preview")
    page.uncheck("tr:has-text('Song 2') input[type=checkbox]")
    page.click("text=Import the ticked files")
    page.wait_for_selector("text=Finished: 2 of 2 files handled.", timeout=30_000)
    assert "2 added" in page.inner_text("main")
    screenshot(page, "zip-import-done")
    page.goto(live_server + "/library?q=song")
    rows = page.inner_text("main")
    assert "Song 1" in rows and "Song 3" in rows and "Song 2" not in rows


class SlowLine:
    """A TCP relay to the server that carries what the browser sends at `rate` bytes/s and
    can be unplugged: its connections drop, as when a phone loses the network. (Chromium's
    offline mode fails new requests but lets one already sending finish, and its
    throttling slows an upload's answer, not its bytes.)"""

    def __init__(self, port: int, rate: int) -> None:
        self.target = port
        self.rate = rate
        self.plugged = True
        self.open: set[socket.socket] = set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        # A small window, or the kernel would take megabytes off the browser at once.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32_768)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def unplug(self) -> None:
        self.plugged = False
        for sock in list(self.open):
            _drop(sock)

    def plug(self) -> None:
        self.plugged = True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.plugged:
                _drop(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.open |= {client, upstream}
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while self.plugged and (data := source.recv(16_384)):
                sink.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self.open.discard(sock)
                _drop(sock)

    def close(self) -> None:
        self.listener.close()
        self.unplug()


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def noise(out: Path, seconds: int, seed: int, title: str) -> str:
    """A stereo FLAC of white noise (it hardly compresses: about 170 kB a second); its sha256."""
    channels = f"anoisesrc=d={seconds}:c=white:a=0.5:r=44100:seed={seed}"
    source = f"{channels}[a];{channels.replace(f'seed={seed}', f'seed={seed + 1}')}[b];[a][b]amerge[out0]"
    synthesize(source, out, "-sample_fmt", "s16", "-metadata", f"title={title}", "-metadata", "artist=Night Bus")
    return hashlib.sha256(out.read_bytes()).hexdigest()


# The file's progress bar (in %) has reached p; has passed p and is not full.
BAR_AT_LEAST = "p => { const bar = document.querySelector('.upload-item progress'); return bar && bar.value >= p; }"
RETRYING = r"Connection lost at \d+ MB of \d+ MB: trying again in \d+ s"
BAR_PAST = "p => { const v = document.querySelector('.upload-item progress').value; return v > p && v < 100; }"


def bar(page) -> int:
    return page.eval_on_selector(".upload-item progress", "bar => bar.value")


def watch_patches(page) -> list[int]:
    """The Upload-Offset of every PATCH the page sends from now on."""
    patches: list[int] = []

    def seen(request) -> None:
        if request.method == "PATCH":
            patches.append(int(request.headers.get("upload-offset", "-1")))

    page.on("request", seen)
    return patches


def check_stored(page, base_url: str, uploads: Path, source: Path, digest: str, title: str) -> None:
    """The finished upload is a track whose stored file and download are the source's bytes,
    found in the library, with nothing left in the partial uploads' area."""
    link = page.get_attribute(".upload-item.status-added a", "href")
    track_id = re.fullmatch(r"/library/tracks/(\d+)", link).group(1)
    download = page.request.get(f"{base_url}/stream/{track_id}/download")
    assert download.ok and hashlib.sha256(download.body()).hexdigest() == digest
    stored = [f for f in uploads.glob("[0-9]*/*.flac") if f.stat().st_size == source.stat().st_size]
    assert [hashlib.sha256(f.read_bytes()).hexdigest() for f in stored] == [digest]
    assert not any((uploads / ".partial").iterdir())
    page.goto(f"{base_url}/library?q={title.replace(' ', '+')}")
    assert page.locator(f"tr[data-track]:has-text('{title}')").count() == 1


def test_an_upload_cut_by_going_offline_resumes_and_finishes(page, live_server, uploads, tmp_path):
    big = tmp_path / "Long Drive.flac"
    digest = noise(big, seconds=50, seed=1, title="Long Drive")
    size = big.stat().st_size
    assert size > 5_000_000
    line = SlowLine(int(live_server.rsplit(":", 1)[1]), rate=2_000_000)
    patches = watch_patches(page)
    try:
        page.goto(f"http://127.0.0.1:{line.port}/library/upload")
        page.set_input_files("#files", str(big))
        page.wait_for_function(BAR_AT_LEAST, arg=25, timeout=30_000)
        assert page.is_visible("[data-upload-summary]")
        # The overall line and the file show the speed and the time left.
        page.wait_for_function("() => /\\/s .* left/.test(document.querySelector('[data-upload-totals]').textContent)")
        page.wait_for_selector(".upload-item >> text=/MB of \\d+ MB · \\d+ MB\\/s · \\d+:\\d\\d left/")
        # The server out of reach, the browser online: it tries again, waiting longer each time.
        line.unplug()
        page.wait_for_selector(f".upload-item >> text=/{RETRYING}/", timeout=10_000)
        screenshot(page, "upload-retrying")
        page.wait_for_selector(".upload-item >> text=/trying again in [2-9] s/", timeout=10_000)
        page.context.set_offline(True)
        # The file keeps its progress and says it waits for the connection; so does the overall line.
        message = page.wait_for_selector(".upload-item >> text=/Offline at \\d+ MB of \\d+ MB/", timeout=20_000)
        stopped_at = bar(page)
        assert 25 <= stopped_at < 100
        assert "it goes on when the connection is back" in message.text_content()
        assert "offline: waiting for the connection" in page.text_content("[data-upload-totals]")
        screenshot(page, "upload-offline")
        line.plug()
        page.context.set_offline(False)
        # Back online it goes on at once (no waiting out a backoff), from where it stopped.
        page.wait_for_function(BAR_PAST, arg=stopped_at, timeout=5_000)
        assert re.search(r"\d+ MB of \d+ MB", page.text_content(".upload-item .upload-message"))
        screenshot(page, "upload-resumed-progress")
        page.wait_for_selector(".upload-item.status-added", timeout=60_000)
        screenshot(page, "upload-resumed-done")
    finally:
        page.context.set_offline(False)
        line.close()
    assert "Long Drive" in page.inner_text(".upload-item.status-added")
    # It went on from where the server said, not from the start.
    assert patches[0] == 0 and any(0 < offset < size for offset in patches[1:]), patches
    check_stored(page, live_server, uploads, big, digest, "Long Drive")


def test_pause_stops_sending_and_resume_goes_on_from_there(page, live_server, uploads, tmp_path):
    big = tmp_path / "Slow Train.flac"
    digest = noise(big, seconds=50, seed=11, title="Slow Train")
    line = SlowLine(int(live_server.rsplit(":", 1)[1]), rate=2_000_000)
    patches = watch_patches(page)
    try:
        page.goto(f"http://127.0.0.1:{line.port}/library/upload")
        page.set_input_files("#files", str(big))
        page.wait_for_function(BAR_AT_LEAST, arg=20, timeout=30_000)
        page.click("[data-upload-pause]")
        assert page.text_content("[data-upload-pause]") == "Resume"
        assert "paused" in page.text_content("[data-upload-totals]")
        page.wait_for_selector(".upload-item >> text=/Paused at \\d+ MB of \\d+ MB/")
        paused_at, requests = bar(page), len(patches)
        assert 20 <= paused_at < 100
        screenshot(page, "upload-paused")
        time.sleep(1.5)
        # Paused is paused: nothing more is sent.
        assert (bar(page), len(patches)) == (paused_at, requests)
        page.click("[data-upload-pause]")
        assert page.text_content("[data-upload-pause]") == "Pause"
        # The file's own button pauses and resumes that file, once it sends again.
        deadline = time.monotonic() + 10
        while len(patches) == requests and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        own = page.locator(".upload-item .upload-pause-one")
        assert own.get_attribute("aria-label") == "Pause the upload of Slow Train.flac"
        own.click()
        assert own.text_content() == "Resume"
        assert own.get_attribute("aria-label") == "Resume the upload of Slow Train.flac"
        page.wait_for_selector(".upload-item >> text=/Paused at \\d+ MB of \\d+ MB/")
        # Every file being sent is paused: the overall line says so and offers to resume.
        assert "paused" in page.text_content("[data-upload-totals]")
        assert page.text_content("[data-upload-pause]") == "Resume"
        paused_at, requests = bar(page), len(patches)
        time.sleep(1)
        assert (bar(page), len(patches)) == (paused_at, requests)
        own.click()
        page.wait_for_selector(".upload-item.status-added", timeout=60_000)
        assert page.locator(".upload-item .upload-pause-one").count() == 0
    finally:
        line.close()
    assert patches[0] == 0 and any(offset > 0 for offset in patches[1:]), patches
    check_stored(page, live_server, uploads, big, digest, "Slow Train")


def test_a_paused_file_lets_the_next_one_waiting_go(page, live_server, uploads, tmp_path):
    names = ("Tram One", "Tram Two", "Tram Three")
    files = [tmp_path / f"{name}.flac" for name in names]
    for i, (song, name) in enumerate(zip(files, names, strict=True)):
        noise(song, seconds=8, seed=100 + 10 * i, title=name)
    line = SlowLine(int(live_server.rsplit(":", 1)[1]), rate=400_000)
    row = ".upload-item:has-text('{}.flac')".format
    try:
        page.goto(f"http://127.0.0.1:{line.port}/library/upload")
        page.set_input_files("#files", [str(f) for f in files])
        # Two files go at once; the third waits for a turn.
        page.wait_for_selector(f"{row('Tram Two')}.status-uploading")
        assert "status-uploading" in page.get_attribute(row("Tram One"), "class")
        assert "status-waiting" in page.get_attribute(row("Tram Three"), "class")
        page.click(f"{row('Tram One')} .upload-pause-one")
        page.wait_for_selector(f"{row('Tram Three')}.status-uploading", timeout=5_000)
        page.wait_for_selector(f"{row('Tram One')} >> text=/Paused at/")
        page.wait_for_selector(f"{row('Tram Two')}.status-added", timeout=30_000)
        page.wait_for_selector(f"{row('Tram Three')}.status-added", timeout=30_000)
        # Still paused while the others finished; it goes on when asked.
        assert "status-uploading" in page.get_attribute(row("Tram One"), "class")
        page.click(f"{row('Tram One')} .upload-pause-one")
        page.wait_for_selector(f"{row('Tram One')}.status-added", timeout=30_000)
    finally:
        line.close()
    assert "3 of 3 files" in page.text_content("[data-upload-totals]")


def test_an_album_page_of_a_folder_compilation_is_ticked_and_bulk_edited(page, live_server, tmp_path):
    # A folder of three artists' songs on two discs, tagged by ffmpeg; no album artist.
    folder = tmp_path / "Party Mix"
    folder.mkdir()
    for i, (artist, disc, track) in enumerate([("Ann", "1/2", "1"), ("Bob feat. Cy", "1/2", "2"), ("Dee", "2/2", "1")]):
        synthesize(
            f"sine=frequency={300 + 50 * i}:duration=1",
            folder / f"{i}.mp3",
            "-ac", "1", "-b:a", "32k",
            "-metadata", f"title=Party {i}", "-metadata", f"artist={artist}", "-metadata", "album=Party Mix",
            "-metadata", f"disc={disc}", "-metadata", f"track={track}",
        )  # fmt: skip
    page.goto(live_server + "/library/upload")
    page.set_input_files("#folder", str(folder))
    page.wait_for_selector(".upload-item.status-added >> nth=2", timeout=30_000)
    page.goto(live_server + "/library/albums")
    page.get_by_role("link", name="Party Mix").first.click()
    page.wait_for_selector("tr.disc-head")
    assert page.locator("p", has_text="Various Artists").count() == 1
    assert page.locator("tr.disc-head").all_text_contents() == ["Disc 1", "Disc 2"]
    assert page.locator("th.title-cell bdi").all_text_contents() == ["Party 0", "Party 1", "Party 2"]
    boxes = page.locator("input[data-bulk-pick]")
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])  # the range, across the disc heading
    assert [boxes.nth(i).is_checked() for i in range(3)] == [True, True, True]
    assert page.locator("[data-bulk-count]").text_content() == "3 ✓"
    page.get_by_role("button", name="Change the ticked tracks…").click()
    page.get_by_role("heading", name="Change 3 tracks").wait_for()
    page.fill("#genre", "Party")
    page.get_by_role("button", name="Apply to 3 tracks").click()
    page.get_by_text("3 tracks changed.").wait_for()
    page.goto(live_server + "/library/genres")
    assert page.get_by_text("Party", exact=True).count() >= 1
