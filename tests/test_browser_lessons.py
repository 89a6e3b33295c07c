"""Browser: every lesson from its gallery link. Before Reveal, neither the answer nor the element that
would give it away is on screen; after Reveal, both are. Screenshots at 1280×720 and 1920×1080."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from browser import ARTIFACTS, app_in_chromium, require_chromium, visit, wait_idle

from explorer.assets import lessons
from explorer.ui.lessons import gallery_query

pytestmark = pytest.mark.browser
require_chromium()

EXCEPTION = "[data-testid='stException']"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
# What the student does before predicting, and a text that only the revealed page shows.
STEPS: dict[str, tuple[str | None, str]] = {
    "one-vector": (None, "the model's embedding"),
    "bank-senses": (None, ""),  # the paths and the readout are drawn in the chart: the 🎓 note goes
    "search-geometry": (None, "nearest sentences by cosine"),
    "index-not-model": ("Add my", "identical: the model did not change"),
    "tune-weights": ("Tune a private copy", "Frozen layers moved by exactly 0"),
    "head-not-model": ("Train the head", "identical bit for bit"),
    "negation": (None, "Cell = cosine similarity"),
    "anisotropy-layers": (None, "Anisotropy: how alike"),
}
HIDDEN_MARKERS = ("appears when you reveal the answer", "Compare them", "appear when you reveal the answer")
WAITING = re.compile("|".join(re.escape(marker) for marker in HIDDEN_MARKERS))


def _slug(page: str) -> str:
    return page.removeprefix("pages/").removesuffix(".py").split("_", 1)[1]


def _shots(page, name: str) -> None:
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(700)
        page.screenshot(path=str(ARTIFACTS / f"lesson_{name}_{size}.png"))
    page.set_viewport_size({"width": 1280, "height": 720})


def _visible_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def test_every_lesson_hides_its_answer_until_reveal() -> None:
    assert set(STEPS) == {lesson.id for lesson in lessons()}
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        for lesson in lessons():
            action, revealed_text = STEPS[lesson.id]
            visit(page, f"{url}/{_slug(lesson.page)}?{urlencode(gallery_query(lesson))}")
            wait_idle(page, timeout_ms=180_000)
            page.get_by_text("Predict:").first.wait_for(timeout=60_000)
            if action is not None:
                page.get_by_role("button", name=action).first.click()
                page.wait_for_timeout(500)
                wait_idle(page, timeout_ms=180_000)
            page.get_by_text(WAITING).first.wait_for(timeout=180_000)
            page.wait_for_timeout(1000)
            assert page.locator(EXCEPTION).count() == 0, lesson.id
            text = _visible_text(page)
            assert lesson.answer[:60] not in text, f"{lesson.id}: answer shown before Reveal"
            assert any(marker in text for marker in HIDDEN_MARKERS), f"{lesson.id}: nothing says what waits"
            if revealed_text:
                assert revealed_text not in text, f"{lesson.id}: answer-bearing element shown before Reveal"
            _shots(page, f"{lesson.id}_before")

            reveal = page.get_by_role("button", name=f"Reveal the answer: {lesson.title}")
            assert reveal.count() == 1, "each Reveal button has its own accessible name"
            reveal.click()
            page.wait_for_timeout(500)
            wait_idle(page, timeout_ms=180_000)
            page.get_by_text(lesson.answer[:60]).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1200)
            assert page.locator(EXCEPTION).count() == 0, lesson.id
            text = _visible_text(page)
            assert revealed_text in text, f"{lesson.id}: Reveal did not show the answer-bearing element"
            assert not any(marker in text for marker in HIDDEN_MARKERS), f"{lesson.id}: still hiding"
            _shots(page, f"{lesson.id}_after")
