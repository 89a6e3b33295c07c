"""Streamlit side of the Geometry lab: cached measures, the sense lab, and the page's own widgets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import geometry
from explorer import geometry_charts as gcharts
from explorer.inputs import escape_markdown
from explorer.projection import project
from explorer.states import LayerStates, layer_names
from explorer.ui import cached_states, load_states, persisted, remember, sentence_editor

SOURCES = {"corpus": "The bundled corpus", "yours": "Your sentences"}
OWN_WORD = "✏️ your own word"
MAX_HEATMAP_SENTENCES = 6

# One line per chart: what the measure says, in plain words.
READINGS = {
    "anisotropy": "Higher means vectors from unrelated sentences point the same way (a narrow cone); "
    "0 means they spread in all directions.",
    "self": "Higher means a word keeps the same vector wherever it appears; lower means context rewrites it. "
    "The adjusted line subtracts the anisotropy baseline.",
    "intra": "Higher means the words of one sentence are pulled towards a shared direction. "
    "The adjusted line subtracts the anisotropy baseline.",
    "norm": "Average length of a word vector: how far from the origin the points sit at each layer.",
    "dimension": "How many directions the cloud really uses (participation ratio of the covariance "
    "spectrum): higher means a rounder, richer cloud.",
    "faithfulness": "Share of each word's 10 nearest neighbours (in all dimensions) that a 2-D picture of "
    "that layer keeps: low means the flat picture misleads.",
}


@dataclass(frozen=True)
class MeasuresView:
    """Everything the measure charts need, computed once per set of sentences."""

    states: LayerStates
    measures: pd.DataFrame  # one row per layer
    n_words: int
    n_repeated: int
    changes: np.ndarray  # (N, L) cosine between consecutive layers, every token


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_measures(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    states = cached_states(model_id, texts)
    words = geometry.pool_words(states.layers, states.tokens)
    measures = geometry.layer_measures(states.layers, states.tokens)
    if words.vectors.shape[1] >= 2:
        measures["faithfulness_pca"] = geometry.projection_faithfulness(words.vectors, "pca_aligned")
        if with_umap:
            measures["faithfulness_umap"] = geometry.projection_faithfulness(words.vectors, "umap", seed=0)
    repeated, _ = geometry.self_similarity_per_word(words.vectors[:1], words.text)
    measures.insert(1, "layer_name", layer_names(states.n_layers))
    return MeasuresView(
        states=states,
        measures=measures,
        n_words=int(words.vectors.shape[1]),
        n_repeated=len(repeated),
        changes=geometry.consecutive_layer_cosine(states.layers),
    )


def measures_view(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    load_states(model_id, texts)
    message = "Measuring every layer" + (
        " and fitting UMAP (the first time takes ~20 s)…" if with_umap else "…"
    )
    with st.spinner(message):
        return cached_measures(model_id, texts, with_umap)


def source_sentences() -> tuple[str, ...]:
    """The sentences to measure: the bundled corpus or the shared sentence box."""
    persisted("geometry_source", "corpus")
    st.radio(
        "Measure over",
        list(SOURCES),
        format_func=lambda k: (
            f"{SOURCES[k]} ({len(geometry.corpus_sentences())} sentences)" if k == "corpus" else SOURCES[k]
        ),
        key="geometry_source",
        on_change=remember,
        args=("geometry_source",),
        horizontal=True,
        help="Averages over a few sentences are noisy: the corpus gives steadier curves.",
    )
    if st.session_state["geometry_source"] == "corpus":
        return geometry.corpus_sentences()
    with st.expander("Your sentences", expanded=True):
        return sentence_editor().sentences


@dataclass(frozen=True)
class Panel:
    """One measure chart: which columns, its title, its axis, its reading, and why it can be empty."""

    keys: tuple[str, ...]
    title: str
    y_title: str
    reading: str
    needs: str
    zero_rule: bool = True
    percent: bool = False


PANELS = (
    Panel(("anisotropy",), "Anisotropy: how alike are unrelated words?", "mean cosine", "anisotropy",
          "at least two sentences"),
    Panel(("self_similarity", "self_similarity_adjusted"), "Self-similarity: the same word in different contexts",
          "mean cosine", "self", "a word that occurs more than once"),
    Panel(("intra_sentence", "intra_sentence_adjusted"), "Intra-sentence similarity: words of one sentence",
          "mean cosine", "intra", "a sentence of at least two words"),
    Panel(("effective_dimension",), "Effective dimension", "directions used", "dimension",
          "at least two different words", zero_rule=False),
    Panel(("mean_norm",), "Vector length", "mean length", "norm", "at least one word", zero_rule=False),
    Panel(("faithfulness_pca", "faithfulness_umap"), "Projection faithfulness (PCA and UMAP)",
          "neighbours kept in 2-D", "faithfulness", "at least two words", zero_rule=False, percent=True),
)  # fmt: skip


def measure_panels(view: MeasuresView, names: list[str]) -> None:
    """The measure charts two by two, each with its one-line reading (or why it is empty)."""
    long = gcharts.measures_long(view.measures.drop(columns="layer_name"), names)
    for start in range(0, len(PANELS), 2):
        for column, panel in zip(st.columns(2, gap="large"), PANELS[start : start + 2], strict=True):
            with column:
                st.markdown(f"**{panel.title}**")
                values = long[long["key"].isin(panel.keys)]["value"]
                if values.isna().all():
                    st.info(f"Not defined here: this measure needs {panel.needs}.", icon="ℹ️")
                    continue
                chart = gcharts.layer_line_chart(
                    long, panel.keys, panel.y_title, percent=panel.percent, zero_rule=panel.zero_rule
                )
                chart_with_reading(chart, READINGS[panel.reading])


def chart_with_reading(chart, reading: str) -> None:
    st.altair_chart(chart, width="stretch")
    st.caption(reading)


def file_stem(word: str) -> str:
    """A safe file name part from what a person typed."""
    return "".join(ch if ch.isalnum() else "_" for ch in word)[:40] or "word"


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.6g").encode("utf-8")


# ---------------------------------------------------------------- word-sense lab
@dataclass(frozen=True)
class SenseView:
    """The sense lab's result for one word, or the reason there is none."""

    word: str
    error: str | None = None
    occurrences: geometry.SenseOccurrences | None = None
    separation: geometry.SenseSeparation | None = None
    frame: pd.DataFrame | None = None
    points: pd.DataFrame | None = None


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_sense_view(
    model_id: str, word: str, labels: tuple[str, ...], sentences: tuple[str, ...]
) -> SenseView:
    contexts = geometry.SenseContexts(labels, sentences)
    states = cached_states(model_id, sentences)
    found = geometry.find_sense_occurrences(states.layers, states.tokens, contexts, word)
    try:
        separation = geometry.sense_separation(found.vectors, found.labels)
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


def sense_inputs() -> tuple[str, geometry.SenseContexts]:
    """Word picker and the editable 'sense: sentence' box (each word keeps its own edits)."""
    presets = geometry.word_sense_presets()
    persisted("sense_word", next(iter(presets)))
    choice = st.selectbox(
        "Word", [*presets, OWN_WORD], key="sense_word", on_change=remember, args=("sense_word",)
    )
    if choice == OWN_WORD:
        persisted("sense_own_word", "")
        word = st.text_input("Your word", key="sense_own_word", on_change=remember, args=("sense_own_word",))
        default = ""
    else:
        word, default = choice, presets[choice].as_text()
    key = f"sense_text_{choice}"
    persisted(key, default)
    raw = st.text_area(
        "Contexts, one per line as  sense: sentence",
        key=key,
        on_change=remember,
        args=(key,),
        height=220,
        placeholder="river: We walked along the bank.\nmoney: The bank was closed.",
        help="Give every sense at least two sentences that contain the word. Edit freely; Ctrl+Enter applies.",
    )
    contexts = geometry.parse_sense_lines(raw)
    if contexts.skipped:
        lines = ", ".join(str(n) for n in contexts.skipped[:8])
        st.warning(f"Line(s) {lines} have no 'sense:' label and were skipped.", icon="✍️")
    if contexts.dropped:
        st.info(
            f"Using the first {geometry.MAX_SENSE_CONTEXTS} contexts; {contexts.dropped} more were left out.",
            icon="ℹ️",
        )
    return word.strip().lower(), contexts


def sense_view(model_id: str, word: str, contexts: geometry.SenseContexts) -> SenseView:
    if not word:
        return SenseView(word, error="Type the word to study.")
    if not contexts.sentences:
        return SenseView(word, error="Add contexts, one per line as 'sense: sentence'.")
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


def heatmap_rows(view: MeasuresView) -> np.ndarray:
    """Sentence picker for the heatmap; returns the token rows of the chosen sentences."""
    texts = view.states.texts
    options = list(range(len(texts)))
    chosen = st.multiselect(
        "Sentences",
        options,
        default=options[:2],
        format_func=lambda i: f"S{i + 1} · {texts[i][:60]}",
        key=f"heatmap_sentences_{hash(texts)}",
        max_selections=MAX_HEATMAP_SENTENCES,
    )
    return np.flatnonzero(view.states.tokens["sentence"].isin(chosen).to_numpy())
