"""Geometry lab: time every measure over 500 sentences made from the bundled corpus."""

from __future__ import annotations

import time

from bench.timing import best_of
from explorer import assets, geometry, senses
from explorer.models import load_model
from explorer.states import extract_states

N_SENTENCES = 500
FAITHFULNESS_WORDS = 1000


def sentences(n: int = N_SENTENCES) -> list[str]:
    """n distinct sentences: the corpus itself, then pairs of its sentences joined by 'while'."""
    corpus = assets.geometry_corpus()
    out = list(corpus[:n])
    i = 0
    while len(out) < n:
        first, second = corpus[i % len(corpus)], corpus[(7 * i + 3) % len(corpus)]
        out.append(f"{first.rstrip('.')} while {second[0].lower()}{second[1:]}")
        i += 1
    return out


def run() -> dict:
    model = load_model()
    texts = sentences()
    start = time.perf_counter()
    states = extract_states(model, texts)
    forward_ms = (time.perf_counter() - start) * 1000
    words = geometry.pool_words(states.layers, states.tokens)
    presets = senses.word_sense_presets()
    preset_states = {w: extract_states(model, c.sentences) for w, c in presets.items()}

    def sense_lab() -> None:
        for word, contexts in presets.items():
            s = preset_states[word]
            found = senses.find_sense_occurrences(s.layers, s.tokens, contexts, word)
            senses.sense_separation(found.vectors, found.labels)

    def all_measures() -> None:
        geometry.layer_measures(states.layers, states.tokens)
        geometry.consecutive_layer_cosine(states.layers)
        sense_lab()

    return {
        "sentences": len(texts),
        "tokens": int(states.layers.shape[1]),
        "words": int(words.vectors.shape[1]),
        "forward_pass_ms": round(forward_ms, 1),
        "all_measures": best_of(all_measures, repeat=3),
        "layer_measures": best_of(lambda: geometry.layer_measures(states.layers, states.tokens), repeat=3),
        "consecutive_layer_cosine": best_of(
            lambda: geometry.consecutive_layer_cosine(states.layers), repeat=3
        ),
        "sense_lab_7_words": best_of(sense_lab, repeat=3),
        # Neighbour faithfulness grows as N²: timed on the first FAITHFULNESS_WORDS words, as the page does
        # on its corpus (about 660 words).
        f"faithfulness_pca_{FAITHFULNESS_WORDS}_words": best_of(
            lambda: geometry.projection_faithfulness(words.vectors[:, :FAITHFULNESS_WORDS], "pca_aligned"),
            repeat=1,
        ),
    }
