"""Browser test: axe-core finds no critical or serious accessibility violation on any page.

Every page is checked in the default look and in classroom mode, before and after its main interaction
(typing sentences, opening a tab, training the head). axe-core comes bundled in the dev dependency
axe-playwright-python and runs inside Debian's Chromium against a real streamlit server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from browser import (
    CHART,
    EXCEPTION,
    LOGS,
    app_in_chromium,
    open_tab,
    require_chromium,
    rerun,
    visit,
    wait_idle,
    wait_still,
)
from playwright.sync_api import expect

# One worker runs them all (pytest-xdist): the module writes its findings to one file when it ends.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("a11y")]

require_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402  (after the skip: needs the dev deps)

BLOCKING = ("critical", "serious")
VIEWPORT = {"width": 1440, "height": 1000}
SHOWN_NODES = 4  # targets and markup printed per violation

# Findings inside Streamlit's own widgets that the app cannot change: (rule id, text found in the flagged
# node's axe target selector, why it is excused). Every entry needs its reason. None is needed today.
EXCUSED: tuple[tuple[str, str, str], ...] = ()


def _excused(rule: str, node: dict) -> bool:
    return any(rule == r and any(sel in t for t in map(str, node["target"])) for r, sel, _ in EXCUSED)


@dataclass(frozen=True)
class Page:
    path: str
    interact: Callable  # the page's main interaction; returns once its result is drawn
    done: Callable  # whether the page still shows the interaction's result (page -> bool)


def _type_sentences(page) -> None:
    settings = page.get_by_role("button", name="⚙️ Sentences and settings")
    if settings.count():  # the presenter view (classroom mode) keeps the sentences one click away
        settings.click()
    box = page.locator("[data-testid='stTextArea'] textarea").first
    box.fill("The cat sat on the mat.\nA dog slept by the door.\nStocks fell sharply on Monday.")
    with rerun(page):
        box.press("Control+Enter")
    wait_still(page)
    page.get_by_text("Your own sentences: the set's text was edited.").wait_for(timeout=30_000)


def _home_demo(page) -> None:
    reading = page.get_by_text("Each point: cosine similarity")
    before = reading.inner_text()
    box = page.get_by_label("Sentence B")
    box.fill("She sat by the bank and watched the water.")
    with rerun(page):
        box.press("Enter")
    wait_still(page)
    assert reading.inner_text() != before, "the demo did not recompute"


def _open_tab(name: str) -> Callable:
    def interact(page) -> None:
        tab = page.get_by_role("tab", name=name)
        open_tab(page, name)
        assert tab.get_attribute("aria-selected") == "true"
        page.locator("[role='tabpanel']:visible").locator(CHART).first.wait_for(timeout=60_000)

    return interact


def _train(page) -> None:
    page.get_by_role("button", name="🎯 Train the head").click()
    page.wait_for_selector("text=Model fingerprint after", timeout=180_000)
    wait_idle(page, timeout_ms=180_000)
    wait_still(page)


def _tab_open(name: str) -> Callable:
    return lambda page: page.get_by_role("tab", name=name).get_attribute("aria-selected") == "true"


def _text_shown(text: str) -> Callable:
    return lambda page: page.get_by_text(text).first.is_visible()


SIMILARITY, SENSES = "Similarity", "🔀 Word-sense lab"
PAGES = {
    "home": Page(
        "/",
        _home_demo,
        lambda page: page.get_by_label("Sentence B").input_value().startswith("She sat"),
    ),
    "token_journey": Page(
        "/Token_journey",
        _type_sentences,
        _text_shown("Your own sentences: the set's text was edited."),
    ),
    "sentence_embedding": Page("/Sentence_embedding", _open_tab(SIMILARITY), _tab_open(SIMILARITY)),
    "fine_tune": Page("/Fine_tune", _train, _text_shown("Model fingerprint after")),
    "geometry_lab": Page("/Geometry_lab", _open_tab(SENSES), _tab_open(SENSES)),
}


def _scan(page) -> tuple[list[dict], list[dict]]:
    """(blocking violations, every violation) as axe reports them, excused nodes left out."""
    found = Axe().run(page).response["violations"]
    blocking = []
    for violation in found:
        if violation["impact"] not in BLOCKING:
            continue
        nodes = [n for n in violation["nodes"] if not _excused(violation["id"], n)]
        if nodes:
            blocking.append({**violation, "nodes": nodes})
    return blocking, found


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}")
        for node in v["nodes"][:SHOWN_NODES]:
            detail = (node.get("any") or node.get("all") or node.get("none") or [{}])[0].get("message", "")
            lines.append(f"    {', '.join(map(str, node['target']))}")
            lines.append(f"      {node['html'][:200]}")
            if detail:
                lines.append(f"      {detail[:200]}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def served():
    with app_in_chromium() as (browser, url):
        yield browser, url


@pytest.fixture(scope="module")
def findings():
    """Every scan's violations by rule and impact, written to artifacts/logs/a11y.json for the record."""
    record: dict[str, dict] = {}
    yield record
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "a11y.json").write_text(json.dumps(record, indent=2))


def _set_classroom(page, on: bool) -> None:
    toggle = page.locator(".st-key-classroom input[type='checkbox']")
    if toggle.is_checked() != on:
        label = page.locator(".st-key-classroom label")
        if not label.is_visible() or (label.bounding_box() or {"x": -1})["x"] < 0:
            # the presenter view folds the sidebar away: open it first
            page.locator(
                "[data-testid='stExpandSidebarButton'], [data-testid='stSidebarCollapsedControl'] button"
            ).first.click()
            expect(label).to_be_in_viewport()
        with rerun(page):
            label.click()
        wait_still(page)
    assert toggle.is_checked() == on


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violations(served, findings, name: str) -> None:
    """One session per page covers all four views: default and classroom, before and after the interaction.

    Classroom mode is switched on and off in place (it only restyles), so the page loads and its main
    interaction runs once: default before → classroom before → interact → classroom after → default after.
    """
    browser, url = served
    spec = PAGES[name]
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    started = time.monotonic()
    problems = []

    def check(classroom: bool, moment: str) -> None:
        _set_classroom(page, classroom)
        assert page.locator(EXCEPTION).count() == 0
        if moment == "after":
            assert spec.done(page), f"{name}: the main interaction's result is not shown"
        blocking, found = _scan(page)
        label = f"{name} · {'classroom' if classroom else 'default'} · {moment} the main interaction"
        findings[label] = {f"{v['id']} ({v['impact']})": len(v["nodes"]) for v in found}
        if blocking:
            problems.append(f"{label}:\n{_describe(blocking)}")

    try:
        visit(page, url + spec.path)
        wait_idle(page, timeout_ms=180_000)
        page.wait_for_selector(CHART, timeout=120_000)  # every page draws a chart first
        wait_still(page)
        check(classroom=False, moment="before")
        check(classroom=True, moment="before")
        spec.interact(page)
        check(classroom=True, moment="after")
        check(classroom=False, moment="after")
    finally:
        findings[f"{name} · seconds"] = round(time.monotonic() - started, 1)
        context.close()
    assert not problems, "axe-core found critical or serious violations:\n" + "\n".join(problems)


# One lesson per page: its card (question, pick, Reveal, Notes) and, after Reveal, the answer and the pick
# beside it, over the page's presenter view.
LESSONS = ("own-words", "search-geometry", "head-not-model", "anisotropy-layers")


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_no_serious_accessibility_violations_in_a_lesson(served, findings, lesson_id: str) -> None:
    """A lesson from its gallery link, scanned in the default look and in classroom mode, with the pick
    made and before Reveal, then after Reveal."""
    from urllib.parse import urlencode

    from explorer.assets import lessons
    from explorer.ui.lessons import gallery_query

    (lesson,) = [lesson for lesson in lessons() if lesson.id == lesson_id]
    browser, url = served
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems = []

    def check(classroom: bool, moment: str) -> None:
        _set_classroom(page, classroom)
        assert page.locator(EXCEPTION).count() == 0
        blocking, found = _scan(page)
        label = f"lesson {lesson_id} · {'classroom' if classroom else 'default'} · {moment} Reveal"
        findings[label] = {f"{v['id']} ({v['impact']})": len(v["nodes"]) for v in found}
        if blocking:
            problems.append(f"{label}:\n{_describe(blocking)}")

    try:
        slug = lesson.page.removeprefix("pages/").removesuffix(".py").split("_", 1)[1]
        visit(page, f"{url}/{slug}?{urlencode(gallery_query(lesson))}")
        wait_idle(page, timeout_ms=180_000)
        page.get_by_text("Predict:").first.wait_for(timeout=60_000)
        with rerun(page):
            page.locator("[data-testid='stRadio'] label").filter(
                has_text=lesson.pick_options[0]
            ).first.click()
        wait_still(page)
        check(classroom=False, moment="before")
        check(classroom=True, moment="before")
        with rerun(page):
            page.get_by_role("button", name="Reveal the answer").click()
        page.get_by_text(lesson.answer[:40]).first.wait_for(timeout=60_000)
        wait_still(page)
        check(classroom=True, moment="after")
        check(classroom=False, moment="after")
    finally:
        context.close()
    assert not problems, "axe-core found critical or serious violations:\n" + "\n".join(problems)
