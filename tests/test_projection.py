"""projection: shared axes are shared, aligned fits are aligned, scores mean what they say."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from explorer.projection import (
    MIN_POINTS_FOR_UMAP,
    project,
    project_aligned_pca,
    project_shared_pca,
)


def _random_layers(n_layers1: int = 3, n: int = 40, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_layers1, n, d)).astype(np.float32) * np.linspace(1, 3, d)


def test_shared_pca_uses_one_set_of_axes_so_motion_is_real() -> None:
    layers = _random_layers()
    shift = np.zeros(layers.shape[2], dtype=np.float32)
    shift[-1] = 5.0  # move every point of layer 2 along the largest-variance direction
    moved = layers.copy()
    moved[2] = layers[1] + shift
    proj = project_shared_pca(moved)
    delta = proj.coords[2] - proj.coords[1]
    np.testing.assert_allclose(delta, np.broadcast_to(delta[0], delta.shape), atol=1e-4)
    assert np.linalg.norm(delta[0]) > 1.0


def test_shared_pca_on_one_layer_matches_sklearn_explained_variance() -> None:
    layers = _random_layers(n_layers1=1)
    ours = project_shared_pca(layers)
    reference = PCA(n_components=2).fit(layers[0])
    assert ours.explained[0] == pytest.approx(reference.explained_variance_ratio_.sum(), rel=1e-4)
    assert ours.coords.shape == (1, 40, 2)


def test_aligned_pca_explained_matches_sklearn_per_layer() -> None:
    layers = _random_layers()
    ours = project_aligned_pca(layers)
    for i, layer in enumerate(layers):
        assert ours.explained[i] == pytest.approx(
            PCA(n_components=2).fit(layer).explained_variance_ratio_.sum(), rel=1e-4
        )


def test_aligned_pca_undoes_a_rotation_between_layers() -> None:
    base = _random_layers(n_layers1=1)[0]
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))
    layers = np.stack([base, base @ q.astype(np.float32)])  # same shape, rotated in 16-D
    proj = project_aligned_pca(layers)
    np.testing.assert_allclose(proj.coords[1], proj.coords[0], atol=1e-4)


def test_pooled_mean_lands_on_token_centroid_under_both_pca_views(bank_states) -> None:
    s = bank_states
    owner = s.sentence_of_token()
    for method in ("pca_shared", "pca_aligned"):
        proj = project(s.layers, method, pooled=s.pooled_raw)
        for layer in (0, 3, s.n_layers):
            centroids = np.stack([proj.coords[layer][owner == i].mean(axis=0) for i in range(s.n_sentences)])
            np.testing.assert_allclose(proj.pooled[layer], centroids, atol=1e-4)


def test_projection_is_deterministic(bank_states) -> None:
    a = project(bank_states.layers, "pca_shared")
    b = project(bank_states.layers, "pca_shared")
    np.testing.assert_array_equal(a.coords, b.coords)


def test_faithfulness_and_explained_are_reported_per_layer(bank_states) -> None:
    proj = project(bank_states.layers, "pca_shared")
    assert proj.faithfulness.shape == proj.explained.shape == (bank_states.n_layers + 1,)
    assert np.all((proj.faithfulness > 0) & (proj.faithfulness <= 1))
    assert np.all((proj.explained > 0) & (proj.explained <= 1))


def test_umap_falls_back_to_pca_below_the_minimum() -> None:
    layers = _random_layers(n=MIN_POINTS_FOR_UMAP - 1)
    proj = project(layers, "umap")
    assert proj.method == "pca_shared" and proj.notice and str(MIN_POINTS_FOR_UMAP) in proj.notice
    np.testing.assert_allclose(proj.coords, project_shared_pca(layers).coords)


def test_aligned_umap_is_seeded(bank_states) -> None:
    layers = bank_states.layers
    first = project(layers, "umap", seed=3)
    again = project(layers, "umap", seed=3)
    assert first.method == "umap" and first.pooled is None
    assert first.coords.shape == (layers.shape[0], layers.shape[1], 2)
    np.testing.assert_allclose(first.coords, again.coords)
    assert np.all(first.faithfulness > 0.2), "UMAP keeps a fair share of neighbourhoods"


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="Valid methods"):
        project(_random_layers(), "tsne")
