"""Browser: the presenter view (classroom mode) of the Sentence embedding, Fine-tune and Geometry lab pages
at 1280x720: the sidebar folds away, the page's first chart is on the first screen, and the inputs are one
click away. One session, as a teacher would use it: classroom mode on at home, then the page links."""

from __future__ import annotations

import pytest
from browser import ARTIFACTS, classroom_at_home, require_chromium, rerun, wait_still

pytestmark = pytest.mark.browser

require_chromium()

WIDTH, HEIGHT = 1280, 720
CHARTS = "[data-testid='stVegaLiteChart']"


@pytest.fixture(scope="module")
def teacher():
    """A 1280x720 browser with classroom mode switched on at home."""
    with classroom_at_home(WIDTH, HEIGHT) as (page, _):
        yield page


def _open(page, name: str) -> None:
    """Follow the sidebar's page link (a click in the page, so the session and classroom mode stay),
    even while the sidebar is folded away."""
    with rerun(page):  # the new page's run
        page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text=name).first.evaluate(
            "a => a.click()"
        )
    page.wait_for_selector(f"{CHARTS} svg, {CHARTS} canvas", timeout=120_000)
    wait_still(page)
    assert page.locator("[data-testid='stException']").count() == 0


def _on_first_screen(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT and box["x"] >= 0


def _sidebar_folded(page) -> bool:
    sidebar = page.locator("[data-testid='stSidebar']")
    return (
        sidebar.get_attribute("aria-expanded") == "false"
        or (sidebar.bounding_box() or {"width": 0})["width"] < 50
    )


def _inputs_one_click_away(page, button: str, inside: str) -> None:
    page.get_by_role("button", name=button).click()
    page.locator(f"[data-testid='stPopoverBody'] {inside}").first.wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    wait_still(page)


def test_sentence_embedding_presenter_view(teacher) -> None:
    page = teacher
    _open(page, "Sentence embedding")
    cloud = page.locator(CHARTS).first
    assert _on_first_screen(cloud), f"the token cloud at {cloud.bounding_box()}"
    assert _on_first_screen(page.get_by_role("tab", name="Similarity"))
    assert _sidebar_folded(page)
    # the cloud shows the lesson: each sentence's diamond among its tokens
    assert page.locator(f"{CHARTS} svg path, {CHARTS} canvas").count() > 0
    page.screenshot(path=str(ARTIFACTS / "sentence_presenter_1280x720.png"))
    _inputs_one_click_away(page, "⚙️ Sentences and settings", "textarea")


def test_fine_tune_presenter_view(teacher) -> None:
    page = teacher
    _open(page, "Fine-tune")
    assert _on_first_screen(page.get_by_role("button", name="🎯 Train the head"))
    assert _on_first_screen(page.locator(CHARTS).first), (
        f"step 0 at {page.locator(CHARTS).first.bounding_box()}"
    )
    assert _sidebar_folded(page)
    with rerun(page, timeout_ms=300_000):
        page.get_by_role("button", name="🎯 Train the head").click()
    page.get_by_text("Training step").first.wait_for(timeout=60_000)
    chart = page.locator(CHARTS).first
    assert _on_first_screen(chart), f"the trained view at {chart.bounding_box()}"
    assert _on_first_screen(page.get_by_text("Training step").first)
    assert _on_first_screen(page.get_by_text("identical", exact=False).first), (
        "the fingerprint verdict is in view"
    )
    page.screenshot(path=str(ARTIFACTS / "fine_tune_presenter_1280x720.png"))
    _inputs_one_click_away(page, "⚙️ Labelled sentences and settings", "[data-testid='stDataFrame']")


def test_geometry_lab_presenter_view(teacher) -> None:
    page = teacher
    _open(page, "Geometry lab")
    charts = page.locator(CHARTS)
    assert _on_first_screen(charts.nth(0)) and _on_first_screen(charts.nth(1)), (
        f"the first two measures at {charts.nth(0).bounding_box()}, {charts.nth(1).bounding_box()}"
    )
    assert _sidebar_folded(page)
    page.screenshot(path=str(ARTIFACTS / "geometry_presenter_1280x720.png"))
    _inputs_one_click_away(page, "⚙️ What to measure", "[data-testid='stRadio']")
