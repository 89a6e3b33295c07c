"""The Token journey's Layer slider with the 'why' lines on (issue 28: still at most 50 ms a redraw).

One server, one page at 1440×1000 on the bank preset: the chart's own slider is moved from layer 6 down
to 0 and back (an input event until the drawing changes, as `bench browser` measures), with the lines
off and then on, in turns, in the same run. Run: python -m bench why_browser
"""

from __future__ import annotations

import statistics

ROUNDS = 3


def _sweep(page, scrub: str) -> list[float]:
    from bench.bench_browser import IDLE

    times = []
    for target in (5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6):
        drawn = page.evaluate(scrub, target)
        if drawn < 0:
            raise RuntimeError(f"the chart did not redraw for layer {target}")
        times.append(drawn)
        page.wait_for_timeout(300)
        page.wait_for_selector(IDLE)
    return times


def run() -> dict:
    from playwright.sync_api import sync_playwright

    from bench.bench_browser import _SCRUB_JS, ARGS, CHART, CHROMIUM, IDLE, _start, _stop
    from explorer.share import encode_view

    proc, url = _start("app.py")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {}
            for lines in (False, True):
                view = encode_view({"sentence_set": "Word senses: bank", "why_lines": lines, "layer": 6})
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(f"{url}/Token_journey?view={view}")
                page.wait_for_selector(CHART, timeout=180_000)
                page.wait_for_selector(IDLE, timeout=180_000)
                page.wait_for_timeout(1000)
                pages[lines] = page
            off, on = [], []
            for _ in range(ROUNDS):
                off += _sweep(pages[False], _SCRUB_JS)
                on += _sweep(pages[True], _SCRUB_JS)
            browser.close()
    finally:
        _stop(proc)
    return {
        "redraw_ms_lines_off": {"median": round(statistics.median(off), 1), "max": round(max(off), 1)},
        "redraw_ms_lines_on": {"median": round(statistics.median(on), 1), "max": round(max(on), 1)},
        "ratio_on_to_off": round(statistics.median(on) / statistics.median(off), 2),
        "target_ms": 50,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
