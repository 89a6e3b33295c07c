"""Does a word's meaning part where the sentences' groups say, and by more than chance would?

A teacher tags sentences with groups (`[river] We sat on the bank.`). Every word used in sentences of two
or more groups is a question the page answers: at each layer, in the model's full space, are that word's
occurrences closer within a group than across groups, and would a random relabelling of the same
sentences do as well? Chance is measured, not assumed: the same gap for every relabelling that keeps
the group sizes (all of them up to `MAX_SPLITS`, else a seeded sample).

Only occurrences of the same word are ever compared: 'bat' with 'bat', never 'bat' with 'spring'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from explorer.assets import stopwords
from explorer.vectors import cosine_matrix

MAX_GROUPED_WORDS = 4  # words followed by default (the page says so when more qualify)
MAX_OCCURRENCES = 24  # occurrences of one word followed (the first ones)
MAX_SPLITS = 1000  # relabellings scored for chance: all of them up to this many, else a seeded sample
CHANCE_BAND = (5.0, 95.0)  # percentiles of the relabelled gaps drawn as the chance band
SAME, OTHER = "same group", "other group"
TIE = 1e-6  # a relabelling within this of the real gap ties with it (not beaten): float rounding is not a win


@dataclass(frozen=True)
class GroupedWord:
    """One word used in sentences of two or more groups: each occurrence's token row (its first word
    piece), sentence and group."""

    word: str  # lower-cased, its word pieces joined
    rows: tuple[int, ...]
    sentences: tuple[int, ...]
    groups: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """'S3 bat' per occurrence ('S3 bat (2nd)' for a second one in the same sentence)."""
        seen: dict[int, int] = {}
        out = []
        for s in self.sentences:
            seen[s] = seen.get(s, 0) + 1
            n = seen[s]
            out.append(f"S{s + 1} {self.word}" + ("" if n == 1 else f" ({ordinal(n)})"))
        return tuple(out)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def grouped_words(
    tokens: pd.DataFrame,
    groups: Sequence[str],
    max_words: int = MAX_GROUPED_WORDS,
    max_occurrences: int = MAX_OCCURRENCES,
) -> tuple[GroupedWord, ...]:
    """Content words used in at least two sentences of each of at least two groups (so there is a
    same-group pair to compare in both), those in most sentences first (at most `max_words`, each with at
    most `max_occurrences` occurrences). A word two groups share by chance, once each ('next ball', 'next
    spring'), answers no question about them. Sentences without a group are left out."""
    if not any(groups):
        return ()
    stop = stopwords()
    pieces: dict[tuple[int, int], list] = {}  # (sentence, word id) -> [first row, text so far]
    columns = (tokens.index, tokens["sentence"], tokens["word_id"], tokens["text"], tokens["special"])
    for row, sentence, word_id, text, special in zip(*(c.tolist() for c in columns), strict=True):
        if special or word_id is None or word_id is pd.NA or sentence >= len(groups) or not groups[sentence]:
            continue
        key = (int(sentence), int(word_id))
        if key in pieces:
            pieces[key][1] += str(text)
        else:
            pieces[key] = [int(row), str(text)]
    found: dict[str, list[tuple[int, int]]] = {}  # word -> [(row, sentence)] in order
    for (sentence, _), (row, text) in pieces.items():
        word = text.lower()
        if len(word) > 2 and word.isalpha() and word not in stop:
            found.setdefault(word, []).append((row, sentence))
    out = []
    for word, occurrences in found.items():
        occurrences = occurrences[:max_occurrences]
        sentences_in: dict[str, set[int]] = {}
        for _, s in occurrences:
            sentences_in.setdefault(groups[s], set()).add(s)
        if sum(len(seen) >= 2 for seen in sentences_in.values()) >= 2:
            out.append(
                GroupedWord(
                    word,
                    tuple(r for r, _ in occurrences),
                    tuple(s for _, s in occurrences),
                    tuple(groups[s] for _, s in occurrences),
                )
            )
    # The word of the lesson is in most sentences ('trunk' in all eight, 'old' by chance in two).
    out.sort(key=lambda w: -len(set(w.sentences)))  # stable: ties keep the order first seen
    return tuple(out[:max_words])


def count_splits(sizes: Sequence[int]) -> int:
    """How many ways to part sum(sizes) items into unnamed groups of these sizes."""
    total = math.factorial(sum(sizes))
    for size in sizes:
        total //= math.factorial(size)
    for repeat in _repeats(sizes):
        total //= math.factorial(repeat)
    return total


def _repeats(sizes: Sequence[int]) -> list[int]:
    counts: dict[int, int] = {}
    for size in sizes:
        counts[size] = counts.get(size, 0) + 1
    return list(counts.values())


def relabellings(labels: Sequence[str], limit: int = MAX_SPLITS, seed: int = 0) -> tuple[np.ndarray, bool]:
    """(codes, exhaustive): every way to relabel the items keeping the group sizes, as an (n_splits,
    n_items) array of group codes, the real labelling first; groups of equal size are unnamed, so a
    swap of two such groups counts once. Beyond `limit` splits: the real one and `limit` seeded random
    relabellings (exhaustive False)."""
    names, real = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    sizes = np.bincount(real, minlength=len(names)).tolist()
    if count_splits(sizes) > limit:
        rng = np.random.default_rng(seed)
        drawn = np.stack([rng.permutation(real) for _ in range(limit)])
        return np.vstack([real[None], drawn]), False
    order = sorted(range(len(sizes)), key=lambda g: -sizes[g])  # big groups first
    parts = [p for p in _partitions(tuple(range(len(real))), [sizes[g] for g in order])]
    codes = np.empty((len(parts), len(real)), dtype=np.int64)
    for i, part in enumerate(parts):
        for block, members in enumerate(part):
            codes[i, list(members)] = order[block]
    real_index = next(i for i, c in enumerate(codes) if _same_partition(c, real))
    codes[[0, real_index]] = codes[[real_index, 0]]
    return codes, True


def _partitions(items: tuple[int, ...], sizes: list[int]):
    """Every partition of `items` into blocks of `sizes` (in that order; equal neighbours unordered)."""
    if not sizes:
        yield ()
        return
    size, rest = sizes[0], sizes[1:]
    anchored = bool(rest) and rest[0] == size  # an equal block follows: this one holds the first item
    pool = items[1:] if anchored else items
    for chosen in combinations(pool, size - 1 if anchored else size):
        block = (items[0], *chosen) if anchored else chosen
        left = tuple(i for i in items if i not in block)
        for tail in _partitions(left, rest):
            yield (block, *tail)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(np.equal.outer(a, a), np.equal.outer(b, b)))


@dataclass(frozen=True)
class WordSeparation:
    """One grouped word's full-space cosines at every layer, against every relabelling.

    within, across, gap: (L+1,) mean cosine of same-group pairs, of other-group pairs, and within − across
    null_gaps:           (L+1, n_splits) the gap of each relabelling (column 0 is the real labelling)
    beats:               (L+1,) relabellings whose gap is below the real one by more than TIE
    """

    word: GroupedWord
    cosines: np.ndarray  # (L+1, k, k)
    within: np.ndarray
    across: np.ndarray
    gap: np.ndarray
    null_gaps: np.ndarray
    beats: np.ndarray
    exhaustive: bool

    @property
    def n_splits(self) -> int:
        """Splits the real one is ranked among (all of them including itself, or the random sample)."""
        return self.null_gaps.shape[1] - (0 if self.exhaustive else 1)

    def chance_band(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) per layer: the CHANCE_BAND percentiles of the relabelled gaps."""
        null = self.null_gaps if self.exhaustive else self.null_gaps[:, 1:]
        low, high = np.percentile(null, CHANCE_BAND, axis=1)
        return low, high

    def beats_text(self, layer: int) -> str:
        kind = "balanced splits" if self.exhaustive else "random splits"
        return f"beats {int(self.beats[layer]):,} of {self.n_splits:,} {kind}"


def group_gaps(cosines: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(within, across, gap) per layer and labelling: cosines (L+1, k, k), codes (n_splits, k) →
    three (L+1, n_splits) arrays. A labelling with no same-group (or no other-group) pair gives NaN."""
    k = cosines.shape[1]
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    same = (codes[:, :, None] == codes[:, None, :]) & upper  # (n, k, k)
    other = ~(codes[:, :, None] == codes[:, None, :]) & upper
    flat = cosines.reshape(len(cosines), -1)  # (L+1, k·k)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = flat @ same.reshape(len(codes), -1).T / same.sum(axis=(1, 2))
        across = flat @ other.reshape(len(codes), -1).T / other.sum(axis=(1, 2))
    return within, across, within - across


def word_separation(
    layers: np.ndarray, word: GroupedWord, limit: int = MAX_SPLITS, seed: int = 0
) -> WordSeparation:
    """Score `word` at every layer of `layers` ((L+1, N, D), all tokens of the sentences) in the full
    space, against every relabelling of its sentences that keeps the group sizes. Relabelling moves
    whole sentences (two occurrences in one sentence always share its group)."""
    vectors = layers[:, list(word.rows)]  # (L+1, k, D)
    cosines = cosine_matrix(vectors).astype(np.float64)  # (L+1, k, k)
    sentences = sorted(set(word.sentences))
    group_of = {s: g for s, g in zip(word.sentences, word.groups, strict=True)}
    sentence_codes, exhaustive = relabellings([group_of[s] for s in sentences], limit, seed)
    position = {s: i for i, s in enumerate(sentences)}
    codes = sentence_codes[:, [position[s] for s in word.sentences]]  # (n_splits, k) per occurrence
    within, across, gap = group_gaps(cosines, codes)
    real = gap[:, :1]
    beats = (gap[:, 1:] < real - TIE).sum(axis=1)
    return WordSeparation(word, cosines, within[:, 0], across[:, 0], gap[:, 0], gap, beats, exhaustive)


def readout_pairs(separations: Sequence[WordSeparation]) -> pd.DataFrame:
    """The readout as data: one row per (layer, word, pair of its occurrences) with the pair's cosine in
    the full space and whether the two share a group. Pairs of different words never appear."""
    frames = []
    for sep in separations:
        labels, groups = sep.word.labels, sep.word.groups
        k = len(labels)
        a, b = np.triu_indices(k, 1)
        n_layers = len(sep.cosines)
        frames.append(
            pd.DataFrame(
                {
                    "layer": np.repeat(np.arange(n_layers), len(a)),
                    "word": sep.word.word,
                    "a": np.tile(np.asarray(labels, dtype=object)[a], n_layers),
                    "b": np.tile(np.asarray(labels, dtype=object)[b], n_layers),
                    "cosine": sep.cosines[:, a, b].ravel(),
                    "relation": np.tile(
                        np.where(
                            np.asarray(groups, dtype=object)[a] == np.asarray(groups, dtype=object)[b],
                            SAME,
                            OTHER,
                        ),
                        n_layers,
                    ),
                }
            )
        )
    columns = ["layer", "word", "a", "b", "cosine", "relation"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def readout_summary(separations: Sequence[WordSeparation]) -> pd.DataFrame:
    """One row per (word, layer): within, across, gap, the chance band and how many splits the real one
    beats (the numbers every view of the readout prints)."""
    frames = []
    for sep in separations:
        low, high = sep.chance_band()
        n_layers = len(sep.gap)
        frames.append(
            pd.DataFrame(
                {
                    "word": sep.word.word,
                    "layer": np.arange(n_layers),
                    "within": sep.within,
                    "across": sep.across,
                    "gap": sep.gap,
                    "chance_low": low,
                    "chance_high": high,
                    "beats": sep.beats,
                    "splits": sep.n_splits,
                    "exhaustive": sep.exhaustive,
                }
            )
        )
    columns = ["word", "layer", "within", "across", "gap", "chance_low", "chance_high", "beats", "splits"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*columns, "exhaustive"])


MIN_SPLITS_FOR_CHANCE = 10  # fewer relabellings than this cannot put a split in the top 10%


def parting_layer(sep: WordSeparation) -> tuple[int | None, str]:
    """(layer, how it was judged): the first layer after the embeddings at which the word's groups part.
    With enough relabellings, the first where the real gap beats 90% of them; with few (two sentences
    per group), the first where the gap reaches half its widest. None when they never part."""
    layers = range(1, len(sep.gap))
    if sep.n_splits >= MIN_SPLITS_FOR_CHANCE:
        for layer in layers:
            if sep.beats[layer] >= 0.9 * sep.n_splits:
                return layer, f"{sep.beats_text(layer)} there"
        return None, "never beats 90% of the relabellings of its sentences"
    widest = float(np.nanmax(sep.gap[1:])) if len(sep.gap) > 1 else float("nan")
    if not widest > 0:
        return None, "its groups are never closer within than across"
    first = next(layer for layer in layers if sep.gap[layer] >= 0.5 * widest)
    return first, f"half its widest gap; {sep.n_splits} relabellings are too few to measure chance"
