"""The Token journey's full-space readout as lines for the chart's band, and the per-word strip of where
a word's groups part (its gap at every layer against the chance band of relabelled sentences).

Both read the readout's data (`explorer.separation`: `readout_pairs`, `readout_summary`); nothing here
parses text back."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.style import with_style


def word_lines(summary: pd.DataFrame, dim: int) -> pd.DataFrame:
    """The band's lines at every layer, one per grouped word under a title: 'bat: same group 0.71 · other
    group 0.42 · beats 34 of 35 balanced splits'. Columns as `charts.journey.readout_frame` (layer, line,
    row, col, text, cosine, a, b), so the band places them the same way."""
    rows = []
    for layer, at_layer in summary.groupby("layer", sort=True):
        lines = [f"Cosine in all {dim} dims (the model's own space), this layer:"]
        for r in at_layer.itertuples():
            lines.append(
                f"{r.word}: same group {r.within:.2f} · other group {r.across:.2f} · {beats_text(r)}"
            )
        for i, text in enumerate(lines):
            rows.append(
                {
                    "layer": int(layer),
                    "line": i,
                    "row": i,
                    "col": 0,
                    "text": text,
                    "cosine": np.nan,
                    "a": "",
                    "b": "",
                }
            )
    return pd.DataFrame(rows)


def beats_text(row) -> str:
    """'beats 34 of 35 balanced splits' (or '… random splits' when they were sampled)."""
    if int(row.splits) <= 1:
        return "no other split to compare"
    kind = "balanced splits" if row.exhaustive else "random splits"
    return f"beats {int(row.beats):,} of {int(row.splits):,} {kind}"


def separation_strip(summary: pd.DataFrame, layer: int, classroom: bool = False) -> alt.FacetChart:
    """Per grouped word, its gap (within − across, full-space cosine) at every layer, the chance band of
    relabelled sentences (5th-95th percentile) behind it, and the layer shown marked."""
    frame = summary.assign(current=summary["layer"] == int(layer))
    x = alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0))
    tip = [
        alt.Tooltip("word:N"),
        alt.Tooltip("layer:O"),
        alt.Tooltip("gap:Q", format="+.3f", title="gap (within − across)"),
        alt.Tooltip("chance_low:Q", format="+.3f", title="chance band from"),
        alt.Tooltip("chance_high:Q", format="+.3f", title="chance band to"),
        alt.Tooltip("beats:Q", title="splits beaten"),
        alt.Tooltip("splits:Q", title="splits"),
    ]
    base = alt.Chart(frame)
    band = base.mark_area(opacity=0.25, color="#9ca3af", aria=False).encode(
        x=x, y=alt.Y("chance_low:Q", title="gap"), y2="chance_high:Q"
    )
    line = base.mark_line(point=True, color="#1d4ed8").encode(x=x, y="gap:Q", tooltip=tip)
    now = (
        base.transform_filter("datum.current")
        .mark_point(size=220 if classroom else 140, filled=False, strokeWidth=2.5, color="#111")
        .encode(x=x, y="gap:Q", tooltip=tip)
    )
    zero = base.mark_rule(color="#6b7280", strokeDash=[3, 3], aria=False).encode(y=alt.datum(0))
    header = alt.Header(labelFontSize=18 if classroom else 13, labelFontWeight="bold")
    chart = (
        alt.layer(band, zero, line, now, data=frame)
        .properties(width=190 if classroom else 150, height=110)
        .facet(
            column=alt.Column("word:N", title=None, header=header, sort=list(dict.fromkeys(frame["word"])))
        )
    )
    words = ", ".join(dict.fromkeys(frame["word"]))
    described = chart.properties(
        description=f"Where the meanings part, per grouped word ({words}): the gap between same-group and "
        "other-group cosine in the model's full space at every layer, with the band relabelled sentences "
        "reach by chance."
    )  # Vega names the drawing with it: screen readers hear what the strip shows
    return with_style(described, classroom)
