"""Bringing a collection in a real browser: a folder chosen on the upload page, and a ZIP
archive's preview and import (Debian's Chromium, Playwright, a real gunicorn)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.audio import synthesize
from tests.servers import flask, server_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a browser password"


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
def live_server(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> str:
    tmp = tmp_path_factory.mktemp("server")
    database_url, uploads = f"sqlite:///{tmp / 'browser.db'}", tmp / "uploads"
    flask(server_env(database_url, uploads), "db", "upgrade")
    # The archive's import job runs in the web process as it is confirmed.
    return start_gunicorn(database_url, uploads, JOBS_IMMEDIATE="true").url


@pytest.fixture(scope="module")
def page(live_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(live_server + "/auth/register")
        page.fill("#username", "collector")
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/library")
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
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "zip-preview.png"), full_page=True)
    page.uncheck("tr:has-text('Song 2') input[type=checkbox]")
    page.click("text=Import the ticked files")
    page.wait_for_selector("text=Finished: 2 of 2 files handled.", timeout=30_000)
    assert "2 added" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "zip-import-done.png"), full_page=True)
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


def test_an_upload_cut_by_going_offline_resumes_and_finishes(page, live_server, tmp_path):
    big = tmp_path / "Long Drive.mp3"
    synthesize("sine=frequency=300:duration=160", big, "-ac", "2", "-b:a", "320k", "-metadata", "title=Long Drive")
    size = big.stat().st_size
    assert size > 5_000_000
    line = SlowLine(int(live_server.rsplit(":", 1)[1]), rate=1_500_000)
    patches: list[int] = []
    page.on(
        "request",
        lambda r: patches.append(int(r.headers.get("upload-offset", "-1"))) if r.method == "PATCH" else None,
    )
    try:
        page.goto(f"http://127.0.0.1:{line.port}/library/upload")
        page.set_input_files("#files", str(big))
        page.wait_for_function(
            "() => { const p = document.querySelector('.upload-item progress'); return p && p.value >= 25; }",
            timeout=30_000,
        )
        assert page.is_visible("[data-upload-summary]")
        # The overall line shows the speed and the time left.
        page.wait_for_function("() => /\\/s .* left/.test(document.querySelector('[data-upload-totals]').textContent)")
        page.context.set_offline(True)
        line.unplug()
        page.wait_for_selector(".upload-item >> text=Connection lost", timeout=20_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-offline-retrying.png"), full_page=True)
        line.plug()
        page.context.set_offline(False)
        page.wait_for_selector(".upload-item.status-added", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "upload-resumed-done.png"), full_page=True)
    finally:
        page.context.set_offline(False)
        line.close()
    assert "Long Drive" in page.inner_text(".upload-item.status-added")
    # It went on from where the server said, not from the start.
    assert patches[0] == 0 and any(0 < offset < size for offset in patches[1:]), patches
