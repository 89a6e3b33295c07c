"""Browser: the Fine-tune lessons in the presenter view (classroom mode) at 1280x720. Each lesson opens from
its gallery link; the class picks an answer, presses the page's button (Tune / Train), then Reveal. Before
and after Reveal the question (then the answer), the button, Reveal and the chart that shows the answer
are all on the first screen. Without a lesson, the tuning section's picture and bars sit right under its
button, on one screen with it."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from browser import (
    ARTIFACTS,
    EXCEPTION,
    app_in_chromium,
    require_chromium,
    rerun,
    visit,
    wait_idle,
    wait_still,
)
from playwright.sync_api import expect

from explorer.assets import lessons
from explorer.ui.lessons import gallery_query

pytestmark = pytest.mark.browser
require_chromium()

WIDTH, HEIGHT = 1280, 720
PAGE = "pages/3_Fine_tune.py"
PICTURE = "[data-testid='stVegaLiteChart'][aria-label^='Each token through the base model']"
BARS = "[data-testid='stVegaLiteChart'][aria-label^='Bar chart of the mean move per layer']"
SNAPSHOT = "[data-testid='stVegaLiteChart'][aria-label^='Scatter of every labelled sentence']"
REVEAL = re.compile(r"^(Reveal the answer|Revealed)$")


# lesson id → (the page's button, the charts that show the answer before Reveal, and after it, the text
# that shows the answer-bearing line before Reveal, and after it)
STEPS = {
    "tune-weights": ("Tune a private copy", (PICTURE,), (PICTURE, BARS), "Make your prediction first", "0 (exactly)"),
    "head-not-model": ("🎯 Train the head", (SNAPSHOT,), (SNAPSHOT,), "after training: 🔒", "✅ identical"),
}  # fmt: skip


def _box(locator) -> dict | None:
    return locator.bounding_box()


def _on_first_screen(locator) -> bool:
    box = _box(locator)
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= WIDTH
        and box["y"] + box["height"] <= HEIGHT
    )


def _assert_on_first_screen(page, lesson_id: str, when: str, named: dict) -> None:
    for what, locator in named.items():
        assert _on_first_screen(locator), f"{lesson_id} {when} Reveal: {what} at {_box(locator)}"
    assert page.locator(EXCEPTION).count() == 0, f"{lesson_id} {when} Reveal"


def _drawn(page, selector: str) -> None:
    page.locator(f"{selector} svg, {selector} canvas").first.wait_for(timeout=180_000)


def _screenshot(page, name: str) -> None:
    page.mouse.move(WIDTH // 2, 20)  # no button's tooltip over the card
    expect(page.locator("[role='tooltip'], [data-baseweb='tooltip']")).to_have_count(0)
    wait_still(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _scroll_top(page) -> int:
    return page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop")


@pytest.fixture(scope="module")
def app():
    with app_in_chromium() as (browser, url):
        yield browser, url


@pytest.mark.parametrize("lesson_id", list(STEPS))
def test_a_fine_tune_lesson_fits_one_projector_screen_before_and_after_reveal(app, lesson_id: str) -> None:
    browser, url = app
    (lesson,) = [lesson for lesson in lessons() if lesson.id == lesson_id]
    assert lesson.page == PAGE
    action, before_charts, after_charts, before_text, after_text = STEPS[lesson_id]
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        visit(page, f"{url}/Fine_tune?{urlencode(gallery_query(lesson))}")
        wait_idle(page, timeout_ms=180_000)
        page.get_by_text("Predict:").first.wait_for(timeout=60_000)
        with rerun(page):
            page.get_by_text("Classroom mode").first.click()
        question = page.get_by_text("Predict:").first
        question.wait_for(timeout=60_000)

        pick = lesson.pick_options[1]
        exact = re.compile(f"^{re.escape(pick)}$")
        with rerun(page):
            page.locator("[data-testid='stRadio'] label").filter(has_text=exact).first.click()
        reveal = page.get_by_role("button", name=REVEAL)
        assert reveal.is_enabled(), "a committed pick enables Reveal"

        button = page.get_by_role("button", name=action).first
        assert _on_first_screen(button), f"{lesson_id}: {action} at {_box(button)} before it is pressed"
        with rerun(page, timeout_ms=240_000):
            button.click()
        for selector in before_charts:
            _drawn(page, selector)
        page.get_by_text(before_text).first.wait_for(timeout=60_000)
        wait_still(page)
        assert page.locator(BARS).count() == 0, "the bars wait for Reveal"
        charts = {f"chart {i}": page.locator(s).first for i, s in enumerate(before_charts)}
        _assert_on_first_screen(
            page,
            lesson_id,
            "before",
            {"question": question, "Reveal": reveal, action: button, before_text: page.get_by_text(before_text).first}
            | charts,
        )  # fmt: skip
        _screenshot(page, f"finetune_lesson_{lesson_id}_before_1280x720")

        scrolled = _scroll_top(page)
        reveal.click()
        page.get_by_text(lesson.answer[:40]).first.wait_for(timeout=60_000)
        wait_idle(page, timeout_ms=180_000)
        for selector in after_charts:
            _drawn(page, selector)
        wait_still(page)
        assert _scroll_top(page) == scrolled, "Reveal does not move the page"
        charts = {f"chart {i}": page.locator(s).first for i, s in enumerate(after_charts)}
        _assert_on_first_screen(
            page,
            lesson_id,
            "after",
            {"answer": page.get_by_text(lesson.answer[:40]).first, "Reveal": reveal, action: button,
             after_text: page.get_by_text(after_text).first}
            | charts,
        )  # fmt: skip
        assert page.get_by_text(f"Your pick: {pick}").count() == 1
        _screenshot(page, f"finetune_lesson_{lesson_id}_after_1280x720")
    finally:
        context.close()


def test_tuning_shows_its_picture_and_bars_on_one_screen_with_the_button(app) -> None:
    """Outside a lesson the tuning section is further down; once tuned, the picture and the bars are the
    first thing under its button, and the three fit one 1280x720 screen."""
    browser, url = app
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        visit(page, f"{url}/Fine_tune")
        wait_idle(page, timeout_ms=180_000)
        with rerun(page):
            page.get_by_text("Classroom mode").first.click()
        button = page.get_by_role("button", name="Tune a private copy")
        with rerun(page, timeout_ms=240_000):
            button.click()
        _drawn(page, PICTURE)
        _drawn(page, BARS)
        wait_still(page)
        assert page.locator(EXCEPTION).count() == 0
        top = _box(button)["y"]
        page.evaluate(
            "(dy) => { document.querySelector('[data-testid=\"stMain\"]').scrollTop += dy; }", top - 80
        )  # the button just under the app's header
        wait_still(page)
        picture, bars = page.locator(PICTURE).first, page.locator(BARS).first
        for what, locator in (("the button", button), ("the picture", picture), ("the bars", bars)):
            assert _on_first_screen(locator), f"{what} at {_box(locator)}"
        below = _box(button)["y"] + _box(button)["height"]
        assert below <= _box(picture)["y"] < below + 120, "the picture comes right under the button"
        assert abs(_box(bars)["y"] - _box(picture)["y"]) < 5, "the bars sit beside the picture"
        _screenshot(page, "finetune_tuned_classroom_1280x720")
    finally:
        context.close()
