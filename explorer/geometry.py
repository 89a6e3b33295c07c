"""Per-layer measures of the latent space, on plain arrays (no model, no Streamlit)."""

from __future__ import annotations

import numpy as np


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
