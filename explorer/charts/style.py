"""What every chart shares: palettes, the classroom style, padded axis domains."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

PALETTE = "tableau10"
# Okabe & Ito's colour-blind-safe palette, used in classroom mode.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


AXIS_INK = "#4a4a52"
# A token as a chart shows it (label, tooltip, axis): a 20,000-character "word" was sent whole, 22 MB per
# chart. Tables, readout data and exports keep the exact text.
MAX_LABEL_CHARS = 40


def style_config(classroom: bool = False) -> alt.Config:
    """House fonts for any top-level chart; larger type and the Okabe-Ito palette in classroom mode."""
    size = 17 if classroom else 12
    # Axis and legend text darker than Streamlit's chart theme (#808495 on white is 3.8:1; this is 8.8:1).
    ink = dict(labelColor=AXIS_INK, titleColor=AXIS_INK)
    config = alt.Config(
        axis=alt.AxisConfig(labelFontSize=size, titleFontSize=size + 1, **ink),
        legend=alt.LegendConfig(labelFontSize=size, titleFontSize=size + 1, **ink),
    )
    if classroom:
        config.range = alt.RangeConfig(category=OKABE_ITO)
        config.title = alt.TitleConfig(fontSize=size + 4)
    return config


def with_style(chart: alt.TopLevelMixin, classroom: bool = False) -> alt.TopLevelMixin:
    """The chart with the house style (`style_config`), set in one step: every Altair step on a layered
    chart copies all its layers."""
    return chart.properties(config=style_config(classroom))


def category_scale(domain: Sequence[str] | None, classroom: bool = False) -> alt.Scale:
    """Colours for named groups (sentences, labels): the house palette, Okabe-Ito in classroom mode.
    `domain` None: the names come from the data (in the order the encoding's `sort` gives)."""
    named = {} if domain is None else {"domain": list(domain)}
    if classroom:
        return alt.Scale(range=OKABE_ITO, **named)
    return alt.Scale(scheme=PALETTE, **named)


def padded_domain(values: pd.Series | np.ndarray, pad: float = 0.06) -> list[float]:
    """[min, max] of the values widened by `pad` of their span on each side (1.0 when they are all equal)."""
    lo, hi = float(values.min()), float(values.max())
    span = (hi - lo) or 1.0
    return [lo - pad * span, hi + pad * span]


def display_text(values: pd.Series, width: int = MAX_LABEL_CHARS) -> pd.Series:
    """Each value as a chart shows it: at most `width` characters, the cut ones ending in an ellipsis."""
    text = values.astype(str)
    long = text.str.len() > width
    if not long.any():
        return text
    return text.where(~long, text.str.slice(0, width - 1) + "…")
