"""A class on one server: 30 sessions at once, and 8 of them tuning private copies at once.

Sessions are AppTest instances in threads of this one process, so they share the server's caches and
its memory budget exactly as browser sessions of one Streamlit server do (the websocket and the
browser's drawing are not included: `bench_browser` times those). Each session opens the Token journey,
then, at a seeded random moment inside the same 30 seconds, submits ten sentences of its own and moves
the layer. Printed: p50/p95 time per interaction, errors, and the process's peak RSS.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

N_SESSIONS = 30
WINDOW_S = 30.0
N_TUNING = 8
ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"p95_s": 5.0, "peak_rss_mb": 1536}


class _PeakRss:
    """Samples this process's resident memory every 20 ms while in use."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def now_mb(self) -> float:
        return round(self._proc.memory_info().rss / 2**20, 1)


class AppTestAlwaysOn:
    """Streamlit's config as widgets read it, with `global.appTest` always on. AppTest turns that global
    option on for its run and off after it, so a run that ends switches it off under the runs still
    going: their widgets then skip saving what AppTest reads back (a select box's format_func), and the
    next click fails with a KeyError in AppTest's own element tree. Where every run is an AppTest run
    (sessions in threads), the option reads as on for that one use."""

    def __getattr__(self, name: str) -> object:
        from streamlit import config

        return getattr(config, name)

    @staticmethod
    def get_option(key: str) -> object:
        from streamlit import config

        return True if key == "global.appTest" else config.get_option(key)


def _apptest_in_threads() -> None:
    """AppTest swaps a stand-in Runtime in for each run and sets it back to None after, which breaks
    AppTests running at once in threads (a run finds no Runtime). Keep the last stand-in instead: every
    session then sees a Runtime, as sessions of a real server do. Only this benchmark does this."""
    import streamlit.elements.lib.utils as widget_utils
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime import Runtime

    class _Sticky(type(Runtime)):
        def __setattr__(cls, name: str, value: object) -> None:
            if name != "_instance":
                super().__setattr__(name, value)
            elif value is not None:
                type.__setattr__(Runtime, "_instance", value)

    app_test.Runtime = _Sticky("Runtime", (Runtime,), {})

    widget_utils.config = AppTestAlwaysOn()


def _sentences(session: int) -> str:
    rng = random.Random(session)
    words = ["bank", "river", "money", "storm", "teacher", "garden", "engine", "music", "winter", "market"]
    return "\n".join(
        f"Session {session} says the {rng.choice(words)} near the {rng.choice(words)} moved {i} times."
        for i in range(10)
    )


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50_s": round(float(np.percentile(seconds, 50)), 2),
        "p95_s": round(float(np.percentile(seconds, 95)), 2),
        "max_s": round(max(seconds), 2),
    }


def _class_of_thirty() -> dict:
    from streamlit.testing.v1 import AppTest

    journey = str(ROOT / "pages" / "1_Token_journey.py")
    sessions = [AppTest.from_file(journey, default_timeout=300) for _ in range(N_SESSIONS)]
    errors: list[str] = []
    timings: dict[str, list[float]] = {"open": [], "new_sentences": [], "move_layer": []}
    guard = threading.Lock()

    def timed(kind: str, at) -> None:
        start = time.perf_counter()
        at.run()
        took = time.perf_counter() - start
        with guard:
            timings[kind].append(took)
            if at.exception:
                errors.append(f"{kind}: {at.exception[0].message[:200]}")

    def open_page(at) -> None:
        timed("open", at)

    offsets = random.Random(0).sample(range(int(WINDOW_S * 1000)), N_SESSIONS)

    def work(i: int) -> None:
        at = sessions[i]
        time.sleep(offsets[i] / 1000)
        at.text_area(key="sentences").input(_sentences(i))
        timed("new_sentences", at)
        at.session_state["_keep_layer"] = 2  # what the chart's own Layer slider leaves on the server
        timed("move_layer", at)

    with _PeakRss() as rss:
        started = time.perf_counter()
        with ThreadPoolExecutor(N_SESSIONS) as pool:
            list(pool.map(open_page, sessions))
        opened = time.perf_counter() - started
        with ThreadPoolExecutor(N_SESSIONS) as pool:
            list(pool.map(work, range(N_SESSIONS)))
        total = time.perf_counter() - started - opened
    interactions = timings["new_sentences"] + timings["move_layer"]
    return {
        "sessions": N_SESSIONS,
        "window_s": WINDOW_S,
        "open_all_s": round(opened, 1),
        "interactions_done_in_s": round(total, 1),
        "open": _percentiles(timings["open"]),
        "new_sentences": _percentiles(timings["new_sentences"]),
        "move_layer": _percentiles(timings["move_layer"]),
        "all_interactions": _percentiles(interactions),
        "errors": errors[:5],
        "n_errors": len(errors),
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "rss_after_mb": rss.now_mb(),
        "targets": TARGETS,
    }


def _eight_tuning_at_once() -> dict:
    from streamlit.testing.v1 import AppTest

    from explorer.ui import memory
    from explorer.ui.finetune.keys import TUNED

    page = str(ROOT / "pages" / "3_Fine_tune.py")
    sessions = [AppTest.from_file(page, default_timeout=600) for _ in range(N_TUNING)]
    for at in sessions:
        at.run()
    ledger = memory.ledger()
    seen_total = [0]
    results: list[str] = []
    times: list[float] = []
    guard = threading.Lock()

    def watch_ledger(stop: threading.Event) -> None:
        while not stop.is_set():
            seen_total[0] = max(seen_total[0], ledger.total_bytes)
            time.sleep(0.01)

    def tune(at) -> None:
        start = time.perf_counter()
        next(b for b in at.button if "Tune a private copy" in b.label).click().run()
        took = time.perf_counter() - start
        busy = any("server is busy" in w.value for w in at.warning)
        done = ledger.get(at.session_state[memory.OWNER_KEY], TUNED) is not None
        with guard:
            times.append(took)
            results.append("error" if at.exception else "busy" if busy else "tuned" if done else "other")

    stop = threading.Event()
    watcher = threading.Thread(target=watch_ledger, args=(stop,), daemon=True)
    with _PeakRss() as rss:
        before = rss.now_mb()
        watcher.start()
        with ThreadPoolExecutor(N_TUNING) as pool:
            list(pool.map(tune, sessions))
        stop.set()
        watcher.join()
    held_after = ledger.total_bytes
    for at in sessions:  # what Reset does; a closed tab is swept the same way
        ledger.release(at.session_state[memory.OWNER_KEY])
    return {
        "sessions_tuning": N_TUNING,
        "budget_mb": round(ledger.max_bytes / 2**20),
        "outcomes": {kind: results.count(kind) for kind in sorted(set(results))},
        "time_per_tuning": _percentiles(times),
        "rss_before_mb": before,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "peak_rss_above_before_mb": round(rss.peak / 2**20 - before, 1),
        "ledger_peak_mb": round(seen_total[0] / 2**20, 1),
        "ledger_after_mb": round(held_after / 2**20, 1),
        "ledger_after_release_mb": round(ledger.total_bytes / 2**20, 1),
    }


def run() -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui.caches import cached_model

    _apptest_in_threads()
    start = time.perf_counter()
    cached_model(DEFAULT_MODEL_ID)  # a server has its model loaded before the class arrives
    loaded = time.perf_counter() - start
    return {
        "model_load_s": round(loaded, 1),
        "thirty_sessions": _class_of_thirty(),
        "eight_tuning": _eight_tuning_at_once(),
    }
