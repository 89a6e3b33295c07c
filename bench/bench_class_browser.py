"""A class in real browsers: ten Chromium contexts (ten sessions, as ten students' laptops) on one server
started as a public deployment, each on the Token journey, each typing ten sentences of its own and then
moving the layer at a seeded random moment inside the same 30 seconds, for three rounds (30 sessions'
worth of interactions; `bench class` drives 30 AppTest sessions without a browser).

Each interaction is timed from the key press until the page shows its result, and split where the chart's
data reaches the page (the largest message of the run): the server's part before it, the browser's after.
A layer move is the chart's own slider, drawn in the browser (the server learns the layer after). The
server's RSS is read every 0.2 s from /proc (its peak, against the 1.5 GB target of issue 27).

python -m bench class_browser   (about 3 minutes on 2 cores)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time

from bench.bench_browser import (
    _SCRUB_JS,
    _WATCH_MESSAGES,
    ARGS,
    CHROMIUM,
    _rss_mb,
    _start,
    _stop,
    _wait_quiet,
)

CONTEXTS = 10
ROUNDS = 3
WINDOW_S = 30.0
CHART = "[data-testid='stVegaLiteChart']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
TARGETS = {"p95_s": 5.0, "peak_rss_mb": 1536, "errors": 0}


_SLIDER_VALUE = """() => Number(document.querySelector(
  "[data-testid='stVegaLiteChart'] .vega-bind input[type='range']").value)"""


async def _timed(page, act, done_js: str) -> dict:
    """Run `act` (a key press or a pick), wait for `done_js` to hold and the script to stop: ms seen, the
    server's part (to the largest message) and the browser's (after it)."""
    await page.evaluate("() => { window.__messages = []; window.__pressed = performance.now(); }")
    await act()
    await page.wait_for_function(done_js, timeout=180_000)
    drawn = await page.evaluate("() => performance.now()")
    await page.wait_for_selector(IDLE, timeout=180_000)
    pressed, messages = await page.evaluate("() => [window.__pressed, window.__messages]")
    chart_at = max(messages, key=lambda m: m[1])[0] if messages else drawn
    return {"seen": drawn - pressed, "server": chart_at - pressed, "browser": drawn - chart_at}


async def _student(browser, url: str, student: int, seed: int, out: list, errors: list, start) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    await page.add_init_script(_WATCH_MESSAGES)
    try:
        began = time.perf_counter()
        await page.goto(url + "/Token_journey")
        await page.wait_for_selector(CHART, timeout=180_000)
        await page.wait_for_selector(IDLE, timeout=180_000)
        out.append({"student": student, "kind": "open", "seen": 1000 * (time.perf_counter() - began)})
        rng = random.Random(seed * 1000 + student)
        for round_ in range(ROUNDS):
            await start[round_].wait()
            await asyncio.sleep(rng.uniform(0, WINDOW_S))
            name = f"Student {student} round {round_}"
            box = page.locator("[data-testid='stTextArea'] textarea").first
            await box.fill("\n".join(f"{name} line {i} about rivers, money and music." for i in range(10)))
            timing = await _timed(
                page,
                lambda box=box: box.press("Control+Enter"),
                f"document.body.innerText.includes({f'{name} line 9'!r})",
            )
            out.append({"student": student, "round": round_, "kind": "new sentences", **timing})
            target = rng.randint(
                0, 5
            )  # the chart's own slider: drawn in the browser, then told to the server
            drawn = await page.evaluate(_SCRUB_JS, target)
            if drawn < 0:  # the page was still swapping its chart (a rerun the last report started): again
                await page.wait_for_selector(IDLE, timeout=180_000)
                now = await page.evaluate(_SLIDER_VALUE)
                target = next(layer for layer in (target, (target + 1) % 7) if layer != now)
                drawn = await page.evaluate(_SCRUB_JS, target)
            if drawn < 0:
                raise RuntimeError(f"the chart did not redraw for layer {target}")
            out.append(
                {"student": student, "round": round_, "kind": "layer", "seen": drawn, "browser": drawn}
            )
            await page.wait_for_timeout(400)
    except Exception as exc:  # a timeout or a crash: this student's error, the class goes on
        errors.append(f"student {student}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await context.close()


def _summary(rows: list[dict], key: str) -> dict:
    values = sorted(r[key] / 1000 for r in rows)
    if not values:
        return {}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {
        "p50_s": round(statistics.median(values), 2),
        "p95_s": round(p95, 2),
        "max_s": round(values[-1], 2),
    }


async def _class(url: str, seed: int) -> tuple[list[dict], list[str]]:
    from playwright.async_api import async_playwright

    out: list[dict] = []
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        start = [asyncio.Event() for _ in range(ROUNDS)]
        students = [
            asyncio.create_task(_student(browser, url, s, seed, out, errors, start)) for s in range(CONTEXTS)
        ]
        while sum(r["kind"] == "open" for r in out) + len(errors) < CONTEXTS:
            await asyncio.sleep(0.2)
        for round_ in range(ROUNDS):
            start[round_].set()
            while (
                not all(t.done() for t in students)
                and sum(r.get("round") == round_ and r["kind"] == "new sentences" for r in out) + len(errors)
                < CONTEXTS
            ):
                await asyncio.sleep(0.2)
        await asyncio.gather(*students)
        await browser.close()
    return out, errors


def run(seed: int = 0) -> dict:
    proc, url = _start("app.py")
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb(proc.pid))
            time.sleep(0.2)

    try:
        warm = asyncio.run(_class_warm(url))
        quiet_s = _wait_quiet(proc.pid)
        rest = _rss_mb(proc.pid)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        began = time.perf_counter()
        rows, errors = asyncio.run(_class(url, seed))
        took = time.perf_counter() - began
        stop.set()
        watcher.join()
        after = _rss_mb(proc.pid)
    finally:
        _stop(proc)
    acts = [r for r in rows if r["kind"] != "open"]
    return {
        "contexts": CONTEXTS,
        "rounds": ROUNDS,
        "interactions": len(acts),
        "errors": errors,
        "first_visit_to_warm_s": warm,
        "warm_up_after_first_visit_s": round(quiet_s, 1),
        "open_page": _summary([r for r in rows if r["kind"] == "open"], "seen"),
        "seen": _summary(acts, "seen"),
        "new_sentences_server": _summary([r for r in acts if r["kind"] == "new sentences"], "server"),
        "new_sentences_browser": _summary([r for r in acts if r["kind"] == "new sentences"], "browser"),
        "new_sentences_seen": _summary([r for r in acts if r["kind"] == "new sentences"], "seen"),
        "layer_seen": _summary([r for r in acts if r["kind"] == "layer"], "seen"),
        "server_rss_mb": {"rest": round(rest), "peak": round(peak[0]), "after": round(after)},
        "took_s": round(took, 1),
        "targets": TARGETS,
    }


async def _class_warm(url: str) -> float:
    """One visit first, as the teacher's: the server loads the model and warms up behind it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page()
        began = time.perf_counter()
        await page.goto(url + "/Token_journey")
        await page.wait_for_selector(CHART, timeout=180_000)
        took = time.perf_counter() - began
        await browser.close()
    return round(took, 2)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
