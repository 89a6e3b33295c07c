"""Home: the idea in one screen, a live mini-demo, and where to go next."""

from __future__ import annotations

import streamlit as st

from explorer.assets import HOME_DEMO
from explorer.charts.home import word_similarity_chart
from explorer.inputs import escape_markdown
from explorer.states import layer_names
from explorer.ui import caches, lessons, state, widgets

widgets.page_config("", "🧭")
info = widgets.sidebar()

st.title("🧭 Latent Space Explorer")
st.markdown(
    "#### An embedding is a point we *use*. The latent space is the geometry the model *builds inside itself*, layer by layer."
)
idea = st.columns(2, gap="large")
idea[0].markdown(
    "**Embeddings** are vectors we take *out* of a model and use elsewhere: search, clustering, "
    "retrieval. Storing them, adding more, or changing them never touches the model."
)
idea[1].markdown(
    "**The latent space** is where every token lives *inside* the model, at every layer. It moves only "
    "when the model's weights are tuned. This app lets you watch it."
)

st.subheader("Try it: one word, two meanings")
demo = st.columns([1.2, 1], gap="large")
with demo[0]:
    for label, demo_key, default in zip(
        ("Sentence A", "Sentence B", "Word in both"),
        ("demo_a", "demo_b", "demo_word"),
        HOME_DEMO,
        strict=True,
    ):
        st.text_input(label, **state.remembered(demo_key, default))
a, b, word = (st.session_state[k].strip() for k in ("demo_a", "demo_b", "demo_word"))
result = caches.cached_word_similarity(info.model_id, a, b, word) if a and b and word else None
with demo[1]:
    if result is None:
        st.info("Type two sentences that both contain the word to compare.", icon="✍️")
    else:
        per_layer, sentence_cos = result
        names = layer_names(len(per_layer) - 1)
        chart = word_similarity_chart(per_layer, names, word, classroom=widgets.is_classroom())
        st.altair_chart(
            chart,
            width="stretch",
            alt=f"Line chart: cosine between the word in sentence A and in B at every layer, from "
            f"{per_layer[0]:.2f} at layer 0 to {per_layer[-1]:.2f} at the output.",
        )
        st.caption(
            f"Each point: cosine similarity between the word '{escape_markdown(word)}' in A and in B at one layer. "
            f"At layer 0 the word is {per_layer[0]:.2f} similar to itself (only position differs); at the output, "
            f"{per_layer[-1]:.2f}. The two sentence embeddings: {sentence_cos:.2f}."
        )

st.subheader("Where to go next")
PAGE_BLURBS = {
    "Token journey": "Type sentences and watch every token travel through the layers, with each sentence's pooled point.",
    "Sentence embedding": "From a cloud of tokens to one point; similarity; an index that grows while the model stays the same.",
    "Fine-tune": "Train a tiny head: its outputs move, the model stays bit-identical (proof included). Tune a "
    "private copy's top layers: that copy's latent space moves, only there.",
    "Geometry lab": "Measure each layer: anisotropy, self-similarity, effective dimension, where word senses separate.",
}
pages = [p for p in widgets.PAGES[1:] if (widgets.ROOT / p[0]).exists()]
for i, (path, label, icon) in enumerate(pages):
    if i % 2 == 0:  # a row of two at a time: on a phone the rows stack in reading order
        cards = st.columns(2, gap="medium")
    with cards[i % 2], st.container(border=True):
        st.page_link(path, label=label, icon=icon)
        st.caption(PAGE_BLURBS.get(label, ""))

st.subheader("Lessons: predict, then reveal")
st.caption("Each lesson opens a page on a prepared view with a question. Answer it before you reveal.")
lessons.lessons_gallery()
widgets.model_card(info)

caches.warm_model()  # the page is drawn: now load the model in the background
