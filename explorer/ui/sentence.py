"""Streamlit side of the Sentence embedding page: cached views, the user's own index, the proof panel.

The bundled corpus index is cached with `st.cache_resource` (shared, never mutated). Each person's grown
index lives in `st.session_state`; because `EmbeddingIndex.add` returns a new index, growing it never
touches the shared one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import presets, sentence_charts, share
from explorer import sentence as sm
from explorer.export import base_manifest, build_bundle, table_arrays
from explorer.index import (
    MAX_INDEX_SENTENCES,
    EmbeddingIndex,
    MapProjection,
    SearchHit,
    bundled_corpus,
    embed_texts,
    fit_map,
)
from explorer.inputs import escape_markdown
from explorer.models import ModelInfo, weights_fingerprint
from explorer.states import LayerStates
from explorer.ui import cached_model, cached_states, kept, lessons, persisted, remember, set_value

_INDEX = "sentence_index::"
_PROOF = "sentence_proof::"
_UPLOAD = "sentence_upload_parsed"
TOP_K = 5
MAX_K = 20
TABS = ("Tokens → one point", "Similarity", "Which tokens matter", "An index is not the model")
CONTRASTS = ("none", "cls", "max")
SIMILARITY_POOLINGS = ("model", "mean_layer", "cls", "max")
DEFAULT_QUERY = "Which planet has rings you can see with a telescope?"


# ---------------------------------------------------------------- shared, read-only
@st.cache_resource(show_spinner="Embedding the bundled corpus…", max_entries=4)
def cached_corpus_index(model_id: str) -> EmbeddingIndex:
    corpus = bundled_corpus()
    return EmbeddingIndex.build(
        corpus.texts, embed_texts(cached_model(model_id), corpus.texts), corpus.topics
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_map(
    model_id: str, key: str, _index: EmbeddingIndex, n_base: int
) -> tuple[MapProjection, pd.DataFrame]:
    """The 2-D map of an index, keyed on the model and the index's content key (texts, sources and
    vectors are all in it), so no model or user ever gets another's map. The index is not hashed."""
    projection = fit_map(_index.vectors)
    return projection, sentence_charts.corpus_map_frame(_index.texts, _index.sources, projection, n_base)


@st.cache_resource(show_spinner=False, max_entries=256)
def cached_query_vector(model_id: str, query: str) -> np.ndarray:
    vector = embed_texts(cached_model(model_id), [query])[0]  # (D,)
    vector.flags.writeable = False
    return vector


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


# ---------------------------------------------------------------- this user's index
def index_map(model_id: str, index: EmbeddingIndex) -> tuple[MapProjection, pd.DataFrame]:
    """The map of this user's index; rows beyond the bundled corpus are marked as added."""
    return cached_map(model_id, index.key, index, cached_corpus_index(model_id).size)


def user_index(model_id: str) -> EmbeddingIndex:
    """This person's index: the shared corpus index until they add something."""
    return st.session_state.get(_INDEX + model_id) or cached_corpus_index(model_id)


def reset_index(model_id: str) -> None:
    st.session_state.pop(_INDEX + model_id, None)
    st.session_state.pop(_PROOF + model_id, None)


@dataclass(frozen=True)
class AddProof:
    """Index size and a freshly computed weights fingerprint, right before and right after an add."""

    size_before: int
    size_after: int
    fingerprint_before: str
    fingerprint_after: str
    source: str
    seconds: float


def room_problem(index: EmbeddingIndex, texts: tuple[str, ...], limit: int | None = None) -> str | None:
    """Why adding `texts` would overflow this person's index (None if it fits). Only new texts count."""
    limit = MAX_INDEX_SENTENCES if limit is None else limit
    new = len(index.new_texts(texts))
    if index.size + new <= limit:
        return None
    room = max(limit - index.size, 0)
    return (
        f"Your index holds {index.size:,} sentences and the limit is {limit:,}: these {new:,} new sentences "
        f"do not fit (room for {room:,}). Nothing was added and nothing already there was changed; "
        "reset the index or add fewer sentences."
    )


def add_to_index(model_id: str, texts: tuple[str, ...], source: str) -> AddProof:
    """Embed the new `texts` (with a progress bar), store them in this user's index, record the proof."""
    model = cached_model(model_id)
    before = user_index(model_id)
    problem = room_problem(before, texts)
    if problem is not None:
        raise ValueError(problem)
    texts = before.new_texts(texts)  # only these are embedded; duplicates would be skipped anyway
    fingerprint_before = weights_fingerprint(model)  # hashed now, not read from a cache
    bar = st.progress(0.0, text=f"Embedding {len(texts):,} sentences…")
    start = time.perf_counter()
    vectors = embed_texts(
        model,
        texts,
        progress=lambda done, total: bar.progress(done / total, text=f"Embedded {done:,} of {total:,}"),
    )
    grown = before.add(texts, vectors, source)
    seconds = time.perf_counter() - start
    bar.empty()
    st.session_state[_INDEX + model_id] = grown
    proof = AddProof(before.size, grown.size, fingerprint_before, weights_fingerprint(model), source, seconds)
    st.session_state[_PROOF + model_id] = proof
    return proof


def last_proof(model_id: str) -> AddProof | None:
    return st.session_state.get(_PROOF + model_id)


def proof_panel(model_id: str, index: EmbeddingIndex, loaded_fingerprint: str) -> None:
    """Index size beside the weights fingerprint, before and after the last add."""
    proof = last_proof(model_id)
    cols = st.columns([1, 1.5])  # the fingerprint needs room on a projector (classroom type is larger)
    if proof is None:
        cols[0].metric("Sentences in the index", f"{index.size:,}")
        cols[1].metric(
            "Model weights fingerprint", loaded_fingerprint, help="sha256 over every weight, at load time."
        )
        st.caption("Add sentences below: the index grows; the fingerprint will be hashed again and compared.")
        return
    cols[0].metric(
        "Sentences in the index", f"{proof.size_after:,}", delta=f"+{proof.size_after - proof.size_before:,}"
    )
    same = proof.fingerprint_before == proof.fingerprint_after
    cols[1].metric(
        "Model weights fingerprint",
        proof.fingerprint_after,
        delta="identical" if same else "CHANGED",
        delta_color="off" if same else "inverse",
        delta_arrow="off",
        help="Hashed from the weights right before and right after adding.",
    )
    verdict = "identical: the model did not change" if same else "different"
    st.caption(
        f"Last add ({escape_markdown(proof.source)}, {proof.seconds:.1f} s): index {proof.size_before:,} → "
        f"{proof.size_after:,} sentences; fingerprint before `{proof.fingerprint_before}`, after "
        f"`{proof.fingerprint_after}` — {verdict}. Storing embeddings changes the index, never the model."
    )


def search(
    model_id: str, index: EmbeddingIndex, query: str, k: int = TOP_K
) -> tuple[np.ndarray, tuple[SearchHit, ...]]:
    vector = cached_query_vector(model_id, query)
    return vector, index.search(vector, k)


def hits_table(hits: tuple[SearchHit, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [h.rank for h in hits],
            "cosine": [round(h.score, 3) for h in hits],
            "text": [h.text for h in hits],
            "source": [h.source for h in hits],
        }
    )


def parsed_upload(
    store: MutableMapping, file_id: str, name: str, data: Callable[[], bytes], column: str | None = None
) -> sm.UploadResult:
    """Parse an uploaded file once per (file, column) and keep it in `store` (this user's session state).

    Reruns (every widget change) reuse it instead of re-reading up to 20 MB; a new file replaces it.
    """
    stored_id, parsed = store.get(_UPLOAD) or ("", {})
    if stored_id != file_id:
        parsed = {}
    if column not in parsed:
        parsed = {**parsed, column: sm.parse_upload(name, data(), column)}
        store[_UPLOAD] = (file_id, parsed)
    return parsed[column]


def upload_box(model_id: str) -> None:
    """File uploader → parsed sentences → 'Add file to index'. Problems are shown, nothing is lost."""
    upload = st.file_uploader(
        "Upload sentences (.txt one per line, or .csv)",
        type=list(sm.UPLOAD_TYPES),
        key="sentence_upload",
        help=f"Up to {sm.MAX_UPLOAD_SENTENCES:,} sentences and {sm.MAX_UPLOAD_BYTES // 2**20} MB.",
    )
    if upload is None:
        st.session_state.pop(_UPLOAD, None)
        return
    result = parsed_upload(st.session_state, upload.file_id, upload.name, upload.getvalue)
    if result.columns:
        column = st.selectbox(
            "Text column",
            result.columns,
            index=result.columns.index(result.column) if result.column in result.columns else 0,
            key=f"upload_column_{upload.file_id}",
        )
        result = parsed_upload(st.session_state, upload.file_id, upload.name, upload.getvalue, column)
    if not result.ok:
        st.error(f"{escape_markdown(result.message)} Nothing already in the index was changed.", icon="📄")
        return
    index = user_index(model_id)
    if not index.new_texts(result.sentences):
        st.caption(f"All {len(result.sentences):,} sentences of this file are in the index.")
        return
    problem = room_problem(index, result.sentences)
    if problem is not None:
        st.error(escape_markdown(problem), icon="📦")
        return
    st.caption(escape_markdown(result.message))
    if st.button(f"Add {len(result.sentences):,} sentences from the file", key="add_upload", type="primary"):
        add_to_index(model_id, result.sentences, f"file: {upload.name}")
        st.rerun()


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
    persisted("sentence_tab", TABS[0])
    if st.session_state["sentence_tab"] not in TABS:
        set_value("sentence_tab", TABS[0])
    return list(st.tabs(list(TABS), key="sentence_tab", on_change=remember, args=("sentence_tab",)))


def _select(label: str, key: str, options: tuple, default: object, **kwargs) -> object:
    persisted(key, default)
    if st.session_state[key] not in options:  # e.g. fewer sentences or layers than before
        set_value(key, default)
    return st.selectbox(label, list(options), key=key, on_change=remember, args=(key,), **kwargs)


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


def similarity_controls(n_layers: int, names: list[str]) -> tuple[str, int]:
    """Pooling for the heatmap and, for the per-layer mean, which layer (the output layer otherwise)."""
    cols = st.columns([2, 2])
    with cols[0]:
        pooling = str(
            _select(
                "Pool with", "sentence_pooling", SIMILARITY_POOLINGS, "model", format_func=sm.POOLINGS.get
            )
        )
    persisted("sentence_layer", 1)
    if not 0 <= st.session_state["sentence_layer"] < n_layers:
        set_value("sentence_layer", min(1, n_layers - 1))
    if pooling != "mean_layer":
        return pooling, n_layers
    with cols[1]:
        st.select_slider(
            "Layer",
            list(range(n_layers)),
            format_func=names.__getitem__,
            key="sentence_layer",
            on_change=remember,
            args=("sentence_layer",),
        )
    return pooling, int(st.session_state["sentence_layer"])


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


def query_controls() -> tuple[str, int]:
    """The search box and how many neighbours to show."""
    persisted("index_query", DEFAULT_QUERY)
    persisted("index_k", TOP_K)
    cols = st.columns([4, 1.3])
    cols[0].text_input("Search the index", key="index_query", on_change=remember, args=("index_query",))
    cols[1].number_input(
        "Nearest (k)", 1, MAX_K, key="index_k", on_change=remember, args=("index_k",), step=1
    )
    return str(st.session_state["index_query"]).strip(), int(st.session_state["index_k"])


def cloud_caption(view: SentenceView, info: ModelInfo, contrast: str | None) -> str:
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
FIELDS: dict[str, share.Validator] = {
    "sentences": share.is_text(60_000),
    "sentence_set": share.is_one_of(presets.sentence_sets()),
    "model_id": share.is_model_id,
    "tab": share.is_one_of(TABS),
    "contrast": share.is_one_of(CONTRASTS),
    "pooling": share.is_one_of(SIMILARITY_POOLINGS),
    "layer": share.is_int_between(0, 95),
    "sentence": share.is_int_between(0, 999),
    "query": share.is_text(1_000),
    "k": share.is_int_between(1, MAX_K),
}
_WIDGET_KEYS = {
    "sentences": "sentences",
    "sentence_set": "sentence_set",
    "model_id": "model_box",
    "tab": "sentence_tab",
    "contrast": "sentence_contrast",
    "pooling": "sentence_pooling",
    "layer": "sentence_layer",
    "sentence": "sentence_chosen",
    "query": "index_query",
    "k": "index_k",
}


def receive_link() -> None:
    """Apply a shared view from the URL (asking first if it would replace typed sentences)."""
    lessons.receive_sentences_link(FIELDS, _WIDGET_KEYS)


def view_state(model_id: str) -> dict:
    """This page's view as a share-link state (never the grown index or uploads: too big for a URL)."""
    settings = {field: kept(key) for field, key in _WIDGET_KEYS.items() if field != "model_id"}
    return {**{k: v for k, v in settings.items() if v is not None}, "model_id": model_id}


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
