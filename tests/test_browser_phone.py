"""Browser: the app on a 390 x 844 phone: the chart comes soon, tabs are readable, cards keep their order."""

from __future__ import annotations

import pytest
from browser import (
    ARTIFACTS,
    app_in_chromium,
    open_tab,
    require_chromium,
    rerun,
    visit,
    wait_idle,
    wait_still,
)

from explorer import assets
from explorer.ui.sentence import TABS

pytestmark = pytest.mark.browser

require_chromium()

PHONE = {"width": 390, "height": 844}
CHART = "[data-testid='stVegaLiteChart'] svg, [data-testid='stVegaLiteChart'] canvas"


def _top_in_page(page, selector: str) -> float:
    """How far down the page an element starts, however the page is scrolled (Streamlit scrolls its
    main container, not the document)."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); const main = document.querySelector(
            "[data-testid='stMain']"); return el.getBoundingClientRect().top + (main ? main.scrollTop : 0); }""",
        selector,
    )


def test_a_phone_sees_the_chart_soon_readable_tabs_and_ordered_cards() -> None:
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport=PHONE).new_page()

        visit(page, f"{url}/Token_journey")
        page.wait_for_selector(CHART, timeout=120_000)
        wait_idle(page)
        top = _top_in_page(page, "[data-testid='stVegaLiteChart']")
        assert top <= 1.5 * PHONE["height"], f"the journey chart starts {top:.0f} px down"
        page.screenshot(path=str(ARTIFACTS / "phone_journey.png"))

        visit(page, f"{url}/Sentence_embedding")
        page.wait_for_selector(CHART, timeout=120_000)
        wait_idle(page)
        for name in TABS:  # every tab shows its whole name inside the screen's width
            tab = page.get_by_role("tab", name=name)
            box = tab.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
            assert tab.inner_text().strip() == name
        open_tab(page, TABS[3])

        visit(page, url)
        wait_idle(page)
        wait_still(page)
        titles = [lesson.title for lesson in sorted(assets.lessons(), key=lambda lesson: lesson.idea)]
        tops = [page.get_by_role("link", name=title).first.bounding_box()["y"] for title in titles]
        assert tops == sorted(tops), (
            f"lesson cards out of reading order: {list(zip(titles, tops, strict=True))}"
        )
        page.screenshot(path=str(ARTIFACTS / "phone_home.png"))


def test_classroom_mode_on_a_phone_draws_the_journey_at_full_width() -> None:
    """The presenter view on a phone: the legend sits beside the plot and the readout's long lines used
    to make Vega shrink the plot to nothing; now the plot keeps at least 40% of the chart (the legend and axis labels take the rest)."""
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport=PHONE).new_page()
        visit(page, f"{url}/Token_journey")
        page.wait_for_selector(CHART, timeout=120_000)
        wait_idle(page)
        page.locator(
            "[data-testid='stExpandSidebarButton'], [data-testid='stSidebarCollapsedControl'] button"
        ).first.click()
        with rerun(page):
            page.get_by_text("Classroom mode").first.click()
        wait_still(page)
        widths = page.evaluate(
            """() => { const svg = document.querySelector("[data-testid='stVegaLiteChart'] svg");
                const axes = Array.from(svg.querySelectorAll("g.role-axis")).map((g) => g.getBoundingClientRect().width);
                return [svg.getBoundingClientRect().width, Math.max(...axes)]; }"""
        )
        chart, widest_axis = widths
        assert widest_axis >= 0.4 * chart, f"plot {widest_axis:.0f} px wide in a {chart:.0f} px chart"
        page.screenshot(path=str(ARTIFACTS / "phone_journey_classroom.png"))
