"""The Token journey chart as sent: its key and start layer (so the browser's own Layer slider and the server stay in step), the server-wide chart caches, the corner notes and the caption."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import streamlit as st

from explorer.budget import ByteBudgetCache
from explorer.charts import journey as charts
from explorer.charts import layer_slider
from explorer.charts.transport import arrow_bytes, spec_and_tables
from explorer.journey_request import JourneyRequest
from explorer.states import (
    MAX_LAYERS,
)
from explorer.ui import keys
from explorer.ui.journey.view import JourneyView
from explorer.ui.state import current_layer, kept, set_value_silently

CHART_KEY = "journey_chart"


CHART_HEIGHT = 520


PRESENTER_CHART_HEIGHT = 420  # with the controls row and the slider, inside a 720-px-high screen


def chart_height(presenter: bool, lesson: bool = False) -> int:
    """The presenter view's height, also while a lesson's card sits above the chart: question, Reveal,
    the chart and its Layer slider fit one 1920x1080 screen."""
    return PRESENTER_CHART_HEIGHT if presenter or lesson else CHART_HEIGHT


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


def layer_and_start(n_layers: int, chart_inputs: JourneyRequest) -> tuple[int, int, str]:
    """(the layer shown, the layer the chart's own slider starts at, the chart's key).

    The chart moves between layers in the browser and reports the new layer afterwards; see
    `layer_slider.plan_layer_chart` for how the start and key keep the browser and the server in step.
    `chart_inputs` is everything else the chart is drawn from (to tell whether the spec changes).
    """
    same_chart = st.session_state.get(_CHART_INPUTS) == chart_inputs
    st.session_state[_CHART_INPUTS] = chart_inputs
    layer = current_layer(n_layers, keys.LAYER)
    event = st.session_state.get(chart_key())  # absent when the chart was not drawn in the last run
    reported = layer_slider.picked_layer(event.get("selection"), MAX_LAYERS) if event else None
    plan = layer_slider.plan_layer_chart(
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


# Built journey charts (the spec as JSON text, the tables as Arrow bytes), shared by every session: a
# class opening the same link, or one person moving the chart's own slider (the page reruns with the same
# inputs), gets the chart built once.
_CHARTS = ByteBudgetCache[tuple[str, dict[str, bytes]]](max_bytes=64 * 2**20, max_entries=64)


# Specs by the drawing's shape (see `charts.JourneyDrawing`): new sentences only remake the tables.
_SPECS = ByteBudgetCache[str](max_bytes=4 * 2**20, max_entries=64)


def chart_for(
    chart_inputs: JourneyRequest, start: int, drawing_of: Callable[[], charts.JourneyDrawing]
) -> dict:
    """The journey chart starting at `start` as a Vega-Lite spec for `st.vega_lite_chart` (a fresh dict:
    change it freely), its tables as Arrow bytes in `datasets`, which Streamlit sends as they are.

    Built once per (inputs, start) for the whole server; the spec (Altair's part of the work) once per
    (shape, start), so new sentences of a known shape cost only their tables (see `transport`)."""

    def make() -> tuple[str, dict[str, bytes]]:
        drawing = drawing_of()
        made: dict[str, bytes] = {}

        def spec() -> str:
            built, tables = spec_and_tables(charts.journey_chart_of(drawing, start), drawing.tables)
            made.update(tables)
            return json.dumps(built)

        text = _SPECS.get_or_make((drawing.shape, start), spec, len)
        # Always in the drawing's order: the browser rebuilds the view when the tables come in another
        # order (it keys the view on the tables' names and row counts, in order).
        return text, {role: made.get(role) or arrow_bytes(frame) for role, frame in drawing.tables.items()}

    text, tables = _CHARTS.get_or_make(
        (chart_inputs.key, start), make, lambda built: len(built[0]) + sum(map(len, built[1].values()))
    )
    return {**json.loads(text), "datasets": dict(tables)}


def on_layer_picked() -> None:
    """on_select callback of the journey chart: follow the layer picked with the chart's slider."""
    event = st.session_state.get(chart_key())
    picked = layer_slider.picked_layer(event.get("selection") if event else None, MAX_LAYERS)
    if picked is not None:
        set_value_silently(keys.LAYER, picked)  # current_layer() clamps it to the model's layers


def layer_notes(view: JourneyView) -> list[str]:
    """Per layer, the line shown in the chart's corner: how much of the layer the picture keeps."""
    notes = []
    words = view.axis_words
    axes = (
        f"x: where '{words[0]}' parts · y: where '{words[1]}' parts"
        if len(words) > 1
        else f"x: where '{words[0]}' parts"
        if words
        else ""
    )
    for explained, faithful in zip(view.projection.explained, view.projection.faithfulness, strict=True):
        parts = [axes] if axes else []
        if not np.isnan(explained):
            parts.append(f"explained variance {explained:.0%}")
        if not np.isnan(faithful):
            parts.append(f"10-NN kept {faithful:.0%}")
        notes.append(" · ".join(parts))
    return notes


def journey_caption(view: JourneyView) -> str:
    """One line under the chart: what a point is and what the axes are. It names no layer: the chart's own
    corner names the layer its slider shows, and how faithful that layer is, as fast as the points move
    (a caption written by the server would lag a slider move by the length of a rerun)."""
    proj = view.projection
    fitted = (
        f"the first two principal axes of the {len(view.fit_on)} followed tokens over all layers (the plane "
        "where they differ most), the same at every layer, with every token drawn on it"
    )
    axes = {
        "groups": "per layer, x along where the followed word's groups part, chosen among that word's three "
        "main directions of variation found without the groups (so shuffled groups cannot part on it), y "
        "along the other tokens' main direction (with a second grouped word: its own group axis)",
        "pca_shared": fitted
        if view.fit_on
        else "the first two principal axes of all layers together, the same at every layer",
        "pca_aligned": "this layer's own first two principal axes, rotated to match the previous layer",
        "umap": "UMAP coordinates (no units; only neighbourhoods mean something)",
    }[proj.method]
    parts = [
        f"Each dot is one token's {view.summary.width}-dim vector at the layer named in the chart's corner "
        f"(with how much of that layer the picture keeps); axes: {axes}."
    ]
    if view.pooled is not None:
        if view.summary.pooling == "mean" and view.shown.all():
            parts.append(
                "◆ = the sentence's pooled vector at the layer shown. Mean pooling is linear, so under this linear "
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


PATHS_WAIT = "🎓 The paths and the cosines in the model's full space appear when you reveal the answer."
WHY_WAIT = "🎓 The lines from the words that moved each followed token appear when you reveal the answer."


def waiting_lines(paths_and_readout: bool, why: bool) -> list[str]:
    """While a lesson hides its evidence: what appears with the answer (under the chart, and in the pack)."""
    return [line for hidden, line in ((paths_and_readout, PATHS_WAIT), (why, WHY_WAIT)) if hidden]


def waiting_for_reveal(paths_and_readout: bool, why: bool) -> None:
    """Under the chart while a lesson hides its evidence: what appears with the answer."""
    for line in waiting_lines(paths_and_readout, why):
        st.caption(line)
