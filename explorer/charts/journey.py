"""The Token journey's chart, from its tidy frames (`journey_frames`), made in two steps: its tables and the
shape of its spec (`journey_drawing`), then the spec (`journey_chart_of`), so a page can reuse one spec
for many drawings. Its parts have their own modules: the Layer slider and Play (`layer_slider`), where
the token labels go (`labels`), the full-space readout's lines and band (`readout`); the chart of how
faithful its picture is per layer is `faithfulness`. Tidy DataFrames in, `alt.Chart` out; no Streamlit,
no model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.journey_frames import journey_frames, sentence_labels
from explorer.charts.labels import LABEL_FIT_WIDTH, corner_boxes, label_places, plot_size
from explorer.charts.layer_slider import (
    gliding,
    gliding_from_before,
    layer_picker,
    play_frame,
    shown_layer,
    shown_update,
    with_next_place,
)
from explorer.charts.readout import READOUT_MARGIN, READOUT_SHARE, fit_readout, placed_readout, readout_layers
from explorer.charts.style import category_scale, display_text, padded_domain, style_config

# Okabe & Ito's colour-blind-safe palette (high contrast on projectors), used in classroom mode.
TRAJECTORY_MODES = {"selected": "selected tokens", "all": "all tokens", "none": "none"}
LEGEND_ENTRIES = 12  # the legend lists this many sentences or groups (in two columns), then "… N entries"
__all__ = ["journey_chart", "journey_chart_of", "journey_drawing", "journey_frames", "sentence_labels"]


@dataclass(frozen=True)
class JourneyShape:
    """Everything the journey chart's spec is made of besides its tables' contents (hashable: a key)."""

    n_layers: int  # the last layer: the Layer slider's and Play's range
    height: int  # px
    classroom: bool
    wide: bool  # the chart spans the page: the legend beside the plot
    field: str  # what colours the points: "group" or "sentence"
    by_group: bool  # the tooltip names each token's group
    labelled: bool  # token labels are drawn
    following: bool  # some tokens are followed (ringed)
    noted: bool  # a note under the layer's name in the corner
    roles: tuple[str, ...]  # the tables' roles, in order


@dataclass(frozen=True)
class JourneyDrawing:
    """The journey chart's data, apart from its spec.

    tables: every table the chart draws, by role ("points", "pooled", "paths", …).
    shape: everything else the spec is made of (sizes, which layers exist, the layer count, …). Nothing
    in the spec comes from the data but through `shape`, so two drawings of the same shape share one
    spec and differ only in their tables: the page builds the spec once per shape (`journey_chart_of`)
    and only remakes the tables for new sentences.
    """

    tables: dict[str, pd.DataFrame]
    shape: JourneyShape


def journey_chart(
    points: pd.DataFrame, pooled: pd.DataFrame | None, layer: int, *args, **options
) -> alt.LayerChart:
    """The whole journey chart in one call, its slider starting at `layer`: `journey_chart_of` of
    `journey_drawing(points, pooled, *args, **options)` (see there for the options)."""
    return journey_chart_of(journey_drawing(points, pooled, *args, **options), layer)


def journey_drawing(
    points: pd.DataFrame,
    pooled: pd.DataFrame | None,
    highlight: Sequence[int] = (),
    trajectories: str = "selected",
    labels: bool = True,
    height: int = 520,
    classroom: bool = False,
    notes: Sequence[str] | None = None,
    readout: pd.DataFrame | None = None,
    wide: bool = False,
    pulls: pd.DataFrame | None = None,
) -> JourneyDrawing:
    """The journey chart's tables and the shape of its spec (see `JourneyDrawing`): tokens at one layer
    coloured by sentence, their paths through all layers, the pooled points.

    `wide`: the chart spans the page (the presenter view), so even classroom-size readout lines fit two
    to a row.

    Every layer's points travel in the spec; the chart's own slider (`layer_picker`) picks which are
    drawn, so scrubbing layers never waits on the server. Axes are fixed over all layers (and pooled
    points), so moving the layer moves points, not axes. `notes[i]` is a line shown under the layer's
    name in the corner (e.g. how faithful that layer's projection is). Colour follows the sentences'
    groups when they have any (`group` differs from `sentence`). `readout` (from `readout.readout_frame`) is
    written in a band under the points for the shown layer, so the numbers follow the slider exactly as
    the points do. `pulls` (from `ui.journey.why`): lines from the tokens that sent a followed token the
    most to it, per layer, drawn at that layer and gliding with Play.
    """
    if trajectories not in TRAJECTORY_MODES:
        raise ValueError(f"Unknown trajectories mode: {trajectories}. Valid modes: {list(TRAJECTORY_MODES)}")
    n_layers = int(points["layer"].max()) if len(points) else 0
    # Labels and tooltips show a token cut short; the view's own frames (and exports) keep it whole.
    points = with_next_place(points, "uid").assign(
        token=lambda f: display_text(f["token"]), piece=lambda f: display_text(f["piece"])
    )
    if pooled is not None:
        pooled = with_next_place(pooled, "sentence_id")
    x_domain, y_domain = (
        padded_domain(np.concatenate([f[axis].to_numpy(float) for f in (points, pooled) if f is not None]))
        for axis in ("x", "y")
    )
    by_group = "group" in points and not points["group"].equals(points["sentence"])
    field = "group" if by_group else "sentence"
    font, step = (17, 24) if classroom else (12, 18)  # px: type, and readout lines 1.5 lines apart
    entries = int(points[field].nunique())
    legend_rows = 0 if wide else (min(entries, LEGEND_ENTRIES) + 1) // 2 + (entries > LEGEND_ENTRIES)
    plot = plot_size(LABEL_FIT_WIDTH, height, font, legend_rows)  # the legend takes height from the plot
    # Classroom type is larger: one pair per row in a column, two to a row otherwise.
    one_column = classroom and not wide
    place = "line" if one_column else "row"
    if readout is not None and len(readout):  # the rows that fit `step` apart, and a line for the rest
        readout = fit_readout(readout, place, int(READOUT_SHARE * plot[1] / step - READOUT_MARGIN) + 1)
    band = (int(readout[place].max()) + READOUT_MARGIN) * step if readout is not None and len(readout) else 0
    # An empty band under the points, as wide as the chart, where the readout is written; and one over
    # them as tall as the layer's name (and its note) in the corner, so no point or path ever covers it.
    share = min(band / plot[1], READOUT_SHARE)
    top = min(max(box[3] for box in corner_boxes(points, notes, classroom)) + 6, 0.2 * height) / height
    span = (y_domain[1] - y_domain[0]) / (1 - share - top)
    y_domain[0] -= span * share
    y_domain[1] += span * top
    # Colours in the order the sentences (or groups) come: each row carries its name's rank.
    named = [f[field].to_numpy(object) for f in (points, pooled) if f is not None]
    rank, _ = pd.factorize(np.concatenate(named))
    highlight_set = set(highlight)
    points = points.assign(rank=rank[: len(points)], followed=points["uid"].isin(highlight_set))
    labelled = bool(labels or highlight_set)  # (a 'why' line's source has a followed token: labelled too)
    if labelled:  # which labels fit, decided here for every layer (the slider only filters)
        blocked = corner_boxes(points, notes, classroom)
        if band:
            blocked.append((0.0, plot[1] * (1 - share), plot[0], plot[1]))
        first = None
        if pulls is not None and len(pulls):  # the tokens a line starts from, labelled first
            starts = pd.MultiIndex.from_arrays([pulls["source_uid"], pulls["layer"]])
            first = pd.MultiIndex.from_arrays([points["uid"], points["layer"]]).isin(starts)
        places = label_places(points, highlight_set, labels, x_domain, y_domain, plot, font, blocked, first)
        points = pd.concat([points, places], axis=1)
    layers, first = np.unique(points["layer"].to_numpy(), return_index=True)
    layer_names = points["layer_name"].to_numpy(object)[first]
    # Only the columns the spec draws (the browser turns every cell it gets into a JavaScript value).
    tip = ["token", *(["group"] if by_group else []), "full_sentence", "layer_name", "position", "piece"]
    where = ["layer", "x", "y", field, "rank"]
    path_columns = _columns(points, ["uid", *where])
    points = _columns(
        points, [*where, "x_next", "y_next", *tip, "followed", "show_label", "label_dx", "label_dy"]
    )
    tables = {
        # The axes' extent (two corners; the frame layer is invisible): data, so it is not in the spec.
        "frame": pd.DataFrame({"x": x_domain, "y": y_domain}),
        "corner": pd.DataFrame(  # the corner label: the shown layer's name and its note
            {
                "layer": layers,
                "title": ["layer " + str(n) for n in layer_names],
                "note": list(notes) if notes is not None else [""] * len(layers),
            }
        ),
        "points": points,
    }
    strong = path_columns["uid"].isin(highlight_set).to_numpy()
    if trajectories == "all" and not strong.all():  # the other tokens' paths, faint
        tables["paths"] = path_columns[~strong].reset_index(drop=True)
    if trajectories != "none" and strong.any():  # the followed tokens' paths, and the dots they step on
        tables["followed_paths"] = pd.concat(
            [path_columns, points[[c for c in tip if c not in path_columns]]], axis=1
        )[strong].reset_index(drop=True)
    if pooled is not None:
        pooled = pooled.assign(rank=rank[len(points) :])
        tables["pooled"] = _columns(
            pooled, [*where, "x_next", "y_next", "token", "full_sentence", "layer_name"]
        )
    if pulls is not None and len(pulls):
        tables["pulls"] = pulls.drop(columns="source_uid", errors="ignore").reset_index(drop=True)
    if band:
        tables["readout"] = placed_readout(readout, one_column, x_domain, y_domain, step / plot[1])
    shape = JourneyShape(
        n_layers=n_layers, height=height, classroom=classroom, wide=wide, field=field, by_group=by_group,
        labelled=labelled, following=bool(highlight_set), noted=notes is not None, roles=tuple(tables),
    )  # fmt: skip
    return JourneyDrawing(tables, shape)


def _columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """`frame`'s columns called `names` (each once, those it has), indexed 0…n-1."""
    return frame[[n for n in dict.fromkeys(names) if n in frame]].reset_index(drop=True)


def journey_chart_of(drawing: JourneyDrawing, layer: int) -> alt.LayerChart:
    """The journey chart of `drawing`, its slider starting at `layer`: made from `drawing.shape` and the
    tables' roles only (never from their contents), so one drawing's spec serves every drawing of that
    shape."""
    shape, tables = drawing.shape, drawing.tables
    n_layers, height, classroom, wide = shape.n_layers, shape.height, shape.classroom, shape.wide
    field, by_group, labelled = shape.field, shape.by_group, shape.labelled
    following, noted = shape.following, shape.noted
    pick = layer_picker(min(max(int(layer), 0), n_layers), n_layers)
    play = play_frame(n_layers)
    shown = shown_layer()
    # No zero and no rounding: the extent is exactly the frame's corners.
    x = alt.X("x:Q", title="axis 1", scale=alt.Scale(zero=False, nice=False))
    y = alt.Y("y:Q", title="axis 2", scale=alt.Scale(zero=False, nice=False))
    grow = 1.8 if classroom else 1.0
    font = 17 if classroom else 12
    colour = alt.Color(
        f"{field}:N",
        scale=category_scale(None, classroom),
        sort=alt.EncodingSortField(field="rank", op="min"),
        legend=alt.Legend(  # beside the plot when the chart spans the page: the height goes to the points
            title=field,
            orient="right" if wide else "bottom",
            columns=1 if wide else 2,
            # beside the plot on a phone (the presenter view there), long names would take its width
            labelLimit=alt.ExprRef(expr="containerSize()[0] < 600 ? 80 : 300") if wide else 300,
            symbolLimit=LEGEND_ENTRIES,
            symbolOpacity=1,
        ),  # full colour even when the first coloured layer is the faint paths
    )
    tooltip = [
        alt.Tooltip("token:N", title="token"),
        *([alt.Tooltip("group:N", title="group")] if by_group else []),
        alt.Tooltip("full_sentence:N", title="sentence"),
        alt.Tooltip("layer_name:N", title="layer"),
        alt.Tooltip("position:Q", title="position"),
        alt.Tooltip("piece:N", title="word piece"),
    ]
    layers: list[alt.Chart] = []

    layers.append(
        alt.Chart(tables["frame"]).mark_point(opacity=0, aria=False).encode(x=x, y=y).properties(name="frame")
    )
    # Each layer needs its own name: Vega refuses two datasets called "<name>_pathgroup".
    for role, opacity, width in (("paths", 0.18, 1.2 * grow), ("followed_paths", 0.75, 2.5 * grow)):
        if role in tables:
            layers.append(
                alt.Chart(tables[role])
                .mark_line(opacity=opacity, strokeWidth=width, interpolate="monotone")
                .encode(x=x, y=y, color=colour, detail=alt.Detail("uid:N"), order=alt.Order("layer:Q"))
                .properties(name=role)
            )
    if "followed_paths" in tables:
        layers.append(
            alt.Chart(tables["followed_paths"])
            .mark_circle(size=22 * grow, opacity=0.6)
            .encode(x=x, y=y, color=colour, tooltip=tooltip)
            .properties(name="steps")
        )
    if "pulls" in tables:
        layers.append(_pull_lines(tables["pulls"], x, y, grow))
    now = gliding(alt.Chart(tables["points"]).transform_filter(shown))
    gx, gy = _axis_on(x, "gx"), _axis_on(y, "gy")
    layers.append(
        now.mark_circle(size=90 * grow, opacity=0.9, stroke="white", strokeWidth=0.8)
        .encode(x=gx, y=gy, color=colour, tooltip=tooltip)
        .properties(name="current")
    )
    if following:
        layers.append(
            now.transform_filter("datum.followed")
            .mark_circle(size=260 * grow, filled=False, strokeWidth=2.5 * grow, color="#222")
            .encode(x=gx, y=gy, tooltip=tooltip)
            .properties(name="followed")
        )
    if labelled:
        layers.append(
            now.transform_filter("datum.show_label")
            .mark_text(
                align=alt.ExprRef(expr="datum.label_dx < 0 ? 'right' : 'left'"),
                dx=alt.ExprRef(expr="datum.label_dx"),
                dy=alt.ExprRef(expr="datum.label_dy"),
                fontSize=font,
                color="#222",
            )
            .encode(x=gx, y=gy, text=alt.Text("token:N"), tooltip=tooltip)
            .properties(name="labels")
        )
    if "pooled" in tables:
        layers.append(
            gliding(alt.Chart(tables["pooled"]).transform_filter(shown))
            .mark_point(
                shape="diamond",
                size=420 * grow,
                filled=True,
                opacity=1.0,
                stroke="black",
                strokeWidth=1.6 * grow,
            )
            .encode(
                x=gx,
                y=gy,
                color=colour,
                tooltip=[
                    alt.Tooltip("token:N", title="what"),
                    alt.Tooltip("full_sentence:N", title="sentence"),
                    alt.Tooltip("layer_name:N", title="layer"),
                ],
            )
            .properties(name="pooled")
        )
    # The corner label: the shown layer's name (and its note), large enough to read while scrubbing, drawn
    # over the points so no point or ring covers it.
    base = alt.Chart(tables["corner"]).transform_filter(shown)
    layers.append(
        base.mark_text(
            align="left", baseline="top", x=10, y=8, fontSize=30 if classroom else 22,
            fontWeight="bold", color="#6b7280", opacity=0.8, clip=True,
        ).encode(text=alt.Text("title:N"))
    )  # fmt: skip
    if noted:
        layers.append(
            base.mark_text(
                align="left", baseline="top", x=11, y=44 if classroom else 36,
                fontSize=16 if classroom else 12, color="#6b7280", clip=True,
            ).encode(text=alt.Text("note:N"))
        )  # fmt: skip
    if "readout" in tables:
        layers += readout_layers(tables["readout"], shown, classroom, x, y)
    layers[0] = layers[0].add_params(pick, play)
    return alt.layer(*layers, height=height, config=style_config(classroom))  # one step: each copies all


def _pull_lines(table: pd.DataFrame, x: alt.X, y: alt.Y, grow: float) -> alt.Chart:
    """Lines from each source token to the followed token it sent the most to, at the layer shown."""
    return (
        gliding_from_before(alt.Chart(table).transform_filter(shown_update()), ("x", "y", "x2", "y2"))
        .transform_calculate(stroke=f"datum.width * {grow}")
        .mark_rule(color="#111827", opacity=0.45, strokeCap="round")
        .encode(
            x=_axis_on(x, "gx"),
            y=_axis_on(y, "gy"),
            x2="gx2:Q",
            y2="gy2:Q",
            strokeWidth=alt.StrokeWidth("stroke:Q", scale=None),
            tooltip=[
                alt.Tooltip("source:N", title="from"),
                alt.Tooltip("target:N", title="to"),
                alt.Tooltip("share:Q", title="share of what the other tokens sent", format=".0%"),
            ],
        )
        .properties(name="pulls")
    )


def _axis_on(axis: alt.X | alt.Y, field: str) -> alt.X | alt.Y:
    """The same axis (title, scale) drawn from another field."""
    moved = axis.copy()
    moved.shorthand = f"{field}:Q"
    return moved
