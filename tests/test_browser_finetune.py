"""Browser test: the Fine-tune page in a real Chromium, before and after training, and after tuning a copy."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from browser import (
    ARTIFACTS,
    CHART,
    EXCEPTION,
    app_in_chromium,
    require_chromium,
    rerun,
    server_process,
    visit,
    wait_idle,
    wait_still,
)

from explorer.share import encode_view

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


# The default budget, named: one tune of this table fits in it, two at once do not.
ONE_TUNE_AT_A_TIME = {"LSE_SESSION_MEMORY_MB": "600"}


def _long_table_link() -> str:
    """A shared view of 48 rows of about 300 characters (about 3,500 word pieces): a tune of it claims
    about 435 MB of the 600 the server allows, and reads the table on the visitor's click."""
    words = "river bank money loan water field stone market bread music light shadow garden winter".split()
    rows = [
        [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(55)), "ab"[i % 2]] for i in range(48)
    ]
    return "/Fine_tune?view=" + encode_view({"rows": rows})


def _ready_to_tune(page, address: str) -> None:
    visit(page, address)
    wait_idle(page, timeout_ms=180_000)
    page.get_by_role("button", name="Run the shared view").click()
    page.get_by_role("button", name="Tune a private copy").wait_for(timeout=180_000)
    wait_idle(page, timeout_ms=180_000)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _cpu_until_quiet(process: psutil.Process) -> float:
    """The server's CPU seconds from now until a whole second passes with under a tenth of one."""
    start = last = _cpu_seconds(process)
    while True:
        time.sleep(1.0)
        now = _cpu_seconds(process)
        if now - last < 0.1:
            return now - start
        last = now


def test_a_page_closed_mid_tune_stops_its_tune_and_holds_no_room() -> None:
    """Visitor A presses Tune and closes the page a few steps in. Streamlit stops A's run at its next
    progress update, and the claim is given back on the way out: the server goes quiet at once (its CPU
    after the close is a small part of what a whole tune of the same table costs, measured in this run),
    and visitor B's tune, which with A's still running would have to wait for room, starts at once."""
    with app_in_chromium(ONE_TUNE_AT_A_TIME) as (browser, url):
        server = psutil.Process(server_process(ONE_TUNE_AT_A_TIME))
        link = url + _long_table_link()
        a = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        _ready_to_tune(a, link)
        a.get_by_role("button", name="Tune a private copy").click()
        a.wait_for_function(
            "() => /Tuning… step ([3-9]|1[0-9])\\//.test(document.body.innerText)",
            polling=50,
            timeout=180_000,
        )
        a.context.close()
        after_close = _cpu_until_quiet(server)

        b = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        _ready_to_tune(b, link)
        before = _cpu_seconds(server)
        b.get_by_role("button", name="Tune a private copy").click()
        b.wait_for_function("() => /Tuning… step/.test(document.body.innerText)", polling=50, timeout=60_000)
        assert "Waiting for room" not in b.locator("body").inner_text()
        b.get_by_text("Your tuned copy").first.wait_for(timeout=180_000)
        whole_tune = _cpu_seconds(server) - before
        assert b.locator(EXCEPTION).count() == 0
        assert after_close < 0.5 * whole_tune, (
            f"after A's page closed the server worked {after_close:.1f} s of CPU; B's whole tune took "
            f"{whole_tune:.1f} s: A's tune ran on"
        )
