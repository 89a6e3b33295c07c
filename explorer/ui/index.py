"""Streamlit side of the index on the Sentence embedding page: the bundled corpus index (cached, shared,
never mutated), each person's grown copy of it, search, uploads, and the proof that adding changes no weight.

Each person's grown index lives in `st.session_state`; because `EmbeddingIndex.add` returns a new index,
growing it never touches the shared one."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer import uploads
from explorer.assets import DEFAULT_QUERY, bundled_corpus
from explorer.charts import sentence as sentence_charts
from explorer.index import MAX_INDEX_SENTENCES, EmbeddingIndex, SearchHit, embed_peak_bytes, embed_texts
from explorer.inputs import escape_markdown
from explorer.models import weights_fingerprint
from explorer.projection import MapProjection, fit_map
from explorer.sentence import embeddings_npz
from explorer.states import word_pieces
from explorer.ui import caches, keys, memory
from explorer.ui.caches import cached_model
from explorer.ui.lessons import WHEN_REVEALED, placeholder
from explorer.ui.state import persisted, remembered

_INDEX = "sentence_index::"


_PROOF = "sentence_proof::"


_UPLOAD = "sentence_upload_parsed"


TOP_K = 5


MAX_K = 20


MAX_QUERY_CHARS = 1_000


# ---------------------------------------------------------------- shared, read-only
@st.cache_resource(show_spinner="Embedding the bundled corpus…", max_entries=4)
def cached_corpus_index(model_id: str) -> EmbeddingIndex:
    corpus = bundled_corpus()
    vectors = caches.stored_embeddings(model_id, tuple(corpus.texts))  # the bundled model's, made ahead
    if vectors is None:
        vectors = embed_texts(cached_model(model_id), corpus.texts)
    return EmbeddingIndex.build(corpus.texts, vectors, corpus.topics)


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_map(
    model_id: str, key: str, _index: EmbeddingIndex, n_base: int
) -> tuple[MapProjection, pd.DataFrame]:
    """The 2-D map of an index, keyed on the model and the index's content key (texts, sources and
    vectors are all in it), so no model or user ever gets another's map. The index is not hashed.

    The axes are fitted on the first `n_base` rows (the bundled corpus every index starts from) and
    every row is placed on them, so adding sentences never moves the dots already there."""
    projection = fit_map(_index.vectors[: n_base or None])
    coords = projection.place(_index.vectors)  # (N, 2)
    return projection, sentence_charts.corpus_map_frame(_index.texts, _index.sources, coords, n_base)


@st.cache_resource(show_spinner=False, max_entries=256)
def cached_query_vector(model_id: str, query: str) -> np.ndarray:
    stored = caches.stored_embeddings(model_id, (query,))  # the first query, made ahead
    vectors = stored if stored is not None else embed_texts(cached_model(model_id), [query])
    vector = vectors[0].copy()  # (D,)
    vector.flags.writeable = False
    return vector


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
    config = model[0].auto_model.config
    need = embed_peak_bytes(
        max(word_pieces(model, texts) if texts else [1]), len(texts), int(config.hidden_size),
        int(getattr(config, "num_attention_heads", 16) or 16), before.size,
    )  # fmt: skip
    start = time.perf_counter()
    try:  # its peak claimed on the server's memory ledger first (see ui/memory.py)
        with memory.room(caches.STATES_CLAIM, need, "embedding your sentences"):
            bar = st.progress(0.0, text=f"Embedding {len(texts):,} sentences…")
            vectors = embed_texts(
                model,
                texts,
                progress=lambda done, total: bar.progress(
                    done / total, text=f"Embedded {done:,} of {total:,}"
                ),
            )
            grown = before.add(texts, vectors, source)
    except memory.BudgetFull as exc:
        st.warning(f"{exc} Nothing was added; fewer or shorter sentences need less.", icon="⏳")
        st.stop()
    seconds = time.perf_counter() - start
    bar.empty()
    st.session_state[_INDEX + model_id] = grown
    proof = AddProof(before.size, grown.size, fingerprint_before, weights_fingerprint(model), source, seconds)
    st.session_state[_PROOF + model_id] = proof
    return proof


def last_proof(model_id: str) -> AddProof | None:
    return st.session_state.get(_PROOF + model_id)


def proof_panel(model_id: str, index: EmbeddingIndex, loaded_fingerprint: str, verdict: bool = True) -> None:
    """Index size beside the weights fingerprint, before and after the last add (the verdict, 'identical',
    only with `verdict`: a lesson asks for a prediction first)."""
    proof = last_proof(model_id)
    cols = st.columns([1, 1.5])  # the fingerprint needs room on a projector (classroom type is larger)
    if proof is None:
        cols[0].metric("Sentences in the index", f"{index.size:,}")
        cols[1].metric(
            "Model weights fingerprint", loaded_fingerprint, help="sha256 over every weight, at load time."
        )
        st.caption("Add sentences above: the index grows; the fingerprint will be hashed again and compared.")
        return
    cols[0].metric(
        "Sentences in the index", f"{proof.size_after:,}", delta=f"+{proof.size_after - proof.size_before:,}"
    )
    same = proof.fingerprint_before == proof.fingerprint_after
    cols[1].metric(
        "Model weights fingerprint" if verdict else "Model weights fingerprint, before the add",
        proof.fingerprint_after if verdict else proof.fingerprint_before,
        delta=("identical" if same else "CHANGED") if verdict else None,
        delta_color="off" if same else "inverse",
        delta_arrow="off",
        help="Hashed from the weights right before and right after adding.",
    )
    said = "identical: the model did not change" if same else "different"
    st.caption(
        f"Last add ({escape_markdown(proof.source)}, {proof.seconds:.1f} s): index {proof.size_before:,} → "
        f"{proof.size_after:,} sentences; fingerprint before `{proof.fingerprint_before}`, after "
        + (
            f"`{proof.fingerprint_after}` — {said}. Storing embeddings changes the index, never the model."
            if verdict
            else f"the add: 🔒 {WHEN_REVEALED}."
        )
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
) -> uploads.UploadResult:
    """Parse an uploaded file once per (file, column) and keep it in `store` (this user's session state).

    Reruns (every widget change) reuse it instead of re-reading up to 20 MB; a new file replaces it.
    """
    stored_id, parsed = store.get(_UPLOAD) or ("", {})
    if stored_id != file_id:
        parsed = {}
    if column not in parsed:
        parsed = {**parsed, column: uploads.parse_upload(name, data(), column)}
        store[_UPLOAD] = (file_id, parsed)
    return parsed[column]


def upload_box(model_id: str) -> None:
    """File uploader → parsed sentences → 'Add file to index'. Problems are shown, nothing is lost."""
    upload = st.file_uploader(
        "Upload sentences (.txt one per line, or .csv)",
        type=list(uploads.UPLOAD_TYPES),
        key="sentence_upload",
        help=f"Up to {uploads.MAX_UPLOAD_SENTENCES:,} sentences and {uploads.MAX_UPLOAD_BYTES // 2**20} MB.",
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
            help=f"The first {uploads.MAX_CSV_COLUMNS} columns of the file are offered.",
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


def query_controls() -> tuple[str, int]:
    """The search box and how many neighbours to show."""
    persisted(keys.INDEX_QUERY, DEFAULT_QUERY)
    persisted(keys.INDEX_K, TOP_K)
    cols = st.columns([4, 1.3])
    cols[0].text_input(
        "Search the index",
        max_chars=MAX_QUERY_CHARS,
        **remembered(keys.INDEX_QUERY),
    )
    cols[1].number_input("Nearest (k)", 1, MAX_K, **remembered(keys.INDEX_K), step=1)
    return str(st.session_state[keys.INDEX_QUERY]).strip(), int(st.session_state[keys.INDEX_K])


def _index_tools(
    model_id: str, index: EmbeddingIndex, texts: tuple[str, ...], fingerprint: str, verdict: bool
):
    """Add the typed sentences, reset, download; right under them the fingerprint before and after."""
    actions = st.columns([1.4, 1, 1])
    stored = not index.new_texts(texts)
    full = None if stored else room_problem(index, texts)
    label = "Your sentences are in the index" if stored else f"Add my {len(texts)} sentences to the index"
    if actions[0].button(label, key="add_typed", type="primary", disabled=stored or full is not None):
        add_to_index(model_id, texts, "typed")
        st.rerun()
    if actions[1].button("Reset the index", key="reset_index"):
        reset_index(model_id)
        st.rerun()
    actions[2].download_button(
        "Index (NPZ)", lambda: embeddings_npz(index.texts, index.vectors), "index.npz", on_click="ignore"
    )
    if full is not None:
        st.warning(full, icon="📦")
    proof_panel(model_id, index, fingerprint, verdict=verdict)


def _search_and_map(model_id: str, index: EmbeddingIndex, classroom: bool, hide_hits: bool, height: int):
    query, k = query_controls()
    projection, points = index_map(model_id, index)
    query_xy, hits = None, ()
    if query:
        vector, hits = search(model_id, index, query, k)
        query_xy = projection.place(vector)[0]
    if hide_hits:  # where the query lands and what comes back are the answer: hidden until Reveal
        query_xy, hits = None, ()
    st.altair_chart(
        sentence_charts.corpus_map_chart(points, query_xy, query, hits, height=height, classroom=classroom),
        width="stretch",
        alt="Map of the index's sentences on fixed axes, with the query and its nearest hits marked.",
    )
    st.caption(
        f"Each dot is one indexed sentence's embedding; axes: the first two principal axes of the bundled "
        f"corpus ({projection.explained:.0%} of its spread), fixed, so added sentences are placed on them and "
        "no dot moves. ▲ = your query on the same axes"
        + (f"; dashed lines lead to its {len(hits)} nearest sentences by cosine." if hits else ".")
        if query_xy is not None
        else "Each dot is one indexed sentence's embedding, on the first two principal axes of the bundled "
        f"corpus ({projection.explained:.0%} of its spread)."
    )
    if hits:
        st.dataframe(hits_table(hits), hide_index=True, width="stretch")
    elif query and hide_hits:
        placeholder("where the query lands (▲), the list of results and the lines to them")


def index_tab(
    info,
    texts: tuple[str, ...],
    classroom: bool,
    search_first: bool,
    presenter: bool,
    hide_hits: bool,
    verdict: bool,
) -> None:
    """The index tab: grow the index (the fingerprint proves the model unchanged), search it, upload.

    `search_first` (the search lesson) puts the query and its map first, shorter, so
    the question, the map and the card share the first screen; the index's tools follow."""
    index = user_index(info.model_id)
    height = (300 if presenter else 340) if search_first else 520
    if not search_first:
        _index_tools(info.model_id, index, texts, info.fingerprint, verdict)
    _search_and_map(info.model_id, index, classroom, hide_hits, height)
    if search_first:
        _index_tools(info.model_id, index, texts, info.fingerprint, verdict)
    upload_box(info.model_id)
