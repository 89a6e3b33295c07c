"""Altair builders for the Sentence embedding page: tidy DataFrames in, `alt.Chart` out."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.style import OKABE_ITO, category_scale, display_text, padded_domain, with_style
from explorer.index import SearchHit
from explorer.inputs import shorten

MAX_LABELLED_TOKENS = 120
# The corpus topics (first sources of an index) get tableau10; what users add gets dark, distinct colours.
TOPIC_COLOURS = [
    "#4C78A8",
    "#F58518",
    "#E45756",
    "#72B7B2",
    "#54A24B",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#BAB0AC",
]
MAX_HIGHLIGHTED_ADDED = 500
ADDED_COLOURS = ["#111111", "#7B1FA2", "#00695C", "#BF360C"]
# Classroom mode: Okabe-Ito (colour-blind safe, high contrast) minus vermilion, which is kept for the query,
# extended by four dark Tol colours to cover ten topics.
CLASSROOM_TOPIC_COLOURS = [c for c in OKABE_ITO[:7] if c != "#D55E00"] + [
    "#999999",
    "#882255",
    "#332288",
    "#117733",
]
CLASSROOM_GROW = 1.8
QUERY_COLOUR = {False: "#D62728", True: "#D55E00"}  # classroom: Okabe-Ito vermilion


CLOUD_HEIGHT = 520


def cloud_chart(
    tokens: pd.DataFrame,
    pooled: pd.DataFrame,
    height: int = CLOUD_HEIGHT,
    classroom: bool = False,
    show_pooled: bool = True,
) -> alt.LayerChart:
    """Output-layer tokens, a line from each to its sentence's pooled point, and the pooled points.

    `tokens` and `pooled` come from `explorer.sentence.cloud_frames`. The model's point is a filled
    diamond; a contrast pooling (kind != 'model') is a hollow square. `classroom` enlarges marks and type
    and switches to the Okabe-Ito palette. `show_pooled=False` leaves the pooled points and their lines
    out (a lesson asks where they land) on the same axes as with them.
    """
    grow = CLASSROOM_GROW if classroom else 1.0
    tokens = tokens.assign(token=display_text(tokens["token"]))  # labels cut short; the frame keeps it whole
    every = pd.concat([tokens[["x", "y"]], pooled[["x", "y"]]])
    x = alt.X(
        "x:Q",
        title="axis 1 (PCA of output-layer tokens)",
        scale=alt.Scale(domain=padded_domain(pad=0.08, values=every["x"]), nice=False),
    )
    y = alt.Y(
        "y:Q", title="axis 2", scale=alt.Scale(domain=padded_domain(pad=0.08, values=every["y"]), nice=False)
    )
    if not show_pooled:  # nor where they are in the chart's data
        tokens = tokens.drop(columns=[c for c in ("pooled_x", "pooled_y") if c in tokens.columns])
    sentences = list(dict.fromkeys(tokens["sentence"]))
    colour = alt.Color(
        "sentence:N",
        scale=category_scale(sentences, classroom),
        legend=alt.Legend(title="sentence", orient="bottom", columns=2, labelLimit=280),
    )
    lines = (
        alt.Chart(tokens)
        .mark_rule(opacity=0.45 if classroom else 0.35, strokeWidth=1.2 * grow)
        .encode(x=x, y=y, x2=alt.X2("pooled_x:Q"), y2=alt.Y2("pooled_y:Q"), color=colour)
    )
    dots = (
        alt.Chart(tokens)
        .mark_circle(size=70 * grow, opacity=0.9 if classroom else 0.85)
        .encode(x=x, y=y, color=colour, tooltip=[alt.Tooltip("token:N"), alt.Tooltip("sentence:N")])
    )
    layers: list[alt.Chart] = [lines, dots] if show_pooled else [dots]
    if len(tokens) <= MAX_LABELLED_TOKENS:
        layers.append(
            alt.Chart(tokens)
            .mark_text(
                align="left",
                dx=6,
                dy=-6,
                fontSize=16 if classroom else 11,
                color="#222" if classroom else "#444",
            )
            .encode(x=x, y=y, text=alt.Text("token:N"))
        )
    if not show_pooled:
        return with_style(alt.layer(*layers).properties(height=height), classroom)
    model = pooled[pooled["kind"] == "model"]
    others = pooled[pooled["kind"] != "model"]
    if len(others):
        layers.append(
            alt.Chart(others)
            .mark_point(shape="square", size=260 * grow, filled=False, strokeWidth=2.2 * grow, opacity=0.95)
            .encode(
                x=x,
                y=y,
                color=colour,
                tooltip=[alt.Tooltip("what:N", title="what"), alt.Tooltip("sentence:N")],
            )
        )
    layers.append(
        alt.Chart(model)
        .mark_point(
            shape="diamond", size=440 * grow, filled=True, opacity=1.0, stroke="black", strokeWidth=1.6 * grow
        )
        .encode(
            x=x, y=y, color=colour, tooltip=[alt.Tooltip("what:N", title="what"), alt.Tooltip("sentence:N")]
        )
    )
    return with_style(alt.layer(*layers).properties(height=height), classroom)


def similarity_heatmap(
    frame: pd.DataFrame, height: int | None = None, classroom: bool = False, show_values: bool = True
) -> alt.LayerChart:
    """Sentence × sentence cosine as coloured cells with the value written in each (from similarity_frame).
    `show_values=False` draws the same grid with blank cells and no cosine in its data (a lesson asks what
    they are)."""
    ids = list(dict.fromkeys(frame["row"]))
    n = len(ids)
    side = height or int(np.clip(80 * n, 280, 640))
    names = [alt.Tooltip("row_text:N", title="row"), alt.Tooltip("column_text:N", title="column")]
    base = alt.Chart(frame if show_values else frame.drop(columns="cosine")).encode(
        x=alt.X("column:N", sort=ids, title=None, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("row:N", sort=ids, title=None),
        tooltip=[*names, alt.Tooltip("cosine:Q", format=".3f")] if show_values else names,
    )
    if not show_values:
        blank = base.mark_rect(stroke="white", strokeWidth=1, color="#e5e7eb")
        return with_style(alt.layer(blank).properties(width=side, height=side), classroom)
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "cosine:Q",
            scale=alt.Scale(scheme="blueorange", domain=[-1, 1]),
            legend=alt.Legend(title="cosine", orient="right"),
        )
    )
    layers = [cells]
    if n <= 20:
        layers.append(
            base.mark_text(
                fontSize=(18 if classroom else 14) if n <= 8 else (14 if classroom else 11)
            ).encode(
                text=alt.Text("cosine:Q", format=".2f"),
                color=alt.condition("abs(datum.cosine) > 0.6", alt.value("white"), alt.value("#222")),
            )
        )
    return with_style(alt.layer(*layers).properties(width=side, height=side), classroom)


def token_importance_chart(
    measures: pd.DataFrame, height_per_token: int = 22, classroom: bool = False
) -> alt.HConcatChart:
    """Two bar charts side by side, one bar per token: cosine to the pooled vector, and leave-one-out shift
    (only the first when the shift is NaN, i.e. the model's pooling has no leave-one-out measure)."""
    # Bars named by a token cut short (the position keeps two rows of one long word apart).
    measures = measures.assign(label=display_text(measures["label"]), token=display_text(measures["token"]))
    order = measures["label"].tolist()
    height = max(120, int(height_per_token * (1.4 if classroom else 1.0)) * len(measures))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=180))
    kind = alt.Color(
        "kind:N",
        scale=alt.Scale(
            domain=["word piece", "special token"],
            range=[OKABE_ITO[0], OKABE_ITO[1]] if classroom else ["#4C78A8", "#BAB0AC"],
        ),
        legend=alt.Legend(title=None, orient="bottom"),
    )
    data = measures.assign(kind=np.where(measures["special"], "special token", "word piece"))
    has_shift = bool(
        data["leave_one_out_shift"].notna().any()
    )  # NaN: the model's pooling has no such measure
    tooltip = ["token:N", alt.Tooltip("cosine_to_pooled:Q", title="cosine to pooled", format=".3f")]
    if has_shift:
        tooltip.append(alt.Tooltip("leave_one_out_shift:Q", title="shift when left out", format=".4f"))
    cosine = (
        alt.Chart(data, title="cosine to the pooled vector")
        .mark_bar()
        .encode(
            x=alt.X(
                "cosine_to_pooled:Q",
                title="cosine",
                scale=alt.Scale(domain=[min(0.0, float(data["cosine_to_pooled"].min())), 1]),
            ),
            y=y,
            color=kind,
            tooltip=tooltip,
        )
        .properties(height=height, width=260)
    )
    shift = (
        alt.Chart(data, title="how far the embedding turns without it")
        .mark_bar()
        .encode(
            x=alt.X("leave_one_out_shift:Q", title="1 − cosine(with, without)"),
            y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
            color=kind,
            tooltip=tooltip,
        )
        .properties(height=height, width=260)
    )
    if has_shift:
        return with_style(alt.hconcat(cosine, shift, spacing=12), classroom)
    return with_style(alt.hconcat(cosine), classroom)  # no leave-one-out for this pooling: say nothing false


def corpus_map_frame(
    texts: Sequence[str], sources: Sequence[str], coords: np.ndarray, n_base: int | None = None
) -> pd.DataFrame:
    """One row per indexed text on the map: x, y (coords, (N, 2)), source, a short text for hover, and
    whether it was added after the first `n_base` rows (the bundled corpus)."""
    n_base = len(texts) if n_base is None else n_base
    return pd.DataFrame(
        {
            "x": coords[:, 0].astype(float),
            "y": coords[:, 1].astype(float),
            "source": list(sources),
            "text": [shorten(t, 90) for t in texts],
            "added": np.arange(len(texts)) >= n_base,
        }
    )


def corpus_map_chart(
    points: pd.DataFrame,
    query_xy: np.ndarray | None = None,
    query_text: str = "",
    hits: Sequence[SearchHit] = (),
    height: int = 520,
    classroom: bool = False,
) -> alt.LayerChart:
    """Every indexed text as a dot coloured by source; the query as a triangle with lines to its top hits."""
    big = len(points) > 2000
    grow = CLASSROOM_GROW if classroom else 1.0
    palette = CLASSROOM_TOPIC_COLOURS if classroom else TOPIC_COLOURS
    added_rows = points["added"].to_numpy(dtype=bool) if "added" in points else np.zeros(len(points), bool)
    topics = list(dict.fromkeys(points["source"][~added_rows]))
    added = [s for s in dict.fromkeys(points["source"][added_rows]) if s not in topics]
    colour = alt.Color(
        "source:N",
        scale=alt.Scale(
            domain=topics + added,
            range=[palette[i % len(palette)] for i in range(len(topics))]
            + [ADDED_COLOURS[i % len(ADDED_COLOURS)] for i in range(len(added))],
        ),
        legend=alt.Legend(title="topic / source", orient="right", symbolLimit=30, labelLimit=220),
    )
    # Axes span the bundled corpus (padded), growing only if an added text lands outside: adding to
    # the index never rescales the picture under the old dots.
    base = points[~added_rows] if (~added_rows).any() else points
    extents = {
        axis: [
            min(padded_domain(base[axis], 0.08)[0], float(points[axis].min())),
            max(padded_domain(base[axis], 0.08)[1], float(points[axis].max())),
        ]
        for axis in ("x", "y")
    }
    x = alt.X(
        "x:Q", title="axis 1 (PCA of the bundled corpus)", scale=alt.Scale(domain=extents["x"], nice=False)
    )
    y = alt.Y("y:Q", title="axis 2", scale=alt.Scale(domain=extents["y"], nice=False))
    # One layer, drawn in row order: a few added texts go on top, outlined; a big upload goes underneath,
    # small and faint, so the corpus topics and the query stay visible.
    added_rows = points["source"].isin(added)
    few = int(added_rows.sum()) <= MAX_HIGHLIGHTED_ADDED
    ordered = pd.concat(
        [points[~added_rows], points[added_rows]] if few else [points[added_rows], points[~added_rows]]
    )
    ordered = ordered.assign(added=added_rows.loc[ordered.index].to_numpy())
    if few:
        size = alt.condition("datum.added", alt.value(70 * grow), alt.value((18 if big else 45) * grow))
        opacity = alt.condition("datum.added", alt.value(0.95), alt.value(0.45 if big else 0.75))
        stroke = alt.condition("datum.added", alt.value("black"), alt.value(None))
    else:
        size = alt.condition("datum.added", alt.value(12 * grow), alt.value(40 * grow))
        opacity = alt.condition("datum.added", alt.value(0.3), alt.value(0.9))
        stroke = alt.value(None)
    dots = (
        alt.Chart(ordered)
        .mark_circle(strokeWidth=0.8)
        .encode(
            x=x,
            y=y,
            color=colour,
            size=size,
            opacity=opacity,
            stroke=stroke,
            tooltip=[alt.Tooltip("text:N", title="text"), alt.Tooltip("source:N")],
        )
    )
    layers: list[alt.Chart] = [dots]
    if query_xy is not None:
        qx, qy = float(query_xy[0]), float(query_xy[1])
        if hits:
            links = pd.DataFrame(
                {
                    "x": qx,
                    "y": qy,
                    "x2": [float(points["x"].iloc[h.row]) for h in hits],
                    "y2": [float(points["y"].iloc[h.row]) for h in hits],
                    "text": [shorten(h.text, 90) for h in hits],
                    "score": [h.score for h in hits],
                    "rank": [h.rank for h in hits],
                }
            )
            layers.append(
                alt.Chart(links)
                .mark_rule(
                    color=QUERY_COLOUR[classroom], strokeDash=[4, 3], strokeWidth=1.6 * grow, opacity=0.9
                )
                .encode(x=x, y=y, x2=alt.X2("x2:Q"), y2=alt.Y2("y2:Q"))
            )
            rings = (("white", 5.0 * grow), (QUERY_COLOUR[classroom], 2.4 * grow))
            for ring_colour, ring_width in rings:  # a white halo keeps the rings visible
                layers.append(
                    alt.Chart(links)
                    .mark_circle(
                        size=170 * grow, filled=False, stroke=ring_colour, strokeWidth=ring_width, opacity=1
                    )
                    .encode(
                        x=alt.X("x2:Q"),
                        y=alt.Y("y2:Q"),
                        tooltip=[
                            alt.Tooltip("rank:Q"),
                            alt.Tooltip("text:N", title="text"),
                            alt.Tooltip("score:Q", format=".3f"),
                        ],
                    )
                )
        query = pd.DataFrame({"x": [qx], "y": [qy], "text": [shorten(query_text, 90) or "query"]})
        layers.append(
            alt.Chart(query)
            .mark_point(
                shape="triangle-up",
                size=480 * grow,
                filled=True,
                color=QUERY_COLOUR[classroom],
                stroke="white",
                strokeWidth=1.8 * grow,
            )
            .encode(x=x, y=y, tooltip=[alt.Tooltip("text:N", title="query")])
        )
    return with_style(alt.layer(*layers).properties(height=height), classroom)
