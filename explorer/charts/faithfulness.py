"""How faithful the Token journey's 2-D picture is, layer by layer: a small line chart of the share of
each layer's spread the two axes keep and of the neighbours kept on screen. No Streamlit, no model."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd


def layer_scores_chart(
    layer_names: Sequence[str], explained: np.ndarray, faithfulness: np.ndarray, layer: int
):
    """A small line chart of explained variance and neighbour faithfulness across layers."""
    frame = pd.DataFrame(
        {
            "layer": np.tile(np.arange(len(layer_names)), 2),
            "layer_name": list(layer_names) * 2,
            "score": np.concatenate([explained, faithfulness]),
            "measure": ["explained variance"] * len(layer_names)
            + ["faithfulness (10-NN kept)"] * len(layer_names),
        }
    ).dropna()
    base = alt.Chart(frame).encode(
        x=alt.X("layer:O", title="layer"),
        y=alt.Y("score:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None),
        color=alt.Color("measure:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=[alt.Tooltip("layer_name:N"), alt.Tooltip("measure:N"), alt.Tooltip("score:Q", format=".0%")],
    )
    rule = (
        alt.Chart(pd.DataFrame({"layer": [layer]}))
        .mark_rule(color="#999", strokeDash=[4, 3])
        .encode(x=alt.X("layer:O"))
    )
    return (base.mark_line(point=True) + rule).properties(height=170)
