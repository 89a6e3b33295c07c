"""Altair builders for the Geometry lab: tidy DataFrames in, `alt.Chart` out. No Streamlit, no model."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.style import MAX_LABEL_CHARS, OKABE_ITO, padded_domain, with_style
from explorer.geometry import MEASURES
from explorer.inputs import shorten
from explorer.senses import SenseSeparation

MAX_HEATMAP_NUMBERS = 70
ROW_HEIGHT = 22
CLASSROOM_ROW_HEIGHT = 32
# Okabe-Ito roles in classroom mode (colour-blind safe, high contrast on a projector)
_BLUE, _ORANGE, _GREEN, _VERMILION = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[3]


def _grow(classroom: bool) -> float:
    """How much thicker marks are in classroom mode (fonts come from charts.style.with_style)."""
    return 2.0 if classroom else 1.0


def _layer_x(n_layers: int, title: str = "layer (0 = embeddings)") -> alt.X:
    return alt.X(
        "layer:Q",
        title=title,
        scale=alt.Scale(domain=[0, n_layers], nice=False),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )


def measures_long(measures: pd.DataFrame, layer_names: Sequence[str]) -> pd.DataFrame:
    """One row per (layer, measure) from the wide per-layer table, with readable names."""
    value_columns = [c for c in measures.columns if c != "layer"]
    long = measures.melt(id_vars="layer", value_vars=value_columns, var_name="key", value_name="value")
    labels = {**MEASURES, "faithfulness_pca": "PCA (per layer)", "faithfulness_umap": "UMAP (aligned)"}
    long["measure"] = long["key"].map(lambda k: labels.get(k, k))
    long["layer_name"] = long["layer"].map(lambda i: layer_names[int(i)])
    return long


def layer_line_chart(
    long: pd.DataFrame,
    keys: Sequence[str],
    y_title: str,
    percent: bool = False,
    zero_rule: bool = False,
    height: int = 250,
    classroom: bool = False,
) -> alt.TopLevelMixin:
    """Lines across layers for the measures `keys` (one colour each)."""
    rows = long[long["key"].isin(keys)].dropna(subset=["value"])
    n_layers = int(long["layer"].max()) if len(long) else 1
    order = [long.loc[long["key"] == k, "measure"].iloc[0] for k in keys if (long["key"] == k).any()]
    y_axis = alt.Axis(format="%") if percent else alt.Axis()
    grow = _grow(classroom)
    base = alt.Chart(rows).encode(
        x=_layer_x(n_layers),
        y=alt.Y("value:Q", title=y_title, axis=y_axis, scale=alt.Scale(zero=zero_rule or percent)),
        color=alt.Color(
            "measure:N",
            sort=order,
            scale=alt.Scale(range=OKABE_ITO) if classroom else alt.Scale(scheme="tableau10"),
            legend=alt.Legend(
                orient="top", title=None, labelLimit=320, columns=1 if classroom else alt.Undefined
            ),
        ),
        tooltip=[
            alt.Tooltip("layer_name:N", title="layer"),
            alt.Tooltip("measure:N"),
            alt.Tooltip("value:Q", format=".0%" if percent else ".3f"),
        ],
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=45 * grow**2), strokeWidth=2.5 * grow)
    layers: list[alt.Chart] = [line]
    if zero_rule:
        rule = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#888" if classroom else "#bbb")
        layers.insert(0, rule.encode(y=alt.Y("y:Q")))
    return with_style(
        alt.layer(*layers).properties(height=int(height * 1.25) if classroom else height), classroom
    )


def sense_frame(separation: SenseSeparation, layer_names: Sequence[str]) -> pd.DataFrame:
    """One row per layer: accuracy, same-/cross-sense similarity and their gap."""
    return pd.DataFrame(
        {
            "layer": np.arange(len(separation.accuracy)),
            "layer_name": list(layer_names),
            "accuracy": separation.accuracy,
            "same_sense": separation.same_sense,
            "cross_sense": separation.cross_sense,
            "gap": separation.gap,
        }
    )


def _best_rule(best: int, classroom: bool = False) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame({"layer": [best], "what": [f"best layer: {best}"]}))
        .mark_rule(
            color=_VERMILION if classroom else "#d62728", strokeDash=[5, 3], strokeWidth=2 * _grow(classroom)
        )
        .encode(x=alt.X("layer:Q"), tooltip=[alt.Tooltip("what:N", title="")])
    )


def sense_accuracy_chart(
    frame: pd.DataFrame, best: int, chance: float, height: int = 260, classroom: bool = False
) -> alt.TopLevelMixin:
    """Leave-one-out accuracy across layers, with the chance line and the best layer marked."""
    n_layers = int(frame["layer"].max())
    grow = _grow(classroom)
    line = (
        alt.Chart(frame)
        .mark_line(
            point=alt.OverlayMarkDef(size=55 * grow**2),
            strokeWidth=2.5 * grow,
            color=_BLUE if classroom else "#4c78a8",
        )
        .encode(
            x=_layer_x(n_layers),
            y=alt.Y(
                "accuracy:Q",
                title="accuracy",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            tooltip=[alt.Tooltip("layer_name:N", title="layer"), alt.Tooltip("accuracy:Q", format=".0%")],
        )
    )
    chance_rule = (
        alt.Chart(pd.DataFrame({"y": [chance], "what": [f"chance ({chance:.0%})"]}))
        .mark_rule(color="#555" if classroom else "#888", strokeDash=[2, 3], strokeWidth=grow)
        .encode(y=alt.Y("y:Q"), tooltip=[alt.Tooltip("what:N", title="")])
    )
    layered = alt.layer(chance_rule, _best_rule(best, classroom), line).properties(
        height=height + 40 * classroom
    )
    return with_style(layered, classroom)


def sense_similarity_chart(
    frame: pd.DataFrame, best: int, height: int = 260, classroom: bool = False
) -> alt.TopLevelMixin:
    """Same-sense and cross-sense mean cosine across layers: the gap between the lines is the signal."""
    n_layers = int(frame["layer"].max())
    grow = _grow(classroom)
    long = frame.melt(
        id_vars=["layer", "layer_name"], value_vars=["same_sense", "cross_sense"], var_name="pair"
    )
    long["pair"] = long["pair"].map({"same_sense": "same sense", "cross_sense": "different senses"})
    lines = (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(size=45 * grow**2), strokeWidth=2.5 * grow)
        .encode(
            x=_layer_x(n_layers),
            y=alt.Y("value:Q", title="mean cosine", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "pair:N",
                sort=["same sense", "different senses"],
                scale=alt.Scale(range=[_BLUE, _ORANGE] if classroom else ["#2ca02c", "#ff7f0e"]),
                legend=alt.Legend(orient="top", title=None, columns=1 if classroom else alt.Undefined),
            ),
            tooltip=[
                alt.Tooltip("layer_name:N", title="layer"),
                alt.Tooltip("pair:N"),
                alt.Tooltip("value:Q", format=".3f"),
            ],
        )
    )
    return with_style(
        alt.layer(_best_rule(best, classroom), lines).properties(height=height + 100 * classroom), classroom
    )


def sense_points(
    coords: np.ndarray, labels: Sequence[str], sentences: Sequence[str], correct: np.ndarray
) -> pd.DataFrame:
    """Rows for the 2-D sense view: one per context, (M, 2) coordinates at one layer."""
    return pd.DataFrame(
        {
            "x": coords[:, 0].astype(float),
            "y": coords[:, 1].astype(float),
            "sense": list(labels),
            "context": [shorten(s, 80) for s in sentences],
            "result": np.where(correct, "right sense", "wrong sense"),
        }
    )


def sense_scatter(points: pd.DataFrame, height: int = 360, classroom: bool = False) -> alt.TopLevelMixin:
    """Each context's word vector in 2-D, coloured by its sense; crosses were given the wrong sense."""
    grow = _grow(classroom)
    chart = (
        alt.Chart(points)
        .mark_point(size=160 * grow, filled=True, opacity=0.9 if classroom else 0.85, strokeWidth=2.5 * grow)
        .encode(
            x=alt.X(
                "x:Q",
                title="axis 1",
                scale=alt.Scale(domain=padded_domain(points["x"], 0.12), nice=False),
                axis=alt.Axis(labels=False, ticks=False),
            ),
            y=alt.Y(
                "y:Q",
                title="axis 2",
                scale=alt.Scale(domain=padded_domain(points["y"], 0.12), nice=False),
                axis=alt.Axis(labels=False, ticks=False),
            ),
            color=alt.Color(
                "sense:N",
                scale=alt.Scale(range=OKABE_ITO) if classroom else alt.Scale(scheme="set1"),
                legend=alt.Legend(orient="bottom", title="sense"),
            ),
            shape=alt.Shape(
                "result:N",
                scale=alt.Scale(domain=["right sense", "wrong sense"], range=["circle", "cross"]),
                legend=alt.Legend(orient="bottom", title="nearest centroid"),
            ),
            tooltip=[alt.Tooltip("sense:N"), alt.Tooltip("context:N"), alt.Tooltip("result:N")],
        )
        .properties(height=height)
    )
    return with_style(chart, classroom)


def change_frame(
    cosines: np.ndarray, tokens: pd.DataFrame, texts: Sequence[str], rows: np.ndarray
) -> pd.DataFrame:
    """Tidy rows for the heatmap: one per (token, layer step), for the token `rows` of the table."""
    n_steps = cosines.shape[1]
    chosen = tokens.loc[rows]
    labels = [
        f"S{s + 1} · {p:>2} · {shorten(t, MAX_LABEL_CHARS)}"
        for s, p, t in zip(chosen["sentence"], chosen["position"], chosen["text"], strict=True)
    ]
    return pd.DataFrame(
        {
            "token": np.repeat(labels, n_steps),
            "order": np.repeat(np.arange(len(rows)), n_steps),
            "sentence": np.repeat([shorten(texts[s], 80) for s in chosen["sentence"]], n_steps),
            "step": np.tile([f"{i}→{i + 1}" for i in range(n_steps)], len(rows)),
            "cosine": cosines[rows].reshape(-1).astype(float),
        }
    )


def change_heatmap(frame: pd.DataFrame, classroom: bool = False) -> alt.TopLevelMixin:
    """Tokens (rows) × layer steps (columns), coloured by the cosine between consecutive layers.

    Classroom mode: taller rows, larger numbers, and viridis (perceptually even, colour-blind safe).
    """
    n_rows = int(frame["order"].nunique())
    lo, hi = float(frame["cosine"].min()), float(frame["cosine"].max())
    frame = frame.assign(ink=np.where(frame["cosine"] < lo + 0.4 * (hi - lo), "white", "black"))
    steps = list(dict.fromkeys(frame["step"]))
    y = alt.Y(
        "token:N",
        sort=alt.EncodingSortField("order", order="ascending"),
        title=None,
        axis=alt.Axis(labelLimit=320 if classroom else 260),
    )
    x = alt.X("step:O", sort=steps, title="layer step", axis=alt.Axis(labelAngle=0, orient="top"))
    row_height = CLASSROOM_ROW_HEIGHT if classroom else ROW_HEIGHT
    tooltip = [
        alt.Tooltip("token:N"),
        alt.Tooltip("sentence:N"),
        alt.Tooltip("step:N", title="layers"),
        alt.Tooltip("cosine:Q", format=".3f"),
    ]
    cells = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "cosine:Q",
                scale=alt.Scale(scheme="viridis")
                if classroom
                else alt.Scale(scheme="yelloworangered", reverse=True),
                legend=alt.Legend(
                    title="cosine to the layer before",
                    orient="right",
                    gradientLength=int(min(180, max(60, row_height * n_rows - 30))),
                ),
            ),
            tooltip=tooltip,
        )
    )
    layers: list[alt.Chart] = [cells]
    if n_rows <= MAX_HEATMAP_NUMBERS:
        layers.append(
            alt.Chart(frame)
            .mark_text(fontSize=15 if classroom else 11)
            .encode(
                x=x,
                y=y,
                text=alt.Text("cosine:Q", format=".2f"),
                # a value-only condition: a second colour *scale* would clash with the cells' scale
                color=alt.condition(alt.datum.ink == "white", alt.value("white"), alt.value("black")),
                tooltip=tooltip,
            )
        )
    return with_style(alt.layer(*layers).properties(height=alt.Step(row_height)), classroom)


EMERGENCE_LINES = {
    "agreement": "its 5 nearest uses carry its sense",
    "chance": "chance: 5 uses of the word picked at random",
    "same_word": "its nearest word in the corpus is itself",
}


def emergence_chart(frame: pd.DataFrame, layer_names: Sequence[str], height: int = 260,
                    classroom: bool = False) -> alt.TopLevelMixin:  # fmt: skip
    """Where meaning emerges (`meaning_emergence.sense_agreement`): per layer, the share of a word's nearest uses
    that carry its sense, its chance line (dashed), and how often its nearest word is the same word."""
    long = frame.melt(id_vars="layer", value_vars=list(EMERGENCE_LINES), var_name="key", value_name="share")
    long = long.assign(
        line=long["key"].map(EMERGENCE_LINES),
        layer_name=long["layer"].map(lambda i: layer_names[int(i)]),
        dashed=long["key"] == "chance",
    )
    grow = _grow(classroom)
    colours = [_BLUE, "#555555", _ORANGE] if classroom else ["#4c78a8", "#888888", "#f58518"]
    chart = (
        alt.Chart(long.dropna(subset=["share"]))
        .mark_line(point=alt.OverlayMarkDef(size=45 * grow**2), strokeWidth=2.2 * grow)
        .encode(
            x=_layer_x(int(frame["layer"].max())),
            y=alt.Y("share:Q", title="share", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color(
                "line:N",
                title=None,
                sort=list(EMERGENCE_LINES.values()),
                scale=alt.Scale(domain=list(EMERGENCE_LINES.values()), range=colours),
                legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=400),
            ),
            strokeDash=alt.StrokeDash(
                "dashed:N", scale=alt.Scale(domain=[False, True], range=[[1, 0], [5, 4]]), legend=None
            ),
            tooltip=[
                alt.Tooltip("layer_name:N", title="layer"),
                alt.Tooltip("line:N", title=""),
                alt.Tooltip("share:Q", format=".0%"),
            ],
        )
    )
    return with_style(alt.layer(chart).properties(height=height + 40 * classroom), classroom)
