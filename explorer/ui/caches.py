"""Cached, shared, read-only objects: the loaded models, their cards, hidden states, word similarities.

Cached objects are shared by every user of the server and are never mutated: copy before changing.
Hidden states are kept under one byte budget for all sessions (`LSE_STATES_CACHE_MB`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import streamlit as st

from explorer import precomputed
from explorer.budget import ByteBudgetCache, one_blas_thread, positive_setting, settle_long_lived
from explorer.models import DEFAULT_MODEL_ID, ModelInfo, describe_model, load_model, weights_fingerprint
from explorer.projection import warm_up_umap
from explorer.senses import word_vectors
from explorer.states import LayerStates, extract_states, find_word
from explorer.vectors import cosine

_log = logging.getLogger(__name__)
one_blas_thread()  # once per server: its matrices are small, and sessions and the browser share the cores


_loaded: set[str] = set()  # model ids whose weights this server holds
_warming: set[str] = set()  # model ids a background thread is loading
_warm_lock = threading.Lock()
_umap_warm = threading.Event()  # set once UMAP's numba code is compiled in this server
_stored_valid = [True]  # False once the loaded model's fingerprint differs from the stored states'


@st.cache_resource(show_spinner=False, max_entries=4)
def _model(model_id: str):
    model = load_model(model_id)
    stored = precomputed.shipped()
    if stored is not None and model_id == stored.info.model_id:
        found = weights_fingerprint(model)
        if found != stored.info.fingerprint:
            _stored_valid[0] = False
            _log.warning(
                "assets/precomputed came from other weights (%s, loaded %s): not used",
                stored.info.fingerprint,
                found,
            )
    _loaded.add(model_id)
    settle_long_lived()  # the libraries and the weights live as long as the server
    return model


def cached_model(model_id: str):
    """The loaded model, shared by all users. Never mutate it: copy it first."""
    if model_id in _loaded:
        return _model(model_id)
    with st.spinner(MODEL_LOADING):
        return _model(model_id)


MODEL_LOADING = "Loading the model (once per server start: about 10 s)…"


def model_ready(model_id: str) -> bool:
    return model_id in _loaded


def warm_model(model_id: str = DEFAULT_MODEL_ID) -> None:
    """Load the model, then compile UMAP, in a background thread, once: called when a page has been drawn,
    so the first view never waits for them and the first click that needs them waits less (or not at all)."""
    if os.environ.get(WARM_UP_ENV, "1").strip() == "0":
        return
    with _warm_lock:
        if model_id in _warming or (model_id in _loaded and _umap_warm.is_set()):
            return
        _warming.add(model_id)
    threading.Thread(target=_warm, args=(model_id,), daemon=True, name="lse-warm-model").start()


_after_load: list[Callable[[str], None]] = []


def after_model_loads(prepare: Callable[[str], None]) -> None:
    """Have the background warm-up run `prepare(model_id)` once the model is loaded (slow work a page
    will ask for: it waits for nobody, and is done before the first click)."""
    if prepare not in _after_load:
        _after_load.append(prepare)


WARM_UP_ENV = "LSE_WARM_UP"  # "0": no background warm-up (the model loads on the first page that needs it)
WARM_AFTER_SECONDS = 3.0  # let the browser fetch and draw the first page before the warm-up takes a core


def _warm(model_id: str) -> None:
    try:
        time.sleep(WARM_AFTER_SECONDS)
        _model(model_id)
        if not _umap_warm.is_set():
            for prepare in _after_load:  # e.g. the default set's UMAP, which also compiles UMAP's code
                prepare(model_id)
            warm_up_umap()  # numba compiles UMAP once per server, before anyone asks for it
            _umap_warm.set()
            settle_long_lived()  # numba's compiled code, like the model, lives as long as the server
    except Exception:  # the page that needs the model or UMAP says what went wrong
        _log.warning("warming %s up in the background failed", model_id, exc_info=True)
    finally:
        _warming.discard(model_id)


def _stored() -> precomputed.Precomputed | None:
    """The bundled model's stored card and first-view states, while they match its weights."""
    return precomputed.shipped() if _stored_valid[0] else None


def cached_model_info(model_id: str) -> ModelInfo:
    """The model's card: for the bundled model, from the stored card (the weights need not be loaded)."""
    stored = _stored()
    if stored is not None and model_id == stored.info.model_id:
        return stored.info
    return _model_info(model_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def _model_info(model_id: str) -> ModelInfo:
    model = cached_model(model_id)
    return describe_model(model, model_id, weights_fingerprint(model))


STATES_CACHE_ENV = "LSE_STATES_CACHE_MB"
# The largest input the pages accept (100 sentences at the bundled model's 256 word pieces: 265 MB)
# and the Geometry lab's corpus (10 MB) fit together: the lab then measures the sentences the journey
# just ran without running the model again (100 long sentences: lab 17-20 s with 256 MB, 7 s with room).
DEFAULT_STATES_CACHE_MB = 384


def states_cache_mb(raw: str | None) -> float:
    """The states cache budget from its setting; the default when unset or not a positive number."""
    return positive_setting(raw, DEFAULT_STATES_CACHE_MB)


# Shared by every session, like st.cache_resource, but bounded by bytes: see explorer/budget.py.
_STATES = ByteBudgetCache[LayerStates](
    max_bytes=int(states_cache_mb(os.environ.get(STATES_CACHE_ENV)) * 2**20), max_entries=32
)


def cached_states(model_id: str, texts: tuple[str, ...]) -> LayerStates:
    """Every layer of every token for these sentences, shared by all users and never mutated.

    Other caches keep only what they derive from states (coordinates, measures), never the states
    themselves, so this cache's byte budget bounds the memory states take.
    """
    stored = _stored()
    if stored is not None and model_id == stored.info.model_id and tuple(texts) in stored.states:
        return stored.states[tuple(texts)]  # a shipped sentence set: computed ahead, no model needed
    return _STATES.get_or_make(
        (model_id, tuple(texts)), lambda: extract_states(cached_model(model_id), texts), lambda s: s.nbytes
    )


def running_model(model_id: str, n_sentences: int):
    """A spinner for work that runs the model: it also says so when the model is still loading."""
    doing = f"running the model over {n_sentences} sentences…"
    return st.spinner(
        f"{MODEL_LOADING[:-1]}, then {doing}" if not model_ready(model_id) else doing.capitalize()
    )


def load_states(model_id: str, sentences: tuple[str, ...]) -> LayerStates:
    with running_model(model_id, len(sentences)):
        return cached_states(model_id, sentences)


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_word_similarity(
    model_id: str, first: str, second: str, word: str
) -> tuple[np.ndarray, float] | None:
    """Cosine of `word` in two sentences at every layer, and of the two sentence embeddings."""
    states = cached_states(model_id, (first, second))
    rows = [find_word(states.tokens, s, word) for s in (0, 1)]
    if not all(rows):
        return None
    per_layer = cosine(word_vectors(states.layers, rows[0]), word_vectors(states.layers, rows[1]))
    return per_layer, float(cosine(states.pooled[0], states.pooled[1]))
