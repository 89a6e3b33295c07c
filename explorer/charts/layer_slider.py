"""The journey chart's own Layer slider and Play, and how the server follows them.

The slider is a Vega-Lite point selection bound to a range input (`layer_picker`): moving it filters the
drawn layer in the browser, and Streamlit reports the layer afterwards (`picked_layer`). Play moves a
hidden input of its own (`play_frame`) and every point glides towards its next layer's place
(`with_next_place`, `gliding`). `plan_layer_chart` decides the spec's start layer and the chart's key, so
the browser shows the layer the server means. No Streamlit, no model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

LAYER_PARAM = "layer_pick"


def layer_picker(layer: int, n_layers: int) -> alt.Parameter:
    """The chart's own layer slider: a point selection on `layer` bound to a range input.

    Moving it filters the drawn layer inside the browser (no round trip to the server); Streamlit
    reports the new value as this selection, so the page can follow it.
    """
    return alt.selection_point(
        name=LAYER_PARAM,
        fields=["layer"],
        value=[{"layer": int(layer)}],
        bind=alt.binding_range(min=0, max=int(n_layers), step=1, name="Layer "),
        on="none",  # only the slider sets it, never a click on the chart
        clear=False,
    )


PLAY_PARAM = "play_frame"


def play_frame(n_layers: int) -> alt.Parameter:
    """Where Play is, in layers (-1 when it is not playing): 2.5 is halfway from layer 2 to layer 3.

    Play runs in the browser (`explorer/ui/player.py`) and moves this hidden input many times a second;
    Streamlit is not told (only `layer_picker` is reported), so playing costs the server nothing. The
    layer shown is its whole part, and every point glides from there towards the next layer's place.
    """
    return alt.param(
        name=PLAY_PARAM,
        value=-1,
        bind=alt.binding_range(min=-1, max=int(n_layers), step=0.01, name="Play frame "),
    )


def without_play_input(chart: alt.LayerChart) -> alt.LayerChart:
    """A copy of a journey chart for a file: its Play frame stays at -1 with no input of its own (only the
    app's Play moves it), so the file shows one slider, the Layer slider, which works as on screen."""
    chart = chart.copy(deep=True)
    for holder in (chart, *chart.layer):  # Altair lifts a layer's parameters to the whole chart
        if isinstance(holder.params, list):
            holder.params = [
                alt.VariableParameter(name=PLAY_PARAM, value=-1)
                if getattr(p, "name", None) == PLAY_PARAM
                else p
                for p in holder.params
            ]
    return chart


def shown_layer() -> dict:
    """The filter for the layer drawn: the slider's layer, or while Play runs, the whole part of its frame."""
    return {
        "or": [
            {"and": [{"param": LAYER_PARAM}, f"{PLAY_PARAM} < 0"]},
            f"{PLAY_PARAM} >= 0 && datum.layer == floor({PLAY_PARAM})",
        ]
    }


def with_next_place(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """`frame` (one row per (key, layer)) with each row's place at the key's next layer (`x_next`,
    `y_next`; the last layer's own place), so Play can move points between layers."""
    keys, layers = frame[key].to_numpy(), frame["layer"].to_numpy()
    order = np.lexsort((layers, keys))  # by key, then layer
    following = np.arange(len(frame))
    same = keys[order[1:]] == keys[order[:-1]]
    following[order[:-1][same]] = order[1:][same]
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    return frame.assign(x_next=x[following].round(5), y_next=y[following].round(5))


GLIDE = (
    f"{PLAY_PARAM} >= 0 ? datum.{{axis}} + (datum.{{axis}}_next - datum.{{axis}}) * ({PLAY_PARAM} - "
    f"floor({PLAY_PARAM})) : datum.{{axis}}"
)


def gliding(chart: alt.Chart) -> alt.Chart:
    """`chart` with `gx`, `gy`: its points' places, moving towards the next layer while Play runs."""
    return chart.transform_calculate(gx=GLIDE.format(axis="x"), gy=GLIDE.format(axis="y"))


def picked_layer(selection: object, n_layers: int) -> int | None:
    """The layer in a Streamlit selection payload for `layer_picker` (None when absent or invalid).

    `n_layers` bounds what is accepted; pass a generous bound to learn what a stale chart reported.
    """
    try:
        value = selection[LAYER_PARAM][0]["layer"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value) if 0 <= value <= n_layers else None


@dataclass(frozen=True)
class LayerChartPlan:
    """How to send the journey chart so the browser shows `layer`: its key and its slider's start."""

    start: int  # the layer the chart's own slider starts at (part of the spec)
    generation: int  # part of the chart's key: a new key starts without a remembered selection


def plan_layer_chart(
    layer: int,
    n_layers: int,
    previous_start: int | None,
    generation: int,
    rendered: bool,
    reported: int | None,
    same_chart: bool,
) -> LayerChartPlan:
    """Decide the chart's start layer and key generation for this run.

    The browser draws the layer its slider last reported for this key (it restores that selection
    whenever it rebuilds the view), or the spec's start when nothing was reported. So:
    - the slider reported exactly `layer` and nothing else about the chart changed (`same_chart`): keep
      the previous start, so the spec stays the same and the browser keeps its view (no rebuild after
      every slider move). When something else changed, the view is rebuilt anyway: start at `layer`,
      so the slider's handle and the restored selection agree;
    - the slider reported another layer (Play, a share link, a model with fewer layers set `layer`), or
      the chart was not drawn in the last run (so what the browser remembers is unknown): a new key;
    - nothing reported: start at `layer` under the same key.
    """
    valid = isinstance(previous_start, int) and 0 <= previous_start <= n_layers
    if rendered and same_chart and reported is not None and reported == layer and valid:
        return LayerChartPlan(int(previous_start), generation)  # type: ignore[arg-type]
    if not rendered or (reported is not None and reported != layer):
        return LayerChartPlan(layer, generation + 1)
    return LayerChartPlan(layer, generation)


def shown_update() -> dict:
    """The filter for what moved the points to the layer shown (rows keyed by the layer the update
    ends at): the slider's layer, or while Play glides from layer l to l+1, the update to l+1."""
    return {
        "or": [
            {"and": [{"param": LAYER_PARAM}, f"{PLAY_PARAM} < 0"]},
            f"{PLAY_PARAM} >= 0 && datum.layer == floor({PLAY_PARAM}) + 1",
        ]
    }


def gliding_from_before(chart: alt.Chart, fields: Sequence[str]) -> alt.Chart:
    """`chart` with `g<field>` for each of `fields`: the place at the row's layer, or while Play runs,
    on the way there from the layer before (`<field>_prev`), in step with the gliding points."""
    step = f"({PLAY_PARAM} - floor({PLAY_PARAM}))"
    return chart.transform_calculate(
        **{
            f"g{f}": f"{PLAY_PARAM} >= 0 ? datum.{f}_prev + (datum.{f} - datum.{f}_prev) * {step} : datum.{f}"
            for f in fields
        }
    )
