"""One visitor's long model work must not stall another's quick one (issue 32: shared locks in short slices).

A visitor adds a large file to the search index (2,000 lines of 1,000 characters, about 2 MB: the work
of a 20 MB file is the same per slice, only longer); meanwhile another visitor types ten new sentences on
the Token journey. Printed: that update's time alone and while the index add runs (medians of
`ROUNDS`, interleaved, in the same run), their ratio (target: at most 2), and how long the model lock was
held at a time by the index add. Run: python -m bench slices
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import threading
import time

ROUNDS = 5
LINES, CHARS = 2000, 1000


class _Done(Exception):
    pass


def run() -> dict:
    from bench import heavy
    from explorer.index import embed_texts
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches
    from explorer.ui.journey import view

    model_id = DEFAULT_MODEL_ID
    model = caches.cached_model(model_id)
    upload = [heavy.dense_text(f"upload line {i}", CHARS) for i in range(LINES)]
    counter = iter(range(10_000))

    def journey_update() -> float:
        n = next(counter)
        texts = tuple(f"Update {n}: sentence {i} about the bank of the river and money." for i in range(10))
        start = time.perf_counter()
        view.make_journey(model_id, texts, (), "pca_shared", 0, False, False)
        return time.perf_counter() - start

    for _ in range(3):  # the first drawings' one-off costs
        journey_update()
    alone = [journey_update() for _ in range(ROUNDS)]

    stop = threading.Event()
    ticks: list[float] = []

    def progress(done: int, total: int) -> None:
        ticks.append(time.perf_counter())
        if stop.is_set():
            raise _Done

    def add() -> None:
        with contextlib.suppress(_Done):
            embed_texts(model, upload, progress=progress)

    adder = threading.Thread(target=add, name="bench-upload")
    adder.start()
    time.sleep(3.0)  # the add is under way
    during = []
    for _ in range(ROUNDS):
        during.append(journey_update())
        time.sleep(0.5)
    stop.set()
    adder.join()
    held = [b - a for a, b in itertools.pairwise(ticks)]
    after = [journey_update() for _ in range(ROUNDS)]
    base = statistics.median(alone + after)
    return {
        "journey_update_alone_s": round(base, 3),
        "journey_update_during_index_add_s": round(statistics.median(during), 3),
        "ratio": round(statistics.median(during) / base, 2),
        "each_s": {
            "alone": [round(t, 3) for t in alone],
            "during": [round(t, 3) for t in during],
            "after": [round(t, 3) for t in after],
        },
        "target_ratio": 2.0,
        "index_add_progress_step_s": round(statistics.median(held), 3) if held else None,
        "index_add_steps_seen": len(ticks),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
