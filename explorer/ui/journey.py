"""Streamlit side of the Token journey page: the cached view and its caption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import share
from explorer.charts import journey as charts
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.models import ModelInfo
from explorer.projection import METHODS, Projection, project
from explorer.states import (
    MAX_LAYERS,
    LayerStates,
    StatesSummary,
    default_highlight,
    layer_names,
    token_mask,
)
from explorer.ui import links
from explorer.ui.caches import cached_states
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.state import current_layer, kept, persisted, remember, set_value, set_value_silently
from explorer.ui.widgets import SEED_MAX

MAX_SHOWN_TOKENS = 3000


@dataclass(frozen=True)
class JourneyView:
    """Everything the Token journey chart needs, computed once per set of inputs.

    It keeps a summary of the states, not the states: the vectors stay in the byte-budgeted states
    cache, and only the export (`states`) fetches them again.
    """

    model_id: str
    summary: StatesSummary
    shown: np.ndarray
    projection: Projection
    points: pd.DataFrame
    pooled: pd.DataFrame | None
    names: tuple[str, ...]
    capped: bool

    @property
    def states(self) -> LayerStates:
        return cached_states(self.model_id, self.summary.texts)


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_journey(
    model_id: str, texts: tuple[str, ...], method: str, seed: int, hide_special: bool, hide_punct: bool
) -> JourneyView:
    """The journey view: what it derives from the states, small next to the states themselves."""
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
    return JourneyView(model_id, states.summary(), shown, proj, points, pooled, names, capped)


def journey_view(
    model_id: str, texts: tuple[str, ...], method: str, hide_special: bool, hide_punct: bool, seed: int = 0
) -> JourneyView:
    """Compute (or fetch) the journey view, announcing slow work (a spinner shows only if it is slow)."""
    if method == "umap":
        with st.spinner("Fitting aligned UMAP across layers (the first time takes ~20 s)…"):
            return cached_journey(model_id, texts, method, seed, hide_special, hide_punct)
    with st.spinner(f"Running the model over {len(texts)} sentences…"):
        return cached_journey(model_id, texts, method, 0, hide_special, hide_punct)


CHART_KEY = "journey_chart"
# Static CSS only (no user text ever goes here): the chart's own layer slider, wide and easy to grab.
_SLIDER_CSS = """
<style>
[data-testid="stVegaLiteChart"] .vega-bind label { display: flex; align-items: center; gap: 0.8rem; width: 100%; }
[data-testid="stVegaLiteChart"] .vega-bind-name { font-weight: 600; min-width: auto !important; }
[data-testid="stVegaLiteChart"] .vega-bind input[type="range"] {
  flex: 1 1 auto; width: auto !important; max-width: 560px; cursor: grab;
}
"""


def style_layer_slider() -> None:
    st.html(_SLIDER_CSS)


_CHART_INPUTS = "_journey_chart_inputs"


def chart_key() -> str:
    return f"{CHART_KEY}_{kept('layer_chart_generation', 0)}"


def layer_and_start(n_layers: int, chart_inputs: tuple) -> tuple[int, int, str]:
    """(the layer shown, the layer the chart's own slider starts at, the chart's key).

    The chart moves between layers in the browser and reports the new layer afterwards; see
    `charts.plan_layer_chart` for how the start and key keep the browser and the server in step.
    `chart_inputs` is everything else the chart is drawn from (to tell whether the spec changes).
    """
    same_chart = st.session_state.get(_CHART_INPUTS) == chart_inputs
    st.session_state[_CHART_INPUTS] = chart_inputs
    layer = current_layer(n_layers)
    event = st.session_state.get(chart_key())  # absent when the chart was not drawn in the last run
    reported = charts.picked_layer(event.get("selection"), MAX_LAYERS) if event else None
    plan = charts.plan_layer_chart(
        layer,
        n_layers,
        kept("layer_start"),
        kept("layer_chart_generation", 0),
        rendered=event is not None,
        reported=reported,
        same_chart=same_chart,
    )
    set_value_silently("layer_start", plan.start)
    set_value_silently("layer_chart_generation", plan.generation)
    return layer, plan.start, chart_key()


def on_layer_picked() -> None:
    """on_select callback of the journey chart: follow the layer picked with the chart's slider."""
    event = st.session_state.get(chart_key())
    picked = charts.picked_layer(event.get("selection") if event else None, MAX_LAYERS)
    if picked is not None:
        set_value_silently("layer", picked)  # current_layer() clamps it to the model's layers


def layer_notes(view: JourneyView) -> list[str]:
    """Per layer, the line shown in the chart's corner: how much of the layer the picture keeps."""
    notes = []
    for explained, faithful in zip(view.projection.explained, view.projection.faithfulness, strict=True):
        parts = []
        if not np.isnan(explained):
            parts.append(f"explained variance {explained:.0%}")
        if not np.isnan(faithful):
            parts.append(f"10-NN kept {faithful:.0%}")
        notes.append(" · ".join(parts))
    return notes


def journey_caption(view: JourneyView, layer: int) -> str:
    """One line under the chart: what a point is, what the axes are, and how faithful this layer is."""
    proj, names = view.projection, view.names
    axes = {
        "pca_shared": "the first two principal axes of all layers together, the same at every layer",
        "pca_aligned": "this layer's own first two principal axes, rotated to match the previous layer",
        "umap": "UMAP coordinates (no units; only neighbourhoods mean something)",
    }[proj.method]
    parts = [
        f"**Layer {names[layer]}** · each dot is one token's {view.summary.width}-dim vector; axes: {axes}."
    ]
    scores = []
    if not np.isnan(proj.explained[layer]):
        scores.append(f"explained variance {proj.explained[layer]:.0%}")
    if not np.isnan(proj.faithfulness[layer]):
        scores.append(f"faithfulness {proj.faithfulness[layer]:.0%} (10 nearest neighbours kept)")
    if scores:
        parts.append("This layer: " + ", ".join(scores) + ".")
    if view.pooled is not None:
        if view.summary.pooling == "mean" and view.shown.all():
            parts.append(
                "◆ = the sentence's pooled vector at this layer. Mean pooling is linear, so under this linear "
                "map it lands exactly on the centroid of its sentence's tokens."
            )
        elif view.summary.pooling == "mean":
            parts.append(
                "◆ = the sentence's pooled vector. It still averages the tokens hidden here, so it sits off "
                "the centroid of the dots shown."
            )
        else:
            parts.append(f"◆ = the sentence's pooled vector ({view.summary.pooling} pooling).")
    return " ".join(parts)


# ---------------------------------------------------------------- follow picker, share links, export
def follow_picker(view: JourneyView, context: str) -> list[int]:
    """Tokens whose paths are drawn boldly; remembered per set of sentences, reset when they change."""
    shown_rows = view.points[view.points["layer"] == 0]
    options = shown_rows["uid"].tolist()
    names = dict(zip(options, shown_rows["sentence"].str[:3] + " · " + shown_rows["token"], strict=True))
    from_link = st.session_state.pop(_FOLLOW_FROM_LINK, None)
    if from_link is not None:
        set_value("follow", [u for u in from_link if u in names])
        set_value_silently("follow_context", context)
    elif kept("follow_context") != context:
        set_value("follow", [u for u in default_highlight(view.summary.tokens) if u in names])
        set_value_silently("follow_context", context)
    persisted("follow", [])
    if any(u not in names for u in st.session_state["follow"]):
        set_value("follow", [u for u in st.session_state["follow"] if u in names])
    st.multiselect(
        "Follow tokens",
        options,
        format_func=names.get,
        key="follow",
        on_change=remember,
        args=("follow",),
        help="Their paths through all layers are drawn boldly and ringed at the current layer.",
    )
    return list(st.session_state["follow"])


_FOLLOW_FROM_LINK = "_follow_from_link"
LINK = LinkSpec(
    {
        **links.sentence_fields(),
        "layer": LinkField(share.is_int_between(0, MAX_LAYERS), "layer"),
        "projection": LinkField(share.is_one_of(METHODS), "projection"),
        "hide_special": LinkField(share.is_bool, "hide_special"),
        "hide_punct": LinkField(share.is_bool, "hide_punct"),
        "labels": LinkField(share.is_bool, "labels"),
        "paths": LinkField(share.is_one_of(charts.TRAJECTORY_MODES), "paths"),
        "seed": LinkField(share.is_int_between(0, SEED_MAX), "seed"),
        "follow": LinkField(share.is_int_list(MAX_SHOWN_TOKENS)),  # token rows: applied once the view exists
    }
)


def receive_link() -> None:
    """Apply a shared view from the URL (asking first if it would replace typed sentences)."""
    state = links.receive_sentences_link(LINK)
    if state is not None and "follow" in state:
        st.session_state[_FOLLOW_FROM_LINK] = state["follow"]


def view_state(model_id: str, layer: int, follow: list[int]) -> dict:
    """This page's view as a share-link state."""
    return LINK.state(model_id, layer=layer, follow=follow)


def export_bundle(view: JourneyView, chart, state: dict, info: ModelInfo) -> bytes:
    """ZIP: coordinates shown, vectors + token table, the chart (HTML/PNG/SVG) and a manifest."""
    coords = view.points.drop(columns=["uid"]).assign(kind="token")
    if view.pooled is not None:
        coords = pd.concat([coords, view.pooled.assign(kind="pooled sentence point")], ignore_index=True)
    tokens = view.states.tokens[view.shown].reset_index(drop=True)
    vectors = {
        "layers": view.states.layers[:, view.shown],  # (L+1, N shown, D)
        "pooled_raw": view.states.pooled_raw,  # (L+1, S, D)
        "pooled": view.states.pooled,  # (S, D)
        "texts": np.array(view.states.texts, dtype=str),
        **table_arrays(tokens),
    }
    manifest = {
        **base_manifest("Token journey", info, state.get("seed", 0), state),
        "layer_names": list(view.names),
        "explained_variance": [
            None if np.isnan(v) else round(float(v), 6) for v in view.projection.explained
        ],
        "faithfulness": [None if np.isnan(v) else round(float(v), 6) for v in view.projection.faithfulness],
        "how_to_reproduce": "explorer.states.extract_states(load_model(model_id), texts) then "
        "explorer.projection.project(layers[:, shown], settings.projection, pooled_raw, seed)",
    }
    return build_bundle(coords, vectors, chart, manifest)
