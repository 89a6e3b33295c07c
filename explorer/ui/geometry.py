"""Streamlit side of the Geometry lab: cached measures, the sense lab, and the page's own widgets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import geometry, presets, share
from explorer import geometry_charts as gcharts
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.inputs import escape_markdown
from explorer.models import ModelInfo
from explorer.projection import FAITHFULNESS_K, MIN_POINTS_FOR_UMAP, project
from explorer.states import LayerStates, layer_names
from explorer.ui import (
    cached_states,
    kept,
    lessons,
    load_states,
    persisted,
    remember,
    sentence_editor,
    set_value,
    set_value_silently,
)

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
    n_sampled: int  # words the faithfulness scores (and UMAP) were computed on: a seeded sample if many


def cached_measures(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    """The measures view; its states come from the byte-budgeted states cache, not from this one."""
    derived = _cached_measures(model_id, texts, with_umap)
    return MeasuresView(cached_states(model_id, texts), *derived)


@st.cache_resource(show_spinner=False, max_entries=16)
def _cached_measures(
    model_id: str, texts: tuple[str, ...], with_umap: bool
) -> tuple[pd.DataFrame, int, int, np.ndarray, int]:
    """What the measure charts derive from the states (small next to the states themselves)."""
    states = cached_states(model_id, texts)
    words = geometry.pool_words(states.layers, states.tokens)
    measures = geometry.layer_measures(states.layers, states.tokens)
    sample = words.vectors[:, geometry.faithfulness_sample(words.vectors.shape[1], seed=0)]  # (L+1, ≤1500, D)
    measures["faithfulness_pca"] = geometry.projection_faithfulness(sample, "pca_aligned")
    if with_umap:
        measures["faithfulness_umap"] = geometry.projection_faithfulness(sample, "umap", seed=0)
    repeated, _ = geometry.self_similarity_per_word(words.vectors[:1], words.text)
    measures.insert(1, "layer_name", layer_names(states.n_layers))
    return (
        measures,
        int(words.vectors.shape[1]),  # n_words
        len(repeated),  # n_repeated
        geometry.consecutive_layer_cosine(states.layers),  # changes
        int(sample.shape[1]),  # n_sampled
    )


def measures_view(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    load_states(model_id, texts)
    message = "Measuring every layer" + (
        " and fitting UMAP (about a minute for the corpus; longer for many sentences)…" if with_umap else "…"
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
          "neighbours kept in 2-D", "faithfulness", f"at least {FAITHFULNESS_K + 2} words (with fewer, the "
          f"{FAITHFULNESS_K} nearest neighbours are nearly the whole cloud and any picture keeps them)",
          zero_rule=False, percent=True),
)  # fmt: skip


def measure_panels(view: MeasuresView, names: list[str], classroom: bool = False) -> None:
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
                    long,
                    panel.keys,
                    panel.y_title,
                    percent=panel.percent,
                    zero_rule=panel.zero_rule,
                    classroom=classroom,
                )
                chart_with_reading(chart, READINGS[panel.reading])
                for note in panel_notes(view, panel, long):
                    st.caption(note)


def panel_notes(view: MeasuresView, panel: Panel, long: pd.DataFrame) -> list[str]:
    """Extra lines under a drawn chart: a line that could not be drawn, and a sampled computation."""
    if panel.reading != "faithfulness":
        return []
    notes = []
    umap = long[long["key"] == "faithfulness_umap"]["value"]
    if len(umap) and umap.isna().all():
        notes.append(
            f"No UMAP line: UMAP needs at least {MIN_POINTS_FOR_UMAP} words to mean anything; "
            f"there are {view.n_words}."
        )
    if view.n_sampled < view.n_words:
        notes.append(
            f"Computed on a seeded sample of {view.n_sampled:,} words (of {view.n_words:,}): neighbour "
            "search and UMAP slow down sharply with more points. The other charts use every word."
        )
    return notes


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
    """Sentence picker for the heatmap; returns the token rows of the chosen sentences.

    The choice is remembered per set of sentences (reset to the first two when they change) and can
    come from a share link.
    """
    texts = view.states.texts
    options = list(range(len(texts)))
    context = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    from_link = st.session_state.pop(_HEATMAP_FROM_LINK, None)
    if from_link is not None:
        set_value("heatmap_sentences", [i for i in from_link if i < len(texts)][:MAX_HEATMAP_SENTENCES])
        set_value_silently("heatmap_context", context)
    elif kept("heatmap_context") != context:
        set_value("heatmap_sentences", options[:2])
        set_value_silently("heatmap_context", context)
    persisted("heatmap_sentences", options[:2])
    chosen = st.multiselect(
        "Sentences",
        options,
        format_func=lambda i: f"S{i + 1} · {texts[i][:60]}",
        key="heatmap_sentences",
        on_change=remember,
        args=("heatmap_sentences",),
        max_selections=MAX_HEATMAP_SENTENCES,
    )
    return np.flatnonzero(view.states.tokens["sentence"].isin(chosen).to_numpy())


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
        chart_with_reading(
            gcharts.sense_accuracy_chart(sense.frame, best, sep.chance, classroom=classroom),
            "Higher means a context's word vector sits closer to its own sense's centroid; dotted: chance.",
        )
    with charts[1]:
        chart_with_reading(
            gcharts.sense_similarity_chart(sense.frame, best, classroom=classroom),
            "A wider gap between the lines means the senses form separate clusters.",
        )
    st.markdown(f"**The contexts at layer {names[best]}**, where the senses separate best")
    chart_with_reading(
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


# ---------------------------------------------------------------- share links and export bundle
_HEATMAP_FROM_LINK = "_heatmap_from_link"
MAX_WORD_CHARS = 100
FIELDS = {
    "model_id": share.is_model_id,
    "source": share.is_one_of(SOURCES),
    "sentences": share.is_text(60_000),
    "sentence_set": share.is_one_of(presets.sentence_sets()),
    "umap": share.is_bool,
    "word": share.is_one_of([*geometry.word_sense_presets(), OWN_WORD]),
    "own_word": share.is_text(MAX_WORD_CHARS),
    "contexts": share.is_text(40_000),
    "heatmap": share.is_int_list(MAX_HEATMAP_SENTENCES),
}
_WIDGET_KEYS = {
    "model_id": "model_box",
    "source": "geometry_source",
    "sentence_set": "sentence_set",
    "umap": "geometry_umap",
    "word": "sense_word",
    "own_word": "sense_own_word",
}


def _default_contexts(choice: str) -> str:
    """The contexts a word starts with: its preset's lines, or nothing for a word of one's own."""
    preset = geometry.word_sense_presets().get(choice)
    return preset.as_text() if preset is not None else ""


def _replaces_typed(state: dict) -> bool:
    """Whether loading `state` would overwrite sentences, contexts or a word this user typed."""
    if "sentences" in state or "sentence_set" in state:
        typed = kept("sentences")
        default = presets.sentence_set(presets.DEFAULT_SET).text
        if typed is not None and typed not in (lessons.link_sentences(state), default):
            return True
    if "word" in state:
        choice = state["word"]
        typed = kept(f"sense_text_{choice}")
        if typed is not None and typed not in (
            state.get("contexts", _default_contexts(choice)),
            _default_contexts(choice),
        ):
            return True
        own = kept("sense_own_word")
        if choice == OWN_WORD and own and own != state.get("own_word", ""):
            return True
    return False


def receive_link() -> None:
    """Apply a shared view from the URL (call before any widget is drawn; asks before replacing typing)."""
    state = lessons.incoming_view(FIELDS, _replaces_typed, what="what you typed on this page")
    if state is None:
        return
    lessons.apply_view(state, _WIDGET_KEYS)
    if "sentences" in state or "sentence_set" in state:
        set_value("sentences", lessons.link_sentences(state))
    if "word" in state:
        choice = state["word"]
        set_value(f"sense_text_{choice}", state.get("contexts", _default_contexts(choice)))
    if "heatmap" in state:
        st.session_state[_HEATMAP_FROM_LINK] = state["heatmap"]


def view_state(model_id: str) -> dict:
    """This page's view as a share-link state (the sentences only when they are the user's own)."""
    source = kept("geometry_source", "corpus")
    state: dict = {"model_id": model_id, "source": source, "umap": bool(kept("geometry_umap", False))}
    if source == "yours":
        state |= {key: kept(key) for key in ("sentences", "sentence_set") if kept(key) is not None}
    choice = kept("sense_word")
    if choice is not None:
        state["word"] = choice
        if choice == OWN_WORD:
            state["own_word"] = str(kept("sense_own_word", ""))[:MAX_WORD_CHARS]
        text = kept(f"sense_text_{choice}")
        if text is not None and text != _default_contexts(choice):
            state["contexts"] = text
    if kept("heatmap_sentences") is not None:
        state["heatmap"] = [int(i) for i in kept("heatmap_sentences")]
    return state


def export_bundle(
    view: MeasuresView | None, sense: SenseView, state: dict, info: ModelInfo, classroom: bool = False
) -> bytes:
    """ZIP: per-layer measures (CSV), vectors with their tables (NPZ), the sense view or anisotropy chart,
    and a manifest."""
    names = layer_names(info.n_layers)
    table = (
        view.measures if view is not None else pd.DataFrame({"layer": range(len(names)), "layer_name": names})
    )
    vectors: dict[str, np.ndarray] = {"layer_names": np.array(names, dtype=str)}
    if view is not None:
        vectors |= {
            "layers": view.states.layers,  # (L+1, N, D) every token of the measured sentences
            "layer_changes": view.changes,  # (N, L) cosine between consecutive layers
            "texts": np.array(view.states.texts, dtype=str),
            **table_arrays(view.states.tokens),
        }
    if sense.occurrences is not None and len(sense.occurrences.labels):
        found = sense.occurrences
        contexts = pd.DataFrame({"label": list(found.labels), "sentence": list(found.sentences)})
        vectors |= {"sense_vectors": found.vectors, **table_arrays(contexts, prefix="sense_")}  # (L+1, M, D)
    if sense.frame is not None:
        table = table.merge(
            sense.frame.drop(columns="layer_name").add_prefix("sense_"),
            how="left",
            left_on="layer",
            right_on="sense_layer",
        ).drop(columns="sense_layer")
        vectors["sense_xy"] = sense.points[["x", "y"]].to_numpy()  # (M, 2) at the best layer
    if sense.points is not None:
        chart = gcharts.sense_scatter(sense.points, classroom=classroom)
    else:
        long = gcharts.measures_long(view.measures.drop(columns="layer_name"), names)
        chart = gcharts.layer_line_chart(
            long, ("anisotropy",), "mean cosine", zero_rule=True, classroom=classroom
        )
    separation = sense.separation
    manifest = {
        **base_manifest("Geometry lab", info, 0, state),
        "layer_names": names,
        "chart": "sense 2-D view (PCA of the best layer)" if sense.points is not None else "anisotropy",
        "n_sentences_measured": len(view.states.texts) if view is not None else 0,
        "n_words_measured": view.n_words if view is not None else 0,
        "faithfulness_words": view.n_sampled if view is not None else 0,
        "sense_word": sense.word,
        "sense_best_layer": None if separation is None else int(separation.best_layer),
        "sense_chance": None if separation is None else round(float(separation.chance), 6),
        "how_to_reproduce": "explorer.states.extract_states(load_model(model_id), texts); "
        "explorer.geometry.layer_measures(layers, tokens); faithfulness: projection_faithfulness on the words "
        "picked by geometry.faithfulness_sample(n_words, seed=0); for the senses: find_sense_occurrences then "
        "sense_separation, and projection.project(vectors[best], 'pca_aligned').",
    }
    return build_bundle(table, vectors, chart, manifest)
