"""Geometry lab: measure the latent space layer by layer, and find where word senses separate."""

from __future__ import annotations

import streamlit as st

from explorer.charts import geometry as gcharts
from explorer.charts.transport import as_sent
from explorer.export import csv_bytes
from explorer.states import layer_names
from explorer.ui import (
    caches,
    exports,
    keys,
    lab_measures,
    lesson_measures,
    lesson_packs,
    lessons,
    links,
    meaning_lab,
    share_menu,
    state,
    widgets,
)
from explorer.ui import geometry as lab
from explorer.ui import senses as sense_lab
from explorer.ui.frame import open_page

PAGE = "pages/4_Geometry_lab.py"
NO_SENTENCES = "Type at least one sentence above, or measure over the bundled corpus."


def run_page() -> None:
    """The page, in a function so its locals die with the run (see the Sentence embedding page)."""
    frame = open_page(
        PAGE, "Geometry lab", "📐", "Geometry lab",
        "Pictures can mislead; this page measures. Each chart follows one number from the embedding layer (0) "
        "to the output, as in Ethayarajh (2019) and Coenen et al. (2019).",
        lab.receive_link,
    )  # fmt: skip
    info, classroom = frame.info, frame.presenter
    # a lesson's card: beside the page in the presenter view
    with lessons.card_and_stage(PAGE, classroom, measure=lesson_measures.geometry_lab):
        stage = widgets.settings_and_stage(classroom, "⚙️ What to measure", None)
    with stage.settings:
        texts = lab.source_sentences()
    with stage.main:
        links.wait_for_click(
            "measure these sentences",
            umap=bool(state.kept(keys.GEOMETRY_UMAP, False)),
            text=None if state.kept(keys.GEOMETRY_SOURCE, "corpus") == "yours" else "",
        )
    names = layer_names(info.n_layers)
    view = (
        lab_measures.measures_view(info.model_id, texts, state.kept(keys.GEOMETRY_UMAP, False))
        if texts
        else None
    )
    with stage.main:
        measures_tab, senses_tab, change_tab = lab.tabs()

    with (
        stage.settings if classroom else measures_tab
    ):  # the presenter view keeps the lessons with the inputs
        lessons.lesson_menu(PAGE)
    with measures_tab:
        if view is None:
            st.info(NO_SENTENCES, icon="✍️")
        else:
            widgets.truncation_notice(view.states, info)
            st.caption(
                f"Over **{view.n_words:,} words** in {len(texts)} sentences ({view.n_repeated} different words occur "
                "more than once). Word pieces are averaged into words; [CLS], [SEP] and punctuation are left out."
            )
            if lessons.hidden(PAGE, "measures"):
                lessons.placeholder("every layer-by-layer chart")
            else:
                lab.measure_panels(view, names, classroom)
            widgets.toggle(
                "Also measure UMAP faithfulness",
                keys.GEOMETRY_UMAP,
                False,
                help="Fits an aligned UMAP over every layer: about 20 s the first time.",
            )
            st.download_button(
                "⬇️ Download these measures (CSV)",
                csv_bytes(view.measures),
                file_name="geometry_measures.csv",
                mime="text/csv",
            )

    with senses_tab:
        st.caption(
            "Pick an ambiguous word: does the model give it different vectors for different meanings, and from "
            "which layer on? Each context's word vector is assigned to the nearest sense centroid, leaving itself out."
        )
        left, right = st.columns([1, 2], gap="large")
        with left:
            word, contexts = sense_lab.sense_inputs()
        with right:
            sense = sense_lab.sense_view(info.model_id, word, contexts)
            sense_lab.sense_results(sense, names, classroom)
        meaning_lab.emergence_box(info, classroom)

    with change_tab:
        if view is None:
            st.info(NO_SENTENCES, icon="✍️")
        else:
            st.caption(
                "Each cell is the cosine between a token's vector before and after one layer: 1 means the layer "
                "left its direction alone, darker means the layer rewrote it more."
            )
            rows = lab.heatmap_rows(view)
            if len(rows):
                frame = gcharts.change_frame(view.changes, view.states.tokens, view.states.texts, rows)
                st.vega_lite_chart(
                    spec=as_sent(gcharts.change_heatmap(frame, classroom)),
                    width="stretch",
                    alt="Heatmap: for each token, the cosine between its vectors at consecutive layers.",
                )
            else:
                st.info("Pick at least one sentence.", icon="👆")

    if view is not None or sense.points is not None:
        link_state = lab.view_state(info.model_id)
        with stage.side:
            share_menu.share_and_export(
                link_state,
                exports.Exports(
                    lambda: lab.export_bundle(view, sense, link_state, info, classroom),
                    lesson_pack=lesson_packs.geometry_pack(info, texts, classroom, link_state),
                ),
                "geometry_lab.zip",
            )

    caches.warm_model()  # the page is drawn: now load the model in the background


run_page()
