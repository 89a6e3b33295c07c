"""Browser test: the Sentence embedding page renders its charts in a real Chromium, without errors."""

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


def test_sentence_page_renders_charts_without_errors():
    with app_in_chromium() as (browser, url):
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        visit(page, f"{url}/Sentence_embedding")
        wait_idle(page)
        page.wait_for_selector("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg")
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "sentence_tokens.png"), full_page=True)
        for tab, shot in (
            ("Similarity", "sentence_similarity.png"),
            ("Which tokens matter", "sentence_tokens_matter.png"),
            ("Search an index", "sentence_index.png"),
        ):
            open_tab(page, tab)
            panel = page.locator("[role='tabpanel']:visible")
            panel.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        page.get_by_role("button", name="Add my").click()  # becomes disabled once stored
        page.get_by_role("button", name="Your sentences are in the index").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_text("identical: the model did not change").wait_for(timeout=30_000)
        wait_still(page)  # the map redrawn before the screenshot
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "sentence_index_added.png"), full_page=True)
        uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
        uploader.set_input_files(
            files=[{"name": "photo.txt", "mimeType": "text/plain", "buffer": b"\x89PNG\r\n\x1a\n\x00\x00"}]
        )
        page.get_by_text("binary file").first.wait_for(timeout=30_000)
        uploader.set_input_files(
            files=[
                {
                    "name": "mine.txt",
                    "mimeType": "text/plain",
                    "buffer": b"Volcanoes erupt ash.\nTides follow the moon.\nRain fell all night.\n",
                }
            ]
        )
        with rerun(page):
            page.get_by_role("button", name="Add 3 sentences from the file").click()
        page.get_by_text("file: mine.txt").first.wait_for(timeout=30_000)
        page.get_by_text("All 3 sentences of this file are in the index").wait_for(timeout=30_000)
        wait_still(page)  # the map redrawn before the screenshot
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "sentence_index_uploaded.png"), full_page=True)


VISIBLE = (
    "els => els.filter(e => e.getBoundingClientRect().width > 50 && e.getBoundingClientRect().height > 50)"
)
# Vega labels every SVG mark with the values it encodes: the chart data as the browser drew it.
CHART_DATA = (
    VISIBLE + ".map(e => [...e.querySelectorAll('[aria-label]')].map(n => n.getAttribute('aria-label')))"
)
CHART_MARKUP = VISIBLE + ".map(e => e.outerHTML)"


def _drawn(page) -> dict:
    """The open tab's charts (data and markup) and tables, as the browser shows them."""
    wait_still(page)
    return {
        "tab": page.locator("[role='tab'][aria-selected='true']").inner_text(),
        "charts": page.locator(CHART).evaluate_all(CHART_DATA),
        "markup": page.locator(CHART).evaluate_all(CHART_MARKUP),
        "tables": page.locator("[role='tabpanel']:visible [data-testid='stDataFrame']").count(),
    }


def test_a_copied_link_opens_the_same_view_and_classroom_mode_restyles_it():
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        visit(page, f"{url}/Sentence_embedding")
        wait_idle(page, timeout_ms=180_000)
        open_tab(page, "Similarity")
        page.locator(".st-key-sentence_pooling").click()
        with rerun(page):
            page.get_by_role("option", name="[CLS] token").click()
        similarity = _drawn(page)
        open_tab(page, "Search an index")
        box = page.locator(".st-key-index_query input")
        box.fill("Which vegetables grow well in shade?")
        with rerun(page):
            box.press("Enter")
        k = page.locator(".st-key-index_k input")
        k.fill("3")
        with rerun(page):
            k.press("Enter")
        index = _drawn(page)
        assert index["tab"] == "Search an index"
        assert sum(len(c) for c in index["charts"]) > 50, "the charts carry their data points"
        assert page.locator("[data-testid='stException']").count() == 0

        page.get_by_role("button", name="🔗 Share or export").click()
        code = page.locator("[data-testid='stPopoverBody'] [data-testid='stCode'] code")
        code.wait_for(timeout=30_000)
        link = code.inner_text().strip()
        assert link.startswith(f"{url}/Sentence_embedding?view=")
        page.screenshot(path=str(ARTIFACTS / "sentence_share_popover.png"))
        page.keyboard.press("Escape")

        opened = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        visit(opened, link)
        wait_idle(opened, timeout_ms=180_000)
        opened.locator("[role='tabpanel']:visible [data-testid='stVegaLiteChart']").first.wait_for(
            timeout=60_000
        )
        assert opened.locator("[data-testid='stException']").count() == 0
        assert opened.locator(".st-key-index_query input").input_value() == box.input_value()
        shown = _drawn(opened)
        assert {k: v for k, v in shown.items() if k != "markup"} == {
            k: v for k, v in index.items() if k != "markup"
        }, "the link opened a different view"
        open_tab(opened, "Similarity")
        assert _drawn(opened)["charts"] == similarity["charts"]

        with rerun(opened):
            opened.locator(".st-key-classroom label").click()
        classroom = _drawn(opened)
        assert opened.locator("[data-testid='stException']").count() == 0
        assert classroom["charts"] == similarity["charts"], "classroom mode changes the style, not the data"
        assert classroom["markup"] != similarity["markup"], "classroom mode did not restyle the chart"
        opened.screenshot(path=str(ARTIFACTS / "sentence_classroom_similarity.png"), full_page=True)
        open_tab(opened, "Tokens → one point")
        opened.screenshot(path=str(ARTIFACTS / "sentence_classroom_tokens.png"), full_page=True)
        open_tab(opened, "Search an index")
        opened.screenshot(path=str(ARTIFACTS / "sentence_classroom_index.png"), full_page=True)
        corpus_map = opened.locator("[role='tabpanel']:visible [data-testid='stVegaLiteChart']").first
        corpus_map.scroll_into_view_if_needed()
        wait_still(opened)
        corpus_map.screenshot(path=str(ARTIFACTS / "sentence_classroom_corpus_map.png"))
