"""Cached, shared, read-only objects: the loaded models, their cards, hidden states, word similarities.

Cached objects are shared by every user of the server and are never mutated: copy before changing.
Hidden states are kept under one byte budget for all sessions (`LSE_STATES_CACHE_MB`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from explorer import geometry, precomputed
from explorer.budget import (
    ByteBudgetCache,
    large_blocks_straight_back,
    one_blas_thread,
    positive_setting,
    return_freed_memory,
    settle_long_lived,
)
from explorer.models import DEFAULT_MODEL_ID, ModelInfo, describe_model, load_model, weights_fingerprint
from explorer.peaks import pooled_peak_bytes, states_peak_bytes
from explorer.projection import warm_up_umap
from explorer.senses import word_vectors
from explorer.states import (
    ONE_HOLD_CHARS,
    LayerStates,
    extract_states,
    find_word,
    pooled_vectors,
    word_pieces,
)
from explorer.ui import jobs, memory
from explorer.vectors import cosine

_log = logging.getLogger(__name__)
one_blas_thread()  # once per server: its matrices are small, and sessions and the browser share the cores
large_blocks_straight_back()  # a forward pass's big blocks go back to the system when freed


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
    """Load the model in a background thread, once: called when a page has been drawn, so the first view
    never waits for it and the first click that needs it waits less (or not at all). With
    `LSE_WARM_UP=umap`, then compile UMAP and fit the shipped sets' UMAP views too (see `warm_umap`).
    Also starts the server's janitor (`tidy`), once."""
    _start_janitor()
    mode = warm_up_mode(os.environ.get(WARM_UP_ENV))
    if mode == WARM_UP_OFF:
        return
    with _warm_lock:
        done = model_id in _loaded and (mode != WARM_UP_UMAP or _umap_warm.is_set())
        if model_id in _warming or done:
            return
        _warming.add(model_id)
    threading.Thread(
        target=_warm, args=(model_id, mode == WARM_UP_UMAP), daemon=True, name="lse-warm-model"
    ).start()


_after_load: list[Callable[[str], None]] = []


def on_umap_warm_up(prepare: Callable[[str], None]) -> None:
    """Have `warm_umap` run `prepare(model_id)` once per server (slow UMAP work a page will ask for: done
    in the background after the first UMAP anyone asks for, so the next click that needs it waits less)."""
    if prepare not in _after_load:
        _after_load.append(prepare)


WARM_UP_ENV = "LSE_WARM_UP"
WARM_UP_OFF, WARM_UP_MODEL, WARM_UP_UMAP = "0", "1", "umap"
# "1" (the default): load the model in the background once a page is drawn; UMAP's code is compiled and
# the shipped sets' UMAP views fitted after the first visitor asks for a UMAP (importing and compiling
# UMAP keeps about 360 MB for the server's life). "umap": both at start, as soon as the model is loaded.
# "0": no background work (the model loads on the first page that needs it, UMAP fits only when asked).
WARM_UP_MODES = (WARM_UP_OFF, WARM_UP_MODEL, WARM_UP_UMAP)
WARM_AFTER_SECONDS = 3.0  # let the browser fetch and draw the first page before the warm-up takes a core


def warm_up_mode(raw: str | None) -> str:
    """The warm-up setting: one of WARM_UP_MODES; the default ("1") when unset or not one of them."""
    value = (raw or "").strip().lower()
    return value if value in WARM_UP_MODES else WARM_UP_MODEL


def _warm(model_id: str, with_umap: bool) -> None:
    try:
        time.sleep(WARM_AFTER_SECONDS)
        _model(model_id)
        if with_umap:
            warm_umap(model_id)
    except Exception:  # the page that needs the model or UMAP says what went wrong
        _log.warning("warming %s up in the background failed", model_id, exc_info=True)
    finally:
        _warming.discard(model_id)


_umap_lock = threading.Lock()  # one warm_umap at a time; a second caller waits for the first
_prepared: list[Callable[[str], None]] = []  # what warm_umap has run of `_after_load`


def warm_umap(model_id: str = DEFAULT_MODEL_ID) -> None:
    """Once per server: run what pages registered with `on_umap_warm_up` (the shipped sets' UMAP views,
    the default set first), then compile UMAP's numba code if they did not, so later UMAP clicks on a
    shipped set are immediate. Blocks until done; a page registered later is prepared on the next call."""
    with _umap_lock:
        for prepare in [p for p in _after_load if p not in _prepared]:
            prepare(model_id)  # e.g. the default set's UMAP, which also compiles UMAP's code
            _prepared.append(prepare)
        if not _umap_warm.is_set():
            warm_up_umap()  # numba compiles UMAP once per server
            _umap_warm.set()
            settle_long_lived()  # numba's compiled code, like the model, lives as long as the server


def _umap_pending() -> bool:
    return not _umap_warm.is_set() or any(p not in _prepared for p in _after_load)


_umap_warming = threading.Event()  # set while a thread of `umap_wanted` runs warm_umap


def umap_wanted(model_id: str = DEFAULT_MODEL_ID) -> None:
    """A page asked for a UMAP fit: unless `LSE_WARM_UP=0` or it is done, run `warm_umap` in a background
    thread. Its fits queue behind the visitor's own (jobs run one at a time), so the visitor's waits for
    none of them; UMAP's code, compiled for the visitor, is then used for the shipped sets."""
    if not _umap_pending() or warm_up_mode(os.environ.get(WARM_UP_ENV)) == WARM_UP_OFF:
        return
    with _warm_lock:
        if _umap_warming.is_set():
            return
        _umap_warming.set()
    threading.Thread(target=_warm_umap_quietly, args=(model_id,), daemon=True, name="lse-warm-umap").start()


def _warm_umap_quietly(model_id: str) -> None:
    try:
        warm_umap(model_id)
    except Exception:  # the page that asked for UMAP says what went wrong with its own fit
        _log.warning("fitting the shipped sets' UMAP views in the background failed", exc_info=True)
    finally:
        _umap_warming.clear()


def stored_for(model_id: str) -> precomputed.Precomputed | None:
    """What is stored ahead for `model_id` (the bundled model's card, first-view states, embeddings and
    sentence vectors), while the stored files match its weights; None for any other model."""
    stored = precomputed.shipped() if _stored_valid[0] else None
    return stored if stored is not None and stored.info.model_id == model_id else None


def stored_lab_measures(model_id: str, texts: tuple[str, ...]) -> geometry.LabMeasures | None:
    """The bundled model's Geometry lab measures of these texts (the bundled corpus's, without UMAP),
    computed ahead; None otherwise."""
    stored = stored_for(model_id)
    return None if stored is None else stored.lab.get(tuple(texts))


def stored_embeddings(model_id: str, texts: tuple[str, ...]) -> np.ndarray | None:
    """The bundled model's `embed_texts` of these texts, computed ahead (the search index's corpus, the
    first queries); None otherwise."""
    stored = stored_for(model_id)
    return None if stored is None else stored.embedded.get(tuple(texts))


def cached_model_info(model_id: str) -> ModelInfo:
    """The model's card: for the bundled model, from the stored card (the weights need not be loaded)."""
    stored = stored_for(model_id)
    return stored.info if stored is not None else _model_info(model_id)


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
# Cached states count inside the server's one memory budget: visitors' work and the cache never take more
# together than LSE_SESSION_MEMORY_MB, and a claim that does not fit first has least recently used states
# dropped (the states cache's own limit still caps it alone). States dropped from the cache while a page
# run still reads them count until that run lets go (`held_bytes`): they are freed only then.
memory.ledger().share_with(lambda: _STATES.held_bytes, lambda nbytes: _STATES.shrink(nbytes))


# The ledger's name for a forward pass in progress (nothing is kept under it): one per session at a time.
STATES_CLAIM = "model_run"
UMAP_CLAIM = "umap_fit"  # the ledger name of a UMAP fit in progress (a background job)
MEASURES_CLAIM = "measures"  # the Geometry lab's layer-by-layer measures in progress


def cached_states(model_id: str, texts: tuple[str, ...]) -> LayerStates:
    """Every layer of every token for these sentences, shared by all users and never mutated.

    Other caches keep only what they derive from states (coordinates, measures), never the states
    themselves, so this cache's byte budget bounds the memory states take. A forward pass claims its peak
    on the server's memory ledger first, wherever it is asked for (see `_claimed`).
    """
    stored = stored_for(model_id)
    if stored is not None and tuple(texts) in stored.states:
        return stored.states[tuple(texts)]  # a shipped sentence set: computed ahead, no model needed
    return _STATES.get_or_make(
        (model_id, tuple(texts)),
        lambda: _claimed(
            lambda model: extract_states(model, texts), model_id, lambda: states_peak(model_id, texts)
        ),
        lambda s: s.nbytes,
    )


def _claimed(run: Callable, model_id: str, need: Callable[[], int]):
    """`run(model)` under a claim of `need()` bytes on the ledger, unless this session's work already holds
    the pass's claim (a page claims it with a message: `claims.claimed_states`). Without one, e.g. states
    evicted by other sessions between two calls of one page run, or a background job, the claim is made
    here, quietly (BudgetFull if the server stays full): no forward pass runs unclaimed."""
    model = cached_model(model_id)
    if memory.claiming(STATES_CLAIM):
        return run(model)
    with memory.quiet_room(STATES_CLAIM, need()):
        return run(model)


def _shape(model_id: str) -> tuple[int, int, int]:
    """(transformer layers, width, attention heads) of a loaded model."""
    info = cached_model_info(model_id)
    heads = int(getattr(cached_model(model_id)[0].auto_model.config, "num_attention_heads", 16) or 16)
    return info.n_layers, info.dim, heads


def states_peak(model_id: str, texts: tuple[str, ...]) -> int:
    """`states_peak_bytes` for these sentences, counted with the model's own tokenizer."""
    pieces = word_pieces(cached_model(model_id), texts)
    return states_peak_bytes(sum(pieces), max(pieces), len(texts), *_shape(model_id))


def pooled_peak(model_id: str, texts: tuple[str, ...]) -> int:
    """`pooled_peak_bytes` for these sentences, counted with the model's own tokenizer."""
    _, dim, heads = _shape(model_id)
    return pooled_peak_bytes(max(word_pieces(cached_model(model_id), texts)), len(texts), dim, heads)


# Sentence vectors alone (the Fine-tune page's head needs nothing else): 300 KB for its largest table.
_POOLED = ByteBudgetCache[np.ndarray](max_bytes=64 * 2**20, max_entries=64)


def pooled_ready(model_id: str, texts: tuple[str, ...]) -> bool:
    """Whether these sentence vectors need no forward pass (stored, or cached as vectors or as states)."""
    key = (model_id, tuple(texts))
    return _stored_pooled(model_id, key[1]) is not None or key in _POOLED or key in _STATES


def _stored_pooled(model_id: str, texts: tuple[str, ...]) -> np.ndarray | None:
    """The bundled model's sentence vectors of a shipped input or labelled set, computed ahead."""
    stored = stored_for(model_id)
    if stored is None:
        return None
    if texts in stored.states:
        return stored.states[texts].pooled
    return stored.pooled.get(texts)


def cached_pooled(model_id: str, texts: tuple[str, ...]) -> np.ndarray:
    """(S, D') the model's sentence embeddings, bit for bit `cached_states(...).pooled`: the stored copy
    for a shipped table, else `computed_pooled`."""
    stored = _stored_pooled(model_id, tuple(texts))
    return stored if stored is not None else computed_pooled(model_id, texts)


def computed_pooled(model_id: str, texts: tuple[str, ...]) -> np.ndarray:
    """`cached_pooled` as this machine computes it, never the stored copy: what a proof compares bit for
    bit. From states already at hand when there are some, else from a pass that keeps no token's layers
    (`pooled_vectors`). The stored vectors were computed on the machine that built the assets, and
    another CPU's kernels may round differently (here 1.4-1.7e-7 apart on the three labelled sets)."""
    key = (model_id, tuple(texts))
    if key in _STATES:  # states made here (a shipped set's stored states never enter `_STATES`)
        return cached_states(model_id, key[1]).pooled

    def make() -> np.ndarray:
        return _claimed(
            lambda model: pooled_vectors(model, key[1]), model_id, lambda: pooled_peak(model_id, key[1])
        )

    return _POOLED.get_or_make(key, make, lambda v: v.nbytes)


def running_model(model_id: str, texts: Sequence[str]):
    """A spinner for work that runs the model over `texts`: it also says so when the model is still
    loading. None for small work on a loaded model (at most `ONE_HOLD_CHARS`, one pass of about 0.1 s): it ends before a spinner's
    half-second delay, and an unseen spinner still costs the browser a message (and a redraw) at its end,
    while the model runs beside the browser on the same two cores."""
    if model_ready(model_id) and sum(len(t) for t in texts) <= ONE_HOLD_CHARS:
        return contextlib.nullcontext()
    doing = f"running the model over {len(texts)} sentences…"
    return st.spinner(
        f"{MODEL_LOADING[:-1]}, then {doing}" if not model_ready(model_id) else doing.capitalize()
    )


def load_states(model_id: str, sentences: tuple[str, ...]) -> LayerStates:
    with running_model(model_id, sentences):
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


# ---------------------------------------------------------------- giving memory back once visitors leave
IDLE_STATES_SECONDS = 30.0  # large states nobody read for this long are dropped (the janitor: within 40 s)
LARGE_STATES_BYTES = 16 * 2**20  # about 1,500 tokens of MiniLM; smaller states stay until evicted
JANITOR_SECONDS = 10.0
_janitor_started = threading.Event()


def tidy() -> int:
    """Give back what nobody uses: the ledger's entries of sessions that are gone or idle (`memory.sweep`),
    background jobs nobody waits for any more (`jobs.forget_gone`), and large states not read for IDLE_STATES_SECONDS (whoever still runs with them finds them again,
    see `ByteBudgetCache`); freed memory goes back to the system. Without this, the states of the last big
    inputs stayed held until other input pushed them out: after a class leaves, nobody's input does.
    The bytes freed."""
    jobs.forget_gone(memory.alive)
    dropped = _STATES.drop_idle(IDLE_STATES_SECONDS, LARGE_STATES_BYTES)
    if dropped:
        return_freed_memory()
    return dropped + memory.sweep()


def _start_janitor() -> None:
    """Run `tidy` every JANITOR_SECONDS in a background thread, once per server: page runs also sweep, but
    after the last visitor leaves there are none."""
    if _janitor_started.is_set():
        return
    with _warm_lock:
        if _janitor_started.is_set():
            return
        _janitor_started.set()
    threading.Thread(target=_janitor, daemon=True, name="lse-janitor").start()


def _janitor() -> None:
    while True:
        time.sleep(JANITOR_SECONDS)
        try:
            tidy()
        except Exception:  # never let the janitor die: the next round tries again
            _log.warning("tidying the server's memory failed", exc_info=True)
