"""Streamlit side of the Geometry lab's word-sense lab: the word and its contexts, the cached sense view,
and its charts and notes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import senses
from explorer.charts import geometry as gcharts
from explorer.export import csv_bytes, file_stem
from explorer.inputs import escape_markdown
from explorer.projection import project
from explorer.states import layer_names
from explorer.ui import claims, keys, links, widgets
from explorer.ui.caches import cached_states
from explorer.ui.state import remembered

OWN_WORD = "✏️ your own word"
CONTEXTS_PART = "contexts"  # a link's long contexts: held (see links.hold) until the sense lab's button


# ---------------------------------------------------------------- word-sense lab
@dataclass(frozen=True)
class SenseView:
    """The sense lab's result for one word, or the reason there is none."""

    word: str
    error: str | None = None
    occurrences: senses.SenseOccurrences | None = None
    separation: senses.SenseSeparation | None = None
    frame: pd.DataFrame | None = None
    points: pd.DataFrame | None = None


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_sense_view(
    model_id: str, word: str, labels: tuple[str, ...], sentences: tuple[str, ...]
) -> SenseView:
    contexts = senses.SenseContexts(labels, sentences)
    states = cached_states(model_id, sentences)
    found = senses.find_sense_occurrences(states.layers, states.tokens, contexts, word)
    try:
        separation = senses.sense_separation(found.vectors, found.labels)
    except ValueError as exc:
        return SenseView(word, error=escape_markdown(str(exc)), occurrences=found)  # holds user labels
    best = separation.best_layer
    coords = project(found.vectors[best : best + 1].astype(np.float32), "pca_aligned").coords[0]  # (M, 2)
    correct = separation.predicted[best] == separation.labels
    return SenseView(
        word=word,
        occurrences=found,
        separation=separation,
        frame=gcharts.sense_frame(separation, layer_names(states.n_layers)),
        points=gcharts.sense_points(coords, found.labels, found.sentences, correct),
    )


def sense_inputs() -> tuple[str, senses.SenseContexts]:
    """Word picker and the editable 'sense: sentence' box (each word keeps its own edits)."""
    presets = senses.word_sense_presets()
    choice = st.selectbox("Word", [*presets, OWN_WORD], **remembered(keys.SENSE_WORD, next(iter(presets))))
    if choice == OWN_WORD:
        word = st.text_input("Your word", **remembered(keys.SENSE_OWN_WORD, ""))
        default = ""
    else:
        word, default = choice, presets[choice].as_text()
    key = keys.sense_text(choice)
    raw = st.text_area(
        "Contexts, one per line as  [sense] sentence",
        **remembered(key, default),
        height=220,
        placeholder="river: We walked along the bank.\nmoney: The bank was closed.",
        help="Give every sense at least two sentences that contain the word. Edit freely; Ctrl+Enter applies.",
    )
    contexts = senses.parse_sense_lines(raw)
    if contexts.skipped:
        lines = ", ".join(str(n) for n in contexts.skipped[:8])
        st.warning(f"Line(s) {lines} have no [sense] tag and were skipped.", icon="✍️")
    if contexts.dropped:
        st.info(
            f"Using the first {senses.MAX_SENSE_CONTEXTS} contexts; {contexts.dropped} more were left out.",
            icon="ℹ️",
        )
    return word.strip().lower(), contexts


def sense_view(model_id: str, word: str, contexts: senses.SenseContexts) -> SenseView:
    if not word:
        return SenseView(word, error="Type the word to study.")
    if not contexts.sentences:
        return SenseView(word, error="Add contexts, one per line as '[sense] sentence'.")
    notice = None
    if links.holding(CONTEXTS_PART, contexts.sentences):  # a link's long contexts: read on a click
        reasons = [
            f"runs the model over {links.size_of(contexts.sentences)} in {len(contexts.sentences)} contexts"
        ]
        notice = links.ask_to_run("read these contexts", reasons, key="sense_link_run")
        if notice is None:
            return SenseView(word)
    if claims.states_or_warning(model_id, contexts.sentences, "reading the contexts") is None:
        return SenseView(word)  # no room on the server: said, and a link's contexts still wait
    if notice is not None:
        links.lift(CONTEXTS_PART)
        notice.empty()
    with st.spinner("Reading the contexts…"):
        return cached_sense_view(model_id, word, contexts.labels, contexts.sentences)


def sense_notes(view: SenseView) -> list[str]:
    """Plain-language notes: word pieces pooled, contexts where the word was not found."""
    notes = []
    found = view.occurrences
    if found is None:
        return notes
    split = sorted({" + ".join(p) for p in found.pieces if len(p) > 1})
    if split:
        notes.append(
            f"The tokenizer splits the word into pieces ({escape_markdown(', '.join(split))}); "
            "their vectors are averaged into one per context."
        )
    else:
        notes.append(f"“{escape_markdown(view.word)}” is a single word piece, so no pooling was needed.")
    if found.missing:
        notes.append(
            f"{len(found.missing)} context(s) do not contain “{escape_markdown(view.word)}” and were left out."
        )
    return notes


def sense_results(sense: SenseView, names: list[str], classroom: bool = False) -> None:
    """The sense lab's verdict: best layer, accuracy, the two curves, the 2-D view, notes and a CSV."""
    if sense.error:
        st.warning(sense.error, icon="🔎")
    if sense.separation is None:
        return
    sep, best = sense.separation, sense.separation.best_layer
    metrics = st.columns(3)
    metrics[0].metric(
        "Senses separate best at layer",
        names[best],
        help="The layer with the highest accuracy; ties go to the larger similarity gap.",
    )
    metrics[1].metric(
        "Accuracy there", f"{sep.accuracy[best]:.0%}", f"chance {sep.chance:.0%}", "off", delta_arrow="off"
    )
    metrics[2].metric("Similarity gap there", f"{sep.gap[best]:+.3f}")
    charts = st.columns(2)
    with charts[0]:
        widgets.chart_with_reading(
            gcharts.sense_accuracy_chart(sense.frame, best, sep.chance, classroom=classroom),
            "Higher means a context's word vector sits closer to its own sense's centroid; dotted: chance.",
        )
    with charts[1]:
        widgets.chart_with_reading(
            gcharts.sense_similarity_chart(sense.frame, best, classroom=classroom),
            "A wider gap between the lines means the senses form separate clusters.",
        )
    st.markdown(f"**The contexts at layer {names[best]}**, where the senses separate best")
    widgets.chart_with_reading(
        gcharts.sense_scatter(sense.points, classroom=classroom),
        "Each point is the word in one context, flattened to 2-D by PCA of this layer; "
        "crosses are contexts whose nearest centroid is the other sense. Hover for the sentence.",
    )
    for note in sense_notes(sense):
        st.caption(note)
    st.download_button(
        "⬇️ Download the sense measures (CSV)",
        csv_bytes(sense.frame),
        file_name=f"senses_{file_stem(sense.word)}.csv",
        mime="text/csv",
    )
