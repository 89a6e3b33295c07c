"""Fine-tune figures: training the head on the default preset, tuning one layer of a private copy, memory."""

from __future__ import annotations

import gc
import resource
import time
import tracemalloc

from bench.timing import best_of
from explorer import assets
from explorer.finetune import head as hd
from explorer.finetune import labelled as lb
from explorer.finetune import proof, tuning


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def run() -> dict:
    from explorer.models import load_model, weights_fingerprint
    from explorer.states import extract_states

    model = load_model()
    labelled = lb.prepare_labelled(assets.labelled_set(assets.DEFAULT_LABELLED_SET).rows)
    config = hd.HeadConfig()
    states = extract_states(model, labelled.texts)
    rss_model = _rss_mb()

    train = best_of(lambda: hd.run_head(states.pooled, labelled, config), repeat=5)
    end_to_end = best_of(
        lambda: hd.run_head(extract_states(model, labelled.texts).pooled, labelled, config), repeat=3
    )
    fingerprint = best_of(lambda: weights_fingerprint(model), repeat=3)
    proof_ms = best_of(
        lambda: proof.prove_unchanged(model, labelled.texts, weights_fingerprint(model), states.pooled),
        repeat=3,
    )
    tracemalloc.start()
    run_ = hd.run_head(states.pooled, labelled, config)
    _, head_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    split = lb.stratified_split(labelled.labels, seed=config.seed)
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        tuned = tuning.tune_top_layers(model, labelled, split, k=1, before=states)
        timings.append(time.perf_counter() - start)
        rss_with_copy = _rss_mb()
        del tuned
        gc.collect()
    rss_after_release = _rss_mb()
    start = time.perf_counter()
    tuned_all = tuning.tune_top_layers(
        model, labelled, split, k=model[0].auto_model.config.num_hidden_layers, before=states
    )
    all_layers_s = time.perf_counter() - start
    del tuned_all
    gc.collect()

    return {
        "preset": assets.DEFAULT_LABELLED_SET,
        "sentences": len(labelled.texts),
        "head": {
            "rank": config.rank,
            "steps": config.steps,
            "lr": config.lr,
            "snapshots": len(run_.snapshots),
        },
        "train_head_ms": train,
        "embed_and_train_head_ms": end_to_end,
        "target_train_s": 3.0,
        "fingerprint_ms": fingerprint,
        "proof_ms": proof_ms,
        "head_training_tracemalloc_peak_mb": round(head_peak / 2**20, 2),
        "tune_top_1_layer_s": {"first": round(timings[0], 2), "second": round(timings[1], 2)},
        "tune_steps": tuning.TUNE_STEPS,
        "target_tune_s": 30.0,
        "tune_all_layers_s": round(all_layers_s, 2),
        "rss_mb": {
            "model_loaded": rss_model,
            "with_private_copy": rss_with_copy,
            "after_release": rss_after_release,
            "process_peak": _peak_rss_mb(),
        },
    }
