"""Browser test: the Fine-tune page in a real Chromium, before and after training, and after tuning a copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import (
    ARTIFACTS,
    CHART,
    EXCEPTION,
    app_in_chromium,
    require_chromium,
    rerun,
    visit,
    wait_idle,
    wait_still,
)

pytestmark = pytest.mark.browser

require_chromium()


def _visible_charts(page) -> int:
    return page.locator(CHART).evaluate_all(
        "els => els.filter(e => e.getBoundingClientRect().width > 50 && e.getBoundingClientRect().height > 50).length"
    )


def _screenshot(page, name: str) -> None:
    """One 1440x1000 screenshot, and one tall enough to show the whole page (Streamlit scrolls inside)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    height = page.evaluate("document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(1000, int(height))})
    wait_still(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}_full.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def _fingerprints(page) -> list[str]:
    return [t.strip() for t in page.locator("h4 code").all_inner_texts() if len(t.strip()) == 16]


def test_fine_tune_trains_and_proves_the_model_unchanged(tmp_path: Path) -> None:
    with app_in_chromium() as (browser, url):
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        visit(page, f"{url}/Fine_tune")
        wait_idle(page, timeout_ms=180_000)
        page.wait_for_selector(CHART, timeout=60_000)
        wait_still(page)
        assert page.locator(EXCEPTION).count() == 0
        assert "Fine-tune" in page.locator("h1").first.inner_text()
        assert _visible_charts(page) >= 1
        _screenshot(page, "fine_tune_before")

        page.get_by_role("button", name="Train the head").click()
        page.wait_for_selector("text=Model fingerprint after", timeout=120_000)
        wait_idle(page, timeout_ms=120_000)
        wait_still(page)
        assert page.locator(EXCEPTION).count() == 0
        assert _visible_charts(page) >= 2  # the snapshot view and the loss curve
        fingerprints = _fingerprints(page)
        assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]
        _screenshot(page, "fine_tune_after")

        with page.expect_download() as download:
            page.get_by_role("button", name="Download head").click()
        head_zip = tmp_path / "head.zip"
        download.value.save_as(head_zip)
        assert head_zip.stat().st_size > 1000
        page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(head_zip))
        page.wait_for_selector("text=loaded from a file", timeout=120_000)
        wait_idle(page)
        assert page.locator(EXCEPTION).count() == 0
        _screenshot(page, "fine_tune_loaded")

        page.get_by_role("button", name="Tune a private copy").click()
        page.wait_for_selector("text=Your tuned copy", timeout=180_000)
        wait_idle(page, timeout_ms=180_000)
        wait_still(page)
        assert page.locator(EXCEPTION).count() == 0
        assert _visible_charts(page) >= 3
        # head proof (2 equal), then tuning: the shared model before → after (equal), and the copy (differs)
        fingerprints = _fingerprints(page)
        assert (
            len(fingerprints) == 5
            and fingerprints[0] == fingerprints[2] == fingerprints[3] != fingerprints[4]
        )
        _screenshot(page, "fine_tune_tuned")


def _snapshot_picture(page) -> str:
    """The snapshot chart as drawn (Vega's canvas as a data URL): same data, same settings, same pixels."""
    return page.locator(CHART).first.evaluate(
        "el => el.tagName === 'CANVAS' ? el.toDataURL() : new XMLSerializer().serializeToString(el)"
    )


def _step_caption(page) -> str:
    captions = page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
    return next(c for c in captions if c.startswith("Step "))


def _metrics(page) -> list[str]:
    return page.locator("[data-testid='stMetricValue']").all_inner_texts()


def test_a_copied_link_opens_the_same_view_and_classroom_mode() -> None:
    with app_in_chromium() as (browser, url):
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        visit(page, f"{url}/Fine_tune")
        wait_idle(page, timeout_ms=180_000)
        page.get_by_role("button", name="Train the head").click()
        page.wait_for_selector("text=Model fingerprint after", timeout=120_000)
        wait_idle(page, timeout_ms=120_000)
        step_slider = page.locator("[data-testid='stSlider']").filter(has_text="Training step")
        step_slider.locator("input[type='range']").focus()
        with rerun(page):
            for _ in range(8):  # an earlier snapshot than the last, so the link must carry the step
                page.keyboard.press("ArrowLeft")
        wait_still(page)
        caption, metrics, picture = _step_caption(page), _metrics(page), _snapshot_picture(page)
        assert not caption.startswith("Step 100 ")

        page.get_by_role("button", name="Share or export").click()
        code = page.locator(
            "[data-testid='stPopoverBody'] [data-testid='stCode'] code, [data-testid='stCode'] code"
        )
        code.first.wait_for(timeout=30_000)
        link = next(t.strip() for t in code.all_inner_texts() if "view=" in t)
        assert link.startswith(f"{url}/Fine_tune?view=")
        page.screenshot(path=str(ARTIFACTS / "fine_tune_share_popover.png"))

        other = browser.new_page(viewport={"width": 1440, "height": 1000})
        visit(other, link)
        wait_idle(other, timeout_ms=180_000)
        # opening a link never trains: it says so, and one click trains the same head again
        assert other.get_by_text("This link shows a trained head").count() == 1
        assert other.get_by_text("Model fingerprint after").count() == 0
        other.get_by_role("button", name="Train the head").click()
        other.wait_for_selector("text=Model fingerprint after", timeout=180_000)
        wait_idle(other, timeout_ms=120_000)
        wait_still(other)
        assert other.locator(EXCEPTION).count() == 0
        assert _step_caption(other) == caption
        assert _metrics(other) == metrics
        assert _snapshot_picture(other) == picture, "the linked page draws the same chart"

        with rerun(other):
            other.get_by_text("Classroom mode").click()
        wait_still(other)
        assert other.locator(EXCEPTION).count() == 0
        assert _snapshot_picture(other) != picture
        _screenshot(other, "fine_tune_classroom")
