"""Geometry lab: measure the latent space layer by layer, and find where word senses separate."""

from __future__ import annotations

import streamlit as st

from explorer import geometry_charts as gcharts
from explorer import ui
from explorer.states import layer_names
from explorer.ui import geometry as lab

st.set_page_config(page_title="Geometry lab · Latent Space Explorer", page_icon="📐", layout="wide")
info = ui.sidebar()
st.title("📐 Geometry lab")
st.caption(
    "Pictures can mislead; this page measures. Each chart follows one number from the embedding layer (0) "
    "to the output, as in Ethayarajh (2019) and Coenen et al. (2019)."
)

texts = lab.source_sentences()
names = layer_names(info.n_layers)
view = lab.measures_view(info.model_id, texts, ui.kept("geometry_umap", False)) if texts else None
measures_tab, senses_tab, change_tab = st.tabs(
    ["📈 Layer by layer", "🔀 Word-sense lab", "🌡️ How much each layer changes each token"]
)

with measures_tab:
    if view is None:
        st.info("Type at least one sentence above, or measure over the bundled corpus.", icon="✍️")
    else:
        ui.truncation_notice(view.states, info)
        st.caption(
            f"Over **{view.n_words:,} words** in {len(texts)} sentences ({view.n_repeated} different words occur "
            "more than once). Word pieces are averaged into words; [CLS], [SEP] and punctuation are left out."
        )
        lab.measure_panels(view, names)
        ui.toggle(
            "Also measure UMAP faithfulness",
            "geometry_umap",
            False,
            help="Fits an aligned UMAP over every layer: about 20 s the first time.",
        )
        st.download_button(
            "⬇️ Download these measures (CSV)",
            lab.csv_bytes(view.measures),
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
        word, contexts = lab.sense_inputs()
    with right:
        sense = lab.sense_view(info.model_id, word, contexts)
        if sense.error:
            st.warning(sense.error, icon="🔎")
        if sense.separation is not None:
            sep, best = sense.separation, sense.separation.best_layer
            metrics = st.columns(3)
            metrics[0].metric(
                "Senses separate best at layer",
                names[best],
                help="The layer with the highest accuracy; ties go to the larger similarity gap.",
            )
            metrics[1].metric(
                "Accuracy there",
                f"{sep.accuracy[best]:.0%}",
                f"chance {sep.chance:.0%}",
                "off",
                delta_arrow="off",
            )
            metrics[2].metric("Similarity gap there", f"{sep.gap[best]:+.3f}")
            charts = st.columns(2)
            with charts[0]:
                lab.chart_with_reading(
                    gcharts.sense_accuracy_chart(sense.frame, best, sep.chance),
                    "Higher means a context's word vector sits closer to its own sense's centroid; "
                    "dotted: chance.",
                )
            with charts[1]:
                lab.chart_with_reading(
                    gcharts.sense_similarity_chart(sense.frame, best),
                    "A wider gap between the lines means the senses form separate clusters.",
                )
            st.markdown(f"**The contexts at layer {names[best]}**, where the senses separate best")
            lab.chart_with_reading(
                gcharts.sense_scatter(sense.points),
                "Each point is the word in one context, flattened to 2-D by PCA of this layer; "
                "crosses are contexts whose nearest centroid is the other sense. Hover for the sentence.",
            )
            for note in lab.sense_notes(sense):
                st.caption(note)
            st.download_button(
                "⬇️ Download the sense measures (CSV)",
                lab.csv_bytes(sense.frame),
                file_name=f"senses_{lab.file_stem(word)}.csv",
                mime="text/csv",
            )

with change_tab:
    if view is None:
        st.info("Type at least one sentence above, or measure over the bundled corpus.", icon="✍️")
    else:
        st.caption(
            "Each cell is the cosine between a token's vector before and after one layer: 1 means the layer "
            "left its direction alone, darker means the layer rewrote it more."
        )
        rows = lab.heatmap_rows(view)
        if len(rows):
            frame = gcharts.change_frame(view.changes, view.states.tokens, view.states.texts, rows)
            st.altair_chart(gcharts.change_heatmap(frame), width="stretch")
        else:
            st.info("Pick at least one sentence.", icon="👆")
