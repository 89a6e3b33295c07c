"""Sentence embedding: from a cloud of tokens to one point, and an index that is not the model."""

from __future__ import annotations

import streamlit as st

from explorer import sentence as sm
from explorer.charts import sentence as sc
from explorer.states import layer_names
from explorer.ui import caches, lessons, links, share_menu, widgets
from explorer.ui import index as index_ui
from explorer.ui import sentence as page

PAGE = "pages/2_Sentence_embedding.py"
SETTINGS = "⚙️ Sentences and settings"
widgets.page_config("Sentence embedding", "📍")
page.receive_link()
lessons.receive(PAGE)
info = widgets.sidebar()
presenter = widgets.page_heading(
    "📍 Sentence embedding",
    "A sentence embedding is one point in the model's latent space, computed from its tokens. "
    "Storing such points in an index is useful, and it never changes the model.",
    lesson_running=lessons.active(PAGE) is not None,
)
# A lesson's card: on top, or beside the page in the presenter view (evidence and question on one screen).
with lessons.card_and_stage(PAGE, presenter, measure=page.lesson_measure):
    stage = widgets.settings_and_stage(presenter, SETTINGS, [1, 2.4])
left, right = stage.settings, stage.main
with left:
    parsed = widgets.sentence_editor()
    lessons.lesson_menu(PAGE)
if not parsed.sentences:
    widgets.stop_for_input(right, presenter, parsed.error, SETTINGS)
with right:
    links.wait_for_click("embed these sentences")
texts = parsed.sentences
states = caches.load_states(info.model_id, texts)
widgets.truncation_notice(states, info)
names = layer_names(states.n_layers)
classroom = widgets.is_classroom()

with right:
    tokens_tab, similarity_tab, importance_tab, index_tab = page.tabs()

with tokens_tab:
    hide_pooled = lessons.hidden(PAGE, "pooled")
    view, cloud = page.tokens_panel(
        info, texts, states.n_layers, left if presenter else st.container(), classroom, hide_pooled
    )

with similarity_tab:
    pooling, layer = page.similarity_controls(states.n_layers, names)
    sim = page.cached_view(info.model_id, texts, None, pooling, layer)
    if lessons.hidden(PAGE, "similarity"):
        lessons.placeholder("the similarity of every pair of sentences")
    else:
        st.altair_chart(
            sc.similarity_heatmap(sim.similarity_frame, classroom=classroom),
            width="content",
            alt="Heatmap of the cosine similarity between every pair of sentences; each cell shows its value.",
        )
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
    chosen = page.sentence_picker(texts)
    measures = page.cached_token_measures(info.model_id, texts, chosen)
    st.altair_chart(
        sc.token_importance_chart(measures, classroom=classroom),
        width="content",
        alt="Bar chart of how much each token moves its sentence's embedding.",
    )
    st.caption(page.importance_caption(states.pooling))

with index_tab:
    index = index_ui.user_index(info.model_id)
    actions = st.columns([1.4, 1, 1])
    stored = not index.new_texts(texts)
    full = None if stored else index_ui.room_problem(index, texts)
    label = "Your sentences are in the index" if stored else f"Add my {len(texts)} sentences to the index"
    if actions[0].button(label, key="add_typed", type="primary", disabled=stored or full is not None):
        index_ui.add_to_index(info.model_id, texts, "typed")
        st.rerun()
    if actions[1].button("Reset the index", key="reset_index"):
        index_ui.reset_index(info.model_id)
        st.rerun()
    actions[2].download_button(
        "Index (NPZ)", lambda: sm.embeddings_npz(index.texts, index.vectors), "index.npz", on_click="ignore"
    )
    if full is not None:
        st.warning(full, icon="📦")
    # right under the button that could change the model: its fingerprint before and after
    index_ui.proof_panel(info.model_id, index, info.fingerprint, verdict=not lessons.hidden(PAGE, "verdict"))
    query, k = index_ui.query_controls()
    projection, points = index_ui.index_map(info.model_id, index)
    query_xy, hits = None, ()
    if query:
        vector, hits = index_ui.search(info.model_id, index, query, k)
        query_xy = projection.place(vector)[0]
    if lessons.hidden(PAGE, "hits"):
        hits = ()  # where the query lands stays; which sentences come back is the answer
    st.altair_chart(
        sc.corpus_map_chart(points, query_xy, query, hits, classroom=classroom),
        width="stretch",
        alt="Map of the index's sentences on fixed axes, with the query and its nearest hits marked.",
    )
    st.caption(
        f"Each dot is one indexed sentence's embedding; axes: the first two principal axes of the bundled "
        f"corpus ({projection.explained:.0%} of its spread), fixed, so added sentences are placed on them and "
        "no dot moves. ▲ = your query on the same axes"
        + (f"; dashed lines lead to its {len(hits)} nearest sentences by cosine." if hits else ".")
    )
    if hits:
        st.dataframe(index_ui.hits_table(hits), hide_index=True, width="stretch")
    elif query and lessons.hidden(PAGE, "hits"):
        lessons.placeholder("the list of results and the lines to them")
    index_ui.upload_box(info.model_id)

with stage.side:
    link_state = page.view_state(info.model_id)
    share_menu.share_and_export(
        link_state,
        lambda: page.export_bundle(states, view, sim, cloud, link_state, info),
        "sentence_embedding.zip",
        note="The link carries the sentences and every setting on this page, but not sentences you added "
        "to the index or uploaded (too big for a link): add them again after opening it.",
    )

caches.warm_model()  # the page is drawn: now load the model in the background
