"""2-D views of every layer: shared-axis PCA, per-layer PCA aligned to its neighbour, aligned UMAP.

Every method returns a `Projection` with the coordinates of every layer, the pooled points where the
method is linear (so they can be placed faithfully), and per-layer scores: explained variance (PCA) and
faithfulness (how many of each point's nearest neighbours survive the flattening).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from explorer.group_axes import fit_group_axes
from explorer.vectors import K_NEIGHBOURS, captured_share, neighbour_overlaps, pca_axes, procrustes_rotation

METHODS = {
    "groups": "Axes that part the groups",
    "pca_shared": "PCA, shared axes",
    "pca_aligned": "PCA per layer, aligned",
    "umap": "UMAP, aligned across layers",
}
MIN_POINTS_FOR_UMAP = 15
FAITHFULNESS_K = K_NEIGHBOURS


@dataclass(frozen=True)
class Projection:
    """Coordinates (L+1, N, 2) of every token at every layer, plus per-layer scores.

    pooled:       (L+1, S, 2) the pooled vectors mapped by the same map, or None (non-linear methods)
    explained:    (L+1,) share of each layer's variance the two axes keep (NaN where undefined)
    faithfulness: (L+1,) mean share of 10 nearest neighbours kept in 2-D
    """

    method: str
    coords: np.ndarray
    pooled: np.ndarray | None
    explained: np.ndarray
    faithfulness: np.ndarray
    notice: str | None = None
    fit_rows: tuple[int, ...] = ()  # the points the axes were fitted on (all of them when empty)


def project_shared_pca(
    layers: np.ndarray, pooled: np.ndarray | None = None, fit_rows: Sequence[int] = ()
) -> Projection:
    """One PCA fitted on every layer at once: axes never move, so motion between layers is real.

    `fit_rows` (point indices) fits the axes on those points across all layers instead of on every
    point: the plane where the chosen points differ most (say the four 'bank's), with every point drawn
    on it. The axes of all points are spent on what every token shares (drift between layers).
    """
    d = layers.shape[2]
    fit_rows = tuple(int(i) for i in fit_rows)
    if any(not 0 <= i < layers.shape[1] for i in fit_rows):
        raise ValueError(f"fit_rows must index the {layers.shape[1]} points, got {list(fit_rows)[:10]}.")
    fitted = layers[:, list(fit_rows)] if fit_rows else layers
    stacked = fitted.reshape(-1, d).astype(np.float64)  # ((L+1)·N_fit, D)
    mean = stacked.mean(axis=0)
    axes, _, _ = pca_axes(stacked - mean)
    coords = ((layers - mean) @ axes).astype(np.float32)  # (L+1, N, 2)
    explained = np.array([captured_share(layer - layer.mean(axis=0), axes) for layer in layers])
    projected_pooled = None if pooled is None else ((pooled - mean) @ axes).astype(np.float32)
    return Projection(
        method="pca_shared",
        coords=coords,
        pooled=projected_pooled,
        explained=explained,
        faithfulness=_faithfulness_per_layer(layers, coords),
        fit_rows=fit_rows,
    )


def project_group_axes(
    layers: np.ndarray,
    words: Sequence[tuple[Sequence[int], Sequence[str]]],
    pooled: np.ndarray | None = None,
) -> Projection:
    """Each layer on the axes where its grouped words part (see `explorer.group_axes`): `words` holds,
    per word, its occurrences' point indices and their groups. Linear, so pooled points are placed."""
    centres, axes = fit_group_axes(layers, words)  # (L+1, D), (L+1, D, 2)
    coords = np.einsum("lnd,ldk->lnk", layers - centres[:, None], axes).astype(np.float32)  # (L+1, N, 2)
    explained = np.array(
        [
            captured_share(layer - layer.mean(axis=0), np.linalg.qr(a)[0])
            for layer, a in zip(layers, axes, strict=True)
        ]
    )
    projected_pooled = None
    if pooled is not None:
        projected_pooled = np.einsum("lsd,ldk->lsk", pooled - centres[:, None], axes).astype(np.float32)
    return Projection(
        method="groups",
        coords=coords,
        pooled=projected_pooled,
        explained=explained,
        faithfulness=_faithfulness_per_layer(layers, coords),
        fit_rows=tuple(sorted({int(i) for rows, _ in words for i in rows})),
    )


def project_aligned_pca(layers: np.ndarray, pooled: np.ndarray | None = None) -> Projection:
    """A PCA per layer (each layer's own best view), rotated to match the previous layer's view.

    Each layer is also rescaled to unit RMS radius: this view is about shape, not size.
    """
    coords = np.zeros((*layers.shape[:2], 2), dtype=np.float32)
    pooled_2d = None if pooled is None else np.zeros((*pooled.shape[:2], 2), dtype=np.float32)
    explained = np.zeros(layers.shape[0])
    previous: np.ndarray | None = None
    for i, layer in enumerate(layers.astype(np.float64)):
        mean = layer.mean(axis=0)
        centred = layer - mean
        axes, values, total = pca_axes(centred)
        explained[i] = values.sum() / total if total > 0 else np.nan
        y = centred @ axes  # (N, 2)
        if previous is not None and len(y) > 1:
            rotation = procrustes_rotation(y, previous)
            axes, y = axes @ rotation, y @ rotation
        radius = float(np.sqrt(np.mean(np.sum(y**2, axis=1))))
        scale = 1.0 / radius if radius > 0 else 1.0
        coords[i] = y * scale
        if pooled_2d is not None:
            pooled_2d[i] = (pooled[i] - mean) @ axes * scale
        previous = coords[i].astype(np.float64)
    return Projection(
        method="pca_aligned",
        coords=coords,
        pooled=pooled_2d,
        explained=explained,
        faithfulness=_faithfulness_per_layer(layers, coords),
    )


def project_umap(layers: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> Projection:
    """AlignedUMAP across layers (each layer's map is pulled towards its neighbours' maps).

    Below MIN_POINTS_FOR_UMAP points UMAP is not meaningful: shared PCA is returned with a notice.
    """
    n = layers.shape[1]
    if n < MIN_POINTS_FOR_UMAP:
        fallback = project_shared_pca(layers)
        return Projection(
            method="pca_shared",
            coords=fallback.coords,
            pooled=None,
            explained=fallback.explained,
            faithfulness=fallback.faithfulness,
            notice=(
                f"UMAP needs at least {MIN_POINTS_FOR_UMAP} points to mean anything; there are {n}. "
                "Showing shared-axis PCA instead."
            ),
        )
    import umap  # slow import (numba): only when asked for

    neighbours = min(n_neighbors, n - 1)
    relations = [{j: j for j in range(n)} for _ in range(layers.shape[0] - 1)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # seeded UMAP runs on one thread
        mapper = umap.AlignedUMAP(
            n_neighbors=neighbours,
            random_state=seed,
            n_epochs=200,
            alignment_regularisation=0.05,
            init="random",
        ).fit([layer.astype(np.float32) for layer in layers], relations=relations)
    coords = np.stack([np.asarray(e, dtype=np.float32) for e in mapper.embeddings_])  # (L+1, N, 2)
    coords = coords - coords.reshape(-1, 2).mean(axis=0)
    return Projection(
        method="umap",
        coords=coords,
        pooled=None,
        explained=np.full(layers.shape[0], np.nan),
        faithfulness=_faithfulness_per_layer(layers, coords),
        notice="UMAP is non-linear, so pooled sentence points have no faithful place here and are not drawn.",
    )


def warm_up_umap() -> None:
    """Fit a tiny aligned UMAP once, so numba compiles UMAP's code now (about half a minute on a laptop's
    CPU) rather than in the first visitor's request. Servers call it in the background after starting."""
    layers = np.random.default_rng(0).normal(size=(2, 2 * MIN_POINTS_FOR_UMAP, 8)).astype(np.float32)
    project_umap(layers)


def project(
    layers: np.ndarray,
    method: str,
    pooled: np.ndarray | None = None,
    seed: int = 0,
    fit_rows: Sequence[int] = (),
    words: Sequence[tuple[Sequence[int], Sequence[str]]] = (),
) -> Projection:
    """Dispatch to one of METHODS (`fit_rows` applies to shared PCA only; `words`, the grouped words'
    point indices and groups, to group axes, which fall back to shared PCA when there are none)."""
    if layers.ndim != 3 or layers.shape[1] == 0:
        raise ValueError(f"Expected layers of shape (L+1, N>0, D), got {layers.shape}.")
    if method == "groups":
        if words:
            return project_group_axes(layers, words, pooled)
        method = "pca_shared"
    if method == "pca_shared":
        return project_shared_pca(layers, pooled, fit_rows)
    if method == "pca_aligned":
        return project_aligned_pca(layers, pooled)
    if method == "umap":
        return project_umap(layers, seed=seed)
    raise ValueError(f"Unknown projection method: {method}. Valid methods: {list(METHODS)}")


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


def _faithfulness_per_layer(layers: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Per layer, the share of neighbours the picture keeps, over a seeded sample of at most
    FAITHFULNESS_MAX_POINTS points (all of them when there are fewer)."""
    keep = faithfulness_sample(layers.shape[1])
    return neighbour_overlaps(layers[:, keep], coords[:, keep], FAITHFULNESS_K)


@dataclass(frozen=True)
class MapProjection:
    """A 2-D PCA map of a set of vectors: `place` puts any new vector (a query) on the same axes."""

    mean: np.ndarray
    axes: np.ndarray
    coords: np.ndarray
    explained: float

    def place(self, vectors: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(vectors) - self.mean) @ self.axes).astype(np.float32)  # (M, 2)


def fit_map(vectors: np.ndarray) -> MapProjection:
    """PCA of (N, D) vectors to 2-D (deterministic signs), with the share of variance it keeps."""
    x = np.asarray(vectors, dtype=np.float64)  # (N, D)
    if len(x) == 0:
        raise ValueError("Cannot draw a map of no vectors.")
    mean = x.mean(axis=0)
    centred = x - mean
    axes, values, total = pca_axes(centred)
    explained = float(values.sum() / total) if total > 0 else float("nan")
    coords = (centred @ axes).astype(np.float32)  # (N, 2)
    return MapProjection(mean=mean, axes=axes, coords=coords, explained=explained)
