"""Browser: a lesson pack (one HTML file) works with every network request blocked, on a phone (390x844)
and a projector (1280x720): the question, the choices, the chart and Reveal; Reveal waits for a pick,
then shows the answer and the chart's hidden evidence; the Layer slider moves the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser import ARTIFACTS, offline_page, require_chromium
from test_lesson_pack import HOSTILE, bank_lesson, journey_pack
from test_page_lesson_pack import made_in_the_app

from bench.timing import SLIDER_REDRAW_JS
from explorer.assets import lessons, sentence_set
from explorer.charts.layer_slider import LAYER_PARAM

pytestmark = pytest.mark.browser

require_chromium()

SIZES = {"phone": {"width": 390, "height": 844}, "projector": {"width": 1280, "height": 720}}
STORE = f"() => window.__lseView.data('{LAYER_PARAM}_store').map(d => d.values[0])"


@pytest.fixture(scope="module")
def pack_file(model, tmp_path_factory):
    preset = sentence_set("Word senses: bank")
    page, made = journey_pack(model, (*preset.sentences, HOSTILE), (*preset.groups, ""))
    path = tmp_path_factory.mktemp("pack") / "lesson_bank-senses.html"
    path.write_text(page, "utf-8")
    return path, made


def _serious(page) -> list[str]:
    """axe-core's critical and serious violations on the page as it is (axe runs inside the page)."""
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("critical", "serious")]


def _on_first_screen(page, selector: str, height: int) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height


@pytest.mark.parametrize("size", list(SIZES))
def test_lesson_pack_predict_reveal_and_scrub_with_the_network_blocked(pack_file, size) -> None:
    path, made = pack_file
    lesson, viewport = bank_lesson(), SIZES[size]
    context, page, outside = offline_page(viewport=viewport)
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=30_000)
        assert page.evaluate(STORE) == [0], "the chart opens at the layer the lesson opens at"
        body = page.locator("body").inner_text()
        assert lesson.question in body and lesson.answer not in body
        assert page.locator("#reveal").is_disabled(), "Reveal waits for a pick"
        assert page.locator("#answer").is_hidden()
        # Nothing wider than the screen; the chart fits its width.
        assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
        canvas = page.locator("#chart canvas").bounding_box()
        assert canvas is not None and canvas["width"] <= viewport["width"]
        if size == "projector":  # question, choices, chart and Reveal on the first screen
            for selector in ("h1", ".question", "#pick", "#reveal", "#chart canvas"):
                assert _on_first_screen(page, selector, viewport["height"]), selector
        page.screenshot(path=str(ARTIFACTS / f"lesson_pack_{size}_before.png"))
        assert _serious(page) == []

        page.get_by_label(str(made["layer"]), exact=True).check()
        assert page.locator("#reveal").is_enabled()
        page.click("#reveal")
        page.wait_for_selector("body[data-revealed='true'] #chart canvas", timeout=30_000)
        answer = page.locator("#answer")
        assert answer.is_visible() and lesson.answer in answer.inner_text()
        assert f"Your pick: {made['layer']} ✅ your pick matches." in answer.inner_text()
        assert page.locator("#reveal").is_disabled() and page.locator("#reveal").inner_text() == "Revealed"
        assert page.evaluate("document.activeElement.className") == "answer"
        slider = page.locator("#chart .vega-bind input[type='range']")
        assert slider.count() == 1
        redraw_ms = page.evaluate(SLIDER_REDRAW_JS, 3)
        assert page.evaluate(STORE) == [3]
        print(f"lesson pack slider redraw at {size}: {redraw_ms:.1f} ms")
        (ARTIFACTS / f"lesson_pack_{size}_redraw_ms.json").write_text(
            json.dumps({"slider_redraw_ms": redraw_ms})
        )
        page.screenshot(path=str(ARTIFACTS / f"lesson_pack_{size}_after.png"), full_page=size == "phone")
        notes = page.locator("details.notes")
        notes.locator("summary").click()
        assert lesson.teacher_notes in notes.inner_text()

        assert _serious(page) == []
        assert page.locator("img").count() == 0, "a typed <img> stays text"
        assert HOSTILE in page.locator(".provenance ol").inner_text()
        assert outside == [], outside
    finally:
        context.close()


# One pack per page kind, made in the app (AppTest): (what is typed in the box, a hostile sentence where
# the lesson packs the page's own sentences; the button pressed first). The Sentence embedding's heatmap and
# the Geometry lab's curve have no layers; Fine-tune's tuned copy has its slider and bars after Reveal.
OTHER_PAGES = {
    "negation": (
        "[film] The film was good.\n[film] The film was not good.\n"
        "[rain] It will rain today.\n[rain] It will not rain today.\n" + HOSTILE,
        None,
    ),
    "anisotropy-layers": (None, None),  # over the bundled corpus
    "tune-weights": (None, "Tune a private copy"),
}


@pytest.fixture(scope="module")
def other_packs(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("packs")
    made = {}
    for lesson_id, (typed, press) in OTHER_PAGES.items():
        _, data = made_in_the_app(lesson_id, typed, press)
        made[lesson_id] = (folder / f"lesson_{lesson_id}.html", data.decode("utf-8"))
        made[lesson_id][0].write_bytes(data)
    return made


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lesson_id", list(OTHER_PAGES))
def test_other_pages_packs_pick_and_reveal_with_the_network_blocked(other_packs, lesson_id, size) -> None:
    path, text = other_packs[lesson_id]
    lesson = next(lesson for lesson in lessons() if lesson.id == lesson_id)
    option = re.search(r'class="measured" data-option="([^"]*)"', text).group(1)
    viewport = SIZES[size]
    context, page, outside = offline_page(viewport=viewport)
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='true'] #chart canvas", timeout=30_000)
        body = page.locator("body").inner_text()
        assert lesson.question in body and lesson.answer not in body
        sliders = page.locator("#chart .vega-bind input[type='range']").count()
        assert sliders == (1 if lesson_id == "tune-weights" else 0), "a slider where the chart has layers"
        assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
        canvas = page.locator("#chart canvas").bounding_box()
        assert canvas is not None and canvas["width"] <= viewport["width"]
        stem = f"lesson_pack_{lesson_id}_{size}"
        page.screenshot(path=str(ARTIFACTS / f"{stem}_before.png"), full_page=size == "phone")
        assert _serious(page) == []
        page.get_by_label(option, exact=True).check()
        page.click("#reveal")
        page.wait_for_selector("body[data-revealed='true'] #chart canvas", timeout=30_000)
        answer = page.locator("#answer").inner_text()
        assert lesson.answer in answer and f"Your pick: {option} ✅ your pick matches." in answer
        assert page.locator("#more canvas").count() == (lesson_id in ("tune-weights", "anisotropy-layers"))
        if sliders:
            redraw_ms = page.evaluate(SLIDER_REDRAW_JS, 1)
            print(f"{lesson_id} pack slider redraw at {size}: {redraw_ms:.1f} ms")
            (ARTIFACTS / f"{stem}_redraw_ms.json").write_text(json.dumps({"slider_redraw_ms": redraw_ms}))
        page.screenshot(path=str(ARTIFACTS / f"{stem}_after.png"), full_page=size == "phone")
        assert _serious(page) == []
        assert page.locator("img").count() == 0, "a typed <img> stays text"
        if OTHER_PAGES[lesson_id][0] is not None:
            assert HOSTILE in page.locator(".provenance ol").inner_text()
        assert outside == [], outside
    finally:
        context.close()
