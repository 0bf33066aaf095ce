"""/api/docs in a real Chromium: the vendored Swagger UI renders the generated
document under the page's Content-Security-Policy, with nothing from another host."""

from __future__ import annotations

from tests.browser import launch
from tests.servers import flask, server_env


def test_api_docs_render_the_operations(tmp_path, start_gunicorn):
    from playwright.sync_api import sync_playwright

    database_url, uploads = f"sqlite:///{tmp_path / 'docs.db'}", tmp_path / "uploads"
    flask(server_env(database_url, uploads), "db", "upgrade")
    server = start_gunicorn(database_url, uploads)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            elsewhere: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server.url) else elsewhere.append(r.url))
            page.goto(f"{server.url}/api/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=20_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/api/v1/tracks" in p for p in paths)
            assert any("/api/v1/playlists/{playlist_id}" in p.replace("\u200b", "") for p in paths)
            assert page.locator("text=Authorize").count() >= 1  # the Bearer scheme is offered
            assert [e for e in elsewhere if not e.startswith("data:")] == []
            assert not [m for m in problems if "Content Security Policy" in m], problems
        finally:
            browser.close()
