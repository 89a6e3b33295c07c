"""Ten new tagged sentences on the Token journey: the default view for groups (group axes, one readout
line per word against chance, the per-word strip) against shared PCA on the same sentences, same server,
in turns (issue 24's speed target: at most 1.2x). Also the chart's own Layer slider, moved in the browser.

It drives Chromium, like `bench browser`; alone: `python -m bench tagged`.
"""

from __future__ import annotations

import statistics

from bench.bench_browser import ARGS, CHROMIUM, IDLE, _start, _stop, _wait_quiet

ROUNDS = 11
WORDS = (
    ("bat", "animal", "sport", "flew out of the cave", "hit the ball"),
    ("spring", "season", "coil", "brought the first flowers", "in the clock snapped"),
)


def _tagged(round_: int) -> str:
    """Ten tagged sentences, new every round: two words, two meanings, two or three sentences each."""
    lines = []
    for i in range(10):
        word, a, b, context_a, context_b = WORDS[i % 2]
        meaning, context = (a, context_a) if (i // 2) % 2 == 0 else (b, context_b)
        lines.append(f"[{meaning}] In round {round_}, line {i}, the {word} {context}.")
    return "\n".join(lines)


def _one(page, round_: int) -> float:
    """ms from Ctrl+Enter to the end of the rerun it starts and the next frame drawn (the legend names
    groups, not sentences, so no text of the new sentences is waited for)."""
    box = page.locator("[data-testid='stTextArea'] textarea").first
    box.fill(_tagged(round_))
    page.evaluate(
        """() => {
          const app = document.querySelector("[data-testid='stApp']");
          window.__ran = false; window.__done = null; window.__pressed = performance.now();
          window.__watch && window.__watch.disconnect();
          window.__watch = new MutationObserver(() => {
            const state = app.getAttribute("data-test-script-state");
            if (state === "running") window.__ran = true;
            if (state === "notRunning" && window.__ran && window.__done === null)
              requestAnimationFrame(() => { window.__done = performance.now(); });
          });
          window.__watch.observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
        }"""
    )
    box.press("Control+Enter")
    page.wait_for_function("() => window.__done !== null", timeout=120_000)
    seen = page.evaluate("() => window.__done - window.__pressed")
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(300)
    return seen


def _slider_ms(page) -> float:
    """Median ms from setting the chart's own Layer slider to the corner naming the new layer."""
    times = []
    for layer in (2, 5, 1, 6, 3, 0, 4, 6):
        times.append(
            page.evaluate(
                """async (layer) => {
                  const input = document.querySelector("[data-testid='stVegaLiteChart'] .vega-bind input[type='range']");
                  const start = performance.now();
                  input.value = String(layer);
                  input.dispatchEvent(new Event("input", { bubbles: true }));
                  const want = "layer " + layer;
                  while (performance.now() - start < 5000) {
                    await new Promise((done) => requestAnimationFrame(done));
                    const texts = Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart'] svg text"));
                    if (texts.some((t) => t.textContent.startsWith(want))) break;
                  }
                  return performance.now() - start;
                }""",
                layer,
            )
        )
        page.wait_for_selector(IDLE)
        page.wait_for_timeout(400)
    return statistics.median(times)


def run() -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = _start("app.py")
    try:
        _wait_quiet(proc.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {}
            for name in ("group_axes", "shared_pca"):
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(url + "/Token_journey")
                page.wait_for_selector(IDLE, timeout=180_000)
                page.wait_for_timeout(1500)
                if name == "shared_pca":
                    page.get_by_role("button", name="↔ Shared PCA axes").click()
                    page.wait_for_selector(IDLE)
                pages[name] = page
            times = {name: [] for name in pages}
            for round_ in range(ROUNDS + 1):
                order = list(pages) if round_ % 2 == 0 else list(pages)[::-1]
                for name in order:
                    seen = _one(pages[name], round_ * 2 + (name == "shared_pca"))
                    if round_ > 0:  # the first round pays one-off costs (a new shape of chart)
                        times[name].append(seen)
            slider = _slider_ms(pages["group_axes"])
            browser.close()
    finally:
        _stop(proc)
    medians = {name: round(statistics.median(t), 1) for name, t in times.items()}
    return {
        "ten_new_tagged_sentences_ms": medians,
        "ratio_group_axes_to_shared_pca": round(medians["group_axes"] / medians["shared_pca"], 3),
        "target_ratio": 1.2,
        "rounds": ROUNDS,
        "layer_slider_redraw_ms": round(slider, 1),
        "layer_slider_target_ms": 50,
    }
