"""Streamlit side of the Sentence embedding page: cached views, the user's own index, the proof panel.

The bundled corpus index is cached with `st.cache_resource` (shared, never mutated). Each person's grown
index lives in `st.session_state`; because `EmbeddingIndex.add` returns a new index, growing it never
touches the shared one.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer import sentence as sm
from explorer import share
from explorer.charts import sentence as sc
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.inputs import MAX_SENTENCES
from explorer.models import ModelInfo
from explorer.states import MAX_LAYERS, LayerStates, layer_names
from explorer.ui import keys, links, widgets
from explorer.ui.caches import cached_states
from explorer.ui.index import MAX_K, MAX_QUERY_CHARS
from explorer.ui.lessons import placeholder
from explorer.ui.links import LinkField, LinkSpec
from explorer.ui.state import persisted, remembered, set_value

CLOUD_ALT = (
    "Scatter of every token of every sentence at the output layer, coloured by sentence, with each "
    "sentence's pooled embedding as a diamond among its tokens."
)
TABS = ("Tokens → one point", "Similarity", "Which tokens matter", "Search an index")
CONTRASTS = ("none", "cls", "max")
SIMILARITY_POOLINGS = ("model", "mean_layer", "cls", "max")


@dataclass(frozen=True)
class SentenceView:
    """What the first three sections draw, computed once per (model, sentences, contrast, layer)."""

    cloud: sm.CloudFrames
    norms: pd.DataFrame
    similarity: np.ndarray
    similarity_frame: pd.DataFrame


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_view(
    model_id: str, texts: tuple[str, ...], contrast: str | None, pooling: str, layer: int
) -> SentenceView:
    states = cached_states(model_id, texts)
    matrix = sm.similarity_matrix(sm.sentence_vectors(states, pooling, layer))
    return SentenceView(
        cloud=sm.cloud_frames(states, contrast),
        norms=sm.norm_table(states),
        similarity=matrix,
        similarity_frame=sm.similarity_frame(matrix, texts),
    )


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_token_measures(model_id: str, texts: tuple[str, ...], sentence: int) -> pd.DataFrame:
    return sm.token_measures(cached_states(model_id, texts), sentence)


def downloads(texts: tuple[str, ...], vectors: np.ndarray, similarity: np.ndarray) -> list[tuple]:
    """(label, deferred bytes, file name, mime) for each download; bytes are made only when clicked."""
    return [
        ("Embeddings (CSV)", lambda: sm.embeddings_csv(texts, vectors), "embeddings.csv", "text/csv"),
        (
            "Embeddings + texts (NPZ)",
            lambda: sm.embeddings_npz(texts, vectors),
            "embeddings.npz",
            "application/zip",
        ),
        (
            "Similarity matrix (CSV)",
            lambda: sm.similarity_csv(texts, similarity),
            "similarity.csv",
            "text/csv",
        ),
    ]


# ---------------------------------------------------------------- persisted widgets (a link can set them)
def tabs() -> list:
    """The four sections; the open one is remembered (and carried by a share link)."""
    return widgets.remembered_tabs("sentence_tab", TABS)


def _select(label: str, key: str, options: tuple, default: object, **kwargs) -> object:
    persisted(key, default)
    if st.session_state[key] not in options:  # e.g. fewer sentences or layers than before
        set_value(key, default)
    return st.selectbox(label, list(options), **remembered(key), **kwargs)


def contrast_picker() -> str | None:
    """A second pooling drawn for contrast on the token cloud (None = only the model's)."""
    chosen = _select(
        "Also show, for contrast",
        "sentence_contrast",
        CONTRASTS,
        "none",
        format_func=lambda k: "nothing else" if k == "none" else sm.POOLINGS[k],
    )
    return None if chosen == "none" else str(chosen)


def similarity_settings(n_layers: int) -> tuple[str, int]:
    """The heatmap's pooling and layer as last chosen, without drawing their widgets (its tab is closed)."""
    persisted("sentence_pooling", "model")
    if st.session_state["sentence_pooling"] not in SIMILARITY_POOLINGS:
        set_value("sentence_pooling", "model")
    persisted("sentence_layer", 1)
    if not 0 <= st.session_state["sentence_layer"] < n_layers:
        set_value("sentence_layer", min(1, n_layers - 1))
    pooling = str(st.session_state["sentence_pooling"])
    return pooling, int(st.session_state["sentence_layer"]) if pooling == "mean_layer" else n_layers


def similarity_controls(n_layers: int, names: list[str]) -> tuple[str, int]:
    """Pooling for the heatmap and, for the per-layer mean, which layer (the output layer otherwise)."""
    similarity_settings(n_layers)
    cols = st.columns([2, 2])
    with cols[0]:
        pooling = str(
            st.selectbox(
                "Pool with",
                list(SIMILARITY_POOLINGS),
                format_func=sm.POOLINGS.get,
                **remembered("sentence_pooling"),
            )
        )
    if pooling != "mean_layer":
        return pooling, n_layers
    with cols[1]:
        st.select_slider(
            "Layer",
            list(range(n_layers)),
            format_func=names.__getitem__,
            **remembered("sentence_layer"),
        )
    return pooling, int(st.session_state["sentence_layer"])


def similarity_panel(
    model_id: str, texts: tuple[str, ...], states: LayerStates, classroom: bool, hidden: bool
) -> None:
    """The heatmap of every pair of sentences (a placeholder while a lesson hides it), with its pooling
    and the downloads of vectors and scores."""
    names = layer_names(states.n_layers)
    pooling, layer = similarity_controls(states.n_layers, names)
    sim = cached_view(model_id, texts, None, pooling, layer)
    if hidden:
        placeholder("the similarity of every pair of sentences")
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
    slots = st.columns(3)
    for slot, (name, make, file, mime) in zip(
        slots, downloads(texts, states.pooled, sim.similarity), strict=True
    ):
        slot.download_button(name, make, file, mime, on_click="ignore")


def sentence_picker(texts: tuple[str, ...]) -> int:
    return int(
        _select(
            "Sentence",
            "sentence_chosen",
            tuple(range(len(texts))),
            0,
            format_func=lambda i: f"S{i + 1} · {texts[i][:80]}",
        )
    )


PRESENTER_CLOUD_HEIGHT = 440  # with the title, the settings row and the tabs, inside a 1280 x 720 screen


def tokens_panel(
    info: ModelInfo, texts: tuple[str, ...], n_layers: int, picker_slot, presenter: bool, hide_pooled: bool
) -> tuple[SentenceView, alt.TopLevelMixin]:
    """The first tab: every token at the output layer with its sentence's pooled point, and why the
    embedding has length 1. The contrast picker goes in `picker_slot` (the presenter view's settings)."""
    with picker_slot:
        contrast = contrast_picker()
    view = cached_view(info.model_id, texts, contrast, "model", n_layers)
    cloud = sc.cloud_chart(
        view.cloud.tokens,
        view.cloud.pooled,
        height=PRESENTER_CLOUD_HEIGHT if presenter else sc.CLOUD_HEIGHT,
        classroom=presenter,
        show_pooled=not hide_pooled,
    )
    st.altair_chart(cloud, width="stretch", alt=CLOUD_ALT)
    st.caption(cloud_caption(view, info, contrast, hide_pooled))
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
    return view, cloud


def cloud_caption(
    view: SentenceView, info: ModelInfo, contrast: str | None, hide_pooled: bool = False
) -> str:
    if hide_pooled:
        return (
            f"Each dot is one token's {info.dim}-dim vector at the output layer; axes: the first two principal "
            f"axes of these tokens ({view.cloud.explained:.0%} of their spread). Where each sentence's one "
            "vector lands appears when you reveal the answer."
        )
    return (
        f"Each dot is one token's {info.dim}-dim vector at the output layer; axes: the first two principal "
        f"axes of these tokens ({view.cloud.explained:.0%} of their spread). ◆ = **the model's embedding**: "
        f"{info.pooling} pooling of the sentence's tokens, before normalising; lines join each token to it."
        + (
            " Mean pooling is linear, so ◆ sits exactly on the centroid of its tokens."
            if info.pooling == "mean"
            else ""
        )
        + (" □ = the contrast pooling, not what the model uses." if contrast else "")
        + " These are the same vectors as the Token journey's output layer; there the axes are fitted over "
        "every layer (or on the followed tokens), so the same cloud can look turned or stretched."
    )


def importance_caption(pooling: str) -> str:
    """What the 'Which tokens matter' bars measure, true to the model's own pooling."""
    cosine = (
        f"One bar per token (output layer). Left: cosine of the token's vector to the model's pooled vector "
        f"({pooling} pooling, before normalising)."
    )
    if sm.leave_one_out_applies(pooling):
        return (
            f"{cosine} Right: leave the token out of the {pooling} pooling and see how far the pooled vector "
            "turns (1 − cosine). The [CLS] and [SEP] tokens are pooled too, so they count."
        )
    return (
        f"{cosine} Leaving one token out is only meaningful for mean or max pooling; this model uses "
        f"{pooling} pooling, so only the cosine is shown."
        + (" The pooled vector is the [CLS] token's own, so [CLS] scores 1." if pooling == "cls" else "")
    )


# ---------------------------------------------------------------- share links and the export bundle
LINK = LinkSpec(
    {
        **links.sentence_fields(),
        "tab": LinkField(share.is_one_of(TABS), "sentence_tab"),
        "contrast": LinkField(share.is_one_of(CONTRASTS), "sentence_contrast"),
        "pooling": LinkField(share.is_one_of(SIMILARITY_POOLINGS), "sentence_pooling"),
        "layer": LinkField(share.is_int_between(0, MAX_LAYERS), "sentence_layer"),
        "sentence": LinkField(share.is_int_between(0, MAX_SENTENCES - 1), "sentence_chosen"),
        "query": LinkField(share.is_text(MAX_QUERY_CHARS), keys.INDEX_QUERY),
        "k": LinkField(share.is_int_between(1, MAX_K), keys.INDEX_K),
    }
)


def receive_link() -> None:
    """Apply a shared view from the URL (asking first if it would replace typed sentences)."""
    links.receive_sentences_link(LINK)


def view_state(model_id: str) -> dict:
    """This page's view as a share-link state (never the grown index or uploads: too big for a URL)."""
    return LINK.state(model_id)


def export_bundle(
    states: LayerStates, view: SentenceView, similarity: SentenceView, chart, state: dict, info: ModelInfo
) -> bytes:
    """ZIP: the token cloud's coordinates, embeddings + similarity + token vectors, the chart, a manifest."""
    tokens = view.cloud.tokens.drop(columns=["pooled_x", "pooled_y"]).assign(
        kind="token", what="token vector at the output layer"
    )
    coords = pd.concat([tokens, view.cloud.pooled.assign(token="")], ignore_index=True)
    vectors = {
        "texts": np.array(states.texts, dtype=str),
        "embeddings": states.pooled,  # (S, D) what the model returns
        "pooled_before_normalising": states.pooled_raw[-1],  # (S, D)
        "similarity": similarity.similarity,  # (S, S) cosine, pooled as in settings
        "token_vectors": states.layers[-1],  # (N, D) output layer
        **table_arrays(states.tokens),
    }
    manifest = {
        **base_manifest("Sentence embedding", info, 0, state),
        "seed_note": "no random step: the map is PCA, pooling and cosine are deterministic",
        "pooling": info.pooling,
        "normalized": info.normalized,
        "explained_variance": round(float(view.cloud.explained), 6),
        "how_to_reproduce": "states = explorer.states.extract_states(load_model(model_id), texts); "
        "explorer.sentence.cloud_frames(states, contrast) for coordinates.csv; "
        "explorer.sentence.similarity_matrix(sentence_vectors(states, pooling, layer)) for similarity",
    }
    return build_bundle(coords, vectors, chart, manifest)
