"""Word senses: contexts of an ambiguous word grouped by sense, where its vector is found in each, and
how well the senses separate at every layer (in the spirit of Coenen et al. 2019, "Visualizing and
Measuring the Geometry of BERT")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer import assets
from explorer.geometry import check_layers
from explorer.inputs import split_group
from explorer.states import find_word
from explorer.vectors import cosine, unit_rows

MAX_SENSE_CONTEXTS = 80


@dataclass(frozen=True)
class SenseContexts:
    """Contexts of one word grouped by sense, parsed from '[sense] sentence' lines (the Token journey's
    group tag; the older 'sense: sentence' is still read)."""

    labels: tuple[str, ...]
    sentences: tuple[str, ...]
    skipped: tuple[int, ...] = ()  # 1-based line numbers that had no sense tag
    dropped: int = 0  # contexts beyond the cap, left out

    def as_text(self) -> str:
        return "\n".join(f"[{label}] {s}" for label, s in zip(self.labels, self.sentences, strict=True))


def word_sense_presets() -> dict[str, SenseContexts]:
    """The bundled ambiguous words, each with contexts grouped by sense, in file order."""
    return {
        word: SenseContexts(tuple(sense for sense, _ in pairs), tuple(s for _, s in pairs))
        for word, pairs in assets.word_senses().items()
    }


def parse_sense_lines(raw: str, max_contexts: int = MAX_SENSE_CONTEXTS) -> SenseContexts:
    """'[sense] sentence' (or the older 'sense: sentence'), one per line: the same tag as the Token
    journey's groups, so one text works on both pages. Blank lines and lines starting with '#' are ignored."""
    labels, sentences, skipped = [], [], []
    for number, line in enumerate((raw or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, sentence = split_group(line)
        colon = bool(label)
        if not label:
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
    x = check_layers(vectors, len(labels))
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
    u = unit_rows(x)
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
    for suffix in ("s", "es"):
        rows = find_word(tokens, sentence, word + suffix)
        if rows:
            return rows
    return []


def word_vectors(layers: np.ndarray, rows: list[int]) -> np.ndarray:
    """(L+1, D): the mean over a word's pieces at every layer (a word may be split into several)."""
    if not rows:
        raise ValueError("word_vectors needs at least one token row.")
    return layers[:, rows].mean(axis=1)
