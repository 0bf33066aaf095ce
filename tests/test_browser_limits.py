"""Upload limits in a real browser (Debian's Chromium, Playwright) against a real gunicorn:
the admin sets a limit on the admin page, the upload page lists it, and a file past it
is refused in its row, before it is sent, with the sentence naming the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio import synthesize
from tests.browser import launch, register, screenshot
from tests.servers import flask, server_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-second MP3 of about 180 kB."""
    out = tmp_path_factory.mktemp("audio") / "Long Song.mp3"
    synthesize("sine=frequency=440:duration=30", out, "-ac", "1", "-ar", "22050", "-b:a", "48k")
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, start_gunicorn) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("server")
    database_url, uploads = f"sqlite:///{tmp / 'limits.db'}", tmp / "uploads"
    flask(server_env(database_url, uploads), "db", "upgrade")
    return start_gunicorn(database_url, uploads).url, uploads


def test_a_file_past_the_admins_limit_is_refused_in_its_row(server, song):
    from playwright.sync_api import sync_playwright

    url, uploads = server
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            register(page, url, "chief")  # the first account is the admin
            page.goto(url + "/admin/limits")
            page.fill("#admin-max_file_mb", "0.1")
            page.click("[data-role-limits=admin] button[type=submit]")
            page.wait_for_selector("text=The upload limits of the role Admin are saved.")
            assert page.input_value("#admin-max_file_mb") == "0.1"

            page.goto(url + "/library/upload")
            largest = page.locator("[data-upload-limits] dt:has-text('Largest file') + dd")
            assert largest.inner_text() == "100 kB"
            page.set_input_files("#files", [str(song)])
            row = page.locator(".upload-item.status-rejected")
            row.wait_for(timeout=30_000)
            size = f"{song.stat().st_size / 1000:.1f} kB"
            expected = f"Files larger than 100 kB are not accepted for your role (this one is {size})."
            assert expected in row.inner_text()
            screenshot(page, "upload-limit-refused")
        finally:
            browser.close()
    # Refused when the resumable upload was created: no byte of it was kept, not even a partial file.
    assert [p for p in uploads.rglob("*") if p.is_file()] == []
