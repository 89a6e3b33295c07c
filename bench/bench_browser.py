"""Browser figures: cold start vs a one-chart page, layer change and new sentences to redraw, server RSS."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(script: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{script} did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _rss_mb(pid: int) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def _cold_start_s(browser, script: str, path: str = "") -> float:
    """Seconds from launching the server to the first chart drawn in a fresh browser page."""
    start = time.perf_counter()
    proc, url = _start(script)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url + path)
        page.wait_for_selector(CHART, timeout=180_000)
        elapsed = time.perf_counter() - start
        page.close()
        return elapsed
    finally:
        _stop(proc)


def _wait_text(page, text: str) -> None:
    page.wait_for_function(f"document.body.innerText.includes({text!r})", timeout=60_000)


# Move the chart's own Layer slider the way a hand does (an input event), then wait for the frames until
# the chart's drawing (canvas pixels or SVG) differs from before: the time a person waits to see the new layer.
_SCRUB_JS = """
async (layer) => {
  const chart = document.querySelector("[data-testid='stVegaLiteChart']");
  const input = chart.querySelector(".vega-bind input[type='range']");
  const canvas = chart.querySelector("canvas");
  const svg = chart.querySelector("svg");
  const snapshot = () => (canvas ? canvas.toDataURL() : svg.innerHTML);
  const before = snapshot();
  const start = performance.now();
  input.value = String(layer);
  input.dispatchEvent(new Event("input", { bubbles: true }));
  for (let frame = 0; frame < 240; frame++) {
    await new Promise((done) => requestAnimationFrame(done));
    if (snapshot() !== before) return performance.now() - start;
  }
  return -1;
}
"""


def _timings(ms: list[float], target: float, **extra: object) -> dict:
    """Median and every run in milliseconds, beside the target and whatever else explains them."""
    return {
        "median": round(statistics.median(ms), 1),
        "all": [round(t, 1) for t in ms],
        "target": target,
        **extra,
    }


def run() -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        baseline = [_cold_start_s(browser, "bench/baseline_app.py") for _ in range(2)]
        ours = [_cold_start_s(browser, "app.py", "/Token_journey") for _ in range(2)]

        proc, url = _start("app.py")
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url + "/Token_journey")
            page.wait_for_selector(CHART, timeout=180_000)
            page.wait_for_selector(IDLE)
            rss_one = _rss_mb(proc.pid)

            layer_ms, server_ms = [], []
            for target in (5, 4, 3, 2, 1):
                start = time.perf_counter()
                drawn = page.evaluate(_SCRUB_JS, target)
                if drawn < 0:
                    raise RuntimeError(f"the chart did not redraw for layer {target}")
                layer_ms.append(drawn)
                _wait_text(page, f"Layer {target}")  # the caption: the server has followed the slider
                page.wait_for_selector(IDLE)
                server_ms.append((time.perf_counter() - start) * 1000)

            sentences_ms, finished_ms = [], []
            box = page.locator("[data-testid='stTextArea'] textarea").first
            for round_ in range(5):
                texts = [f"Round {round_} sentence {i} about rivers, money and music." for i in range(10)]
                box.fill("\n".join(texts))
                start = time.perf_counter()
                box.press("Control+Enter")
                _wait_text(page, f"S10 · Round {round_} sentence 9")  # the new chart's legend is drawn
                sentences_ms.append((time.perf_counter() - start) * 1000)
                page.wait_for_selector(IDLE)
                finished_ms.append((time.perf_counter() - start) * 1000)

            others = []
            for i in range(4):
                other = browser.new_page(viewport={"width": 1280, "height": 900})
                other.goto(url + ["/Token_journey", "/", "/Token_journey", "/"][i])
                others.append(other)
            for other in others:
                other.wait_for_selector(CHART, timeout=180_000)
                other.wait_for_selector(IDLE)
            rss_five = _rss_mb(proc.pid)
        finally:
            _stop(proc)
        browser.close()

    cold_ratio = statistics.median(ours) / statistics.median(baseline)
    return {
        "cold_start_to_first_chart_s": {
            "token_journey": [round(t, 2) for t in ours],
            "one_chart_baseline": [round(t, 2) for t in baseline],
            "ratio_median": round(cold_ratio, 2),
            "target_ratio": 1.5,
        },
        "layer_change_to_redraw_ms": _timings(
            layer_ms,
            250,
            how="chart's own slider: input event until the chart's pixels change (browser only)",
            server_caption_follows_median=round(statistics.median(server_ms), 1),
        ),
        "ten_new_sentences_to_redraw_ms": _timings(
            sentences_ms,
            400,
            how="Ctrl+Enter until the new chart's legend shows the tenth sentence",
            page_script_finished_median=round(statistics.median(finished_ms), 1),
        ),
        "server_rss_mb": {"one_user": rss_one, "five_users": rss_five, "target_five_users": 1228},
    }
