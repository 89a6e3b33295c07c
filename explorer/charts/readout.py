"""The Token journey's full-space readout: its lines for the chart's band (`readout_frame` for the
followed tokens, `word_lines` per grouped word), where they are written in the band and how they are
drawn (`placed_readout`, `readout_layers`), and the per-word strip of where a word's groups part (its gap
at every layer against the chance band of relabelled sentences).

The lines per word read the readout's data (`explorer.separation`: `readout_pairs`, `readout_summary`);
nothing here parses text back."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.style import MAX_LABEL_CHARS, display_text, with_style
from explorer.inputs import shorten

READOUT_PAIRS = 4  # followed tokens whose pairwise cosines are listed (6 pairs); the rest are summarised
READOUT_SHARE = 0.45  # of the plot's height, at most, for the band the readout is written in
READOUT_MARGIN = (
    1.5  # rows of the band besides its lines' own: half a row over the title, the last line's own
)


def readout_frame(
    cosines: np.ndarray, labels: Sequence[str], groups: Sequence[str], dim: int
) -> pd.DataFrame:
    """Lines of the full-space readout at every layer: one row per (layer, line).

    cosines: (L+1, k, k) cosine between the k followed tokens at each layer, in all `dim` dimensions.
    Lists every pair of the first READOUT_PAIRS tokens, then (when they fall into two or more groups)
    the mean cosine within a group and across groups over all k. `row` and `col` place each line: the
    title on top, the pairs in two columns, the summary under them.
    """
    k = len(labels)
    if cosines.shape[1:] != (k, k) or len(groups) != k:
        raise ValueError(f"Need (L+1, {k}, {k}) cosines and {k} groups, got {cosines.shape}, {len(groups)}.")
    shown = min(k, READOUT_PAIRS)
    pairs = [(a, b) for a in range(shown) for b in range(a + 1, shown)]
    same = np.equal.outer(np.asarray(groups, dtype=object), np.asarray(groups, dtype=object))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    shown_as = [shorten(label, MAX_LABEL_CHARS) for label in labels]  # in the band; `a`, `b` keep them whole
    rows = []
    for layer, matrix in enumerate(cosines):
        lines = [(f"Cosine in all {dim} dims (the model's own space), this layer:", np.nan, "", "")]
        lines += [
            (f"{shown_as[a]} ↔ {shown_as[b]}: {matrix[a, b]:.2f}", matrix[a, b], labels[a], labels[b])
            for a, b in pairs
        ]
        if len(set(groups)) > 1 and (same & upper).any():
            within, across = matrix[same & upper].mean(), matrix[~same & upper].mean()
            lines.append((f"same group {within:.2f} · other group {across:.2f}", np.nan, "", ""))
        for i, (text, value, a, b) in enumerate(lines):
            pair = i - 1 if 0 < i <= len(pairs) else None  # pairs in two columns; title and summary full rows
            row = 0 if i == 0 else 1 + pair // 2 if pair is not None else 1 + (len(pairs) + 1) // 2
            col = pair % 2 if pair is not None else 0
            rows.append(
                {
                    "layer": layer,
                    "line": i,
                    "row": row,
                    "col": col,
                    "text": text,
                    "cosine": value,
                    "a": a,
                    "b": b,
                }
            )
    return pd.DataFrame(rows)


def word_lines(summary: pd.DataFrame, dim: int) -> pd.DataFrame:
    """The band's lines at every layer, one per grouped word under a title: 'bat: same group 0.71 · other
    group 0.42 · beats 34 of 35 balanced splits'. Columns as `readout_frame` (layer, line, row, col, text,
    cosine, a, b), so the band places them the same way."""
    rows = []
    for layer, at_layer in summary.groupby("layer", sort=True):
        lines = [f"Cosine in all {dim} dims (the model's own space), this layer:"]
        for r in at_layer.itertuples():
            lines.append(
                f"{shorten(r.word, MAX_LABEL_CHARS)}: same group {r.within:.2f} · other group {r.across:.2f} · {beats_text(r)}"
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


def fit_readout(readout: pd.DataFrame, place: str, max_rows: int) -> pd.DataFrame:
    """The readout's lines in at most `max_rows` rows of the band (rows counted by `place`: "row", pairs
    two to a row, or "line"): when more are needed, the title, the group summaries and as many pairs as
    fit, then a line saying how many more there are (the table under the chart lists every cosine)."""
    max_rows = max(max_rows, 2)  # the title and the line saying what is left out
    if int(readout[place].max()) < max_rows:
        return readout
    return pd.concat(
        [_fit_layer(lines, place, max_rows) for _, lines in readout.groupby("layer", sort=True)],
        ignore_index=True,
    )


def _fit_layer(lines: pd.DataFrame, place: str, max_rows: int) -> pd.DataFrame:
    """One layer's lines cut to `max_rows` rows, laid out as `readout_frame` lays them out."""
    lines = lines.sort_values("line")
    title, body = lines.iloc[:1], lines.iloc[1:]
    pairs, rest = body[body["a"] != ""], body[body["a"] == ""]

    def rows(n_pairs: int, n_rest: int) -> int:  # the title, the pairs, the rest, the line saying more
        return 1 + (n_pairs if place == "line" else -(-n_pairs // 2)) + n_rest + 1

    n_rest = len(rest)
    while n_rest and rows(0, n_rest) > max_rows:
        n_rest -= 1
    n_pairs = max((k for k in range(len(pairs) + 1) if rows(k, n_rest) <= max_rows), default=0)
    left_out = len(body) - n_pairs - n_rest
    more = title.assign(
        text=f"… {left_out} more line{'s' if left_out != 1 else ''}: the table under the chart lists every cosine",
        cosine=np.nan,
        a="",
        b="",
    )
    kept = pd.concat([title, pairs.iloc[:n_pairs], rest.iloc[:n_rest], more], ignore_index=True)
    pair_rows = -(-n_pairs // 2)
    index = np.arange(len(kept))
    is_pair = (index >= 1) & (index <= n_pairs)
    return kept.assign(
        line=index,
        row=np.where(is_pair, 1 + (index - 1) // 2, np.where(index == 0, 0, index - n_pairs + pair_rows)),
        col=np.where(is_pair, (index - 1) % 2, 0),
    )


def placed_readout(
    readout: pd.DataFrame, one_column: bool, x_domain: list[float], y_domain: list[float], row_share: float
) -> pd.DataFrame:
    """The readout's lines with where each is written (`x`, `y`, in data units, so it scales with the
    chart) in the band under the points: the title, then the pairs in two columns (one in classroom
    type), then the group summary. A row is `row_share` of the chart's height."""
    row = (y_domain[1] - y_domain[0]) * row_share
    place = "line" if one_column else "row"
    top = y_domain[0] + row * (int(readout[place].max()) + READOUT_MARGIN - 0.5)  # the title's top
    left, half = x_domain[0] + 0.01 * (x_domain[1] - x_domain[0]), 0.5 * (x_domain[1] - x_domain[0])
    placed = readout.assign(
        x=left if one_column else left + readout["col"] * half, y=top - readout[place] * row
    )
    return placed[["layer", "line", "x", "y", "text"]]  # what the band draws (`a`, `b` hold whole labels)


def readout_layers(placed: pd.DataFrame, shown: dict, classroom: bool, x: alt.X, y: alt.Y) -> list[alt.Chart]:
    """The readout (see `placed_readout`) for the layer the slider picks: the title in bold, the rest."""
    size = 17 if classroom else 12
    base = alt.Chart(placed).transform_filter(shown).encode(x=x, y=y, text=alt.Text("text:N"))
    return [
        base.transform_filter("datum.line == 0")
        .mark_text(align="left", baseline="top", fontSize=size, fontWeight="bold", color="#374151", clip=True)
        .properties(name="readout_title"),
        base.transform_filter("datum.line > 0")
        .mark_text(align="left", baseline="top", fontSize=size, color="#374151", clip=True)
        .properties(name="readout"),
    ]


def beats_text(row) -> str:
    """'beats 34 of 35 balanced splits' (or '… random splits' when they were sampled)."""
    if int(row.splits) <= 1:
        return "no other split to compare"
    kind = "balanced splits" if row.exhaustive else "random splits"
    return f"beats {int(row.beats):,} of {int(row.splits):,} {kind}"


def separation_strip(summary: pd.DataFrame, layer: int, classroom: bool = False) -> alt.FacetChart:
    """Per grouped word, its gap (within − across, full-space cosine) at every layer, the chance band of
    relabelled sentences (5th-95th percentile) behind it, and the layer shown marked."""
    frame = summary.assign(current=summary["layer"] == int(layer), word=display_text(summary["word"]))
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
