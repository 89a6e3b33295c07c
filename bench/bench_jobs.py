"""Visitors who queue heavy UMAP fits and leave must not make the next visitor wait for them (issue 32).

Four visitors ask for the Token journey's UMAP view of the largest text a link carries (100 long
sentences, each its own seed, so nothing is shared), then leave; a fifth asks for UMAP on ten sentences.
Printed: the fifth visitor's wait beside its fit alone in the same run (target: at most 2x), how long the
running fit took to stop, and one heavy fit alone (what each leaver's fit cost the queue before jobs
belonged to their sessions). Run: python -m bench jobs
"""

from __future__ import annotations

import time
from functools import partial

LEAVERS = 4


def _fit(view, model_id: str, texts: tuple[str, ...], seed: int, asker: str | None):
    from explorer.ui import jobs

    inputs = view._umap_inputs(model_id, texts, (), seed, False, False)
    return jobs.started(inputs, partial(view._fitted_umap, *inputs), asker=asker)


def run() -> dict:
    from bench import heavy
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.projection import warm_up_umap
    from explorer.ui import caches, jobs
    from explorer.ui.journey import view

    model_id = DEFAULT_MODEL_ID
    caches.cached_model(model_id)
    warm_up_umap()
    small = tuple(f"Visitor five writes sentence number {i} about the river bank." for i in range(10))
    heavy_texts = tuple(heavy.sentence_lines("jobs"))

    start = time.perf_counter()
    _fit(view, model_id, small, 101, "alone/1").result()
    alone_s = time.perf_counter() - start

    leavers = [_fit(view, model_id, heavy_texts, seed, f"leaver{seed}/1") for seed in range(1, LEAVERS + 1)]
    time.sleep(3.0)  # the first fit is under way, the others queue
    asked_stop = time.perf_counter()
    stopped = jobs.forget_gone(lambda owner: False)  # they closed their tabs: the janitor's next round
    leavers[0].exception()
    stop_s = time.perf_counter() - asked_stop
    start = time.perf_counter()
    _fit(view, model_id, small, 102, "fifth/1").result()
    after_s = time.perf_counter() - start

    start = time.perf_counter()
    _fit(view, model_id, heavy_texts, 99, "heavy/1").result()
    heavy_s = time.perf_counter() - start
    return {
        "small_fit_alone_s": round(alone_s, 2),
        "small_fit_after_leavers_s": round(after_s, 2),
        "ratio": round(after_s / alone_s, 2),
        "target_ratio": 2.0,
        "leavers": LEAVERS,
        "jobs_stopped_or_cancelled": stopped,
        "running_fit_stopped_within_s": round(stop_s, 2),
        "one_heavy_fit_alone_s": round(heavy_s, 2),
        "wait_before_jobs_belonged_to_sessions_s": round(LEAVERS * heavy_s + alone_s, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
