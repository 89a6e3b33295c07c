"""Streamlit side of the Geometry lab: the measure panels, the sense lab, the page's own widgets and its
link (the measures themselves: `lab_measures`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import senses, share
from explorer.assets import geometry_corpus
from explorer.charts import geometry as gcharts
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.models import ModelInfo
from explorer.projection import FAITHFULNESS_K, MIN_POINTS_FOR_UMAP
from explorer.states import layer_names
from explorer.ui import keys, links, widgets
from explorer.ui.lab_measures import MeasuresView
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.senses import CONTEXTS_PART, OWN_WORD, SenseView
from explorer.ui.state import kept, remembered, set_value, set_value_silently
from explorer.ui.widgets import sentence_editor

SOURCES = {"corpus": "The bundled corpus", "yours": "Your sentences"}
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


TABS = ("📈 Layer by layer", "🔀 Word-sense lab", "🌡️ How much each layer changes each token")


def tabs() -> list:
    """The three sections (the open one is remembered)."""
    return widgets.remembered_tabs("geometry_tab", TABS)


def source_sentences() -> tuple[str, ...]:
    """The sentences to measure: the bundled corpus or the shared sentence box."""
    st.radio(
        "Measure over",
        list(SOURCES),
        format_func=lambda k: (
            f"{SOURCES[k]} ({len(geometry_corpus())} sentences)" if k == "corpus" else SOURCES[k]
        ),
        **remembered(keys.GEOMETRY_SOURCE, "corpus"),
        horizontal=True,
        help="Averages over a few sentences are noisy: the corpus gives steadier curves.",
    )
    if st.session_state[keys.GEOMETRY_SOURCE] == "corpus":
        return geometry_corpus()
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
                chart = panel_chart(long, panel, classroom)
                if chart is None:
                    st.info(f"Not defined here: this measure needs {panel.needs}.", icon="ℹ️")
                    continue
                widgets.chart_with_reading(chart, READINGS[panel.reading])
                for note in panel_notes(view, panel, long):
                    st.caption(note)


def panel_chart(long: pd.DataFrame, panel: Panel, classroom: bool):
    """One measure's chart over the layers; None where the measure is not defined for these sentences."""
    if long[long["key"].isin(panel.keys)]["value"].isna().all():
        return None
    return gcharts.layer_line_chart(
        long, panel.keys, panel.y_title, percent=panel.percent, zero_rule=panel.zero_rule, classroom=classroom
    )


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


def heatmap_rows(view: MeasuresView) -> np.ndarray:
    """Sentence picker for the heatmap; returns the token rows of the chosen sentences.

    The choice is remembered per set of sentences (reset to the first two when they change) and can
    come from a share link.
    """
    texts = view.states.texts
    options = list(range(len(texts)))
    context = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    from_link = links.take_parked("heatmap_sentences")
    if from_link is not None:
        set_value("heatmap_sentences", [i for i in from_link if i < len(texts)][:MAX_HEATMAP_SENTENCES])
        set_value_silently("heatmap_context", context)
    elif kept("heatmap_context") != context:
        set_value("heatmap_sentences", options[:2])
        set_value_silently("heatmap_context", context)
    chosen = st.multiselect(
        "Sentences",
        options,
        format_func=lambda i: f"S{i + 1} · {texts[i][:60]}",
        **remembered("heatmap_sentences", options[:2]),
        max_selections=MAX_HEATMAP_SENTENCES,
    )
    return np.flatnonzero(view.states.tokens["sentence"].isin(chosen).to_numpy())


# ---------------------------------------------------------------- share links and export bundle
MAX_WORD_CHARS = 100
MAX_CONTEXTS_CHARS = 40_000
LINK = LinkSpec(
    {
        **links.sentence_fields(),
        "source": LinkField(share.is_one_of(SOURCES), keys.GEOMETRY_SOURCE),
        "umap": LinkField(share.is_bool, keys.GEOMETRY_UMAP),
        "word": LinkField(share.is_one_of([*senses.word_sense_presets(), OWN_WORD]), keys.SENSE_WORD),
        "own_word": LinkField(share.is_text(MAX_WORD_CHARS), keys.SENSE_OWN_WORD),
        "contexts": LinkField(share.is_text(MAX_CONTEXTS_CHARS)),  # goes to the chosen word's box
        "heatmap": LinkField(share.is_int_list(MAX_HEATMAP_SENTENCES)),  # applied once the view exists
    }
)


def _default_contexts(choice: str) -> str:
    """The contexts a word starts with: its preset's lines, or nothing for a word of one's own."""
    preset = senses.word_sense_presets().get(choice)
    return preset.as_text() if preset is not None else ""


def _replaces_typed(state: dict) -> bool:
    """Whether loading `state` would overwrite sentences, contexts or a word this user typed."""
    if ("sentences" in state or "sentence_set" in state) and links.typed_other_sentences(state):
        return True
    if "word" in state:
        choice = state["word"]
        typed = kept(keys.sense_text(choice))
        if typed is not None and typed not in (
            state.get("contexts", _default_contexts(choice)),
            _default_contexts(choice),
        ):
            return True
        own = kept(keys.SENSE_OWN_WORD)
        if choice == OWN_WORD and own and own != state.get("own_word", ""):
            return True
    return False


def receive_link() -> None:
    """Apply a shared view from the URL (call before any widget is drawn; asks before replacing typing)."""
    state = LINK.receive(_replaces_typed, what="what you typed on this page")
    if state is None:
        return
    if "sentences" in state or "sentence_set" in state:
        set_value(keys.SENTENCES, links.link_sentences(state))
    if "word" in state:
        choice = state["word"]
        contexts = state.get("contexts", _default_contexts(choice))
        set_value(keys.sense_text(choice), contexts)
        sentences = senses.parse_sense_lines(contexts).sentences
        if not links.is_light(sentences):  # read only on a click in the sense lab
            links.hold(CONTEXTS_PART, sentences)
    if "heatmap" in state:
        links.park("heatmap_sentences", state["heatmap"])


def view_state(model_id: str) -> dict:
    """This page's view as a share-link state (the sentences only when they are the user's own)."""
    source = kept(keys.GEOMETRY_SOURCE, "corpus")
    state: dict = {"model_id": model_id, "source": source, "umap": bool(kept(keys.GEOMETRY_UMAP, False))}
    if source == "yours":
        state |= {key: kept(key) for key in (keys.SENTENCES, keys.SENTENCE_SET) if kept(key) is not None}
    choice = kept(keys.SENSE_WORD)
    if choice is not None:
        state["word"] = choice
        if choice == OWN_WORD:
            state["own_word"] = str(kept(keys.SENSE_OWN_WORD, ""))[:MAX_WORD_CHARS]
        text = kept(keys.sense_text(choice))
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
        if sense.separation is not None:
            best = names[int(sense.separation.best_layer)]
            chart = chart.properties(
                title=f"Word-sense lab: '{sense.word}' at layer {best} · Geometry lab · {info.display_name}"
            )
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
        "picked by explorer.projection.faithfulness_sample(n_words, seed=0); for the senses: explorer.senses.find_sense_occurrences then "
        "sense_separation, and projection.project(vectors[best], 'pca_aligned').",
    }
    return build_bundle(table, vectors, chart, manifest, _measure_charts(view, names, info, classroom))


def _measure_charts(view: MeasuresView | None, names: list[str], info: ModelInfo, classroom: bool) -> dict:
    """The layer-by-layer charts as drawn on the page (one file set each), titled to stand alone."""
    if view is None:
        return {}
    long = gcharts.measures_long(view.measures.drop(columns="layer_name"), names)
    charts = {}
    for i, panel in enumerate(PANELS, start=1):
        chart = panel_chart(long, panel, classroom)
        if chart is None:
            continue
        charts[f"layer_by_layer_{i}"] = chart.properties(
            title=f"{panel.title} · Geometry lab · {info.display_name}"
        )
    return charts
