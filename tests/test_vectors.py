"""vectors: the shared maths, checked by hand and against the libraries it stands in for."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from explorer.vectors import (
    _from_few_rows,
    cosine,
    cosine_matrix,
    frozen,
    linear_cka,
    nearest_neighbours,
    neighbour_overlap,
    neighbour_overlaps,
    pca_axes,
    procrustes_rotation,
    unit_rows,
)


def test_unit_rows_and_cosine_leave_zero_vectors_at_zero() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(unit_rows(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(cosine(x, np.array([1.0, 0.0])), [0.6, 0.0])
    matrix = cosine_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(matrix[0], [1.0, 1 / np.sqrt(2), -1.0])
    assert unit_rows(x, np.float32).dtype == np.float32


def test_frozen_arrays_refuse_writes() -> None:
    shared = frozen(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        shared[0, 0] = 1.0


def test_pca_axes_match_sklearn_up_to_sign_and_have_fixed_signs() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    centred = x - x.mean(axis=0)
    axes, values, total = pca_axes(centred)
    pca = PCA(n_components=2).fit(x)
    np.testing.assert_allclose(np.abs(axes.T @ pca.components_.T), np.eye(2), atol=1e-8)
    np.testing.assert_allclose(values, pca.explained_variance_, rtol=1e-10)
    assert total == pytest.approx(np.linalg.eigvalsh(np.cov(x.T)).sum(), rel=1e-12)
    assert all(axes[np.argmax(np.abs(axes[:, j])), j] > 0 for j in range(2))
    again, _, _ = pca_axes(-centred)  # the same cloud mirrored through its centre: the same axes
    np.testing.assert_allclose(again, axes)


def test_pca_axes_in_many_dimensions_take_the_two_leading_eigenpairs() -> None:
    """From LANCZOS_FROM_DIM dimensions only two eigenpairs are computed: the same as a full
    decomposition, and the same on every call."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 384)) * np.linspace(3, 0.1, 384)
    centred = x - x.mean(axis=0)
    axes, values, total = pca_axes(centred)
    full_values, full_vectors = np.linalg.eigh(np.cov(x.T))
    np.testing.assert_allclose(values, full_values[::-1][:2], rtol=1e-10)
    np.testing.assert_allclose(np.abs(axes.T @ full_vectors[:, ::-1][:, :2]), np.eye(2), atol=1e-8)
    assert total == pytest.approx(full_values.sum(), rel=1e-12)
    np.testing.assert_array_equal(pca_axes(centred)[0], axes)


@pytest.mark.parametrize("rows", [3, 8, 24, 120, 256])
def test_few_rows_give_the_covariances_axes_through_the_gram_matrix(rows: int) -> None:
    """Fewer rows than dimensions (a page's sentences in 384 dimensions): the Gram matrix's path gives
    the covariance's own two leading eigenpairs, with the same fixed signs."""
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 384)) * np.linspace(3, 0.1, 384)
    centred = x - x.mean(axis=0)
    assert _from_few_rows(centred) is not None  # the path under test is the one taken
    axes, values, total = pca_axes(centred)
    full_values, full_vectors = np.linalg.eigh(np.cov(x.T))
    np.testing.assert_allclose(values, full_values[::-1][:2], rtol=1e-9)
    np.testing.assert_allclose(np.abs(axes.T @ full_vectors[:, ::-1][:, :2]), np.eye(2), atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(axes, axis=0), 1.0, rtol=1e-12)
    assert total == pytest.approx(full_values.sum(), rel=1e-12)
    assert all(axes[np.argmax(np.abs(axes[:, j])), j] > 0 for j in range(2))


def test_the_gram_path_steps_aside_where_it_does_not_apply() -> None:
    rng = np.random.default_rng(0)
    assert _from_few_rows(rng.normal(size=(400, 384))) is None  # more rows than dimensions
    assert _from_few_rows(rng.normal(size=(300, 384))) is None  # more rows than it takes
    line = np.outer(rng.normal(size=6), rng.normal(size=384))  # a 1-dimensional cloud: no second axis
    assert _from_few_rows(line - line.mean(axis=0)) is None
    _, values, _ = pca_axes(line - line.mean(axis=0))
    assert values[1] == pytest.approx(0, abs=1e-9) and values[0] > 0


def test_procrustes_recovers_a_rotation() -> None:
    rng = np.random.default_rng(2)
    source = rng.normal(size=(30, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    found = procrustes_rotation(source, source @ rotation)
    np.testing.assert_allclose(found, rotation, atol=1e-10)


@pytest.mark.parametrize(("n", "d"), [(60, 16), (700, 2), (4200, 3)])
def test_every_nearest_neighbour_path_agrees_with_sklearn(n: int, d: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, d))
    ours = nearest_neighbours(x, 5)
    found = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x, return_distance=False)
    expected = np.array([[j for j in row if j != i][:5] for i, row in enumerate(found)])
    assert np.mean([set(a) == set(b) for a, b in zip(ours, expected, strict=True)]) > 0.99


def test_ties_at_the_kth_neighbour_go_to_the_first_rows() -> None:
    # point 0 at the origin, 30 copies of one point a unit away, then a far point: all 30 copies tie
    x = np.zeros((32, 8))
    x[1:31, 0] = 1.0
    x[31, 0] = 50.0
    near = nearest_neighbours(x, 5)
    assert near[0].tolist() == [1, 2, 3, 4, 5]
    assert near[31].tolist() == [1, 2, 3, 4, 5]
    assert near[7].tolist() == [1, 2, 3, 4, 5]  # the other copies, at distance 0, first by row; not itself
    assert near[1].tolist() == [2, 3, 4, 5, 6]


def test_neighbour_overlaps_score_each_layer_as_neighbour_overlap_does() -> None:
    rng = np.random.default_rng(3)
    high = rng.normal(size=(4, 80, 24)).cumsum(axis=0)
    high[1, :10] = high[1, 0]  # ten identical rows: ties
    low = high[:, :, :2] + rng.normal(scale=0.3, size=(4, 80, 2))
    expected = [neighbour_overlap(h, c) for h, c in zip(high, low, strict=True)]
    assert neighbour_overlaps(high, low).tolist() == expected
    assert len(set(expected)) > 1


def test_neighbour_overlap_hand_checked() -> None:
    points = np.array([[0.0], [1.0], [3.0], [10.0], [12.0]])  # no ties between distances
    assert neighbour_overlap(points, points, k=1) == 1.0
    assert np.isnan(neighbour_overlap(points, points[::-1], k=4)), "k ≥ N-1: every point is a neighbour"
    # a picture that puts the points elsewhere keeps only some neighbours
    moved = np.array([[0.0], [10.0], [12.0], [1.0], [3.0]])
    # nearest of each in the original: 0->1, 1->0, 2->1, 3->4, 4->3
    # nearest of each in the picture:  0->3, 1->2, 2->1, 3->0, 4->3  -> points 2 and 4 keep theirs
    assert neighbour_overlap(points, moved, k=1) == pytest.approx(2 / 5)


def test_neighbour_overlap_planar_data_is_perfect_and_noise_is_poor() -> None:
    rng = np.random.default_rng(0)
    flat = np.zeros((60, 10))
    flat[:, :2] = rng.normal(size=(60, 2))
    assert neighbour_overlap(flat, flat[:, :2]) == 1.0
    assert neighbour_overlap(flat, rng.normal(size=(60, 2))) < 0.5
    assert np.isnan(neighbour_overlap(flat[:1], flat[:1, :2]))


def test_linear_cka_is_one_for_identical_and_rotated_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    assert linear_cka(x, x.copy()) == 1.0
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, rng.normal(size=(50, 16))) < 0.7
