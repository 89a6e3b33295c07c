"""What moved a followed token at each layer: its update split into parts (`decomposition.move_table`)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from explorer.charts.style import style_config
from explorer.decomposition import PARTS

PART_COLOURS = ("#6b7280", "#b45309", "#2563eb", "#d1d5db")  # itself, other tokens, feed-forward, biases


def update_parts_chart(moves: pd.DataFrame, classroom: bool = False) -> alt.FacetChart:
    """Per followed token, a bar per layer: how far each part carried the token along its move from the
    layer before (the parts add up to the move's length; below zero, a part pulled against it)."""
    frame = moves.assign(
        order=moves["part"].map({p: i for i, p in enumerate(PARTS)}),
        share=moves["along"] / moves["move"].where(moves["move"] > 0),
    )
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("along:Q", title="along the move"),
            color=alt.Color(
                "part:N",
                scale=alt.Scale(domain=list(PARTS), range=list(PART_COLOURS)),
                legend=alt.Legend(title="what moved it", orient="bottom"),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("token:N", title="token"),
                alt.Tooltip("layer:O", title="layer"),
                alt.Tooltip("part:N", title="part"),
                alt.Tooltip("share:Q", title="share of the move", format=".0%"),
                alt.Tooltip("move:Q", title="length of the move", format=".2f"),
            ],
        )
        .properties(height=110 if classroom else 80, width=alt.Step(28 if classroom else 22))
        .facet(
            column=alt.Column("token:N", title=None, header=alt.Header(labelFontSize=17 if classroom else 12))
        )
    )
    chart.config = style_config(classroom)
    return chart
