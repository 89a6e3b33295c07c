"""The proof that training a head leaves the model alone: the weights' fingerprint and the embeddings,
before and after, compared bit for bit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.models import weights_fingerprint
from explorer.states import pooled_vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class FrozenProof:
    """The base model's fingerprint and embeddings before vs after head training."""

    fingerprint_before: str
    fingerprint_after: str
    max_embedding_change: float
    embeddings_identical: bool

    @property
    def unchanged(self) -> bool:
        return self.fingerprint_before == self.fingerprint_after and self.embeddings_identical


def prove_unchanged(
    model: SentenceTransformer, texts: Sequence[str], fingerprint_before: str, embeddings_before: np.ndarray
) -> FrozenProof:
    """Re-fingerprint the model and re-embed the sentences; compare with what training started from
    (`embeddings_before`: `pooled_vectors` or `extract_states(...).pooled`, the same bits). Only the
    sentence vectors are computed again, not every token's layers: its peak is `pooled_peak_bytes`."""
    again = pooled_vectors(model, texts)  # (S, D)
    change = float(np.max(np.abs(again - embeddings_before))) if len(again) else 0.0
    return FrozenProof(
        fingerprint_before, weights_fingerprint(model), change, bool(np.array_equal(again, embeddings_before))
    )
