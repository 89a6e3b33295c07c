"""Browser test: the Sentence embedding page renders its charts in a real Chromium, without errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, streamlit_server, wait_idle

pytestmark = pytest.mark.browser


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI")
        pytest.skip(f"{CHROMIUM} is not installed")


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(800)


def test_sentence_page_renders_charts_without_errors():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/Sentence_embedding")
            wait_idle(page)
            page.wait_for_selector(
                "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
            )
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "sentence_tokens.png"), full_page=True)
            for tab, shot in (
                ("Similarity", "sentence_similarity.png"),
                ("Which tokens matter", "sentence_tokens_matter.png"),
                ("An index is not the model", "sentence_index.png"),
            ):
                _open_tab(page, tab)
                panel = page.locator("[role='tabpanel']:visible")
                panel.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
                assert page.locator("[data-testid='stException']").count() == 0
                page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
            page.get_by_role("button", name="Add my").click()  # becomes disabled once stored
            wait_idle(page)
            page.get_by_text("identical").first.wait_for(timeout=30_000)
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "sentence_index_added.png"), full_page=True)
            uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
            uploader.set_input_files(
                files=[
                    {"name": "photo.txt", "mimeType": "text/plain", "buffer": b"\x89PNG\r\n\x1a\n\x00\x00"}
                ]
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
            page.get_by_role("button", name="Add 3 sentences from the file").click()
            page.wait_for_timeout(500)
            wait_idle(page)
            page.get_by_text("file: mine.txt").first.wait_for(timeout=30_000)
            page.get_by_text("All 3 sentences of this file are in the index").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # let the map redraw before the screenshot
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "sentence_index_uploaded.png"), full_page=True)
        finally:
            browser.close()
