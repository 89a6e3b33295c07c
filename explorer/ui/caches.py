"""Cached, shared, read-only objects: the loaded models, their cards, hidden states, word similarities.

Cached objects are shared by every user of the server and are never mutated: copy before changing.
Hidden states are kept under one byte budget for all sessions (`LSE_STATES_CACHE_MB`).
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from explorer.budget import ByteBudgetCache, positive_setting
from explorer.models import ModelInfo, describe_model, load_model, weights_fingerprint
from explorer.senses import word_vectors
from explorer.states import LayerStates, extract_states, find_word
from explorer.vectors import cosine


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def cached_model(model_id: str):
    """The loaded model, shared by all users. Never mutate it: copy it first."""
    return load_model(model_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_model_info(model_id: str) -> ModelInfo:
    model = cached_model(model_id)
    return describe_model(model, model_id, weights_fingerprint(model))


STATES_CACHE_ENV = "LSE_STATES_CACHE_MB"
DEFAULT_STATES_CACHE_MB = 256


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
    return _STATES.get_or_make(
        (model_id, tuple(texts)), lambda: extract_states(cached_model(model_id), texts), lambda s: s.nbytes
    )


def load_states(model_id: str, sentences: tuple[str, ...]) -> LayerStates:
    with st.spinner(f"Running the model over {len(sentences)} sentences…"):
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
