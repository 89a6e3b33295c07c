"""Browser test: the Geometry lab in a real Chromium, each tab rendered, screenshots saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle

pytestmark = pytest.mark.browser

CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
TABS = ("Layer by layer", "Word-sense lab", "How much each layer changes each token")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


def _visible_charts(page) -> int:
    return page.locator(CHART).evaluate_all(
        "els => els.filter(e => e.getBoundingClientRect().width > 50 && e.getBoundingClientRect().height > 50).length"
    )


def test_geometry_lab_renders_every_tab(chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/Geometry_lab", timeout=90_000)
            wait_idle(page, timeout_ms=180_000)
            page.wait_for_selector(CHART, timeout=60_000)
            assert page.locator("[data-testid='stException']").count() == 0
            assert "Geometry lab" in page.locator("h1").first.inner_text()
            for number, tab in enumerate(TABS):
                page.get_by_role("tab", name=tab).click()
                wait_idle(page)
                page.wait_for_timeout(1200)  # let Vega finish drawing
                assert _visible_charts(page) >= 1, f"no chart drawn on the '{tab}' tab"
                assert page.locator("[data-testid='stException']").count() == 0
                page.screenshot(path=str(ARTIFACTS / f"geometry_lab_{number + 1}.png"), full_page=True)
        finally:
            browser.close()
