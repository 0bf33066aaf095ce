"""What every browser test shares: Debian's Chromium driven by Playwright, where screenshots
are kept, and an account made through the register page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Screenshots kept as the test run's artifacts (CI uploads the folder; git ignores it).
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a browser password"
LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
# For the player's tests: audio may start without a click on the page.
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"


def launch(playwright: Any, *extra_args: str) -> Any:
    """Chromium with LAUNCH_ARGS and `extra_args`. Fails the test when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*LAUNCH_ARGS, *extra_args])


def register(page: Any, base_url: str, username: str) -> None:
    """Make an account through the register page; the page ends on the library, signed in."""
    page.goto(base_url + "/auth/register")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/library")


def screenshot(page: Any, name: str) -> None:
    """Keep the whole page as ARTIFACTS/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
