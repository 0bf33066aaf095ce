"""A transcoded stream in a real browser: Debian's Chromium, driven by
Playwright, against a real gunicorn whose ffmpeg (the imageio-ffmpeg build)
reads at twice the speed of playback, so the encode is still running when the
listener seeks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio import synthesize
from tests.browser import AUTOPLAY, launch, register
from tests.servers import flask, server_env
from tests.test_browser import PLAYING, playing_audio
from tests.test_transcode import real_ffmpeg, slow_ffmpeg

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audio") / "Long Evening.flac"
    synthesize("sine=frequency=550:duration=60", out, "-ac", "2", "-ar", "44100", "-metadata", "title=Long Evening")
    return out


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> str:
    tmp = tmp_path_factory.mktemp("server")
    database_url, uploads = f"sqlite:///{tmp / 'browser.db'}", tmp / "uploads"
    settings = {"FFMPEG": slow_ffmpeg(tmp, speed=2), "TRANSCODE_ABANDON_SECONDS": "10"}
    flask(server_env(database_url, uploads, **settings), "db", "upgrade")
    return start_gunicorn(database_url, uploads, **settings).url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert real_ffmpeg()
    with sync_playwright() as p:
        browser = launch(p, AUTOPLAY)
        yield browser
        browser.close()


def test_a_flac_at_medium_seeks_to_80_percent_before_its_encode_is_done(browser, live_server, flac):
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    register(page, live_server, "listener1")
    page.goto(live_server + "/account")
    page.select_option("#sound-web", "medium")
    page.click("#sound-quality button[type=submit]")
    page.wait_for_selector(".flash, [role=status], .alert", timeout=10_000)
    page.goto(live_server + "/library/upload")
    page.set_input_files("#files", [str(flac)])
    page.wait_for_selector(".upload-item.status-added", timeout=30_000)

    streams: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda r: streams.append((r.url, r.status, r.request.headers.get("range"))) if "/stream/" in r.url else None,
    )
    page.goto(live_server + "/library")
    page.click("tr[data-track] >> nth=0 >> [data-play-row]")
    page.wait_for_function(PLAYING % "0.5", timeout=20_000)
    audio = playing_audio(page)
    assert "quality=medium" in audio.evaluate("a => a.currentSrc")
    # The bar says what plays (Opus in Chromium).
    page.wait_for_function("() => document.querySelector('.player-sound').textContent.includes('transcoded')")
    assert "Opus 128" in page.inner_text(".player-sound")
    # The duration is known from the start (the estimated Content-Length of a CBR stream).
    assert abs(audio.evaluate("a => a.duration") - 60) < 2

    # Seek to 80 % (48 s) while ffmpeg is at about 2 s x 2: far past what is encoded.
    page.evaluate("""() => { const s = document.querySelector('#player .seek');
        s.value = String(48); s.dispatchEvent(new Event('input', {bubbles: true})); }""")
    page.wait_for_function(PLAYING % "49", timeout=20_000)
    assert audio.evaluate("a => a.currentTime") < 55
    # It was a range request far into the file, answered with 206 from a second ffmpeg.
    ranged = [(status, rng) for url, status, rng in streams if "quality=medium" in url and rng and rng != "bytes=0-"]
    assert any(status == 206 for status, _ in ranged), streams
