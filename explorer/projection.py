"""2-D views of every layer: shared-axis PCA, per-layer PCA aligned to its neighbour, aligned UMAP.

Every method returns a `Projection` with the coordinates of every layer, the pooled points where the
method is linear (so they can be placed faithfully), and per-layer scores: explained variance (PCA) and
faithfulness (how many of each point's nearest neighbours survive the flattening).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

METHODS = {
    "pca_shared": "PCA, shared axes",
    "pca_aligned": "PCA per layer, aligned",
    "umap": "UMAP, aligned across layers",
}
MIN_POINTS_FOR_UMAP = 15
FAITHFULNESS_K = 10


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


def _top2_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two leading principal axes of centred data x (rows are points) and all eigenvalues.

    Signs are fixed (largest loading positive) so the same data always gives the same picture.
    """
    cov = (x.T @ x) / max(len(x) - 1, 1)  # (D, D)
    values, vectors = np.linalg.eigh(cov.astype(np.float64))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    axes = vectors[:, :2].copy()  # (D, 2)
    if axes.shape[1] < 2:  # a 1-dimensional space: pad with a zero axis
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    for j in range(2):
        if axes[np.argmax(np.abs(axes[:, j])), j] < 0:
            axes[:, j] *= -1
    return axes, np.clip(values, 0.0, None)


def _captured_share(x_centred: np.ndarray, axes: np.ndarray) -> float:
    total = float(np.sum(x_centred.astype(np.float64) ** 2))
    if total <= 0:
        return float("nan")
    return float(np.sum((x_centred @ axes) ** 2) / total)


def project_shared_pca(layers: np.ndarray, pooled: np.ndarray | None = None) -> Projection:
    """One PCA fitted on every layer at once: axes never move, so motion between layers is real."""
    d = layers.shape[2]
    stacked = layers.reshape(-1, d).astype(np.float64)  # ((L+1)·N, D)
    mean = stacked.mean(axis=0)
    axes, _ = _top2_axes(stacked - mean)
    coords = ((layers - mean) @ axes).astype(np.float32)  # (L+1, N, 2)
    explained = np.array([_captured_share(layer - layer.mean(axis=0), axes) for layer in layers])
    projected_pooled = None if pooled is None else ((pooled - mean) @ axes).astype(np.float32)
    return Projection(
        method="pca_shared",
        coords=coords,
        pooled=projected_pooled,
        explained=explained,
        faithfulness=_faithfulness_per_layer(layers, coords),
    )


def _procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal 2×2 map R minimising ||source·R − target|| (both centred)."""
    u, _, vt = np.linalg.svd(source.T @ target)
    return u @ vt


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
        axes, values = _top2_axes(centred)
        explained[i] = values[:2].sum() / values.sum() if values.sum() > 0 else np.nan
        y = centred @ axes  # (N, 2)
        if previous is not None and len(y) > 1:
            rotation = _procrustes_rotation(y, previous)
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


def project(layers: np.ndarray, method: str, pooled: np.ndarray | None = None, seed: int = 0) -> Projection:
    """Dispatch to one of METHODS."""
    if layers.ndim != 3 or layers.shape[1] == 0:
        raise ValueError(f"Expected layers of shape (L+1, N>0, D), got {layers.shape}.")
    if method == "pca_shared":
        return project_shared_pca(layers, pooled)
    if method == "pca_aligned":
        return project_aligned_pca(layers, pooled)
    if method == "umap":
        return project_umap(layers, seed=seed)
    raise ValueError(f"Unknown projection method: {method}. Valid methods: {list(METHODS)}")


def neighbour_overlap(high: np.ndarray, low: np.ndarray, k: int = FAITHFULNESS_K) -> float:
    """Mean share of each point's k nearest neighbours in `high` that stay among its k nearest in `low`.

    1.0: the 2-D picture keeps every neighbourhood; about k/(N-1): no better than chance. With N ≤ k+1
    points every point is every other's neighbour and the score means nothing: NaN.
    """
    n = len(high)
    if n - 1 <= k:
        return float("nan")
    near_high = _knn(np.asarray(high), k)
    near_low = _knn(np.asarray(low, dtype=np.float64), k)
    kept = [len(set(a) & set(b)) for a, b in zip(near_high, near_low, strict=True)]
    return float(np.mean(kept) / k)


def _knn(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest other points of each row (Euclidean, ties broken by index)."""
    if x.shape[1] <= 3 and len(x) > 500:  # a large 2-D picture: a k-d tree answers in O(N log N)
        from scipy.spatial import cKDTree

        _, found = cKDTree(x).query(x, k=k + 1)
        return np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])
    if len(x) > 4000:
        from sklearn.neighbors import NearestNeighbors

        found = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
        return np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])
    x32 = x.astype(np.float32)
    sq = np.sum(x32**2, axis=1)
    dist = sq[:, None] + sq[None, :] - 2 * (x32 @ x32.T)  # (N, N)
    np.fill_diagonal(dist, np.inf)
    # Partition out the k nearest (O(N) per row), then order just those: ties broken by index.
    near = np.argpartition(dist, k - 1, axis=1)[:, :k]  # (N, k) unordered
    order = np.lexsort((near, np.take_along_axis(dist, near, axis=1)), axis=1)
    return np.take_along_axis(near, order, axis=1)


def _faithfulness_per_layer(layers: np.ndarray, coords: np.ndarray) -> np.ndarray:
    return np.array([neighbour_overlap(h, c) for h, c in zip(layers, coords, strict=True)])
