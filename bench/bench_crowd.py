"""Visitors open the heaviest link each page accepts, all at the same moment, then press its button.

Sessions are AppTest instances in threads of one process (as in `bench_class`): they share the server's
caches, its model lock and its memory ledger as browser sessions of one Streamlit server do. The server
runs with its default settings (no LSE_* variable set: the ledger's budget is 600 MB). Two crowds, each
in a fresh process:

- `fine_tune`: 10 visitors, each with a different Fine-tune link of the largest table (200 rows of 1,000
  characters, 256 word pieces each), press Train (issues 31 and 32);
- `mixed`: 2 visitors per page, each with its own largest link: Fine-tune (Train), Token journey and
  Sentence embedding (100 sentences of 256 word pieces, UMAP on the journey; "Run the shared view"),
  Geometry lab (those sentences measured with UMAP, and 80 word-sense contexts of 256 pieces; both
  buttons).

Printed per crowd: resting RSS (every page opened once, then settled), the exact peak RSS while the
crowd works (the kernel's high-water mark, VmHWM), the ledger's peak, what each visitor got (served,
told to wait / that the server is busy, or an error), and RSS for a minute after the visitors leave.

python -m bench crowd              both crowds (each a fresh process; 10-20 minutes on 2 shared cores)
python -m bench.bench_crowd mixed  one crowd, its JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20
PAGES = {
    "fine_tune": "pages/3_Fine_tune.py",
    "journey": "pages/1_Token_journey.py",
    "sentence": "pages/2_Sentence_embedding.py",
    "geometry": "pages/4_Geometry_lab.py",
}
CROWDS = {"fine_tune": ["fine_tune"] * 10, "mixed": ["fine_tune", "journey", "sentence", "geometry"] * 2}
TIMEOUT_S = 1800
AFTER_S = (0, 10, 20, 30, 45, 60)  # RSS read this long after the visitors leave
TARGETS = {"peak_rss_mb": 1536, "errors": 0, "back_to_rest_within_s": 60, "rest_margin_mb": 64}


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _link(kind: str, visitor: int) -> str:
    from bench import heavy
    from explorer.share import encode_view

    tag = f"visitor {visitor}"
    if kind == "fine_tune":
        state = {"rows": heavy.fine_tune_rows(tag), "trained": True, "steps": 600, "rank": 64, "step": 600}
    elif kind == "journey":
        state = {"sentences": "\n".join(heavy.sentence_lines(tag)), "projection": "umap"}
    elif kind == "sentence":
        state = {"sentences": "\n".join(heavy.sentence_lines(tag))}
    else:
        state = {
            "sentences": "\n".join(heavy.sentence_lines(tag)),
            "source": "yours",
            "umap": True,
            "word": "bank",
            "contexts": "\n".join(heavy.sense_contexts(tag)),
        }
    return encode_view(state)


def _leave(at) -> None:
    """What a closed tab gets from the janitor's sweep: everything the session held on the ledger, freed
    (the sweep then hands freed memory back to the system: `crowd` does that once all have left)."""
    from explorer.ui import memory

    if memory.OWNER_KEY in at.session_state:
        memory.ledger().release(at.session_state[memory.OWNER_KEY])


def _said(at) -> str:
    return " ".join(str(m.value) for m in [*at.info, *at.warning, *at.error])


TOLD = ("server is busy", "Waiting for room", "more than the", "has not finished stopping")


def _press(kind: str, at) -> None:
    """The visitor's one click: Train on the Fine-tune page, 'Run the shared view' elsewhere (and the
    Word-sense lab's own button on the Geometry lab)."""
    if kind == "fine_tune":
        next(b for b in at.button if "Train the head" in b.label).click().run()
        return
    for key in ("link_run", "sense_link_run"):
        button = next((b for b in at.button if b.key == key), None)
        if button is not None:
            button.click().run()


def _outcome(kind: str, at) -> str:
    from explorer.ui import memory
    from explorer.ui.finetune.keys import RUN

    if at.exception:
        return "error"
    said = _said(at)
    if any(words in said for words in TOLD):
        return "told"
    if kind == "fine_tune":
        state = at.session_state  # AppTest's session state has no .get
        owner = state[memory.OWNER_KEY] if memory.OWNER_KEY in state else ""  # noqa: SIM401
        view = memory.ledger().get(owner, RUN)
        return "served" if getattr(view, "source", None) == "trained" else "other"
    waiting = any(b.key in ("link_run", "sense_link_run") for b in at.button)
    return "served" if at.get("vega_lite_chart") and not waiting else "other"


def _jobs_idle(limit_s: float) -> float:
    """Wait (at most `limit_s`) for the background jobs the visitors started (UMAP); seconds waited."""
    from explorer.ui import jobs

    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if not jobs.unfinished():
            break
        time.sleep(1.0)
    return round(time.perf_counter() - start, 1)


def crowd(name: str) -> dict:
    from streamlit.testing.v1 import AppTest

    from bench.bench_class import _apptest_in_threads
    from explorer.budget import return_freed_memory
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches, memory

    _apptest_in_threads()
    caches.cached_model(DEFAULT_MODEL_ID)  # a server has its model loaded before the class arrives
    for page in PAGES.values():  # every page once, default view: the server at rest
        _leave(AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT_S).run())
    # The crowd fits UMAP: rest as after a first UMAP (the sets' UMAP views and numba's code).
    caches.warm_umap(DEFAULT_MODEL_ID)
    _jobs_idle(600)
    return_freed_memory()
    rest = _status("VmRSS")

    kinds = CROWDS[name]
    links = [_link(kind, i) for i, kind in enumerate(kinds)]
    sessions = [AppTest.from_file(str(ROOT / PAGES[kind]), default_timeout=TIMEOUT_S) for kind in kinds]
    ledger = memory.ledger()
    ledger_peak = [0]
    stop = threading.Event()

    samples: list[dict] = []  # where the memory is, every half second: RSS, the ledger, the states cache

    def watch() -> None:
        from explorer.ui import jobs

        last = 0.0
        while not stop.is_set():
            ledger_peak[0] = max(ledger_peak[0], ledger.total_bytes)
            now = time.perf_counter()
            if now - last >= 0.5:
                last = now
                running = len(jobs.unfinished())
                samples.append({
                    "t_s": round(now - began, 1), "rss_mb": round(_status("VmRSS") / MB),
                    "ledger_mb": round(ledger.total_bytes / MB),
                    "states_cache_mb": round(caches._STATES.total_bytes / MB), "jobs_running": running,
                })  # fmt: skip
            time.sleep(0.02)

    opened, pressed = threading.Barrier(len(kinds)), threading.Barrier(len(kinds))
    results: list[dict] = [{} for _ in kinds]

    def visit(i: int) -> None:
        at, kind = sessions[i], kinds[i]
        at.query_params["view"] = links[i]
        opened.wait()
        start = time.perf_counter()
        try:
            at.run()
            open_s = time.perf_counter() - start
            waits = any(
                b.key in ("link_run", "sense_link_run") for b in at.button
            ) or "trained head" in _said(at)
            pressed.wait()
            start = time.perf_counter()
            _press(kind, at)
            results[i] = {
                "page": kind,
                "open_s": round(open_s, 1),
                "open_waited_for_click": waits,
                "press_s": round(time.perf_counter() - start, 1),
                "outcome": _outcome(kind, at),
                "said": [m[:160] for m in _said(at).split("  ") if any(w in m for w in TOLD)][:1],
                "exception": at.exception[0].message[:300] if at.exception else None,
            }
        except Exception as exc:  # an AppTest timeout or a crash of the harness: an error of this visitor
            where = [
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
                for f in traceback.extract_tb(exc.__traceback__)
            ]
            results[i] = {
                "page": kind, "outcome": "error", "exception": f"{type(exc).__name__}: {exc}"[:300], "where": where[-8:],
            }  # fmt: skip

    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # the high-water mark starts from the resting level
    began = time.perf_counter()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(len(kinds)) as pool:
        list(pool.map(visit, range(len(kinds))))
    worked = time.perf_counter() - began
    jobs_s = _jobs_idle(900)
    stop.set()
    watcher.join()
    peak = _status("VmHWM")

    for at in sessions:  # the visitors leave
        _leave(at)
    sessions.clear()
    return_freed_memory()  # what the janitor's sweep does once it has freed what they held
    left = time.perf_counter()
    after: dict[str, float] = {}
    for seconds in AFTER_S:
        time.sleep(max(0.0, seconds - (time.perf_counter() - left)))
        after[f"{seconds}s"] = round(_status("VmRSS") / MB)
    back = next(
        (int(s.rstrip("s")) for s, mb in after.items() if mb <= rest / MB + TARGETS["rest_margin_mb"]), None
    )
    outcomes = [r.get("outcome", "error") for r in results]
    return {
        "visitors": kinds,
        "budget_mb": round(ledger.max_bytes / MB),
        "rest_rss_mb": round(rest / MB),
        "peak_rss_mb": round(peak / MB),
        "peak_above_rest_mb": round((peak - rest) / MB),
        "ledger_peak_mb": round(ledger_peak[0] / MB),
        "all_pressed_within_s": round(worked, 1),
        "background_jobs_after_s": jobs_s,
        "outcomes": {kind: outcomes.count(kind) for kind in sorted(set(outcomes))},
        "every_visitor_served_or_told": all(o in ("served", "told") for o in outcomes),
        "visits": results,
        "rss_after_leaving_mb": after,
        "back_to_rest_after_s": back,
        "states_cache_mb": round(caches._STATES.total_bytes / MB),
        "at_highest_sample": max(samples, key=lambda row: row["rss_mb"], default=None),
        "timeline": samples[::20],  # every 10 s
        "targets": TARGETS,
    }


def run_one(name: str) -> dict:
    """One crowd in a fresh process, with the server's default settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSE_")}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)})
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_crowd", name], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-3:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> dict:
    return {name: run_one(name) for name in CROWDS}


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(json.dumps(crowd(sys.argv[1] if len(sys.argv) > 1 else "mixed")))
