"""Axes that show where a word's groups part, fitted so that they cannot invent a split.

With eight sentences in 384 dimensions, an axis fitted freely on the group labels separates any
labelling perfectly: a picture drawn on it proves nothing. Here the labels may only pick a direction
inside the word's own three main directions of variation, found without the labels (a PCA of that word's
occurrences at the layer). Three directions leave too little room to separate a split that is not in the
data: on two sets of eight two-sense words, every balanced relabelling of each word drawn this way
reaches a between/within distance ratio of 2.5 in 3-4% of redraws, while the real senses reach it for
7 of 8 and 9 of 10 words at the output layer (`bench/bench_groups.py` prints these figures).

Each layer gets its own axes (the word's variation changes from layer to layer):
- one word: x is its group axis; y is the main direction of every other token, with the word's own
  differences taken out, so the word's points line up along x and their spread on screen is their
  spread along the group axis;
- two or more words: x is the first word's group axis and y the second's, each with the other word's
  differences taken out (the first word's points line up along x, the second's along y); further words
  are drawn on the same axes (the page's per-word strip measures every word in the full space).
The map is linear, so a sentence's pooled point still lands on the centroid of its tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SUBSPACE = 3  # the word's main directions of variation that the labels may choose among


def group_axis(vectors: np.ndarray, labels: Sequence[str], subspace: int = SUBSPACE) -> np.ndarray:
    """Unit (D,) direction along which `labels` part `vectors` (k, D), chosen inside the span of their
    first `subspace` principal axes (fitted without the labels), and never more than (k-1)//2 of them. Oriented so the first group seen is on
    the negative side. Zeros when the vectors do not vary or the groups have one name."""
    x = np.asarray(vectors, dtype=np.float64)
    codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)[1]
    if x.ndim != 2 or len(x) != len(codes):
        raise ValueError(f"Need (k, D) vectors and k labels, got {x.shape} and {len(codes)}.")
    centred = x - x.mean(axis=0)
    if len(set(codes.tolist())) < 2 or not np.any(centred):
        return np.zeros(x.shape[1])
    _, values, basis = np.linalg.svd(centred, full_matrices=False)
    # k points span k-1 directions; labels free to choose among all of them separate any split, so they
    # choose among at most half (8 occurrences: 3; 4 occurrences: 1, the label-free first axis itself)
    room = min(subspace, max(1, (len(x) - 1) // 2), int((values > values[0] * 1e-9).sum()))
    basis = basis[:room]  # (m, D)
    scores = centred @ basis.T  # (k, m) label-free coordinates
    means = np.stack([scores[codes == c].mean(axis=0) for c in np.unique(codes)])  # (groups, m)
    weights = np.bincount(codes).astype(np.float64)
    spread = means - np.average(means, axis=0, weights=weights)
    # the direction of most between-group spread (for two groups: the difference of their means)
    _, _, top = np.linalg.svd(spread * np.sqrt(weights)[:, None], full_matrices=False)
    axis = top[0] @ basis  # (D,)
    first = codes[0]
    if (centred[codes == first] @ axis).mean() > 0:
        axis = -axis
    return axis / np.linalg.norm(axis)


def _without(direction: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """`direction` with the span of `vectors`' differences (k, D) taken out."""
    centred = vectors - vectors.mean(axis=0)
    if not np.any(centred):
        return direction
    _, values, basis = np.linalg.svd(centred, full_matrices=False)
    basis = basis[values > values[0] * 1e-9]
    return direction - basis.T @ (basis @ direction)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-9 else fallback


def layer_axes(
    layer: np.ndarray, words: Sequence[tuple[Sequence[int], Sequence[str]]]
) -> tuple[np.ndarray, np.ndarray]:
    """(centre (D,), axes (D, 2)) for one layer (N, D) and the grouped words (point rows, labels)."""
    x = np.asarray(layer, dtype=np.float64)
    centre = x.mean(axis=0)
    occurrences = [x[list(rows)] for rows, _ in words]
    first = group_axis(occurrences[0], words[0][1])
    _, _, overall = np.linalg.svd(x - centre, full_matrices=False)  # every token's main directions
    if len(words) == 1:
        axis_x = _unit(first, overall[0])
        rest = _without(overall[0] - (overall[0] @ axis_x) * axis_x, occurrences[0])
        axis_y = _unit(rest - (rest @ axis_x) * axis_x, overall[1])
    else:
        second = group_axis(occurrences[1], words[1][1])
        axis_x = _unit(_without(first, occurrences[1]), _unit(first, overall[0]))
        axis_y = _unit(_without(second, occurrences[0]), _unit(second, overall[1]))
    return centre, np.stack([axis_x, axis_y], axis=1)


def fit_group_axes(
    layers: np.ndarray, words: Sequence[tuple[Sequence[int], Sequence[str]]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: centres (L+1, D) and axes (L+1, D, 2) for `layers` (L+1, N, D)."""
    if not words:
        raise ValueError("Group axes need at least one word used in two groups.")
    fitted = [layer_axes(layer, words) for layer in layers]
    return np.stack([c for c, _ in fitted]), np.stack([a for _, a in fitted])


def drawn_ratio(coords: np.ndarray, labels: Sequence[str]) -> float:
    """Mean 2-D distance between points of different groups over the mean distance within a group
    (what a viewer sees as 'these part'); NaN without pairs of both kinds."""
    points = np.asarray(coords, dtype=np.float64)
    codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)[1]
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    upper = np.triu(np.ones(distance.shape, dtype=bool), 1)
    same = (codes[:, None] == codes[None]) & upper
    other = (codes[:, None] != codes[None]) & upper
    if not same.any() or not other.any() or distance[same].mean() == 0:
        return float("nan")
    return float(distance[other].mean() / distance[same].mean())
