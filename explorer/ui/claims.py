"""The model's forward pass over a visitor's sentences, claimed on the server's memory ledger first.

States already shipped with the app or in the shared states cache come at once; a new pass first claims
a bound on its peak (`forward_peak_bytes`) under `memory.room`, waiting for room, and hands freed memory
back to the system after a large one. Pages ask through `states_or_warning`, which says why when the
server has no room now.
"""

from __future__ import annotations

import streamlit as st

from explorer.budget import return_freed_memory
from explorer.models import model_lock
from explorer.states import DEFAULT_BATCH_SIZE, LayerStates
from explorer.ui import caches, memory

STATES_CLAIM = "model_run"  # the ledger name of a forward pass in progress (nothing is kept under it)
_MB = 2**20
# After a pass larger than this, freed memory is handed back to the system (0.25 s, small next to such
# a pass). Four visitors reading 80 long contexts one after another: RSS rose 1,208 MB without it, 641 with.
TRIM_AFTER_BYTES = 128 * _MB


def forward_peak_bytes(n_tokens: int, longest: int, n_texts: int, n_layers: int, dim: int, heads: int) -> int:
    """A bound on the memory `extract_states` takes at its peak, above what the server held before.

    Every token's layers twice (one array per sentence, then one for all), a batch's working memory
    (its hidden states, their stack and float copies; one layer's attention scores) and 32 MB.
    MiniLM with the model warm, peak RSS measured (this bound) in MB: 10 sentences of 60 characters 17
    (41); 100 of 60, 74 (82); 80 of 499, 291 (317); 100 of 600, 388 (428); 32 of 1,000, 284 (425);
    100 of 1,200, 673 (852); 200 of 1,000, 996 (1,118).
    """
    per_token = (n_layers + 1) * dim * 4  # float32, every layer
    batch = min(DEFAULT_BATCH_SIZE, n_texts)
    return int(
        2 * n_tokens * per_token + 3 * batch * longest * per_token + batch * heads * longest**2 * 4 + 32 * _MB
    )


def _states_ready(model_id: str, texts: tuple[str, ...]) -> bool:
    """Whether these states need no forward pass: shipped with the app, or in the shared states cache."""
    stored = caches._stored()
    if stored is not None and stored.info.model_id == model_id and texts in stored.states:
        return True
    return (model_id, texts) in caches._STATES


def _peak_for(model_id: str, texts: tuple[str, ...]) -> int:
    """`forward_peak_bytes` for these sentences, counted with the model's own tokenizer."""
    model = caches.cached_model(model_id)
    info = caches.cached_model_info(model_id)
    tokenizer = model[0].tokenizer
    with model_lock(model):  # the tokenizer is shared by every session
        ids = tokenizer(list(texts), truncation=True, max_length=int(model.max_seq_length))["input_ids"]
    counts = [len(i) for i in ids]
    heads = int(getattr(model[0].auto_model.config, "num_attention_heads", 16) or 16)
    return forward_peak_bytes(sum(counts), max(counts), len(texts), info.n_layers, info.dim, heads)


def claimed_states(model_id: str, texts: tuple[str, ...], what: str) -> LayerStates:
    """Every layer of these sentences (see `caches.cached_states`). A forward pass first claims its peak
    on the server's memory ledger (waiting for room; `memory.BudgetFull` if there is none); states
    already shipped or cached are returned at once."""
    texts = tuple(texts)
    if _states_ready(model_id, texts):
        return caches.cached_states(model_id, texts)
    need = _peak_for(model_id, texts)
    with memory.room(STATES_CLAIM, need, what):
        try:
            return caches.load_states(model_id, texts)
        finally:
            if need > TRIM_AFTER_BYTES:  # else each session's thread keeps what its pass freed (glibc arenas)
                return_freed_memory()


def states_or_warning(model_id: str, texts: tuple[str, ...], what: str) -> LayerStates | None:
    """`claimed_states`, or None with a warning that says why the server cannot run it now."""
    try:
        return claimed_states(model_id, texts, what)
    except memory.BudgetFull as exc:
        st.warning(f"{exc} Fewer or shorter sentences need less.", icon="⏳")
        return None
