"""Browser: five sessions at once on one server, each doing something else; nothing leaks between them."""

from __future__ import annotations

import json

import pytest
from browser import ARTIFACTS, CHART, app_in_chromium, require_chromium, visit, wait_idle

pytestmark = pytest.mark.browser

require_chromium()


def _text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def _type_sentences(page, lines: list[str]) -> None:
    box = page.locator("[data-testid='stTextArea'] textarea").first
    box.fill("\n".join(lines))
    box.press("Control+Enter")
    page.wait_for_function(f"document.body.innerText.includes({('S1 · ' + lines[0])!r})", timeout=120_000)
    wait_idle(page, 180_000)


def test_five_sessions_keep_their_own_state() -> None:
    import psutil

    with app_in_chromium() as (browser, url):
        server = next(
            proc
            for proc in psutil.process_iter(["cmdline"])
            if f"--server.port={url.rsplit(':', 1)[1]}"
            in " ".join(proc.info["cmdline"] or []).replace("--server.port ", "--server.port=")
        )
        contexts = [browser.new_context(viewport={"width": 1440, "height": 1000}) for _ in range(5)]
        pages = [c.new_page() for c in contexts]
        for page, path in zip(
            pages, ["/Token_journey", "/Token_journey", "/Fine_tune", "/Fine_tune", "/"], strict=True
        ):
            visit(page, url + path)
        for page in pages:
            page.wait_for_selector(CHART, timeout=180_000)
            wait_idle(page, 180_000)

        alpha = ["Alpha ships sail at dawn.", "Alpha crews sing loudly."]
        beta = ["Beta bakers knead the dough.", "Beta ovens glow all night."]
        _type_sentences(pages[0], alpha)
        _type_sentences(pages[1], beta)

        pages[2].get_by_role("button", name="🎯 Train the head").click()
        pages[2].wait_for_function("document.body.innerText.includes('Same weights')", timeout=180_000)
        wait_idle(pages[2], 180_000)

        pages[3].get_by_role("button", name="Tune a private copy").click()
        pages[3].wait_for_function("document.body.innerText.includes('its weights changed')", timeout=300_000)
        wait_idle(pages[3], 180_000)

        demo = pages[4].get_by_label("Word in both")
        demo.fill("giraffe")
        demo.press("Enter")
        pages[4].wait_for_function(
            "document.body.innerText.includes('both contain the word')", timeout=60_000
        )
        rss_mb = server.memory_info().rss / 2**20

        for i, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"many_users_{i + 1}.png"), full_page=True)
            assert page.locator("[data-testid='stException']").count() == 0

        first, second = _text(pages[0]), _text(pages[1])
        assert "Alpha ships" in first and "Beta bakers" not in first
        assert "Beta bakers" in second and "Alpha ships" not in second
        assert "Same weights" in _text(pages[2]) and "its weights changed" not in _text(pages[2])
        assert "its weights changed" in _text(pages[3]) and "Same weights" not in _text(pages[3])
        assert "✅ identical" in _text(pages[3]), "the shared model kept its fingerprint"

        pages[2].reload()  # a fresh session on the same server still sees the original model
        pages[2].wait_for_selector(CHART, timeout=180_000)
        wait_idle(pages[2], 180_000)
        assert "its weights changed" not in _text(pages[2])
        assert pages[0].locator("[data-testid='stTextArea'] textarea").first.input_value() == "\n".join(alpha)
    (ARTIFACTS / "many_users.json").write_text(json.dumps({"server_rss_mb_five_users": round(rss_mb, 1)}))
