"""From a cloud of token vectors to one sentence vector: poolings, per-token measures, similarities and
their downloads. Plain numpy and pandas (no model, no Streamlit).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.export import csv_bytes
from explorer.inputs import shorten
from explorer.projection import fit_map
from explorer.states import LayerStates
from explorer.vectors import cosine, cosine_matrix

POOLINGS = {
    "model": "the model's embedding",
    "cls": "[CLS] token (not what the model uses)",
    "max": "max over tokens (not what the model uses)",
    "mean_layer": "mean at another layer (not what the model uses)",
}
LEAVE_ONE_OUT_MODES = ("mean", "max")


# ---------------------------------------------------------------- pooling
def pool(vectors: np.ndarray, mode: str) -> np.ndarray:
    """Pool (n, D) token vectors into one (D,) vector: 'mean', 'max' or 'cls' (the first token)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) == 0:
        raise ValueError("Cannot pool zero tokens.")
    if mode == "mean":
        return vectors.mean(axis=0)
    if mode == "max":
        return vectors.max(axis=0)
    if mode == "cls":
        return vectors[0]
    raise ValueError(f"Unknown pooling: {mode}. Valid poolings: ['mean', 'max', 'cls']")


def leave_one_out_shift(vectors: np.ndarray, mode: str = "mean") -> np.ndarray:
    """(n,) how far the pooled vector turns when each token is left out: 1 − cos(pooled, pooled without it).

    For mean pooling of [1,0] and [0,1]: the pooled vector is [.5,.5]; without the first token it is
    [0,1], so the shift is 1 − 0.707 = 0.293. A single token has nothing to compare with: shift 0.
    """
    if mode not in LEAVE_ONE_OUT_MODES:
        raise ValueError(
            f"Unknown pooling for leave-one-out: {mode}. Valid poolings: {list(LEAVE_ONE_OUT_MODES)}"
        )
    x = np.asarray(vectors, dtype=np.float64)  # (n, D)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    full = pool(x, mode)  # (D,)
    if mode == "mean":
        without = (x.sum(axis=0) - x) / (n - 1)  # (n, D): the mean of the other n-1 tokens
    else:
        without = np.stack([np.delete(x, i, axis=0).max(axis=0) for i in range(n)])  # (n, D)
    return 1.0 - cosine(without, full)


def leave_one_out_applies(pooling: str) -> bool:
    """Whether leaving one token out of `pooling` is meaningful (mean, max); for [CLS] it is not: the
    pooled vector is one token's, and dropping any other token changes nothing by construction."""
    return pooling in LEAVE_ONE_OUT_MODES


def token_measures(states: LayerStates, sentence: int, layer: int | None = None) -> pd.DataFrame:
    """Per token of one sentence at `layer` (default: output): cosine to the model's pooled vector, and
    the leave-one-out shift under the model's own pooling (NaN where that pooling has no such measure).

    The pooled vector is the model's own (`pooled_raw`, any pooling mode), over the same tokens the model
    pools (all real tokens, [CLS]/[SEP] too); never a different pooling passed off as the model's.
    """
    if not 0 <= sentence < states.n_sentences:
        raise ValueError(f"Unknown sentence: {sentence}. Valid sentences: 0..{states.n_sentences - 1}")
    layer = states.n_layers if layer is None else layer
    rows = states.tokens.index[states.tokens["sentence"] == sentence].to_numpy()
    vectors = states.layers[layer, rows].astype(np.float64)  # (n, D)
    pooled = np.asarray(states.pooled_raw[layer, sentence], dtype=np.float64)  # (D,) the model's pooling
    if leave_one_out_applies(states.pooling):
        shift = leave_one_out_shift(vectors, states.pooling)  # (n,)
    else:
        shift = np.full(len(rows), np.nan)
    table = states.tokens.loc[rows]
    return pd.DataFrame(
        {
            "position": table["position"].to_numpy(),
            "token": table["text"].to_numpy(),
            "label": [f"{p:>2} · {t}" for p, t in zip(table["position"], table["text"], strict=True)],
            "special": table["special"].to_numpy(dtype=bool),
            "cosine_to_pooled": cosine(vectors, pooled),
            "leave_one_out_shift": shift,
        }
    )


def sentence_vectors(states: LayerStates, how: str, layer: int | None = None) -> np.ndarray:
    """(S, D) one vector per sentence by the chosen pooling (see POOLINGS); 'mean_layer' needs `layer`."""
    if how == "model":
        return np.asarray(states.pooled, dtype=np.float64)
    if how == "mean_layer":
        if layer is None or not 0 <= layer <= states.n_layers:
            raise ValueError(f"mean_layer needs a layer in 0..{states.n_layers}, got {layer}.")
        if states.pooling == "mean":
            return np.asarray(states.pooled_raw[layer], dtype=np.float64)
        return _per_sentence(states, layer, "mean")
    if how in ("cls", "max"):
        return _per_sentence(states, states.n_layers, how)
    raise ValueError(f"Unknown pooling: {how}. Valid poolings: {list(POOLINGS)}")


def _per_sentence(states: LayerStates, layer: int, mode: str) -> np.ndarray:
    sentence_of = states.sentence_of_token()
    return np.stack([pool(states.layers[layer, sentence_of == s], mode) for s in range(states.n_sentences)])


def similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """(S, S) cosine similarity between every pair of rows."""
    return cosine_matrix(vectors)


def sentence_ids(n: int) -> list[str]:
    return [f"S{i + 1}" for i in range(n)]


def similarity_frame(matrix: np.ndarray, texts: Sequence[str]) -> pd.DataFrame:
    """Tidy (row, column, cosine) rows for the heatmap, with the sentences for hover."""
    ids = sentence_ids(len(texts))
    n = len(ids)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return pd.DataFrame(
        {
            "row": [ids[k] for k in i.ravel()],
            "column": [ids[k] for k in j.ravel()],
            "row_text": [shorten(texts[k], 80) for k in i.ravel()],
            "column_text": [shorten(texts[k], 80) for k in j.ravel()],
            "cosine": matrix.ravel().astype(float),
        }
    )


# ---------------------------------------------------------------- tokens → one point, in 2-D
@dataclass(frozen=True)
class CloudFrames:
    """Output-layer tokens and pooled points on one 2-D PCA map (pooled points are mapped, not fitted)."""

    tokens: pd.DataFrame
    pooled: pd.DataFrame
    explained: float


def cloud_frames(states: LayerStates, contrast: str | None = None) -> CloudFrames:
    """Every output-layer token and each sentence's pooled vector (before normalising) on shared PCA axes.

    The PCA is fitted on the tokens only; a linear map keeps means, so with mean pooling the model's
    point lands exactly on the centroid of its sentence's tokens. `contrast` ('cls' or 'max') adds an
    alternative pooled point per sentence, marked as not the model's.
    """
    if contrast not in (None, "cls", "max"):
        raise ValueError(f"Unknown contrast pooling: {contrast}. Valid poolings: [None, 'cls', 'max']")
    final = np.asarray(states.layers[-1], dtype=np.float64)  # (N, D)
    projection = fit_map(final)
    labels = [f"S{i + 1} · {shorten(t, 42)}" for i, t in enumerate(states.texts)]
    sentence_of = states.sentence_of_token()
    tokens = pd.DataFrame(
        {
            "sentence": [labels[s] for s in sentence_of],
            "sentence_id": sentence_of,
            "token": states.tokens["text"].to_numpy(),
            "x": projection.coords[:, 0].astype(float),
            "y": projection.coords[:, 1].astype(float),
        }
    )
    kinds = [
        ("model", f"the model's embedding ({states.pooling}), before normalising", states.pooled_raw[-1])
    ]
    if contrast is not None:
        kinds.append((contrast, POOLINGS[contrast], sentence_vectors(states, contrast)))
    pooled_rows = []
    for kind, what, vectors in kinds:
        xy = projection.place(np.asarray(vectors, dtype=np.float64))  # (S, 2)
        pooled_rows.append(
            pd.DataFrame(
                {
                    "sentence": labels,
                    "sentence_id": np.arange(len(labels)),
                    "kind": kind,
                    "what": what,
                    "x": xy[:, 0].astype(float),
                    "y": xy[:, 1].astype(float),
                }
            )
        )
    pooled = pd.concat(pooled_rows, ignore_index=True)
    model_xy = pooled[pooled["kind"] == "model"].set_index("sentence_id")[["x", "y"]]
    tokens["pooled_x"] = model_xy.loc[sentence_of, "x"].to_numpy()
    tokens["pooled_y"] = model_xy.loc[sentence_of, "y"].to_numpy()
    return CloudFrames(tokens=tokens, pooled=pooled, explained=projection.explained)


def norm_table(states: LayerStates) -> pd.DataFrame:
    """Length of each pooled vector before normalising, and after (what the model returns)."""
    return pd.DataFrame(
        {
            "sentence": sentence_ids(states.n_sentences),
            "text": [shorten(t, 60) for t in states.texts],
            "length before normalising": np.linalg.norm(states.pooled_raw[-1], axis=1).astype(float),
            "length returned": np.linalg.norm(states.pooled, axis=1).astype(float),
        }
    )


# ---------------------------------------------------------------- downloads
def embeddings_csv(texts: Sequence[str], vectors: np.ndarray) -> bytes:
    frame = pd.DataFrame(
        np.asarray(vectors, dtype=np.float32), columns=[f"d{i}" for i in range(vectors.shape[1])]
    )
    frame.insert(0, "text", list(texts))
    return csv_bytes(frame, float_format=None)


def embeddings_npz(texts: Sequence[str], vectors: np.ndarray) -> bytes:
    """An .npz with `texts` (strings) and `embeddings` (N, D) float32; loads without pickle."""
    buffer = io.BytesIO()
    np.savez(
        buffer, texts=np.asarray(list(texts), dtype=str), embeddings=np.asarray(vectors, dtype=np.float32)
    )
    return buffer.getvalue()


def similarity_csv(texts: Sequence[str], matrix: np.ndarray) -> bytes:
    ids = sentence_ids(len(texts))
    frame = pd.DataFrame(matrix, index=ids, columns=ids)
    frame.insert(0, "text", list(texts))
    return csv_bytes(frame, float_format=None, index=True, index_label="sentence")
