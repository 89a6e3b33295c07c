"""Browser: the bad-input matrix. Each case gets a clear message, no traceback, the input kept, HTML as text."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import pytest
from browser import ARTIFACTS, CHART, app_in_chromium, open_tab, require_chromium, rerun, visit, wait_idle

pytestmark = pytest.mark.browser

require_chromium()

XSS = "window.__lse_pwned === undefined"


@dataclass(frozen=True)
class Case:
    page: str  # URL path
    kind: str  # "text": the shared sentence box; "upload": the index file uploader; "model"; "link"; "senses"
    value: str | bytes
    message: str | None  # text that must appear on the page (None: it just works, with a chart)
    file_name: str = "sentences.txt"


CASES = {
    "empty": Case("/Token_journey", "text", "", "at least one sentence"),
    "whitespace only": Case("/Token_journey", "text", "   \n\t\n  ", "at least one sentence"),
    "10,000-character line": Case("/Token_journey", "text", "longword " * 1111, "256 word pieces"),
    "2,000 lines": Case(
        "/Token_journey", "text", "\n".join(f"Line {i} here." for i in range(2000)), "first 100 of 2,000"
    ),
    "emoji with joiners": Case(
        "/Token_journey", "text", "Our family 👩‍👩‍👧‍👦 went out.\nFlags 🇺🇦🏳️‍🌈 wave.", None
    ),
    "right-to-left": Case("/Token_journey", "text", "مرحبا بالعالم\nשלום עולם", None),
    "CJK": Case("/Token_journey", "text", "日本語の文章です。\n中文句子。\n한국어 문장입니다.", None),
    "control characters": Case("/Token_journey", "text", "bell\x07 ring\nescape\x1b[31m red", None),
    "script tag": Case(
        "/Token_journey", "text", "<script>window.__lse_pwned=1</script> hello\nsecond line", None
    ),
    "img onerror": Case(
        "/Sentence_embedding", "text", '<img src=x onerror="window.__lse_pwned=1"> hi\nA plain line.', None
    ),
    "markdown": Case("/Sentence_embedding", "text", "**bold** _it_ [link](http://x) # head\n- item", None),
    "latex": Case("/Sentence_embedding", "text", "$x^2 + y^2$ and $$\\int_0^1 f$$\nplain", None),
    "duplicates": Case(
        "/Sentence_embedding", "text", "Same words here.\nSame words here.\nSame words here.", None
    ),
    "one-token sentence": Case("/Token_journey", "text", "a", None),
    "binary upload": Case(
        "/Sentence_embedding", "upload", b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary file", "pic.txt"
    ),
    "non-UTF-8 upload": Case(
        "/Sentence_embedding", "upload", "café naïve\n".encode("latin-1"), "not UTF-8", "old.txt"
    ),
    "upload over the cap": Case(
        "/Sentence_embedding",
        "upload",
        "\n".join(f"s {i}" for i in range(10_001)).encode(),
        "the limit is 10,000",
    ),
    "empty upload": Case("/Sentence_embedding", "upload", b"\n\n", "empty", "blank.txt"),
    "unknown model id": Case(
        "/Token_journey", "model", "no-such-owner/no-such-model", "no-such-owner/no-such-model"
    ),
    "malformed share link": Case("/Token_journey", "link", "1.deadbeef.garbage", "could not be used"),
    "one-sense word lab": Case(
        "/Geometry_lab", "senses", "money: I went to the bank.\nmoney: The bank is shut.", "two senses"
    ),
}


@pytest.fixture(scope="module")
def server():
    with app_in_chromium() as (browser, url):
        yield browser, url


def _body(page) -> str:
    return page.locator("[data-testid='stApp']").inner_text()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(server, name: str) -> None:
    browser, url = server
    case = CASES[name]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    # Actions wait for the page to answer; with the other test worker's Chromium and server on the same two
    # cores, filling in 2,000 lines waited past Playwright's 30 s default (twice in full parallel runs).
    page.set_default_timeout(120_000)
    try:
        query = f"?view={case.value}" if case.kind == "link" else ""
        visit(page, url + case.page + query)
        page.wait_for_selector("[data-testid='stMain']", timeout=120_000)
        wait_idle(page, 180_000)
        tab = {"upload": "Search an index", "senses": "Word-sense lab"}.get(case.kind)
        if tab is not None:
            open_tab(page, tab)
        # every kind but a link acts, and its action runs the script (a link's run is the page's first)
        with rerun(page) if case.kind != "link" else nullcontext():
            if case.kind == "text":
                box = page.locator("[data-testid='stTextArea'] textarea").first
                box.fill(case.value)
                box.press("Control+Enter")
            elif case.kind == "model":
                box = page.locator("[data-testid='stSidebar'] input[type='text']").first
                box.fill(case.value)
                box.press("Enter")
            elif case.kind == "upload":
                page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(
                    {"name": case.file_name, "mimeType": "text/plain", "buffer": case.value}
                )
            elif case.kind == "senses":
                box = page.locator("[data-testid='stTabs'] [data-testid='stTextArea'] textarea").first
                box.fill(case.value)
                box.press("Control+Enter")
        if case.message:
            page.wait_for_function(f"document.body.innerText.includes({case.message!r})", timeout=60_000)
        else:
            page.wait_for_selector(CHART, timeout=60_000)
        wait_idle(page, 180_000)
        page.screenshot(path=str(ARTIFACTS / f"bad_input_{name.replace(' ', '_')}.png"))

        assert page.locator("[data-testid='stException']").count() == 0, "no traceback"
        assert "Traceback" not in _body(page)
        assert page.evaluate(XSS), "HTML in a sentence never runs"
        assert page.locator("[data-testid='stMain'] strong:has-text('bold')").count() == 0, (
            "Markdown not rendered"
        )
        assert page.locator("[data-testid='stMain'] .katex").count() == 0, "LaTeX not rendered"
        if case.kind in {"text", "senses"}:
            box = page.locator(
                "[data-testid='stTabs'] [data-testid='stTextArea'] textarea"
                if case.kind == "senses"
                else "[data-testid='stTextArea'] textarea"
            ).first
            expected = (
                case.value.replace("\x07", "").replace("\x1b", "") if "\x07" in case.value else case.value
            )
            kept = box.input_value()
            assert kept == case.value or kept == expected, "the user's text is kept as typed"
        if case.kind == "model":
            assert (
                page.locator("[data-testid='stSidebar'] input[type='text']").first.input_value() == case.value
            )
            page.wait_for_selector(CHART, timeout=60_000)
    finally:
        context.close()
