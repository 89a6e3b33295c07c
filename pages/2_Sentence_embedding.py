"""Sentence embedding: from a cloud of tokens to one point, and an index that is not the model."""

from __future__ import annotations

import streamlit as st

from explorer import sentence as sm
from explorer.charts import sentence as sc
from explorer.states import layer_names
from explorer.ui import (
    caches,
    claims,
    lesson_measures,
    lesson_packs,
    lessons,
    links,
    share_menu,
    widgets,
)
from explorer.ui import index as index_ui
from explorer.ui import sentence as page
from explorer.ui.frame import open_page

PAGE = "pages/2_Sentence_embedding.py"
SETTINGS = "⚙️ Sentences and settings"


def run_page() -> None:
    """The page, run as a function: its locals (the states of up to 100 long sentences) die with the
    run. As module globals they stayed alive in sys.modules["__main__"] until anyone's next run."""
    frame = open_page(
        PAGE, "Sentence embedding", "📍", "Sentence embedding",
        "A sentence embedding is one point in the model's latent space, computed from its tokens. "
        "Storing such points in an index is useful, and it never changes the model.",
        page.receive_link,
    )  # fmt: skip
    info, presenter = frame.info, frame.presenter
    # A lesson's card: on top, or beside the page in the presenter view (evidence and question on one screen).
    with lessons.card_and_stage(PAGE, presenter, measure=lesson_measures.sentence_page):
        stage = widgets.settings_and_stage(presenter, SETTINGS, [1, 2.4])
    left, right = stage.settings, stage.main
    with left:
        parsed = widgets.sentence_editor()
        lessons.lesson_menu(PAGE)
    if not parsed.sentences:
        widgets.stop_for_input(right, presenter, parsed.error, SETTINGS)
    texts = parsed.sentences
    with right:
        links.wait_for_click("embed these sentences")
        states = claims.states_or_warning(info.model_id, texts, "embedding these sentences")
    if states is None:
        st.stop()
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
        running = lessons.active(PAGE)
        index_ui.index_tab(
            info,
            texts,
            classroom,
            # the search lesson: the query and its map first, in view with the card; the index's tools after
            search_first=running is not None and "hits" in running.hides,
            presenter=presenter,
            hide_hits=lessons.hidden(PAGE, "hits"),
            verdict=not lessons.hidden(PAGE, "verdict"),
        )

    with stage.side:
        link_state = page.view_state(info.model_id)
        share_menu.share_and_export(
            link_state,
            # the states are fetched again on the click: a deferred download holding them would keep
            # them (and their room on the server's budget) for as long as this tab stays open
            lesson_packs.sentence_exports(
                lambda: page.export_bundle(
                    caches.cached_states(info.model_id, texts), view, sim, cloud, link_state, info
                ),
                info,
                texts,
                classroom,
                link_state,
            ),
            "sentence_embedding.zip",
            note="The link carries the sentences and every setting on this page, but not sentences you added "
            "to the index or uploaded (too big for a link): add them again after opening it.",
        )

    caches.warm_model()  # the page is drawn: now load the model in the background


run_page()
