"""The home page's live demo: one word in two sentences, its cosine at every layer."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from explorer.charts.style import with_style


def word_similarity_chart(
    per_layer: np.ndarray, layer_names: Sequence[str], word: str, classroom: bool = False
) -> alt.TopLevelMixin:
    """A line of the cosine between the word's two vectors at every layer, on a fixed 0–1 scale."""
    frame = pd.DataFrame(
        {"layer": range(len(per_layer)), "layer name": list(layer_names), "cosine": per_layer}
    )
    chart = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=70), strokeWidth=3)
        .encode(
            x=alt.X("layer:O", title="layer (0 = embeddings)"),
            y=alt.Y("cosine:Q", title=f"cosine of the two '{word}'s", scale=alt.Scale(domain=[0, 1])),
            tooltip=[alt.Tooltip("layer name:N"), alt.Tooltip("cosine:Q", format=".3f")],
        )
        .properties(height=230)
    )
    return with_style(chart, classroom)
