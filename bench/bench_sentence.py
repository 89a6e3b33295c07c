"""Sentence embedding page: index embedding speed vs raw `encode`, query latency, corpus map build time."""

from __future__ import annotations

import os
import time

import altair as alt
import numpy as np

from bench.timing import best_of

N_SENTENCES = 10_000
LATENCY_INDEX_SIZE = 10_000
# On a busy machine set BENCH_SENTENCE_N lower (e.g. 1500) and BENCH_SENTENCE_ROUNDS=2: the ratio is per
# sentence, and the 10,000-row index for latency and map timing is then tiled from the real embeddings.


def synthetic_sentences(n: int = N_SENTENCES) -> list[str]:
    """n distinct sentences made deterministically from the bundled corpus: the first half of one
    sentence joined to the second half of another."""
    from explorer.assets import bundled_corpus

    corpus = bundled_corpus().texts
    m = len(corpus)
    out = []
    for i in range(n):
        first = corpus[i % m].split()
        second = corpus[(i * 37 + i // m + 1) % m].split()
        out.append(" ".join(first[: max(1, len(first) // 2)] + second[len(second) // 2 :]))
    return out


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run() -> dict:
    from explorer.charts import sentence as sentence_charts
    from explorer.index import ENCODE_BATCH, EmbeddingIndex, embed_texts
    from explorer.models import load_model
    from explorer.projection import fit_map

    n = int(os.environ.get("BENCH_SENTENCE_N", N_SENTENCES))
    rounds = int(os.environ.get("BENCH_SENTENCE_ROUNDS", 1))
    model = load_model()
    texts = synthetic_sentences(n)
    model.encode(texts[:256], batch_size=ENCODE_BATCH)  # warm up threads and allocators

    raw_s, index_s = [], []
    index = None
    for _ in range(rounds):  # interleaved, so drift in machine load hits both paths alike
        seconds, raw = _timed(
            lambda: model.encode(
                texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True
            )
        )
        raw_s.append(seconds)
        seconds, index = _timed(
            lambda: EmbeddingIndex.build(
                texts, embed_texts(model, texts, progress=lambda done, total: None), ["bench"] * len(texts)
            )
        )
        index_s.append(seconds)
    assert index is not None
    max_diff = float(np.abs(index.vectors - raw).max())
    if index.size < LATENCY_INDEX_SIZE:  # same cost for search and map: repeat real vectors, distinct texts
        reps = -(-LATENCY_INDEX_SIZE // index.size)
        tiled = np.tile(index.vectors, (reps, 1))[:LATENCY_INDEX_SIZE]
        labels = [
            f"{t} ({i})" for i, t in enumerate(np.resize(np.array(index.texts, dtype=object), len(tiled)))
        ]
        index = EmbeddingIndex.build(labels, tiled, ["bench"] * len(tiled))

    query = "Which planet has rings you can see with a telescope?"
    query_vec = embed_texts(model, [query])[0]
    encode_query = best_of(lambda: embed_texts(model, [query]), repeat=20)
    search = best_of(lambda: index.search(query_vec, k=5), repeat=50)

    def build_map_spec() -> dict:
        projection = fit_map(index.vectors)
        points = sentence_charts.corpus_map_frame(index.texts, index.sources, projection.coords)
        hits = index.search(query_vec, k=5)
        chart = sentence_charts.corpus_map_chart(points, projection.place(query_vec)[0], query, hits)
        with alt.data_transformers.disable_max_rows():
            return chart.to_dict()

    map_spec = best_of(build_map_spec, repeat=3)

    return {
        "n_sentences_embedded": len(texts),
        "rounds": rounds,
        "latency_index_size": index.size,
        "latency_index_tiled": len(texts) < LATENCY_INDEX_SIZE,
        "raw_encode_s": [round(s, 2) for s in raw_s],
        "index_path_s": [round(s, 2) for s in index_s],
        "ratio_index_vs_raw": round(min(index_s) / min(raw_s), 3),
        "ratio_per_round": [round(i / r, 3) for i, r in zip(index_s, raw_s, strict=True)],
        "sentences_per_s_index": round(len(texts) / min(index_s)),
        "max_abs_diff_vs_raw": max_diff,
        "query_encode_ms": encode_query,
        "query_search_10k_ms": search,
        "map_spec_10k_ms": map_spec,
    }
