"""The Token journey's tidy frames: one row per (token, layer) and one per (sentence, layer), with the
place each has in the projection, and the legend's numbered sentence names. No Streamlit, no model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from explorer.inputs import shorten
from explorer.projection import Projection


def sentence_labels(texts: Sequence[str], width: int = 42) -> list[str]:
    """Legend names: 'S1 · She deposited her salary…' (numbered so duplicates stay apart)."""
    return [f"S{i + 1} · {shorten(t, width)}" for i, t in enumerate(texts)]


def journey_frames(
    tokens: pd.DataFrame,
    texts: Sequence[str],
    projection: Projection,
    layer_names: Sequence[str],
    shown: np.ndarray | None = None,
    groups: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Tidy frames for the journey chart: one row per (token, layer), and one per (sentence, layer).

    `shown` is the boolean mask over all tokens that `projection` was computed on. `groups` names each
    sentence's group ('' for none); the `group` column falls back to the sentence's own label.
    """
    shown_tokens = tokens if shown is None else tokens[shown]
    labels = sentence_labels(texts)
    group_of = [g or labels[i] for i, g in enumerate(groups)] if any(groups) else labels
    n_layers1, n, _ = projection.coords.shape
    if len(shown_tokens) != n:
        raise ValueError(f"Projection has {n} points but {len(shown_tokens)} tokens are shown.")
    of_token = shown_tokens["sentence"].to_numpy()
    per_token = {  # one value per token, the same at every layer
        "uid": shown_tokens.index.to_numpy(),
        "sentence_id": of_token,
        "sentence": np.asarray(labels, dtype=object)[of_token],
        "group": np.asarray(group_of, dtype=object)[of_token],
        "full_sentence": np.asarray([shorten(t, 90) for t in texts], dtype=object)[of_token],
        "token": shown_tokens["text"].to_numpy(),
        "piece": shown_tokens["token"].to_numpy(),
        "position": shown_tokens["position"].to_numpy(),
    }
    points = _by_layer(per_token, n, layer_names[:n_layers1], projection.coords)
    pooled = None
    if projection.pooled is not None:
        n_sent = projection.pooled.shape[1]
        per_sentence = {
            "sentence_id": np.arange(n_sent),
            "sentence": labels[:n_sent],
            "group": group_of[:n_sent],
            "full_sentence": [shorten(t, 90) for t in texts[:n_sent]],
            "token": ["pooled sentence point"] * n_sent,
        }
        pooled = _by_layer(per_sentence, n_sent, layer_names[:n_layers1], projection.pooled)
    return points, pooled


def _by_layer(columns: dict, n: int, layer_names: Sequence[str], coords: np.ndarray) -> pd.DataFrame:
    """One row per (item, layer), layer after layer: `columns` (n values each) repeated at every layer,
    with the layer, its name and the item's place there (`coords`: (L+1, n, 2))."""
    layers = len(layer_names)
    return pd.DataFrame(
        {
            **{name: np.tile(np.asarray(values), layers) for name, values in columns.items()},
            "layer": np.repeat(np.arange(layers), n),
            "layer_name": np.repeat(np.asarray(layer_names, dtype=object), n),
            "x": coords[..., 0].astype(float).ravel(),
            "y": coords[..., 1].astype(float).ravel(),
        }
    )
