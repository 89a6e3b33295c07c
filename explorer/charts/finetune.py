"""Altair builders for the Fine-tune page: loss curve, head snapshots on fixed axes, per-layer CKA bars.

Tidy DataFrames in, `alt.Chart` out; no Streamlit, no model. The 2-D view of the snapshots is one PCA
fitted on the step-0 outputs (the model's own embeddings) and reused for every step, so points move
while the axes stay put.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.layer_slider import layer_picker
from explorer.charts.style import OKABE_ITO, category_scale, display_text, padded_domain, with_style
from explorer.inputs import shorten
from explorer.projection import fit_map
from explorer.vectors import unit_rows

CLASSROOM_LINE = "#0072B2"
CKA_COLOURS = {False: ["#9ab0c8", "#e45756"], True: [OKABE_ITO[5], OKABE_ITO[3]]}
SPLIT_SHAPES = {"train": "circle", "held out": "triangle-up"}


def fixed_axes(first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), axes (D, 2)) of a PCA of the unit-length step-0 outputs, signs fixed."""
    plane = fit_map(unit_rows(first))
    return plane.mean, plane.axes


def snapshot_frame(
    steps: Sequence[int],
    outputs: Sequence[np.ndarray],
    texts: Sequence[str],
    labels: Sequence[str],
    held_out: Sequence[int],
) -> pd.DataFrame:
    """One row per (snapshot, sentence): x, y on the step-0 axes, plus where the sentence started."""
    if len(steps) != len(outputs) or not outputs:
        raise ValueError(f"Need one output array per step, got {len(steps)} steps and {len(outputs)} arrays.")
    mean, axes = fixed_axes(outputs[0])
    start = (unit_rows(outputs[0]) - mean) @ axes  # (S, 2)
    held = set(held_out)
    base = pd.DataFrame(
        {
            "row": np.arange(len(texts)),
            "text": [shorten(t, 90) for t in texts],
            "label": list(labels),
            "split": ["held out" if i in held else "train" for i in range(len(texts))],
            "x0": start[:, 0],
            "y0": start[:, 1],
        }
    )
    frames = []
    for step, out in zip(steps, outputs, strict=True):
        xy = (unit_rows(out) - mean) @ axes  # (S, 2)
        frames.append(base.assign(step=int(step), x=xy[:, 0], y=xy[:, 1]))
    return pd.concat(frames, ignore_index=True)


SNAPSHOT_HEIGHT = 460


def snapshot_chart(
    frame: pd.DataFrame,
    step: int,
    height: int = SNAPSHOT_HEIGHT,
    classroom: bool = False,
    compact: bool = False,
) -> alt.LayerChart:
    """Sentences at one training step, coloured by label; faint lines back to where each started.

    Axes span every step (and the start), so dragging the step slider moves points, not axes. Classroom
    mode: bigger points, thicker trails, larger type, the Okabe-Ito palette. `compact` (a short chart under
    a lesson's card): no axis titles, so the plot keeps its height (the caption names the axes).
    """
    steps = sorted(frame["step"].unique())
    if step not in steps:
        raise ValueError(f"No snapshot at step {step}. Valid steps: {steps}")
    x_all = pd.concat([frame["x"], frame["x0"]])
    y_all = pd.concat([frame["y"], frame["y0"]])
    x_scale = alt.Scale(domain=padded_domain(pad=0.08, values=x_all), nice=False)
    y_scale = alt.Scale(domain=padded_domain(pad=0.08, values=y_all), nice=False)
    x = alt.X("x:Q", title=None if compact else "axis 1 (PCA of step 0)", scale=x_scale)
    y = alt.Y("y:Q", title=None if compact else "axis 2 (PCA of step 0)", scale=y_scale)
    labels = list(dict.fromkeys(frame["label"]))
    palette = category_scale(labels, classroom)
    colour = alt.Color(
        "label:N",
        scale=palette,
        legend=alt.Legend(title="label", orient="right", labelLimit=200, symbolOpacity=1, symbolSize=120),
    )
    shape = alt.Shape(
        "split:N",
        scale=alt.Scale(domain=list(SPLIT_SHAPES), range=list(SPLIT_SHAPES.values())),
        legend=alt.Legend(title="rows", symbolSize=120, symbolFillColor="#666", symbolStrokeWidth=0),
    )
    tooltip = [
        alt.Tooltip("text:N", title="sentence"),
        alt.Tooltip("label:N", title="label"),
        alt.Tooltip("split:N", title="rows"),
        alt.Tooltip("step:Q", title="step"),
    ]
    now = frame[frame["step"] == step]
    trails = (
        alt.Chart(now)
        .mark_rule(opacity=0.45 if classroom else 0.3, strokeWidth=2.6 if classroom else 1.2)
        .encode(
            x=alt.X("x0:Q", scale=x_scale),
            y=alt.Y("y0:Q", scale=y_scale),
            x2=alt.X2("x:Q"),
            y2=alt.Y2("y:Q"),
            color=colour,
        )
    )
    points = (
        alt.Chart(now)
        .mark_point(
            size=320 if classroom else 150,
            filled=True,
            opacity=0.95 if classroom else 0.9,
            stroke="white",
            strokeWidth=1.2 if classroom else 0.8,
        )
        .encode(x=x, y=y, color=colour, shape=shape, tooltip=tooltip)
    )
    return with_style(alt.layer(trails, points).properties(height=height), classroom)


def loss_frame(losses: Sequence[float]) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(len(losses)), "loss": np.asarray(losses, dtype=float)})


def loss_chart(
    losses: Sequence[float],
    step: int | None = None,
    total_steps: int | None = None,
    height: int = 200,
    classroom: bool = False,
):
    """The training loss at every step; a dashed rule marks the step shown in the 2-D view."""
    frame = loss_frame(losses)
    last = total_steps if total_steps is not None else max(len(losses) - 1, 1)
    line = (
        alt.Chart(frame)
        .mark_line(color=CLASSROOM_LINE if classroom else "#4c78a8", strokeWidth=4 if classroom else 2.5)
        .encode(
            x=alt.X("step:Q", title="training step", scale=alt.Scale(domain=[0, last], nice=False)),
            y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("loss:Q", format=".3f")],
        )
    )
    if step is None:
        return with_style(line.properties(height=height), classroom)
    rule = (
        alt.Chart(pd.DataFrame({"step": [step]}))
        .mark_rule(
            color="#000" if classroom else "#666", strokeDash=[4, 3], strokeWidth=2 if classroom else 1
        )
        .encode(x=alt.X("step:Q"))
    )
    return with_style((line + rule).properties(height=height), classroom)


def cka_frame(
    layer_names: Sequence[str], cka: np.ndarray, tuned_layers: Sequence[int], moved: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per layer: CKA before vs after, whether it was tuned, and the mean distance tokens moved."""
    tuned = set(tuned_layers)
    return pd.DataFrame(
        {
            "layer": np.arange(len(layer_names)),
            "layer_name": list(layer_names),
            "cka": np.asarray(cka, dtype=float),
            "moved": np.full(len(layer_names), np.nan) if moved is None else np.asarray(moved, dtype=float),
            "status": ["tuned" if i in tuned else "frozen" for i in range(len(layer_names))],
        }
    )


def movement_chart(
    layer_names: Sequence[str],
    moved: np.ndarray,
    cka: np.ndarray,
    tuned_layers: Sequence[int],
    height: int = 230,
    classroom: bool = False,
    compact: bool = False,
) -> alt.LayerChart:
    """One bar per layer, the embeddings on top and the output at the bottom: the mean distance a token's
    vector moved from base to tuned copy, written at the bar's end; a frozen layer's bar is exactly zero and
    says so. Bars lie flat so the words fit beside a picture. CKA is in the tooltip. `compact` (a short
    chart under a lesson's card): no legend and no numbers on the axis, so each bar keeps room for its
    words (the words give the values; the colours stay frozen vs tuned)."""
    frame = cka_frame(layer_names, cka, tuned_layers, moved)
    frame["shown"] = ["0 (exactly)" if v == 0 else f"{v:.2f}" for v in frame["moved"]]
    top = float(frame["moved"].max())
    room = top * 1.6 if top > 0 else 1.0  # the value written at the longest bar's end stays inside
    base = alt.Chart(frame).encode(
        y=alt.Y("layer_name:N", title=None, sort=list(layer_names)),
        x=alt.X(
            "moved:Q",
            title="mean move of a token",
            scale=alt.Scale(domain=[0, room], nice=False),
            axis=alt.Axis(labels=False, ticks=False) if compact else alt.Axis(),
        ),
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=["frozen", "tuned"], range=CKA_COLOURS[classroom]),
            legend=None if compact else alt.Legend(title=None, orient="bottom"),
        ),
        tooltip=[
            alt.Tooltip("layer_name:N"),
            alt.Tooltip("status:N"),
            alt.Tooltip("moved:Q", title="mean move", format=".4f"),
            alt.Tooltip("cka:Q", title="CKA before vs after", format=".4f"),
        ],
    )
    text = base.mark_text(align="left", dx=6, fontSize=17 if classroom else 13).encode(
        text=alt.Text("shown:N")
    )
    return with_style((bars + text).properties(height=height), classroom)


def tuning_frame(
    base_xy: np.ndarray,
    tuned_xy: np.ndarray,
    moved: np.ndarray,
    tokens: pd.DataFrame,
    labels: Sequence[str],
    layer_names: Sequence[str],
) -> pd.DataFrame:
    """One row per (layer, token): where the base model and the tuned copy put it on shared axes.

    base_xy, tuned_xy: (L+1, N, 2); moved: (L+1, N) distance in the model's full space.
    """
    n_layers1, n, _ = base_xy.shape
    if tuned_xy.shape != base_xy.shape or moved.shape != (n_layers1, n) or len(tokens) != n:
        raise ValueError(
            f"Shapes disagree: {base_xy.shape}, {tuned_xy.shape}, {moved.shape}, {len(tokens)} tokens."
        )
    sentence = tokens["sentence"].to_numpy()
    base = pd.DataFrame(
        {
            "token": tokens["text"].to_numpy(),
            "label": [labels[s] for s in sentence],
            "sentence": [f"S{s + 1}" for s in sentence],
        }
    )
    return pd.concat(
        [
            base.assign(
                layer=i,
                layer_name=layer_names[i],
                x0=base_xy[i, :, 0].astype(float),
                y0=base_xy[i, :, 1].astype(float),
                x=tuned_xy[i, :, 0].astype(float),
                y=tuned_xy[i, :, 1].astype(float),
                moved=moved[i].astype(float),
            )
            for i in range(n_layers1)
        ],
        ignore_index=True,
    )


def tuning_chart(
    frame: pd.DataFrame, layer: int, height: int = 420, classroom: bool = False, compact: bool = False,
    moves: bool = True,
) -> alt.LayerChart:  # fmt: skip
    """Tokens through the base model (hollow grey) and the tuned copy (filled, by label) on the same axes,
    a line from each token's base position to its tuned one, for the layer the chart's slider picks.
    `compact` (a short, narrow chart under a lesson's card): no axis titles, a smaller layer title.
    `moves=False` (a lesson waiting for its prediction): the layer title leaves out the layer's mean move,
    which would answer "which layers move?" at a glance of each layer (0.000 below the tuned ones)."""
    n_layers = int(frame["layer"].max())
    frame = frame.assign(token=display_text(frame["token"]))  # the tooltip's token, cut short
    pick = layer_picker(min(max(int(layer), 0), n_layers), n_layers)
    x_scale = alt.Scale(zero=False, nice=False, padding=12)  # each layer has its own axes: fit what is shown
    y_scale = alt.Scale(zero=False, nice=False, padding=12)
    x = alt.X(
        "x:Q", title=None if compact else "axis 1 (this layer's PCA of base and tuned tokens)", scale=x_scale
    )
    y = alt.Y("y:Q", title=None if compact else "axis 2", scale=y_scale)
    colour = alt.Color(
        "label:N", scale=category_scale(list(dict.fromkeys(frame["label"])), classroom),
        legend=alt.Legend(title="label", orient="right", symbolOpacity=1),
    )  # fmt: skip
    tooltip = [
        alt.Tooltip("token:N", title="token"),
        alt.Tooltip("sentence:N", title="sentence"),
        alt.Tooltip("label:N", title="label"),
        alt.Tooltip("layer_name:N", title="layer"),
        alt.Tooltip("moved:Q", title="moved (all dims)", format=".3f"),
    ]
    now = alt.Chart(frame).transform_filter(pick)
    grow = 1.6 if classroom else 1.0
    title_size = (24 if classroom else 18) * (0.75 if compact else 1.0)
    corner = (
        now.transform_aggregate(mean_move="mean(moved)", groupby=["layer_name"])
        .transform_calculate(
            title="'layer ' + datum.layer_name"
            + (" + ' · mean move ' + format(datum.mean_move, '.3f')" if moves else "")
        )
        .mark_text(align="left", baseline="top", x=10, y=8, fontSize=title_size, fontWeight="bold", color="#6b7280")
        .encode(text=alt.Text("title:N"))
        .add_params(pick)
    )  # fmt: skip
    trails = now.mark_rule(opacity=0.55, strokeWidth=1.6 * grow).encode(
        x=alt.X("x0:Q", scale=x_scale),
        y=alt.Y("y0:Q", scale=y_scale),
        x2=alt.X2("x:Q"),
        y2=alt.Y2("y:Q"),
        color=colour,
    )
    base_points = now.mark_point(size=60 * grow, color="#9ca3af", strokeWidth=1.2 * grow).encode(
        x=alt.X("x0:Q", scale=x_scale), y=alt.Y("y0:Q", scale=y_scale), tooltip=tooltip
    )
    tuned_points = now.mark_circle(size=70 * grow, opacity=0.9).encode(
        x=x, y=y, color=colour, tooltip=tooltip
    )
    chart = alt.layer(corner, trails, base_points, tuned_points).properties(height=height)
    return with_style(chart, classroom)


def frame_between(frame: pd.DataFrame, a: int, b: int, t: float) -> tuple[pd.DataFrame, int]:
    """`frame` with one more snapshot: every sentence `t` of the way from its place at step `a` to its
    place at step `b` (a straight glide between two snapshots, for the animated export), and that
    snapshot's step number (one past the last: the chart's axes still span every real step)."""
    at_a = frame[frame["step"] == a].set_index("row")
    at_b = frame[frame["step"] == b].set_index("row").loc[at_a.index]
    moved = at_a.assign(
        x=at_a["x"] + t * (at_b["x"] - at_a["x"]), y=at_a["y"] + t * (at_b["y"] - at_a["y"])
    ).reset_index()
    between = int(frame["step"].max()) + 1
    return pd.concat([frame, moved.assign(step=between)], ignore_index=True), between
