"""Sentence embedding: from a cloud of tokens to one point, and an index that is not the model."""

from __future__ import annotations

import streamlit as st

from explorer import sentence as sm
from explorer import sentence_charts as sc
from explorer import ui
from explorer.states import layer_names
from explorer.ui import sentence as page

st.set_page_config(page_title="Sentence embedding · Latent Space Explorer", page_icon="📍", layout="wide")
info = ui.sidebar()
st.title("📍 Sentence embedding")
st.caption(
    "A sentence embedding is one point in the model's latent space, computed from its tokens. "
    "Storing such points in an index is useful, and it never changes the model."
)

left, right = st.columns([1, 2.4], gap="large")
with left:
    parsed = ui.sentence_editor()
if not parsed.sentences:
    st.stop()
texts = parsed.sentences
states = ui.load_states(info.model_id, texts)
ui.truncation_notice(states, info)
names = layer_names(states.n_layers)

with right:
    tokens_tab, similarity_tab, importance_tab, index_tab = st.tabs(
        ["Tokens → one point", "Similarity", "Which tokens matter", "An index is not the model"]
    )

with tokens_tab:
    contrast = st.selectbox(
        "Also show, for contrast",
        [None, "cls", "max"],
        format_func=lambda k: "nothing else" if k is None else sm.POOLINGS[k],
        key="sentence_contrast",
    )
    view = page.cached_view(info.model_id, texts, contrast, "model", states.n_layers)
    st.altair_chart(sc.cloud_chart(view.cloud.tokens, view.cloud.pooled), width="stretch")
    st.caption(
        f"Each dot is one token's {info.dim}-dim vector at the output layer; axes: the first two principal "
        f"axes of these tokens ({view.cloud.explained:.0%} of their spread). ◆ = **the model's embedding**: "
        f"{info.pooling} pooling of the sentence's tokens, before normalising; lines join each token to it."
        + (
            " Mean pooling is linear, so ◆ sits exactly on the centroid of its tokens."
            if info.pooling == "mean"
            else ""
        )
        + (" □ = the contrast pooling, not what the model uses." if contrast else "")
    )
    with st.expander("Normalisation: the embedding is the unit-length version of ◆"):
        st.markdown(
            "The model divides the pooled vector by its length, so every embedding it returns has length 1 and "
            "lies on a sphere. Cosine similarity then equals the dot product; direction is all that counts."
            if info.normalized
            else "This model returns the pooled vector as is (no normalisation step)."
        )
        st.dataframe(
            view.norms, hide_index=True, column_config={"text": st.column_config.TextColumn(width="large")}
        )

with similarity_tab:
    cols = st.columns([2, 2])
    pooling = cols[0].selectbox(
        "Pool with",
        ["model", "mean_layer", "cls", "max"],
        format_func=sm.POOLINGS.get,
        key="sentence_pooling",
    )
    layer = states.n_layers
    if pooling == "mean_layer":
        with cols[1]:
            layer = st.select_slider(
                "Layer",
                list(range(states.n_layers)),
                value=1,
                format_func=names.__getitem__,
                key="sentence_layer",
            )
    sim = page.cached_view(info.model_id, texts, None, pooling, layer)
    st.altair_chart(sc.similarity_heatmap(sim.similarity_frame), width="content")
    label = sm.POOLINGS[pooling] + (f", layer {names[layer]}" if pooling == "mean_layer" else "")
    st.caption(
        f"Cell = cosine similarity of two sentences' vectors ({label}); S1…S{len(texts)} as in the box. "
        "1 = same direction, 0 = unrelated. Hover a cell for the sentences."
    )
    downloads = st.columns(3)
    for slot, (name, make, file, mime) in zip(
        downloads, page.downloads(texts, states.pooled, sim.similarity), strict=True
    ):
        slot.download_button(name, make, file, mime, on_click="ignore")

with importance_tab:
    chosen = st.selectbox(
        "Sentence",
        range(len(texts)),
        format_func=lambda i: f"S{i + 1} · {texts[i][:80]}",
        key=f"sentence_tokens_{hash(texts)}",
    )
    measures = page.cached_token_measures(info.model_id, texts, chosen)
    st.altair_chart(sc.token_importance_chart(measures), width="content")
    st.caption(
        "One bar per token (output layer). Left: cosine of the token's vector to the sentence's pooled vector. "
        "Right: leave it out of the pooling and see how far the pooled vector turns (1 − cosine). "
        "The [CLS] and [SEP] tokens are pooled too, so they count."
    )

with index_tab:
    index = page.user_index(info.model_id)
    page.proof_panel(info.model_id, index, info.fingerprint)
    query = st.text_input(
        "Search the index", "Which planet has rings you can see with a telescope?", key="index_query"
    )
    projection, points = page.index_map(info.model_id, index)
    query_xy, hits = None, ()
    if query.strip():
        vector, hits = page.search(info.model_id, index, query.strip())
        query_xy = projection.place(vector)[0]
        st.dataframe(page.hits_table(hits), hide_index=True, width="stretch")
    st.altair_chart(sc.corpus_map_chart(points, query_xy, query, hits), width="stretch")
    st.caption(
        f"Each dot is one indexed sentence's embedding; axes: the first two principal axes of the index "
        f"({projection.explained:.0%} of its spread). ▲ = your query, placed on the same axes; dashed lines "
        f"lead to its {len(hits)} nearest sentences by cosine."
    )
    actions = st.columns([1.4, 1, 1])
    stored = set(texts) <= set(index.texts)
    label = "Your sentences are in the index" if stored else f"Add my {len(texts)} sentences to the index"
    if actions[0].button(label, key="add_typed", type="primary", disabled=stored):
        page.add_to_index(info.model_id, texts, "typed")
        st.rerun()
    if actions[1].button("Reset the index", key="reset_index"):
        page.reset_index(info.model_id)
        st.rerun()
    actions[2].download_button(
        "Index (NPZ)", lambda: sm.embeddings_npz(index.texts, index.vectors), "index.npz", on_click="ignore"
    )
    page.upload_box(info.model_id)
