"""Which explanation of a token's move agrees with the model (issue 28, item 4).

Ground truth by ablation: zero source token j's value vectors at a layer and see how far token i's output
of that layer moves (value zeroing, Mohebbi et al. EACL 2023; `decomposition.value_zeroing`). Each method
ranks the sources j of every token i; printed per layer: the Spearman correlation of that ranking with
the ablation's, averaged over every token of `SENTENCES` sentences of the bundled corpus, for
- `parts`: the length of what j sent to i, through both LayerNorms (`decomposition`, what the page draws),
- `attention`: the attention weights averaged over heads (what BertViz and exBERT draw).
Also the time to split every layer of one 32-token sentence (target: at most 300 ms).
Run: python -m bench why
"""

from __future__ import annotations

import statistics
import time

import numpy as np

SENTENCES = 200


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) Spearman correlation of row i of a with row i of b (ranks with ties averaged)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    return (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))


def run() -> dict:
    import torch

    from explorer.assets import bundled_corpus
    from explorer.decomposition import decompose_layer, relative_error, value_zeroing
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches

    model = caches.cached_model(DEFAULT_MODEL_ID)
    backbone = model[0].auto_model
    corpus = list(bundled_corpus().texts)
    texts = corpus[:: max(1, len(corpus) // SENTENCES)][:SENTENCES]
    n_layers = backbone.config.num_hidden_layers
    agree: dict[str, list[list[float]]] = {
        "parts": [[] for _ in range(n_layers)],
        "attention": [[] for _ in range(n_layers)],
    }
    worst = 0.0
    for text in texts:
        features = model.preprocess([text])
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        with torch.inference_mode():
            states = [
                h[0].double().numpy() for h in backbone(**inputs, output_hidden_states=True).hidden_states
            ]
        for n, layer in enumerate(backbone.encoder.layer):
            parts = decompose_layer(layer, states[n], states[n + 1])
            worst = max(worst, float(relative_error(parts).max()))
            truth = value_zeroing(layer, states[n])  # (T, T)
            norms = np.linalg.norm(parts.sources, axis=-1)  # (T, T)
            agree["parts"][n].extend(_spearman_rows(norms, truth).tolist())
            agree["attention"][n].extend(_spearman_rows(parts.attention.mean(axis=0), truth).tolist())

    from explorer.decomposition import decompose

    sentence = (
        "The old bank by the river lent money to farmers, and the river bank flooded in the spring rain "
        "again after three long weeks of storms."
    )
    features = model.preprocess([sentence])
    decompose(backbone, features)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        decompose(backbone, features)
        times.append(time.perf_counter() - start)
    per_layer = {
        method: [round(float(np.nanmean(rows)), 3) for rows in layers] for method, layers in agree.items()
    }
    return {
        "sentences": len(texts),
        "spearman_with_value_zeroing_per_layer": per_layer,
        "median_over_layers": {m: round(statistics.median(v), 3) for m, v in per_layer.items()},
        "parts_at_least_as_good_as_attention": statistics.median(per_layer["parts"])
        >= statistics.median(per_layer["attention"]),
        "worst_sum_error_relative": float(f"{worst:.2e}"),
        "tokens_in_timed_sentence": int(features["input_ids"].shape[1]),
        "decompose_every_layer_ms": round(1000 * statistics.median(times), 1),
        "target_ms": 300,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
