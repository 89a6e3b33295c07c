"""Per-layer measures of the latent space, on plain arrays (no model, no Streamlit)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity along the last axis; 0 where either vector is zero."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1)
    dots = np.sum(a64 * b64, axis=-1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def word_vectors(layers: np.ndarray, rows: list[int]) -> np.ndarray:
    """(L+1, D): the mean over a word's pieces at every layer (a word may be split into several)."""
    if not rows:
        raise ValueError("word_vectors needs at least one token row.")
    return layers[:, rows].mean(axis=1)


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


def _check_layers(layers: np.ndarray, n: int | None = None) -> np.ndarray:
    """Layers as float64 (L+1, N, D); `n` checks the number of vectors against a label array."""
    x = np.asarray(layers, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"Expected layers of shape (L+1, N, D), got {x.shape}.")
    if n is not None and x.shape[1] != n:
        raise ValueError(f"Got {x.shape[1]} vectors per layer but {n} labels.")
    return x


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _groups(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order that sorts the labels stably, start of each group in that order, group sizes)."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, len(labels)])
    return order, starts, sizes


def _sum_runs(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(L+1, G, D) sums of consecutive runs of axis 1 of x (L+1, N, D) beginning at `starts`."""
    # Reducing over the leading axis walks contiguous blocks: about twice as fast as axis=1.
    return np.moveaxis(np.add.reduceat(np.moveaxis(x, 1, 0), starts, axis=0), 0, 1)


def _group_sums(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L+1, G, D) sums over each group of axis 1, and the group sizes (G,)."""
    order, starts, sizes = _groups(labels)
    return _sum_runs(x[:, order], starts), sizes


def anisotropy(layers: np.ndarray, sentence_ids: np.ndarray) -> np.ndarray:
    """(L+1,) mean cosine over every pair of vectors that come from different sentences.

    The baseline of Ethayarajh (2019): how similar two unrelated vectors are at that layer. Near 0: the
    vectors spread in all directions; near 1: they all point one way. NaN with only one sentence.
    Exact, not sampled: the sum over all pairs is |Σu|², minus the pairs within each sentence.
    """
    ids = np.asarray(sentence_ids)
    x = _check_layers(layers, len(ids))
    n = len(ids)
    if n == 0:
        return np.full(x.shape[0], np.nan)
    u = _unit(x)  # (L+1, N, D)
    everything = np.sum(u.sum(axis=1) ** 2, axis=-1)  # (L+1,) ordered pairs, i = j included
    per_sentence, sizes = _group_sums(u, ids)  # (L+1, S, D)
    within = np.sum(per_sentence**2, axis=(1, 2))  # (L+1,) pairs inside one sentence, i = j included
    pairs = n * n - int(np.sum(sizes.astype(np.int64) ** 2))
    if pairs == 0:
        return np.full(x.shape[0], np.nan)
    return np.clip((everything - within) / pairs, -1.0, 1.0)


def self_similarity_per_word(layers: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean pairwise cosine among each repeated word's occurrences: (words seen ≥ 2 times, (L+1, W)).

    `words` labels each vector (e.g. the lower-cased word); words seen once are left out.
    """
    words = np.asarray(words)
    x = _check_layers(layers, len(words))
    if len(words) == 0:
        return words[:0], np.zeros((x.shape[0], 0))
    u = _unit(x)  # (L+1, M, D)
    order, starts, sizes = _groups(words)
    sums = _sum_runs(u[:, order], starts)  # (L+1, G, D)
    self_dots = np.add.reduceat(np.sum(u[:, order] ** 2, axis=-1), starts, axis=1)  # (L+1, G)
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
    if per_word.shape[1] == 0:
        return np.full(per_word.shape[0], np.nan)
    return per_word.mean(axis=1)


def intra_sentence_similarity(layers: np.ndarray, sentence_ids: np.ndarray) -> np.ndarray:
    """(L+1,) mean cosine of each vector to its sentence's mean vector, averaged over sentences.

    High: a sentence's words share one direction (the sentence 'pulls them together'). Sentences with a
    single vector are left out (that cosine is 1 by construction); NaN when none is left.
    """
    ids = np.asarray(sentence_ids)
    x = _check_layers(layers, len(ids))
    if len(ids) == 0:
        return np.full(x.shape[0], np.nan)
    order, starts, sizes = _groups(ids)
    ordered = x[:, order]  # (L+1, N, D) sentence by sentence
    means = _sum_runs(ordered, starts) / sizes[None, :, None]  # (L+1, S, D)
    to_mean = cosine(ordered, np.repeat(means, sizes, axis=1))  # (L+1, N)
    per_sentence = np.add.reduceat(to_mean, starts, axis=1) / sizes  # (L+1, S)
    kept = sizes >= 2
    if not kept.any():
        return np.full(x.shape[0], np.nan)
    return per_sentence[:, kept].mean(axis=1)


def mean_norm(layers: np.ndarray) -> np.ndarray:
    """(L+1,) mean Euclidean length of the vectors at each layer (NaN for no vectors)."""
    x = _check_layers(layers)
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan)
    return np.linalg.norm(x, axis=-1).mean(axis=1)


def effective_dimension(layers: np.ndarray) -> np.ndarray:
    """(L+1,) participation ratio (Σλ)² / Σλ² of each layer's covariance eigenvalues λ.

    It counts how many directions the cloud really uses: 1 for points on a line, D for a round cloud.
    Computed from traces (no eigendecomposition). NaN with fewer than 2 vectors or no spread at all.
    """
    x = _check_layers(layers)
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

    1 means the layer left the token's direction alone; lower means it was rewritten more.
    """
    x = _check_layers(layers)
    if x.shape[0] < 2:
        raise ValueError(f"Need at least two layers to compare, got {x.shape[0]}.")
    return cosine(x[:-1], x[1:]).T  # (N, L)


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


def pool_words(layers: np.ndarray, tokens: pd.DataFrame, skip_punctuation: bool = True) -> Words:
    """Average each word's pieces (tokens sharing a sentence and word_id) into one vector per layer."""
    from explorer.states import is_punctuation

    x = np.asarray(layers)
    if x.ndim != 3 or x.shape[1] != len(tokens):
        raise ValueError(f"Layers {x.shape} do not match a token table of {len(tokens)} rows.")
    keep = ~tokens["special"].to_numpy(dtype=bool) & tokens["word_id"].notna().to_numpy()
    if skip_punctuation:
        keep &= ~tokens["token"].map(is_punctuation).to_numpy(dtype=bool)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Words(np.zeros((x.shape[0], 0, x.shape[2])), np.array([], dtype=object), empty, empty)
    sentence = tokens["sentence"].to_numpy()[rows]
    word_id = tokens["word_id"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    starts = np.flatnonzero(np.r_[True, (sentence[1:] != sentence[:-1]) | (word_id[1:] != word_id[:-1])])
    sizes = np.diff(np.r_[starts, len(rows)])
    sums = _sum_runs(x[:, rows].astype(np.float64), starts)  # (L+1, W, D)
    texts = tokens["text"].to_numpy(dtype=object)[rows]
    joined = np.array(
        ["".join(texts[a : a + n]).lower() for a, n in zip(starts, sizes, strict=True)], dtype=object
    )
    return Words(sums / sizes[None, :, None], joined, sentence[starts], sizes)


def layer_measures(layers: np.ndarray, tokens: pd.DataFrame) -> pd.DataFrame:
    """One row per layer, one column per MEASURES key, over the words of the given sentences."""
    words = pool_words(layers, tokens)
    v = words.vectors  # (L+1, W, D)
    base = anisotropy(v, words.sentence)
    selfsim = self_similarity(v, words.text)
    intra = intra_sentence_similarity(v, words.sentence)
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


FAITHFULNESS_MAX_POINTS = 1500


def faithfulness_sample(
    n_points: int, max_points: int = FAITHFULNESS_MAX_POINTS, seed: int = 0
) -> np.ndarray:
    """Sorted indices of at most `max_points` of `n_points` points, drawn without replacement.

    Nearest-neighbour faithfulness and UMAP grow faster than linearly with the number of points, so the
    page scores a seeded sample (the same one every run); every index is kept when there are few points.
    """
    if n_points < 0 or max_points < 1:
        raise ValueError(f"Need n_points >= 0 and max_points >= 1, got {n_points} and {max_points}.")
    if n_points <= max_points:
        return np.arange(n_points)
    return np.sort(np.random.default_rng(seed).choice(n_points, size=max_points, replace=False))


def projection_faithfulness(vectors: np.ndarray, method: str = "pca_aligned", seed: int = 0) -> np.ndarray:
    """(L+1,) share of each point's 10 nearest neighbours that a 2-D view of that layer keeps.

    NaN where the score means nothing: with FAITHFULNESS_K + 1 points or fewer every neighbourhood is the
    whole cloud (trivially 100%), and where `method` could not run as asked (UMAP below its minimum number
    of points falls back to PCA, whose score must not be shown under UMAP's name).
    """
    from explorer.projection import FAITHFULNESS_K, project

    x = np.asarray(vectors, dtype=np.float32)  # (L+1, N, D)
    if x.ndim != 3:
        raise ValueError(f"Expected vectors of shape (L+1, N, D), got {x.shape}.")
    if x.shape[1] <= FAITHFULNESS_K + 1:
        return np.full(x.shape[0], np.nan)
    result = project(x, method, seed=seed)
    if result.method != method:
        return np.full(result.faithfulness.shape, np.nan)
    return result.faithfulness


# ---------------------------------------------------------------- word-sense lab
SENSES_FILE = Path(__file__).resolve().parent.parent / "assets" / "word_senses.json"
MAX_SENSE_CONTEXTS = 80


@dataclass(frozen=True)
class SenseContexts:
    """Contexts of one word grouped by sense, parsed from 'sense: sentence' lines."""

    labels: tuple[str, ...]
    sentences: tuple[str, ...]
    skipped: tuple[int, ...] = ()  # 1-based line numbers that had no 'sense:' prefix
    dropped: int = 0  # contexts beyond the cap, left out

    def as_text(self) -> str:
        return "\n".join(f"{label}: {s}" for label, s in zip(self.labels, self.sentences, strict=True))


def word_sense_presets(path: Path = SENSES_FILE) -> dict[str, SenseContexts]:
    """The bundled ambiguous words, each with contexts grouped by sense, in file order."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    presets = {}
    for word, entry in raw["words"].items():
        pairs = [(sense, s) for sense, sentences in entry["senses"].items() for s in sentences]
        presets[word] = SenseContexts(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
    return presets


def parse_sense_lines(raw: str, max_contexts: int = MAX_SENSE_CONTEXTS) -> SenseContexts:
    """'sense label: sentence', one per line. Blank lines and lines starting with '#' are ignored."""
    labels, sentences, skipped = [], [], []
    for number, line in enumerate((raw or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, colon, sentence = line.partition(":")
        if not colon or not label.strip() or not sentence.strip():
            skipped.append(number)
            continue
        labels.append(" ".join(label.split()).lower())
        sentences.append(sentence.strip())
    dropped = max(0, len(labels) - max_contexts)
    return SenseContexts(
        tuple(labels[:max_contexts]), tuple(sentences[:max_contexts]), tuple(skipped), dropped
    )


@dataclass(frozen=True)
class SenseSeparation:
    """How well a word's senses separate at each layer.

    accuracy:    (L+1,) leave-one-out nearest-centroid accuracy (cosine to each sense's centroid)
    same_sense:  (L+1,) mean cosine between two contexts of the same sense
    cross_sense: (L+1,) mean cosine between two contexts of different senses
    predicted:   (L+1, M) the sense index each context was assigned at each layer
    """

    senses: tuple[str, ...]
    labels: np.ndarray
    accuracy: np.ndarray
    same_sense: np.ndarray
    cross_sense: np.ndarray
    predicted: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """(L+1,) same-sense minus cross-sense similarity: > 0 when senses form their own clusters."""
        return self.same_sense - self.cross_sense

    @property
    def best_layer(self) -> int:
        """The layer with the highest accuracy; ties go to the larger gap, then the earlier layer."""
        acc = np.nan_to_num(self.accuracy, nan=-1.0)
        gap = np.nan_to_num(self.gap, nan=-np.inf)
        best = max(range(len(acc)), key=lambda i: (acc[i], gap[i], -i))
        return int(best)

    @property
    def chance(self) -> float:
        """Accuracy of always guessing the most common sense (what a useless layer would beat)."""
        return float(np.bincount(self.labels).max() / len(self.labels))


def sense_separation(vectors: np.ndarray, labels: list[str] | tuple[str, ...]) -> SenseSeparation:
    """Score sense separation per layer for one word's vectors (L+1, M, D) and their sense labels (M,).

    Needs at least two senses with at least two contexts each (leave-one-out needs a centroid left).
    """
    senses = tuple(dict.fromkeys(labels))
    x = _check_layers(vectors, len(labels))
    counts = {s: list(labels).count(s) for s in senses}
    if len(senses) < 2 or min(counts.values()) < 2:
        raise ValueError(
            "The sense lab needs at least two senses with at least two contexts each; got "
            + ", ".join(f"{s}: {n}" for s, n in counts.items())
            + "."
        )
    index = np.array([senses.index(s) for s in labels])  # (M,)
    own = np.eye(len(senses))[index]  # (M, K) one-hot
    sums = np.einsum("mk,lmd->lkd", own, x)  # (L+1, K, D)
    # Leave-one-out: take each context out of its own sense's sum (the direction is all cosine needs).
    centroids = sums[:, None] - own[None, :, :, None] * x[:, :, None, :]  # (L+1, M, K, D)
    scores = cosine(x[:, :, None, :], centroids)  # (L+1, M, K)
    predicted = np.argmax(scores, axis=-1)  # (L+1, M)
    accuracy = np.mean(predicted == index[None, :], axis=1)
    u = _unit(x)
    sims = u @ np.swapaxes(u, 1, 2)  # (L+1, M, M)
    same = index[:, None] == index[None, :]
    off_diagonal = ~np.eye(len(index), dtype=bool)
    return SenseSeparation(
        senses=senses,
        labels=index,
        accuracy=accuracy,
        same_sense=sims[:, same & off_diagonal].mean(axis=1),
        cross_sense=sims[:, ~same].mean(axis=1),
        predicted=predicted,
    )


@dataclass(frozen=True)
class SenseOccurrences:
    """The target word found in each context: its pooled vectors and what happened to each context."""

    vectors: np.ndarray  # (L+1, M, D) one per context where the word was found
    labels: tuple[str, ...]
    sentences: tuple[str, ...]
    pieces: tuple[tuple[str, ...], ...]  # the word pieces pooled, per found context
    missing: tuple[int, ...]  # indices of contexts where the word was not found


def find_sense_occurrences(
    layers: np.ndarray, tokens: pd.DataFrame, contexts: SenseContexts, word: str
) -> SenseOccurrences:
    """The word's vector in each context (first occurrence, word pieces averaged)."""
    from explorer.states import find_word

    found, pieces, missing = [], [], []
    for i in range(len(contexts.sentences)):
        rows = find_word(tokens, i, word)
        if not rows:
            rows = _find_inflected(tokens, i, word)
        if rows:
            found.append((i, rows))
            pieces.append(tuple(tokens.loc[rows, "token"]))
        else:
            missing.append(i)
    if found:
        vectors = np.stack([word_vectors(layers, rows) for _, rows in found], axis=1)  # (L+1, M, D)
    else:
        vectors = np.zeros((layers.shape[0], 0, layers.shape[2]))
    return SenseOccurrences(
        vectors=vectors,
        labels=tuple(contexts.labels[i] for i, _ in found),
        sentences=tuple(contexts.sentences[i] for i, _ in found),
        pieces=tuple(pieces),
        missing=tuple(missing),
    )


def _find_inflected(tokens: pd.DataFrame, sentence: int, word: str) -> list[int]:
    """Rows of the first word that is `word` plus a plural 's'/'es' ('banks', 'matches')."""
    from explorer.states import find_word

    for suffix in ("s", "es"):
        rows = find_word(tokens, sentence, word + suffix)
        if rows:
            return rows
    return []


CORPUS_FILE = Path(__file__).resolve().parent.parent / "assets" / "geometry_corpus.txt"


def corpus_sentences(path: Path = CORPUS_FILE) -> tuple[str, ...]:
    """The bundled measurement corpus: varied everyday sentences, one per line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())
