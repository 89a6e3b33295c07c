"""Streamlit side of the Token journey page: the cached view and its caption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import charts
from explorer.projection import Projection, project
from explorer.states import LayerStates, layer_names, token_mask
from explorer.ui import cached_states, load_states

MAX_SHOWN_TOKENS = 3000


@dataclass(frozen=True)
class JourneyView:
    """Everything the Token journey chart needs, computed once per set of inputs."""

    states: LayerStates
    shown: np.ndarray
    projection: Projection
    points: pd.DataFrame
    pooled: pd.DataFrame | None
    names: tuple[str, ...]
    capped: bool


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_journey(
    model_id: str, texts: tuple[str, ...], method: str, seed: int, hide_special: bool, hide_punct: bool
) -> JourneyView:
    states = cached_states(model_id, texts)
    shown = token_mask(states.tokens, hide_special, hide_punct)
    capped = int(shown.sum()) > MAX_SHOWN_TOKENS
    if capped:
        shown &= np.cumsum(shown) <= MAX_SHOWN_TOKENS
    if not shown.any():  # hiding everything would leave nothing to draw: keep all tokens instead
        shown = np.ones_like(shown)
    names = tuple(layer_names(states.n_layers))
    proj = project(states.layers[:, shown], method, pooled=states.pooled_raw, seed=seed)
    points, pooled = charts.journey_frames(states.tokens, states.texts, proj, names, shown)
    return JourneyView(states, shown, proj, points, pooled, names, capped)


def journey_view(model_id: str, texts: tuple[str, ...], method: str, hide_special: bool, hide_punct: bool):
    """Compute (or fetch) the journey view, announcing slow work."""
    load_states(model_id, texts)
    message = "Fitting aligned UMAP across layers (the first time takes ~20 s)…" if method == "umap" else None
    if message:
        with st.spinner(message):
            return cached_journey(model_id, texts, method, 0, hide_special, hide_punct)
    return cached_journey(model_id, texts, method, 0, hide_special, hide_punct)


def journey_caption(view: JourneyView, layer: int, hide_special: bool) -> str:
    """One line under the chart: what a point is, what the axes are, and how faithful this layer is."""
    proj, names = view.projection, view.names
    axes = {
        "pca_shared": "the first two principal axes of all layers together, the same at every layer",
        "pca_aligned": "this layer's own first two principal axes, rotated to match the previous layer",
        "umap": "UMAP coordinates (no units; only neighbourhoods mean something)",
    }[proj.method]
    parts = [
        f"**Layer {names[layer]}** · each dot is one token's {view.states.layers.shape[2]}-dim vector; axes: {axes}."
    ]
    scores = []
    if not np.isnan(proj.explained[layer]):
        scores.append(f"explained variance {proj.explained[layer]:.0%}")
    if not np.isnan(proj.faithfulness[layer]):
        scores.append(f"faithfulness {proj.faithfulness[layer]:.0%} (10 nearest neighbours kept)")
    if scores:
        parts.append("This layer: " + ", ".join(scores) + ".")
    if view.pooled is not None:
        if view.states.pooling == "mean" and not hide_special:
            parts.append(
                "◆ = the sentence's pooled vector at this layer. Mean pooling is linear, so under this linear "
                "map it lands exactly on the centroid of its sentence's tokens."
            )
        elif view.states.pooling == "mean":
            parts.append(
                "◆ = the sentence's pooled vector. It still averages the hidden [CLS]/[SEP], so it sits off "
                "the centroid of the dots shown."
            )
        else:
            parts.append(f"◆ = the sentence's pooled vector ({view.states.pooling} pooling).")
    return " ".join(parts)
