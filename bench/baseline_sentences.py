"""Baseline for "new sentences → redraw": a text area and one Altair chart with as many rows as the Token
journey sends for the same sentences (every token at every layer: 7 layers of the bundled model), drawn
afresh whenever the text changes. No model, no projection: what Streamlit and the browser cost alone.

The legend names each sentence as the journey's does ("S1 · …"), so the bench waits for the same thing.
"""

import re
import zlib

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

LAYERS = 7  # the bundled model: the embedding layer and 6 transformer layers

st.title("Baseline: new sentences")
text = st.text_area("Sentences, one per line", "One sentence.\nAnother one.", height=150)
sentences = [line.strip() for line in text.splitlines() if line.strip()]
rows = []
for s, sentence in enumerate(sentences):
    label = f"S{s + 1} · {sentence[:42]}{'…' if len(sentence) > 42 else ''}"
    tokens = ["[CLS]", *re.findall(r"\w+|[^\w\s]", sentence), "[SEP]"]  # about as many as word pieces
    rng = np.random.default_rng(zlib.crc32(sentence.encode()))
    for layer in range(LAYERS):
        for position, token in enumerate(tokens):
            rows.append((label, token, position, layer, *rng.normal(size=2)))
frame = pd.DataFrame(rows, columns=["sentence", "token", "position", "layer", "x", "y"])
chart = (
    alt.Chart(frame)
    .mark_circle(size=60)
    .encode(x="x:Q", y="y:Q", color=alt.Color("sentence:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=300)),
            tooltip=["token:N", "sentence:N", "layer:Q"])
    .properties(height=520)
)  # fmt: skip
st.altair_chart(chart, width="stretch")
st.caption(f"{len(frame):,} rows")
