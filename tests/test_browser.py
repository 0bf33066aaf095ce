"""What a listener does in a real browser: Debian's Chromium, driven by Playwright,
against a real gunicorn process started here on a fresh SQLite database."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.audio import synthesize
from tests.browser import ARTIFACTS, AUTOPLAY, PASSWORD, ROOT, launch, register, screenshot
from tests.servers import BIN, flask, server_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 30-second tracks, long enough to seek in, made with ffmpeg."""
    folder = tmp_path_factory.mktemp("audio")
    files = {"mp3": folder / "Morning Song.mp3", "flac": folder / "Evening Song.flac"}
    day = ("-ac", "1", "-ar", "22050", "-metadata", "artist=Browser Band", "-metadata", "album=Day")
    synthesize(
        "sine=frequency=440:duration=30",
        files["mp3"],
        *day,
        "-b:a",
        "48k",
        "-metadata",
        "title=Morning Song",
        "-metadata",
        "track=1",
    )
    synthesize(
        "sine=frequency=660:duration=30",
        files["flac"],
        *day,
        "-sample_fmt",
        "s16",
        "-metadata",
        "title=Evening Song",
        "-metadata",
        "track=2",
    )
    return files


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A fresh, migrated SQLite database and its uploads folder."""
    tmp = tmp_path_factory.mktemp("server")
    database_url, uploads = f"sqlite:///{tmp / 'browser.db'}", tmp / "uploads"
    flask(server_env(database_url, uploads), "db", "upgrade")
    return database_url, uploads


@pytest.fixture(scope="module")
def live_server(instance: tuple[str, Path], start_gunicorn) -> str:
    """gunicorn with the production settings, on a free loopback port."""
    return start_gunicorn(*instance).url


@pytest.fixture(scope="module")
def job_worker(instance: tuple[str, Path]) -> Iterator[subprocess.Popen]:
    """`flask worker` on the instance's queue (the analysis after upload runs there)."""
    database_url, uploads = instance
    log = uploads.parent / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [str(BIN / "flask"), "worker", "--no-periodic"],
            cwd=ROOT,
            env=server_env(database_url, uploads, JOBS_WORKERS="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        yield worker
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, AUTOPLAY)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def signed_in(browser, live_server, audio_files):
    """A browser page of the first account, with the two tracks uploaded through the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    register(page, live_server, "listener1")
    page.goto(live_server + "/library/upload")
    page.set_input_files("#files", [str(audio_files["mp3"]), str(audio_files["flac"])])
    page.wait_for_selector(".upload-item.status-added >> nth=1", timeout=30_000)
    assert page.locator(".upload-item.status-added").count() == 2
    yield page
    context.close()


PLAYING = """() => [...document.querySelectorAll('#player audio')]
    .some(a => !a.paused && a.currentTime > %s)"""


def playing_audio(page):
    return page.evaluate_handle("() => [...document.querySelectorAll('#player audio')].find(a => !a.paused)")


def test_play_seek_navigate_and_keep_playing(signed_in, live_server):
    page = signed_in
    streams: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            streams.append((r.url, r.status, r.request.headers.get("range")))
            if "/stream/" in r.url and not urlsplit(r.url).path.endswith("/cover")
            else None
        ),
    )
    page.goto(live_server + "/library?sort=title")
    titles = page.locator("tr[data-track] .title-cell").all_inner_texts()
    assert [t.strip() for t in titles] == ["Evening Song", "Morning Song"]

    page.click("tr[data-track] >> nth=0 >> [data-play-row]")
    page.wait_for_function(PLAYING % "0.5", timeout=15_000)
    assert page.inner_text(".player-title") == "Evening Song"
    assert page.get_attribute('[data-action="toggle"]', "aria-label") == "Pause"

    # Seek to the middle with the seek bar, as a user drags it.
    audio = playing_audio(page)
    audio.evaluate("a => a.dataset.marker = 'the-same-element'")
    streams.clear()
    page.evaluate("""() => { const s = document.querySelector('#player .seek');
        s.value = String(15); s.dispatchEvent(new Event('input', {bubbles: true})); }""")
    page.wait_for_function(PLAYING % "15.3", timeout=15_000)
    assert audio.evaluate("a => a.currentTime") < 25

    # Navigate: only #content is swapped; the very same element keeps playing.
    page.click(".tabs >> text=Albums")
    page.wait_for_url("**/library/albums")
    page.wait_for_selector("h1:has-text('Albums')")
    before = audio.evaluate("a => a.currentTime")
    page.wait_for_timeout(700)
    assert audio.evaluate("a => a.isConnected && !a.paused && a.dataset.marker") == "the-same-element"
    assert audio.evaluate("a => a.currentTime") > before
    page.click("text=Artists")
    page.wait_for_url("**/library/artists")
    page.go_back()
    page.wait_for_url("**/library/albums")
    page.wait_for_selector("h1:has-text('Albums')")
    assert audio.evaluate("a => a.isConnected && !a.paused")
    assert page.title().startswith("Albums")

    # The browser asked for ranges and the server answered 206.
    assert any(status == 206 and rng for _, status, rng in streams), streams


def test_queue_next_previous_and_reload(signed_in, live_server):
    page = signed_in
    page.goto(live_server + "/library?sort=title")
    page.click("tr[data-track] >> nth=0 >> [data-play-row]")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    assert page.inner_text(".player-title") == "Evening Song"
    page.click('[data-action="next"]')
    page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Morning Song'")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    page.click('[data-action="prev"]')
    page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Evening Song'")
    page.wait_for_function(PLAYING % "1.0", timeout=15_000)

    # The queue panel lists both, in order, and can reorder them.
    page.click('[data-action="queue"]')
    items = page.locator(".queue-list li .queue-track strong").all_inner_texts()
    assert items == ["Evening Song", "Morning Song"]
    page.click(".queue-list li >> nth=1 >> [data-move='-1']")
    assert page.locator(".queue-list li .queue-track strong").all_inner_texts() == ["Morning Song", "Evening Song"]

    # A reload keeps the queue, the track and the position.
    position = page.evaluate("() => [...document.querySelectorAll('#player audio')].find(a => !a.paused).currentTime")
    page.reload()
    page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Evening Song'")
    page.click('[data-action="queue"]')
    assert page.locator(".queue-list li .queue-track strong").all_inner_texts() == ["Morning Song", "Evening Song"]
    page.wait_for_function(
        "p => [...document.querySelectorAll('#player audio')].some(a => a.currentTime >= p - 1.5)",
        arg=position,
        timeout=15_000,
    )
    # Still playing: the queue this browser sent to the server as it left does not replace its own.
    page.wait_for_function(PLAYING % "0", timeout=15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server + "/library")
    page.screenshot(path=str(ARTIFACTS / "library-with-player.png"))
    page.keyboard.press("Space")  # pauses (or plays) without scrolling the page
    page.wait_for_timeout(200)


def test_the_queue_follows_the_user_to_another_browser(signed_in, browser, live_server):
    # The player of the first browser sends its queue to the server (the play queue
    # the Subsonic apps share) soon after a change.
    signed_in.wait_for_function(
        "() => fetch('/api/queue').then(r => r.json()).then(d => d.tracks.length === 2)", polling=500, timeout=15_000
    )
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto(live_server + "/auth/login")
        page.fill("#username", "listener1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/library")
        page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Evening Song'")
        page.click('[data-action="queue"]')
        assert page.locator(".queue-list li .queue-track strong").all_inner_texts() == ["Morning Song", "Evening Song"]
        # Restored paused: the other device decides when to play.
        assert page.evaluate("() => [...document.querySelectorAll('#player audio')].every(a => a.paused)")
    finally:
        context.close()


def test_a_real_listen_is_recorded_once(signed_in, live_server, audio_files):
    page = signed_in
    page.goto(live_server + "/library?sort=title")
    # Half of a 30-second track is 15 seconds of real listening (seeking does not count).
    page.click("tr[data-track] >> nth=1 >> [data-play-row]")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    with page.expect_response(
        lambda r: r.url.endswith("/api/plays") and r.request.method == "POST", timeout=40_000
    ) as info:
        pass
    assert info.value.status == 201
    page.goto(live_server + "/library/history")
    assert "Morning Song" in page.inner_text("#content")
    page.goto(live_server + "/library")
    track_url = page.get_attribute("tr[data-track]:has-text('Morning Song') .title-cell a", "href")
    page.goto(live_server + track_url)
    assert page.inner_text("[data-play-count]") == "1"


def test_keyboard_help_and_shortcuts(signed_in, live_server):
    page = signed_in
    page.goto(live_server + "/library")
    page.click("body")
    page.keyboard.press("Shift+Slash")
    assert page.locator(".help-dialog").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator(".help-dialog").is_visible()
    page.keyboard.press("m")
    assert page.get_attribute('[data-action="mute"]', "aria-pressed") == "true"
    page.keyboard.press("m")
    assert page.get_attribute('[data-action="mute"]', "aria-pressed") == "false"


def create_playlist(page, live_server: str, name: str, titles: list[str]) -> str:
    """Create a playlist and add tracks by title, through the pages; return its URL."""
    page.goto(live_server + "/playlists")
    page.fill("#name", name)
    page.click("button:has-text('Create playlist')")
    page.wait_for_url(re.compile(r".*/playlists/\d+$"))
    playlist_url = page.url
    for title in titles:
        page.goto(live_server + "/library?sort=title")
        page.click(f"tr[data-track]:has-text('{title}') a[title='Add to playlist']")
        page.wait_for_selector("h1:has-text('Add 1 track')")
        page.select_option("#playlist", label=name)
        page.click("button:has-text('Add')")
        page.wait_for_url("**/library?sort=title")
    return playlist_url


def test_build_reorder_and_play_a_playlist(signed_in, live_server):
    page = signed_in
    playlist_url = create_playlist(page, live_server, "Drive", ["Evening Song", "Morning Song"])
    page.goto(playlist_url)
    rows = "table.playlist-entries tbody tr .title-cell"
    assert [t.strip() for t in page.locator(rows).all_inner_texts()] == ["Evening Song", "Morning Song"]

    # Drag the second row above the first; the page saves the new order.
    with page.expect_response(lambda r: r.url.endswith("/move") and r.request.method == "POST") as saved:
        page.drag_and_drop(
            "table.playlist-entries tbody tr >> nth=1",
            "table.playlist-entries tbody tr >> nth=0",
            target_position={"x": 20, "y": 3},
        )
    assert saved.value.status == 200
    page.wait_for_function(
        """() => [...document.querySelectorAll('table.playlist-entries tbody tr .title-cell')]
                 .map(c => c.textContent.trim()).join('|') === 'Morning Song|Evening Song'"""
    )
    page.reload()  # the order is saved, not just shown
    assert [t.strip() for t in page.locator(rows).all_inner_texts()] == ["Morning Song", "Evening Song"]

    page.click("[data-play-all]:not([data-play-all='shuffle'])")
    page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Morning Song'")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    page.click('[data-action="next"]')
    page.wait_for_function("() => document.querySelector('.player-title').textContent === 'Evening Song'")

    # The heart in the player marks the playing track as a favourite.
    page.click('#player [data-action="favourite"]')
    page.wait_for_function(
        "() => document.querySelector('#player [data-action=\"favourite\"]').getAttribute('aria-pressed') === 'true'"
    )
    page.goto(live_server + "/playlists/favourites")
    assert "Evening Song" in page.inner_text("#content")


def test_a_share_link_plays_in_a_browser_without_an_account(signed_in, browser, live_server):
    page = signed_in
    playlist_url = create_playlist(page, live_server, "For friends", ["Evening Song"])
    page.goto(playlist_url + "/edit")
    page.select_option("#visibility", "link")
    page.click("button:has-text('Save sharing')")
    link = page.input_value("#share-url")

    stranger = browser.new_context(viewport={"width": 390, "height": 800})  # a phone, no session
    try:
        visitor = stranger.new_page()
        visitor.goto(link)
        assert visitor.inner_text("h1") == "For friends"
        # Every cover (here the placeholder: the files have no art) is shown.
        visitor.wait_for_function(
            "() => [...document.querySelectorAll('.share-track img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        assert visitor.locator(".share-track img").count() == 1
        visitor.click(".share-track:has-text('Evening Song')")
        visitor.wait_for_function(
            "() => { const a = document.querySelector('.share-audio'); return !a.paused && a.currentTime > 0.2; }",
            timeout=15_000,
        )
    finally:
        stranger.close()


def test_the_library_and_its_player_in_french(browser, live_server, signed_in):
    """A browser set to French gets French pages and a French player, and the
    player's strings (from the page's JSON block) too."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(live_server + "/auth/login")
        assert page.get_attribute("html", "lang") == "fr"
        page.fill("#username", "listener1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/library")
        assert page.inner_text("h1") == "Bibliothèque"
        page.click("tr[data-track] >> nth=0 >> [data-play-row]")
        page.wait_for_function(PLAYING % "0.5", timeout=15_000)
        assert page.get_attribute('[data-action="queue"]', "aria-label") == "Afficher la file d\u2019attente"
        page.click('[data-action="toggle"]')  # pause: the button now offers to play, in French
        page.wait_for_function("() => document.querySelector('[data-action=toggle]').ariaLabel === 'Lecture'")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "library-with-player-fr.png"))
    finally:
        context.close()


# A canvas's count of pixels that are not transparent.
INKED = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""


def test_the_waveform_seek_bar_is_drawn_and_a_click_seeks_there(signed_in, live_server, job_worker):
    page = signed_in
    page.goto(live_server + "/library?sort=title")
    track_page = live_server + page.get_attribute("tr[data-track] >> nth=0 >> .title-cell a", "href")  # Evening Song
    # The worker (started just now) measures it: the page says so, and shows the
    # result when it is done, without a reload.
    page.goto(track_page)
    page.wait_for_selector("canvas.track-waveform", timeout=60_000)
    assert page.locator("[data-analysis=done]").count() == 1
    assert "LUFS" in page.inner_text(".sound")
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas.track-waveform'); return c && c.waveform; }", timeout=10_000
    )

    page.click("a[data-play-track]")
    page.wait_for_function(PLAYING % "0.3", timeout=15_000)
    assert page.inner_text(".player-title") == "Evening Song"
    page.wait_for_selector("#player .seek-wrap.has-wave", timeout=10_000)
    wave = page.locator("#player canvas.seek-wave")
    assert wave.evaluate(INKED) > 500  # drawn: a 30 s tone fills the bar
    assert page.locator("canvas.track-waveform").evaluate(INKED) > 500

    # A click in the middle of the drawn bar seeks to the middle of the track.
    pause = page.locator('[data-action="toggle"]')
    pause.click()
    box = page.locator("#player .seek-wrap").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('#player audio')].find(a => a.src);"
        " return a && Math.abs(a.currentTime - 15) < 1.5; }",
        timeout=10_000,
    )

    # Loudness normalisation on: the setting is kept, and playback goes on through
    # Web Audio across navigation.
    normalise = page.locator('[data-action="normalise"]')
    assert normalise.get_attribute("aria-pressed") == "false"
    normalise.click()
    assert normalise.get_attribute("aria-label") == "Loudness normalisation: track"
    assert page.evaluate("() => localStorage.getItem('musiccloud.player.normalise')") == "track"
    pause.click()
    page.wait_for_function(PLAYING % "16", timeout=15_000)
    page.click(".site-nav >> text=Library")
    page.wait_for_function(PLAYING % "17", timeout=15_000)
    assert page.inner_text(".player-title") == "Evening Song"
    normalise.click()
    normalise.click()  # album, then off again for the tests after this one
    assert page.evaluate("() => localStorage.getItem('musiccloud.player.normalise')") == "off"


def test_a_share_page_draws_the_waveform_seeks_there_and_evens_out_loudness(
    signed_in, browser, live_server, job_worker
):
    page = signed_in
    page.goto(live_server + "/library?sort=title")
    other_id = page.get_attribute("tr[data-track]:has-text('Morning Song')", "data-track-id")
    playlist_url = create_playlist(page, live_server, "Waves", ["Evening Song"])
    page.goto(playlist_url + "/edit")
    page.select_option("#visibility", "link")
    page.click("button:has-text('Save sharing')")
    link = page.input_value("#share-url")

    stranger = browser.new_context(viewport={"width": 390, "height": 800})  # a phone, no session
    try:
        visitor = stranger.new_page()
        # The worker measured the track in the test before (or does now): the page then has its waveform.
        end = time.monotonic() + 60
        while True:
            visitor.goto(link)
            shared = visitor.evaluate("() => JSON.parse(document.getElementById('share-player').textContent)")
            if shared[0]["waveform"] or time.monotonic() > end:
                break
            time.sleep(1)
        assert shared[0]["waveform"] and shared[0]["gain"]
        visitor.click(".share-track:has-text('Evening Song')")
        visitor.wait_for_function(
            "() => { const a = document.querySelector('.share-audio'); return !a.paused && a.currentTime > 0.2; }",
            timeout=15_000,
        )
        visitor.wait_for_selector("canvas.share-wave:not([hidden])", timeout=10_000)
        wave = visitor.locator("canvas.share-wave")
        assert wave.evaluate(INKED) > 500  # drawn: a 30 s tone fills it

        # Track gain through the limiter, by default: the visitor has no settings.
        expected = 10 ** (shared[0]["gain"]["track"] / 20)
        assert expected != pytest.approx(1.0, abs=0.05)
        visitor.wait_for_function(
            f"() => Math.abs(Number(document.querySelector('.share-audio').dataset.gain) - {expected}) < 0.001",
            timeout=10_000,
        )

        # A click in the middle of the waveform seeks to the middle of the track.
        box = wave.bounding_box()
        visitor.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        visitor.wait_for_function(
            "() => Math.abs(document.querySelector('.share-audio').currentTime - 15) < 1.5", timeout=10_000
        )
        screenshot(visitor, "share-page-waveform")
        # Only the link's tracks have a waveform under it.
        assert visitor.request.get(f"{link}/waveform/{other_id}.json").status == 404
    finally:
        stranger.close()


def test_like_dislike_and_a_radio(signed_in, live_server):
    page = signed_in
    page.goto(live_server + "/library?sort=title")
    row = page.locator("tr[data-track]", has_text="Evening Song")
    like = row.locator("button[data-like-kind=like]")
    dislike = row.locator("button[data-like-kind=dislike]")
    assert like.get_attribute("aria-pressed") == "false"

    like.click()
    page.wait_for_function(
        "() => document.querySelector('tr[data-track] button[data-like-kind=like]')"
        ".getAttribute('aria-pressed') === 'true'"
    )
    assert page.url.endswith("/library?sort=title")  # no page load: the script did it
    # Undo with the same button; then a dislike dims the row.
    like.click()
    page.wait_for_function(
        "() => document.querySelector('tr[data-track] button[data-like-kind=like]')"
        ".getAttribute('aria-pressed') === 'false'"
    )
    dislike.click()
    page.wait_for_function("() => document.querySelector('tr[data-track]').classList.contains('disliked')")
    page.reload()
    assert "disliked" in (page.locator("tr[data-track]", has_text="Evening Song").get_attribute("class") or "")
    assert (
        page.locator("tr[data-track]", has_text="Evening Song")
        .locator("button[data-like-kind=dislike]")
        .get_attribute("aria-pressed")
        == "true"
    )

    # A radio from the other track: it plays it, never the disliked one, and says so on the bar.
    page.locator("tr[data-track]", has_text="Morning Song").locator(".title-cell a").click()
    page.wait_for_url("**/library/tracks/*")
    page.click("button[data-radio]")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    assert page.inner_text(".player-title") == "Morning Song"
    queued = page.locator("#player .queue-list li").all_inner_texts()
    assert not any("Evening Song" in item for item in queued)
    assert page.get_attribute('#player [data-action="dislike"]', "aria-pressed") == "false"
    page.click('#player [data-action="like"]')
    page.wait_for_function(
        "() => document.querySelector('#player [data-action=\"like\"]').getAttribute('aria-pressed') === 'true'"
    )


def test_the_home_page_mixes_and_the_recommended_shuffle(signed_in, live_server):
    # After the tests above: Morning Song played and liked, Evening Song disliked.
    page = signed_in
    page.goto(live_server + "/")
    mix = page.locator("section.mix", has_text="Daily mix: Browser Band")
    assert "Morning Song" in mix.inner_text() and "Evening Song" not in mix.inner_text()
    # The library is still there, under the mixes.
    assert page.locator("table.tracks tr[data-track]").count() == 2
    screenshot(page, "home-mixes")
    mix.locator("button[data-play-list]").click()
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    assert page.inner_text(".player-title") == "Morning Song"

    page.click("button[data-radio]:has-text('Shuffle (recommended)')")
    page.wait_for_function(PLAYING % "0.2", timeout=15_000)
    assert page.inner_text(".player-title") == "Morning Song"
    queued = page.locator("#player .queue-list li").all_inner_texts()
    assert queued and not any("Evening Song" in item for item in queued)
