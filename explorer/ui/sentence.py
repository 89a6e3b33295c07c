"""Streamlit side of the Sentence embedding page: cached views, the user's own index, the proof panel.

The bundled corpus index is cached with `st.cache_resource` (shared, never mutated). Each person's grown
index lives in `st.session_state`; because `EmbeddingIndex.add` returns a new index, growing it never
touches the shared one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import sentence as sm
from explorer import sentence_charts
from explorer.index import EmbeddingIndex, MapProjection, SearchHit, bundled_corpus, embed_texts, fit_map
from explorer.inputs import escape_markdown
from explorer.models import weights_fingerprint
from explorer.ui import cached_model, cached_states

_INDEX = "sentence_index::"
_PROOF = "sentence_proof::"
TOP_K = 5


# ---------------------------------------------------------------- shared, read-only
@st.cache_resource(show_spinner="Embedding the bundled corpus…", max_entries=4)
def cached_corpus_index(model_id: str) -> EmbeddingIndex:
    corpus = bundled_corpus()
    return EmbeddingIndex.build(
        corpus.texts, embed_texts(cached_model(model_id), corpus.texts), corpus.topics
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_map(key: str, _index: EmbeddingIndex, n_base: int) -> tuple[MapProjection, pd.DataFrame]:
    """The 2-D map of an index, keyed on its content key (the index itself is not hashed)."""
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
    return cached_map(index.key, index, cached_corpus_index(model_id).size)


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


def add_to_index(model_id: str, texts: tuple[str, ...], source: str) -> AddProof:
    """Embed `texts` (with a progress bar), store them in this user's index, record the proof."""
    model = cached_model(model_id)
    before = user_index(model_id)
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
    cols = st.columns(2)
    if proof is None:
        cols[0].metric("Index size", f"{index.size:,} sentences")
        cols[1].metric(
            "Model weights fingerprint", loaded_fingerprint, help="sha256 over every weight, at load time."
        )
        st.caption("Add sentences below: the index grows; the fingerprint will be hashed again and compared.")
        return
    cols[0].metric(
        "Index size", f"{proof.size_after:,} sentences", delta=f"+{proof.size_after - proof.size_before:,}"
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


def upload_box(model_id: str) -> None:
    """File uploader → parsed sentences → 'Add file to index'. Problems are shown, nothing is lost."""
    upload = st.file_uploader(
        "Upload sentences (.txt one per line, or .csv)",
        type=list(sm.UPLOAD_TYPES),
        key="sentence_upload",
        help=f"Up to {sm.MAX_UPLOAD_SENTENCES:,} sentences and {sm.MAX_UPLOAD_BYTES // 2**20} MB.",
    )
    if upload is None:
        return
    data = upload.getvalue()
    result = sm.parse_upload(upload.name, data)
    column = None
    if result.columns:
        column = st.selectbox(
            "Text column",
            result.columns,
            index=result.columns.index(result.column) if result.column in result.columns else 0,
            key=f"upload_column_{upload.file_id}",
        )
        result = sm.parse_upload(upload.name, data, column)
    if not result.ok:
        st.error(f"{escape_markdown(result.message)} Nothing already in the index was changed.", icon="📄")
        return
    if set(result.sentences) <= set(user_index(model_id).texts):
        st.caption(f"All {len(result.sentences):,} sentences of this file are in the index.")
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
