"""Foundation figures: model load, extraction vs the raw forward pass, projections, input→chart time."""

from __future__ import annotations

import time

import numpy as np

from bench.timing import best_of

_WORDS = (
    "the model reads every token and builds a space where meaning has a shape river bank money loan "
    "music guitar planet orbit garden tomato recipe oven goal striker market price doctor fever"
).split()


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """Deterministic sentences of 6-18 words (no two alike)."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(_WORDS, size=int(rng.integers(6, 19)))).capitalize() + f" number {i}."
        for i in range(n)
    ]


def _raw_forward(model, texts: list[str], batch_size: int = 32) -> None:
    """The transformers forward pass alone, batched the same way (longest first), hidden states on."""
    import torch

    backbone, tokenizer = model[0].auto_model, model[0].tokenizer
    ordered = sorted(texts, key=len, reverse=True)
    with torch.inference_mode():
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start : start + batch_size]
            enc = tokenizer(
                batch, padding=True, truncation=True, max_length=model.max_seq_length, return_tensors="pt"
            )
            backbone(**enc, output_hidden_states=True)


def _from_fresh_threads(work, rounds: int = 15) -> dict:
    """`work(i)` timed in a new thread each round, as Streamlit runs each page run in a new thread."""
    import threading

    times: list[float] = []

    def timed(i: int) -> None:
        start = time.perf_counter()
        work(i)
        times.append((time.perf_counter() - start) * 1000)

    for i in range(rounds):
        thread = threading.Thread(target=timed, args=(i,))
        thread.start()
        thread.join()
    return {"median_ms": round(float(np.median(times)), 1), "best_ms": round(min(times), 1)}


def _fresh_thread_passes(model) -> dict:
    """Ten new short sentences from a fresh thread each time: `extract_states` (its pass runs on the one
    kept model thread, `on_model_thread`) against the raw forward pass run in the fresh thread itself
    (PyTorch starts new OpenMP workers for it) and against `extract_states` from one kept thread."""
    from explorer.states import extract_states

    def texts(i: int) -> list[str]:
        return make_sentences(10, seed=1000 + i)

    ours = _from_fresh_threads(lambda i: extract_states(model, texts(i)))
    raw = _from_fresh_threads(lambda i: _raw_forward(model, texts(i)))
    kept = iter(range(10_000))
    same = best_of(lambda: extract_states(model, texts(2000 + next(kept))), repeat=15)
    return {
        "extract_states_from_fresh_threads": ours,
        "raw_forward_in_fresh_threads": raw,
        "extract_states_from_one_thread": same,
        "ratio_fresh_to_one_thread": round(ours["median_ms"] / same["median_ms"], 2),
    }


def run() -> dict:
    from explorer.charts.journey import journey_chart, journey_frames
    from explorer.models import load_model
    from explorer.projection import project
    from explorer.states import extract_states, layer_names

    start = time.perf_counter()
    model = load_model()
    load_s = time.perf_counter() - start

    extraction = {}
    for n in (10, 100, 1000):
        texts = make_sentences(n)
        repeat = 5 if n <= 100 else 2
        raw = best_of(lambda t=texts: _raw_forward(model, t), repeat=repeat)
        ours = best_of(lambda t=texts: extract_states(model, t), repeat=repeat)
        extraction[f"{n}_sentences"] = {
            "raw_forward": raw,
            "extract_states": ours,
            "ratio_median": round(ours["median_ms"] / raw["median_ms"], 3),
            "target_ratio": 1.2,
        }

    projections = {}
    for n in (10, 100):
        states = extract_states(model, make_sentences(n))
        projections[f"{n}_sentences_{states.layers.shape[1]}_tokens"] = {
            "pca_shared": best_of(lambda s=states: project(s.layers, "pca_shared", s.pooled_raw)),
            "pca_aligned": best_of(lambda s=states: project(s.layers, "pca_aligned", s.pooled_raw)),
        }
    states = extract_states(model, make_sentences(10))
    first = time.perf_counter()
    project(states.layers, "umap", seed=0)
    umap_first_s = time.perf_counter() - first
    projections["10_sentences_umap"] = {
        "first_call_s_including_import_and_compile": round(umap_first_s, 2),
        "warm": best_of(lambda: project(states.layers, "umap", seed=0), repeat=3),
    }

    names = layer_names(model[0].auto_model.config.num_hidden_layers)

    def sentences_changed_to_spec(texts: list[str]) -> dict:
        s = extract_states(model, texts)
        proj = project(s.layers, "pca_shared", s.pooled_raw)
        points, pooled = journey_frames(s.tokens, s.texts, proj, names)
        return journey_chart(points, pooled, len(names) - 1).to_dict()

    fresh = iter(range(10_000))
    pipeline = best_of(lambda: sentences_changed_to_spec(make_sentences(10, seed=next(fresh))), repeat=7)
    return {
        "model_load_s": round(load_s, 3),
        "extraction": extraction,
        "projection": projections,
        "sentences_changed_to_chart_spec_10_sentences": {**pipeline, "target_ms": 150},
        "page_rerun_after_sentences_changed_10_sentences": _apptest_rerun(),
        "ten_sentences_from_fresh_threads": _fresh_thread_passes(model),
    }


def _apptest_rerun() -> dict:
    """Whole Streamlit script run of the Token journey page after new sentences (warm model), via AppTest."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120).run()
    at.switch_page("pages/1_Token_journey.py").run()
    times = []
    for seed in range(5):
        at.text_area(key="sentences").input("\n".join(make_sentences(10, seed=100 + seed)))
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(float(np.median(times)), 1), "best_ms": round(min(times), 1), "target_ms": 150}
