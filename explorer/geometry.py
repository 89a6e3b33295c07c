"""Per-layer measures of the latent space, on plain arrays (no model, no Streamlit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.projection import FAITHFULNESS_K, faithfulness_sample, project
from explorer.states import LayerStates, is_punctuation, layer_names
from explorer.vectors import row_norms, unit_rows

# ---------------------------------------------------------------- per-layer measures of the whole space
# The measures follow Ethayarajh (2019), "How Contextual are Contextualized Word Representations?", and
# the sense lab follows the spirit of Coenen et al. (2019), "Visualizing and Measuring the Geometry of BERT".
# Conventions, the same everywhere below:
#   * a zero vector has cosine 0 with everything (as `cosine` does), so it pulls similarities towards 0;
#   * a measure with nothing to average (one sentence, no repeated word, ...) is NaN, never an error;
#   * malformed input (wrong shapes, mismatched lengths) raises ValueError.

MEASURES = {
    "anisotropy": "anisotropy",
    "self_similarity": "self-similarity",
    "self_similarity_adjusted": "self-similarity − anisotropy",
    "intra_sentence": "intra-sentence similarity",
    "intra_sentence_adjusted": "intra-sentence similarity − anisotropy",
    "mean_norm": "mean vector length",
    "effective_dimension": "effective dimension",
}


def check_layers(layers: np.ndarray, n: int | None = None) -> np.ndarray:
    """Layers as float64 (L+1, N, D); `n` checks the number of vectors against a label array."""
    x = np.asarray(layers, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"Expected layers of shape (L+1, N, D), got {x.shape}.")
    if n is not None and x.shape[1] != n:
        raise ValueError(f"Got {x.shape[1]} vectors per layer but {n} labels.")
    return x


def _groups(labels: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(order that sorts the labels stably, or None when they are sorted already; start of each group in
    that order; group sizes)."""
    labels = np.asarray(labels)
    if labels.dtype != object and np.all(labels[1:] >= labels[:-1]):
        order, sorted_labels = None, labels  # e.g. sentence ids of words in reading order: no copy
    else:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, len(labels)])
    return order, starts, sizes


def _sum_runs(x: np.ndarray, starts: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """(L+1, G, D) float64 sums of consecutive runs of axis 1 of x (L+1, N, D) beginning at `starts`,
    after putting axis 1 in `order` (None: as it is; it may also pick a subset of the rows).

    As one sparse (G, N) matrix of ones applied to each layer: no reordered or float64 copy of the whole
    stack, and no per-run overhead (numpy's reduceat took 12 times as long over 25,000 one-row runs)."""
    from scipy import sparse  # imported where used: a page's first view need not pay for it

    picked = np.arange(x.shape[1]) if order is None else np.asarray(order)
    sizes = np.diff(np.r_[starts, len(picked)])
    runs = sparse.csr_matrix(
        (np.ones(len(picked)), (np.repeat(np.arange(len(starts)), sizes), picked)),
        shape=(len(starts), x.shape[1]),
    )
    out = np.empty((x.shape[0], len(starts), x.shape[2]))
    for i, layer in enumerate(x):
        out[i] = runs @ np.asarray(layer, dtype=np.float64)
    return out


def _group_sums(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L+1, G, D) sums over each group of axis 1, and the group sizes (G,)."""
    order, starts, sizes = _groups(labels)
    return _sum_runs(x, starts, order), sizes


def anisotropy(layers: np.ndarray, sentence_ids: np.ndarray) -> np.ndarray:
    """(L+1,) mean cosine over every pair of vectors that come from different sentences.

    The baseline of Ethayarajh (2019): how similar two unrelated vectors are at that layer. Near 0: the
    vectors spread in all directions; near 1: they all point one way. NaN with only one sentence.
    Exact, not sampled: the sum over all pairs is |Σu|², minus the pairs within each sentence.
    """
    ids = np.asarray(sentence_ids)
    x = check_layers(layers, len(ids))
    return _anisotropy(unit_rows(x), ids)


def _anisotropy(u: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """`anisotropy` from the unit vectors u (L+1, N, D)."""
    n = len(ids)
    if n == 0:
        return np.full(u.shape[0], np.nan)
    everything = np.sum(u.sum(axis=1) ** 2, axis=-1)  # (L+1,) ordered pairs, i = j included
    per_sentence, sizes = _group_sums(u, ids)  # (L+1, S, D)
    within = np.sum(per_sentence**2, axis=(1, 2))  # (L+1,) pairs inside one sentence, i = j included
    pairs = n * n - int(np.sum(sizes.astype(np.int64) ** 2))
    if pairs == 0:
        return np.full(u.shape[0], np.nan)
    return np.clip((everything - within) / pairs, -1.0, 1.0)


def self_similarity_per_word(layers: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean pairwise cosine among each repeated word's occurrences: (words seen ≥ 2 times, (L+1, W)).

    `words` labels each vector (e.g. the lower-cased word); words seen once are left out.
    """
    words = np.asarray(words)
    x = check_layers(layers, len(words))
    return _self_similarity_per_word(unit_rows(x), words)


def _self_similarity_per_word(u: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`self_similarity_per_word` from the unit vectors u (L+1, M, D)."""
    if len(words) == 0:
        return words[:0], np.zeros((u.shape[0], 0))
    order, starts, sizes = _groups(words)
    order = np.arange(len(words)) if order is None else order
    sums = _sum_runs(u, starts, order)  # (L+1, G, D)
    lengths = np.einsum("lmd,lmd->lm", u, u)[:, order]  # (L+1, M): 1, or 0 for a zero vector
    self_dots = np.add.reduceat(lengths, starts, axis=1)  # (L+1, G)
    repeated = sizes >= 2
    pair_sums = np.sum(sums**2, axis=-1) - self_dots  # (L+1, G) ordered pairs i ≠ j
    pairs = (sizes * (sizes - 1)).astype(np.float64)
    per_word = pair_sums[:, repeated] / pairs[repeated]
    return words[order][starts][repeated], np.clip(per_word, -1.0, 1.0)


def self_similarity(layers: np.ndarray, words: np.ndarray) -> np.ndarray:
    """(L+1,) self-similarity: mean cosine of the same word across its contexts, averaged over words.

    1 means the word gets the same vector wherever it appears (not contextual at all). NaN when no word
    occurs twice.
    """
    _, per_word = self_similarity_per_word(layers, words)
    return _mean_over_words(per_word)


def _mean_over_words(per_word: np.ndarray) -> np.ndarray:
    if per_word.shape[1] == 0:
        return np.full(per_word.shape[0], np.nan)
    return per_word.mean(axis=1)


def intra_sentence_similarity(layers: np.ndarray, sentence_ids: np.ndarray) -> np.ndarray:
    """(L+1,) mean cosine of each vector to its sentence's mean vector, averaged over sentences.

    High: a sentence's words share one direction (the sentence 'pulls them together'). Sentences with a
    single vector are left out (that cosine is 1 by construction); NaN when none is left.
    """
    ids = np.asarray(sentence_ids)
    x = check_layers(layers, len(ids))
    return _intra_sentence_similarity(x, unit_rows(x), ids)


def _intra_sentence_similarity(x: np.ndarray, u: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """`intra_sentence_similarity` from the vectors x and their unit vectors u (L+1, N, D).

    The cosines to a sentence's mean m sum to m·Σu / |m| over its vectors (zero vectors add 0, as their
    cosine is taken to be), so only per-sentence sums are needed, not a mean per vector."""
    if len(ids) == 0:
        return np.full(x.shape[0], np.nan)
    order, starts, sizes = _groups(ids)
    totals = _sum_runs(x, starts, order)  # (L+1, S, D): the mean's direction
    units = _sum_runs(u, starts, order)  # (L+1, S, D)
    lengths = np.linalg.norm(totals, axis=-1)  # (L+1, S)
    dots = np.sum(totals * units, axis=-1)
    per_sentence = np.divide(dots, lengths, out=np.zeros_like(dots), where=lengths > 0) / sizes  # (L+1, S)
    kept = sizes >= 2
    if not kept.any():
        return np.full(x.shape[0], np.nan)
    return per_sentence[:, kept].mean(axis=1)


def mean_norm(layers: np.ndarray) -> np.ndarray:
    """(L+1,) mean Euclidean length of the vectors at each layer (NaN for no vectors)."""
    x = check_layers(layers)
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan)
    return row_norms(x).mean(axis=1)


def effective_dimension(layers: np.ndarray) -> np.ndarray:
    """(L+1,) participation ratio (Σλ)² / Σλ² of each layer's covariance eigenvalues λ.

    It counts how many directions the cloud really uses: 1 for points on a line, D for a round cloud.
    Computed from traces (no eigendecomposition). NaN with fewer than 2 vectors or no spread at all.
    """
    x = check_layers(layers)
    out = np.full(x.shape[0], np.nan)
    if x.shape[1] < 2:
        return out
    for i, layer in enumerate(x):
        centred = layer - layer.mean(axis=0)  # (N, D)
        gram = centred @ centred.T if centred.shape[0] < centred.shape[1] else centred.T @ centred
        spread = float(np.trace(gram))  # Σλ, up to the 1/(N−1) that cancels
        squares = float(np.sum(gram**2))  # Σλ², same scale squared
        if squares > 0 and spread > 0:
            out[i] = spread**2 / squares
    return out


def consecutive_layer_cosine(layers: np.ndarray) -> np.ndarray:
    """(N, L) cosine between each vector at layer l and at layer l+1: how much each layer changes it.

    1 means the layer left the token's direction alone; lower means it was rewritten more. Computed a
    layer at a time in float64 (no float64 copy of the whole stack).
    """
    x = np.asarray(layers)
    if x.ndim != 3:
        raise ValueError(f"Expected layers of shape (L+1, N, D), got {x.shape}.")
    if x.shape[0] < 2:
        raise ValueError(f"Need at least two layers to compare, got {x.shape[0]}.")
    out = np.empty((x.shape[1], x.shape[0] - 1))
    before = np.asarray(x[0], dtype=np.float64)
    before_norm = np.linalg.norm(before, axis=-1)
    for i in range(1, x.shape[0]):
        after = np.asarray(x[i], dtype=np.float64)
        after_norm = np.linalg.norm(after, axis=-1)
        norms, dots = before_norm * after_norm, np.einsum("nd,nd->n", before, after)
        out[:, i - 1] = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        before, before_norm = after, after_norm
    return out


# ---------------------------------------------------------------- from a token table to words
@dataclass(frozen=True)
class Words:
    """Word vectors: a word's word pieces averaged at every layer (specials and punctuation left out).

    vectors: (L+1, W, D); text, sentence, n_pieces: (W,)
    """

    vectors: np.ndarray
    text: np.ndarray
    sentence: np.ndarray
    n_pieces: np.ndarray


def _word_rows(tokens: pd.DataFrame, skip_punctuation: bool = True) -> np.ndarray:
    """The token rows that belong to words (not [CLS]/[SEP], nor punctuation unless asked)."""
    keep = ~tokens["special"].to_numpy(dtype=bool) & tokens["word_id"].notna().to_numpy()
    if skip_punctuation:
        keep &= ~tokens["token"].map(is_punctuation).to_numpy(dtype=bool)
    return np.flatnonzero(keep)


def word_count(tokens: pd.DataFrame, skip_punctuation: bool = True) -> int:
    """How many words `pool_words` makes of this token table, without touching any vector."""
    rows = _word_rows(tokens, skip_punctuation)
    sentence = tokens["sentence"].to_numpy()[rows]
    word_id = tokens["word_id"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    return int(np.count_nonzero(np.r_[True, (sentence[1:] != sentence[:-1]) | (word_id[1:] != word_id[:-1])]))


def pool_words(layers: np.ndarray, tokens: pd.DataFrame, skip_punctuation: bool = True) -> Words:
    """Average each word's pieces (tokens sharing a sentence and word_id) into one vector per layer."""
    x = np.asarray(layers)
    if x.ndim != 3 or x.shape[1] != len(tokens):
        raise ValueError(f"Layers {x.shape} do not match a token table of {len(tokens)} rows.")
    rows = _word_rows(tokens, skip_punctuation)
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Words(np.zeros((x.shape[0], 0, x.shape[2])), np.array([], dtype=object), empty, empty)
    sentence = tokens["sentence"].to_numpy()[rows]
    word_id = tokens["word_id"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    starts = np.flatnonzero(np.r_[True, (sentence[1:] != sentence[:-1]) | (word_id[1:] != word_id[:-1])])
    sizes = np.diff(np.r_[starts, len(rows)])
    sums = _sum_runs(x, starts, rows)  # (L+1, W, D), float64
    texts = tokens["text"].to_numpy(dtype=object)[rows]
    joined = np.array(
        ["".join(texts[a : a + n]).lower() for a, n in zip(starts, sizes, strict=True)], dtype=object
    )
    sums /= sizes[None, :, None]  # in place: for 100 long sentences the stack is about 500 MB
    return Words(sums, joined, sentence[starts], sizes)


def layer_measures(layers: np.ndarray, tokens: pd.DataFrame, words: Words | None = None) -> pd.DataFrame:
    """One row per layer, one column per MEASURES key, over the words of the given sentences (`words`:
    `pool_words(layers, tokens)` when the caller has it already; pooling is the costliest step)."""
    words = pool_words(layers, tokens) if words is None else words
    v = check_layers(words.vectors, len(words.text))  # (L+1, W, D)
    u = unit_rows(v)  # shared by three measures: the stack is large for many sentences
    base = _anisotropy(u, words.sentence)
    selfsim = _mean_over_words(_self_similarity_per_word(u, words.text)[1])
    intra = _intra_sentence_similarity(v, u, words.sentence)
    frame = pd.DataFrame(
        {
            "layer": np.arange(v.shape[0]),
            "anisotropy": base,
            "self_similarity": selfsim,
            "self_similarity_adjusted": selfsim - base,
            "intra_sentence": intra,
            "intra_sentence_adjusted": intra - base,
            "mean_norm": mean_norm(v),
            "effective_dimension": effective_dimension(v),
        }
    )
    return frame


def projection_faithfulness(vectors: np.ndarray, method: str = "pca_aligned", seed: int = 0) -> np.ndarray:
    """(L+1,) share of each point's 10 nearest neighbours that a 2-D view of that layer keeps.

    NaN where the score means nothing: with FAITHFULNESS_K + 1 points or fewer every neighbourhood is the
    whole cloud (trivially 100%), and where `method` could not run as asked (UMAP below its minimum number
    of points falls back to PCA, whose score must not be shown under UMAP's name).
    """
    x = np.asarray(vectors, dtype=np.float32)  # (L+1, N, D)
    if x.ndim != 3:
        raise ValueError(f"Expected vectors of shape (L+1, N, D), got {x.shape}.")
    if x.shape[1] <= FAITHFULNESS_K + 1:
        return np.full(x.shape[0], np.nan)
    result = project(x, method, seed=seed)
    if result.method != method:
        return np.full(result.faithfulness.shape, np.nan)
    return result.faithfulness


@dataclass(frozen=True)
class LabMeasures:
    """The Geometry lab's measures of one set of sentences: one row per layer, how many words they are
    and how many repeat, every token's cosine between consecutive layers, and how many words the
    faithfulness scores were computed on (a seeded sample if many)."""

    measures: pd.DataFrame
    n_words: int
    n_repeated: int
    changes: np.ndarray  # (N, L)
    n_sampled: int


def lab_measures(states: LayerStates, umap: Callable[[np.ndarray], np.ndarray] | None = None) -> LabMeasures:
    """Every layer's measures of `states`, with PCA's faithfulness; with `umap` (given the sampled word
    vectors, (L+1, n, D), it returns UMAP's faithfulness per layer), UMAP's too, as the last column."""
    words = pool_words(states.layers, states.tokens)
    measures = layer_measures(states.layers, states.tokens, words)
    sample = words.vectors[:, faithfulness_sample(words.vectors.shape[1], seed=0)]  # (L+1, ≤1500, D)
    measures["faithfulness_pca"] = projection_faithfulness(sample, "pca_aligned")
    if umap is not None:
        measures["faithfulness_umap"] = umap(sample)
    repeated, _ = self_similarity_per_word(words.vectors[:1], words.text)
    measures.insert(1, "layer_name", layer_names(states.n_layers))
    return LabMeasures(
        measures, int(words.vectors.shape[1]), len(repeated), consecutive_layer_cosine(states.layers),
        int(sample.shape[1]),
    )  # fmt: skip
