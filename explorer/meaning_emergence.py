"""Where meaning emerges (issue 29): per layer, over the meaning index's sense-tagged tokens, how often
a token's nearest other uses of its word carry its sense, against chance, and how often its nearest token
of the whole index is the same word. Split from `explorer.meaning`, which builds and queries the index."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.meaning import MeaningIndex


def sense_agreement(index: MeaningIndex, k: int = 5, standardised: bool = True, same_word_sample: int = 500,
                    seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Per layer, over the index's sense-tagged tokens (a word its sentence is an example of: WordNet's
    synset or the project's sense name), for words with two senses or more, each with two uses or more:
    - `agreement`: the share of each token's `k` nearest other uses of the same word (other sentences)
      that carry its sense, and `chance`: the share a random pick of them would have;
    - `same_word`: over a seeded sample of `same_word_sample` of those tokens, how often the nearest token
      of the whole index (other sentences) is the same word.
    Similarity: cosine, standardised per layer (or raw). Columns: layer, agreement, chance, same_word,
    tokens, words. Working memory at its peak: the layer's vectors in float32 and an (N, sample) product
    (`sense_agreement_bytes`)."""
    lemmas, senses = index.corpus.lemmas, index.corpus.senses
    tagged = [
        row
        for row in range(index.n_tokens)
        if senses[index.sentence[row]] and index.words[row].lower() in _forms(lemmas[index.sentence[row]])
    ]
    by_word: dict[str, list[int]] = {}
    for row in tagged:
        by_word.setdefault(lemmas[index.sentence[row]], []).append(row)
    groups = []
    for rows in by_word.values():
        labels = [senses[index.sentence[r]] for r in rows]
        counts = pd.Series(labels).value_counts()
        if len(counts) >= 2 and (counts >= 2).sum() >= 2:
            groups.append((np.asarray(rows), np.asarray(labels)))
    members = np.concatenate([rows for rows, _ in groups]) if groups else np.zeros(0, dtype=int)
    sample = np.random.default_rng(seed).permutation(members)[:same_word_sample]
    out = []
    for layer in range(index.vectors.shape[0]):
        agree, chance = [], []
        for rows, labels in groups:
            x = _prepared(index, layer, rows, standardised)
            sims = x @ x.T
            apart = index.sentence[rows][:, None] != index.sentence[rows][None, :]
            sims[~apart] = -np.inf
            same = labels[:, None] == labels[None, :]
            for i in range(len(rows)):
                others = np.flatnonzero(apart[i])
                if len(others) < 1:
                    continue
                top = others[np.argsort(-sims[i, others], kind="stable")[:k]]
                agree.append(same[i, top].mean())
                chance.append(same[i, others].mean())
        hits = []
        if len(sample):
            x_all = _prepared(index, layer, np.arange(index.n_tokens), standardised)  # (N, D) float32
            sims = x_all @ x_all[sample].T  # (N, S): one product for the whole sample
            del x_all
            sims[index.sentence[:, None] == index.sentence[sample][None, :]] = -np.inf
            best = np.argmax(sims, axis=0)
            del sims
            hits = [
                index.words[int(b)].lower() in _forms(lemmas[index.sentence[r]])
                for b, r in zip(best, sample, strict=True)
            ]
        out.append({"layer": layer, "agreement": float(np.mean(agree)) if agree else np.nan,
                    "chance": float(np.mean(chance)) if chance else np.nan,
                    "same_word": float(np.mean(hits)) if hits else np.nan,
                    "tokens": len(members), "words": len(groups)})  # fmt: skip
    return pd.DataFrame(out)


def _forms(lemma: str) -> tuple[str, ...]:
    return (lemma, lemma + "s", lemma + "es") if lemma else ()


def _prepared(index: MeaningIndex, layer: int, rows: np.ndarray, standardised: bool) -> np.ndarray:
    """Unit rows of the index's vectors at `layer` (standardised first, or raw), float32."""
    x = np.asarray(index.vectors[layer][rows], dtype=np.float32)
    if standardised:
        x -= index.mean[layer].astype(np.float32)
        x /= index.scale[layer].astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def sense_agreement_bytes(index: MeaningIndex, same_word_sample: int = 500) -> int:
    """A bound on `sense_agreement`'s working memory: one layer of the index in float32 twice (read and
    standardised), the sample's product with it and its mask, and 16 MB."""
    n, dim = index.n_tokens, int(index.vectors.shape[2])
    return int(2 * n * dim * 4 + 2 * n * same_word_sample * 4 + 16 * 2**20)
