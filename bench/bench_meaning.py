"""What does it mean here? (issue 29): the corpus index, its queries, and where meaning emerges.

With the bundled model, in a fresh temporary folder: the corpus (the project's sentences and, where
Debian's wordnet-base is installed, WordNet's examples), the time to build the index of every layer of its
content words and its size on disk; the time of one query (a followed token's nearest words at one layer,
median of 70: ten tokens at every layer); and per layer, over the sense-tagged tokens, how often a token's
5 nearest other uses of its word carry its sense against chance, and how often its nearest token is the
same word (`meaning_emergence.sense_agreement`), standardised and raw.
Run: python -m bench meaning
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def run() -> dict:
    from explorer import meaning, meaning_emergence
    from explorer.models import load_model, weights_fingerprint
    from explorer.states import extract_states

    model = load_model()
    fingerprint = weights_fingerprint(model)
    corpus = meaning.meaning_corpus()
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        index = meaning.build_index(
            model, fingerprint, corpus, meaning.index_folder(fingerprint, corpus, Path(root))
        )
        built_s = time.perf_counter() - start
        states = extract_states(model, corpus.texts[:10])
        times = []
        for sentence in range(10):
            row = int(states.tokens.index[(states.tokens["sentence"] == sentence)][1])
            for layer in range(states.layers.shape[0]):
                start = time.perf_counter()
                meaning.nearest(index, states.layers[layer, row], layer, 5, True, [corpus.texts[sentence]])
                times.append(time.perf_counter() - start)
        curves = {
            name: meaning_emergence.sense_agreement(index, standardised=standardised)
            .round(3)
            .to_dict("records")
            for name, standardised in (("standardised", True), ("raw", False))
        }
        return {
            "sentences": len(corpus.texts),
            "wordnet_sentences": sum(s == "WordNet" for s in corpus.sources),
            "content_tokens": index.n_tokens,
            "on_disk_mb": round(index.nbytes_on_disk / 2**20, 1),
            "build_s": round(built_s, 1),
            "query_ms_median": round(1000 * statistics.median(times), 1),
            "query_ms_max": round(1000 * max(times), 1),
            "sense_agreement": curves,
        }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
