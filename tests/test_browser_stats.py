"""The listening figures in a real browser (Debian's Chromium, Playwright, a real gunicorn on
a fresh SQLite database): the home page's mixes, the stats page with its chart, the year in
review and the admin's dashboard, each kept as a screenshot in test-artifacts/."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, update

from app.models import PlayEvent, Track, Visibility
from tests.audio import synthesize
from tests.browser import launch, register, screenshot
from tests.servers import flask, server_env

pytestmark = pytest.mark.browser

SONGS = [
    ("Morning Song", "Browser Band", "Folk", 440),
    ("Evening Song", "Browser Band", "Folk", 550),
    ("Night Walk", "Late Trio", "Jazz", 660),
]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("server")
    database_url, uploads = f"sqlite:///{tmp / 'browser.db'}", tmp / "uploads"
    flask(server_env(database_url, uploads), "db", "upgrade")
    return database_url, uploads


@pytest.fixture(scope="module")
def live_server(instance: tuple[str, Path], start_gunicorn) -> str:
    return start_gunicorn(*instance).url


@pytest.fixture(scope="module")
def page(live_server, instance, tmp_path_factory):
    """The first account (the admin) with three tracks uploaded through the page and a year
    and a half of listens."""
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("audio")
    files = []
    for title, artist, genre, pitch in SONGS:
        path = folder / f"{title}.mp3"
        tags = ["-metadata", f"title={title}", "-metadata", f"artist={artist}", "-metadata", f"genre={genre}"]
        synthesize(
            f"sine=frequency={pitch}:duration=20", path, "-ac", "1", "-b:a", "64k", "-metadata", "album=Day", *tags
        )
        files.append(str(path))
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        register(page, live_server, "listener1")
        page.goto(live_server + "/library/upload")
        page.set_input_files("#files", files)
        page.wait_for_selector(".upload-item.status-added >> nth=2", timeout=30_000)
        _listens(instance[0])
        yield page
        browser.close()


def _listens(database_url: str) -> None:
    """Listens every few days over the last 500 days, the morning song most, in sessions;
    two of the three tracks are made public (the dashboard names public music only)."""
    engine = create_engine(database_url)
    rng = random.Random(3)  # noqa: S311 - a made-up history, not a secret
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Track.title, Track.id)).tuples().all())
        user_id = conn.execute(select(Track.owner_id)).scalar()
        rows = []
        for day in range(500, -1, -1):
            if rng.random() < 0.55:
                at = now - timedelta(days=day, hours=rng.randrange(12))
                for k in range(rng.randrange(1, 6)):
                    title = rng.choice(["Morning Song"] * 3 + ["Evening Song", "Night Walk"])
                    rows.append({"user_id": user_id, "track_id": ids[title], "played_at": at + timedelta(minutes=k)})
        conn.execute(insert(PlayEvent), rows)
        conn.execute(
            update(Track).where(Track.title.in_(["Morning Song", "Night Walk"])).values(visibility=Visibility.PUBLIC)
        )
    engine.dispose()


def test_the_home_page_mixes(page, live_server):
    page.goto(live_server + "/")
    page.wait_for_selector("section.mix")
    assert "Morning Song" in page.inner_text("section.mix >> nth=0")
    screenshot(page, "home-mixes-with-history")


def test_the_stats_page_its_chart_and_its_table(page, live_server):
    page.goto(live_server + "/account/stats?period=year&by=week")
    chart = page.locator('figure[data-chart="listening"]')
    assert chart.locator("svg rect").count() >= 52
    assert chart.locator("svg").is_visible() and chart.locator("table").is_visible()
    assert page.locator('ol[data-top="tracks"] li').first.inner_text().startswith("Morning Song")
    assert page.locator('ol[data-top="albums"] li').count() == 2
    screenshot(page, "stats")
    page.click("nav[aria-label='Chart scale'] >> text=By month")
    page.wait_for_url("**by=month")
    assert page.locator('figure[data-chart="listening"] svg rect').count() in {12, 13}


def test_the_year_in_review(page, live_server):
    year = datetime.now(UTC).year - 1
    page.goto(live_server + "/account/stats")
    page.click(f"p[data-years] >> text={year}")
    page.wait_for_url(f"**/account/stats/year/{year}")
    assert page.inner_text("h1") == f"Your {year} in music"
    assert page.locator('figure[data-chart="months"] svg rect').count() == 12
    assert page.locator('table[data-table="months"] tbody tr').count() == 12
    # The table is there for screen readers: in the accessibility tree, the drawing is not.
    assert page.locator('figure[data-chart="months"] table').is_visible()
    assert page.locator('figure[data-chart="months"] .chart-plot').get_attribute("aria-hidden") == "true"
    assert int(page.inner_text('[data-stat="plays"]')) > 50
    screenshot(page, "year-in-review")


def test_the_admin_dashboard(page, live_server):
    page.goto(live_server + "/admin/")
    assert page.inner_text('[data-figure="tracks"]') == "3"
    for name in ("plays", "uploads", "storage", "formats", "bitrates", "genres"):
        figure = page.locator(f'figure[data-chart="{name}"]')
        assert figure.locator("svg").first.is_visible(), name
        assert figure.locator(f'table[data-table="{name}"] tbody tr').count() >= 1, name
    assert (
        "Morning Song" in page.inner_text('ol[data-top="tracks"]')
        or page.locator('ol[data-top="tracks"] li').count() == 1
    )
    screenshot(page, "dashboard")
    page.click("nav[aria-label='Chart scale'] >> text=By month")
    page.wait_for_url("**by=month")
    screenshot(page, "dashboard-by-month")
