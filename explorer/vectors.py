"""The small vector maths every other module uses, written once: unit rows, cosine, PCA axes,
Procrustes, k-nearest-neighbour overlap, linear CKA, read-only arrays.

Plain numpy in, plain numpy out; no model, no Streamlit. Conventions used everywhere: a zero vector
has length 0 after `unit_rows` and cosine 0 with everything, so it never produces NaN.
"""

from __future__ import annotations

import numpy as np

K_NEIGHBOURS = 10  # neighbourhood size for overlap scores (faithfulness of a 2-D view)


def unit_rows(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Vectors along the last axis scaled to length 1 (as `dtype`); zero vectors stay zero."""
    x = np.asarray(x, dtype=dtype)
    norms = row_norms(x)[..., None]
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def row_norms(x: np.ndarray) -> np.ndarray:
    """Euclidean lengths along the last axis, without the squared copy `np.linalg.norm` makes: for the
    Geometry lab's 100 long sentences (7 × 20,000 word vectors) 0.15 s against 0.45 s a call."""
    return np.sqrt(np.einsum("...d,...d->...", x, x))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity along the last axis (broadcasting); 0 where either vector is zero."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1)
    dots = np.sum(a64 * b64, axis=-1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(S, S) cosine between every pair of rows, clipped to [-1, 1]; (..., S, S) for stacks of rows."""
    unit = unit_rows(vectors)
    return np.clip(unit @ np.swapaxes(unit, -1, -2), -1.0, 1.0)


def frozen(array: np.ndarray) -> np.ndarray:
    """A contiguous float32 copy whose writes fail loudly: arrays shared through caches stay intact."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------- principal axes
LANCZOS_FROM_DIM = 32  # from this many dimensions only the two leading eigenpairs are computed


def pca_axes(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The two leading principal axes (D, 2) of centred rows, their two variances (largest first), and
    the total variance (the covariance's trace).

    From the (D, D) covariance, faster than an SVD of the data for tens of thousands of rows. Only the
    two leading eigenpairs are computed (Lanczos iteration, to machine precision): for 384 dimensions
    that took 4 ms where a full eigendecomposition took 50 ms, and 200 ms with the browser busy on the
    same two cores. Fewer rows than dimensions (a page's few sentences) take the Gram matrix's
    eigenpairs instead (`_from_few_rows`), the same axes without scipy. Signs are fixed (largest loading
    positive), so the same data always gives the same picture; a 1-dimensional space gets a zero second
    axis.
    """
    x = np.asarray(centred, dtype=np.float64)
    few = _from_few_rows(x)
    if few is not None:
        return few
    cov = (x.T @ x) / max(len(x) - 1, 1)  # (D, D)
    total = float(np.trace(cov))
    d = cov.shape[0]
    found = None
    if d >= LANCZOS_FROM_DIM and total > 0:
        from scipy.sparse.linalg import ArpackError, eigsh  # 0.3 s to import: only where it is used

        try:  # a fixed start vector: the same data, the same axes
            found = eigsh(cov, k=2, which="LA", v0=np.random.default_rng(0).normal(size=d))
        except ArpackError:
            found = None
    values, vectors = found if found is not None else np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:2]
    return _signed(values[order], vectors[:, order].copy(), total)


GRAM_UP_TO_ROWS = (
    256  # fewer rows than dimensions, and at most this many: the (N, N) Gram matrix's eigenpairs
)


def _from_few_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """`pca_axes` for fewer rows N than dimensions D (a page's few sentences in 384 dimensions): the
    covariance XᵀX/(N−1) and the Gram matrix XXᵀ/(N−1) share their non-zero eigenvalues, and an
    eigenvector u of the second gives the axis Xᵀu/√((N−1)λ) of the first. Exact, a full (N, N)
    eigendecomposition in well under a millisecond, and no scipy. None where it does not apply (more
    rows, or a second variance too small to give its axis a direction)."""
    n, d = x.shape
    if not 2 < n < d or n > GRAM_UP_TO_ROWS:
        return None
    gram = (x @ x.T) / (n - 1)  # (N, N)
    total = float(np.trace(gram))
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:2]
    values, vectors = values[order], vectors[:, order]
    if not total > 0 or values[1] <= 1e-9 * total:
        return None
    axes = (x.T @ vectors) / np.sqrt(values * (n - 1))  # (D, 2), unit length
    return _signed(values, axes, total)


def _signed(values: np.ndarray, axes: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Two axes (padded with zeros for a 1-dimensional space), each with its largest loading positive."""
    if axes.shape[1] < 2:
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
        values = np.pad(values, (0, 2 - len(values)))
    for j in range(2):
        if axes[np.argmax(np.abs(axes[:, j])), j] < 0:
            axes[:, j] *= -1
    return axes, np.clip(values, 0.0, None), total


def captured_share(centred: np.ndarray, axes: np.ndarray) -> float:
    """Share of the centred rows' total variance that the axes keep (NaN for a space with none)."""
    total = float(np.sum(np.asarray(centred, dtype=np.float64) ** 2))
    if total <= 0:
        return float("nan")
    return float(np.sum((centred @ axes) ** 2) / total)


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal map R minimising ||source·R − target|| (both centred)."""
    from scipy.linalg import orthogonal_procrustes  # 0.3 s to import: only where it is used

    rotation, _ = orthogonal_procrustes(source, target)
    return rotation


# ---------------------------------------------------------------- neighbourhoods
def nearest_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of the k nearest other rows of each row (Euclidean, ties broken by index).

    Three paths: a k-d tree for large 2-D pictures; sklearn's NearestNeighbors above 4,000 points; below
    that one float32 distance matrix with a partial sort, kept because it is faster where the pages
    live (1,000 × 384: 14 ms against NearestNeighbors' 29 ms; the two are even near 3,000 points).
    """
    if _by_tree(*x.shape) and x.shape[1] <= 3:
        from scipy.spatial import cKDTree

        _, found = cKDTree(x).query(x, k=k + 1)
        return np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])
    if _by_tree(*x.shape):
        from sklearn.neighbors import NearestNeighbors

        found = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
        return np.array([[j for j in row if j != i][:k] for i, row in enumerate(found)])
    dist = _squared_distances(x)
    near = _k_smallest(dist, k)  # (N, k) by index
    order = np.lexsort((near, np.take_along_axis(dist, near, axis=1)), axis=1)
    return np.take_along_axis(near, order, axis=1)


def _by_tree(n: int, d: int) -> bool:
    """Whether `nearest_neighbours` searches n points of d dimensions with a tree (a k-d tree in 2-D or
    3-D, sklearn's otherwise) rather than with one distance matrix."""
    return (d <= 3 and n > 500) or n > 4000


def _squared_distances(x: np.ndarray) -> np.ndarray:
    """(N, N) float32 squared distances between the rows of `x`, infinite on the diagonal."""
    x32 = x.astype(np.float32)
    sq = np.sum(x32**2, axis=1)
    dist = sq[:, None] + sq[None, :] - 2 * (x32 @ x32.T)  # (N, N)
    np.fill_diagonal(dist, np.inf)
    return dist


def _k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """(..., k) indices of the k smallest entries along the last axis, in index order; of entries tied at
    the k-th smallest value, the first ones. A partial sort of the values, not of their indices: numpy's
    `argpartition` took 0.4–0.7 ms for a 130 × 130 matrix where `partition` took 0.07 ms."""
    kth = np.partition(values, k - 1, axis=-1)[..., k - 1 : k]
    chosen = values <= kth
    crowded = chosen.sum(axis=-1) > k  # rows where more than one entry ties at the k-th value
    if crowded.any():
        less = values[crowded] < kth[crowded]
        tied = chosen[crowded] & ~less
        room = k - less.sum(axis=-1, keepdims=True)
        chosen[crowded] = less | (tied & (np.cumsum(tied, axis=-1) <= room))
    return np.nonzero(chosen)[-1].reshape(*values.shape[:-1], k)


def _neighbour_sets(stack: np.ndarray, k: int) -> np.ndarray:
    """(L, N, k) indices of each row's k nearest other rows, per layer of an (L, N, D) stack, in no
    particular order: the sets `nearest_neighbours` gives (the same path, the same distances), without
    sorting them by distance."""
    if _by_tree(*stack.shape[1:]):
        return np.stack([nearest_neighbours(layer, k) for layer in stack])
    return np.stack([_k_smallest(_squared_distances(layer), k) for layer in stack])


def neighbour_overlaps(high: np.ndarray, low: np.ndarray, k: int = K_NEIGHBOURS) -> np.ndarray:
    """`neighbour_overlap` of every layer: `high` (L, N, D) against `low` (L, N, d), layer by layer; the
    sets are compared for all layers at once. The Token journey scores its 7 layers on every run: for 130
    tokens that took 4.4–4.9 ms, against 11–14 ms with `argpartition` and a sort per search."""
    n = high.shape[1]
    if n - 1 <= k:
        return np.full(len(high), np.nan)
    near_high = _neighbour_sets(np.asarray(high), k)
    near_low = _neighbour_sets(np.asarray(low, dtype=np.float64), k)
    kept = (near_high[:, :, :, None] == near_low[:, :, None, :]).sum(axis=(1, 2, 3))
    return kept / (n * k)


def neighbour_overlap(high: np.ndarray, low: np.ndarray, k: int = K_NEIGHBOURS) -> float:
    """Mean share of each point's k nearest neighbours in `high` that stay among its k nearest in `low`.

    1.0: the 2-D picture keeps every neighbourhood; about k/(N-1): no better than chance. With N ≤ k+1
    points every point is every other's neighbour and the score means nothing: NaN.
    """
    return float(neighbour_overlaps(np.asarray(high)[None], np.asarray(low)[None], k)[0])


# ---------------------------------------------------------------- comparing two sets of vectors
def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two (N, D) sets of vectors for the same N items: 1.0 = same geometry.

    Identical inputs return exactly 1.0 (checked first, then computed in float64 and clipped).
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same items in both sets, got {x.shape[0]} and {y.shape[0]} rows.")
    if np.array_equal(x, y):
        return 1.0
    xc = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0, dtype=np.float64)
    yc = np.asarray(y, dtype=np.float64) - np.mean(y, axis=0, dtype=np.float64)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    norm = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    if norm == 0:
        return float("nan")
    return float(min(1.0, cross / norm))
