"""Browser test: the Geometry lab in a real Chromium: every tab, a share link, and classroom mode."""

from __future__ import annotations

import pytest
from browser import (
    ARTIFACTS,
    CHART,
    app_in_chromium,
    open_tab,
    require_chromium,
    rerun,
    visit,
    wait_idle,
    wait_still,
)

pytestmark = pytest.mark.browser

require_chromium()

TABS = ("Layer by layer", "Word-sense lab", "How much each layer changes each token")
VIEWPORT = {"width": 1440, "height": 1000}
VISIBLE = (
    "els => els.filter(e => e.getBoundingClientRect().width > 50 && e.getBoundingClientRect().height > 50)"
)
# Vega labels every mark item in its SVG with the values it encodes: the chart data as the browser drew
# it. (Axis descriptions are left out: Vega does not refresh them when Streamlit swaps data in place.)
MARK_ITEMS = "[aria-label]:not([aria-roledescription='axis'])"
CHART_DATA = (
    VISIBLE + f".map(e => [...e.querySelectorAll({MARK_ITEMS!r})].map(n => n.getAttribute('aria-label')))"
)
CHART_MARKUP = VISIBLE + ".map(e => e.outerHTML)"


@pytest.fixture(scope="module")
def served():
    """One server and one browser for the module: (browser, base url)."""
    with app_in_chromium() as (browser, url):
        yield browser, url


def _open(browser, address: str):
    """A new page in its own context (a fresh Streamlit session), loaded and idle."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    visit(page, address)
    wait_idle(page, timeout_ms=180_000)
    page.wait_for_selector(CHART, timeout=60_000)
    _assert_healthy(page)
    return page


def _assert_healthy(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def _show_tab(page, name: str) -> None:
    open_tab(page, name)


def _visible_charts(page) -> int:
    return len(page.locator(CHART).evaluate_all(VISIBLE))


def _sense_view(page) -> dict:
    """What the Word-sense lab tab shows: its inputs, its metrics, its charts' data and their markup."""
    _show_tab(page, TABS[1])
    return {
        "contexts_box": page.locator("[class*='st-key-sense_text_']").evaluate_all(
            "els => els.map(e => [...e.classList].find(c => c.startsWith('st-key-')))"
        ),
        "contexts": page.locator("[class*='st-key-sense_text_'] textarea").input_value(),
        "metrics": page.locator("[data-testid='stMetric']").all_inner_texts(),
        "charts": page.locator(CHART).evaluate_all(CHART_DATA),
        "markup": page.locator(CHART).evaluate_all(CHART_MARKUP),
    }


def _screenshot_sense_lab(page, name: str) -> None:
    """The sense lab's verdict and charts (the app scrolls inside its own container, so scroll there)."""
    page.locator("[data-testid='stMetric']").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    wait_still(page)
    page.screenshot(path=str(ARTIFACTS / name))


def test_geometry_lab_renders_every_tab(served) -> None:
    browser, url = served
    page = _open(browser, f"{url}/Geometry_lab")
    assert "Geometry lab" in page.locator("h1").first.inner_text()
    for number, tab in enumerate(TABS):
        _show_tab(page, tab)
        assert _visible_charts(page) >= 1, f"no chart drawn on the '{tab}' tab"
        _assert_healthy(page)
        page.screenshot(path=str(ARTIFACTS / f"geometry_lab_{number + 1}.png"), full_page=True)
    page.context.close()


def test_a_copied_link_opens_the_same_view_and_classroom_mode_restyles_it(served) -> None:
    browser, url = served
    page = _open(browser, f"{url}/Geometry_lab")
    with rerun(page):
        page.locator("[data-testid='stRadio'] label").filter(has_text="Your sentences").click()
    _show_tab(page, TABS[1])
    page.locator(".st-key-sense_word").click()
    with rerun(page):
        page.get_by_role("option", name="crane", exact=True).click()
    wait_still(page)
    _assert_healthy(page)
    expected = _sense_view(page)
    assert expected["contexts_box"] == ["st-key-sense_text_crane"] and "crane" in expected["contexts"]
    assert len(expected["charts"]) >= 3
    sentences = page.locator(".st-key-sentences textarea").input_value()

    page.get_by_role("button", name="🔗 Share or export").click()
    code = page.locator("[data-testid='stPopoverBody'] [data-testid='stCode'] code")
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    assert "view=" in link and link.startswith(url)
    page.keyboard.press("Escape")

    opened = _open(browser, link)
    assert opened.locator("[data-testid='stRadio'] input[type='radio']:checked").count() == 1
    assert opened.locator(".st-key-sentences textarea").input_value() == sentences
    shown = _sense_view(opened)
    assert {k: v for k, v in shown.items() if k != "markup"} == {
        k: v for k, v in expected.items() if k != "markup"
    }, "the link opened a different view"
    assert all(len(labels) >= 7 for labels in shown["charts"]), "each chart carries its data points"
    _screenshot_sense_lab(opened, "geometry_lab_from_link.png")

    with rerun(opened):
        opened.locator(".st-key-classroom label").click()
    wait_still(opened)
    _assert_healthy(opened)
    classroom = _sense_view(opened)
    assert classroom["metrics"] == expected["metrics"]
    assert classroom["charts"] == expected["charts"], "classroom mode changes the style, not the data"
    assert classroom["markup"] != expected["markup"], "classroom mode did not restyle the charts"
    _screenshot_sense_lab(opened, "geometry_lab_classroom.png")
    for tab, name in (
        (TABS[0], "geometry_lab_classroom_measures.png"),
        (TABS[2], "geometry_lab_classroom_heatmap.png"),
    ):
        _show_tab(opened, tab)
        assert _visible_charts(opened) >= 1
        opened.locator(CHART).locator("visible=true").first.evaluate(
            "e => e.scrollIntoView({block: 'center'})"
        )
        wait_still(opened)
        opened.screenshot(path=str(ARTIFACTS / name))
    _assert_healthy(opened)
    page.context.close()
    opened.context.close()
