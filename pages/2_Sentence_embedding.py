"""Sentence embedding: from a cloud of tokens to one point, and an index that is not the model."""

from __future__ import annotations

import streamlit as st

from explorer.charts import sentence as sc
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
    classroom = widgets.is_classroom()

    with right:
        tokens_tab, similarity_tab, importance_tab, index_tab = page.tabs()

    with tokens_tab:
        hide_pooled = lessons.hidden(PAGE, "pooled")
        view, cloud = page.tokens_panel(
            info, texts, states.n_layers, left if presenter else st.container(), classroom, hide_pooled
        )

    # Only the open tab is made (its tabs rerun on a switch): a first visit draws the token cloud alone.
    if similarity_tab.open:
        with similarity_tab:
            page.similarity_panel(info.model_id, texts, states, classroom, lessons.hidden(PAGE, "similarity"))
    if importance_tab.open:
        with importance_tab:
            chosen = page.sentence_picker(texts)
            measures = page.cached_token_measures(info.model_id, texts, chosen)
            st.altair_chart(
                sc.token_importance_chart(measures, classroom=classroom),
                width="content",
                alt="Bar chart of how much each token moves its sentence's embedding.",
            )
            st.caption(page.importance_caption(states.pooling))
    if index_tab.open:
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
                    caches.cached_states(info.model_id, texts),
                    view,
                    page.cached_view(info.model_id, texts, None, *page.similarity_settings(states.n_layers)),
                    cloud,
                    link_state,
                    info,
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
