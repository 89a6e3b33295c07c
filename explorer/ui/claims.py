"""The model's forward pass over a visitor's sentences, claimed on the server's memory ledger first.

States already shipped with the app or in the shared states cache come at once; a new pass first claims
a bound on its peak (`caches.states_peak`) under `memory.room`, waiting for room, and hands freed memory
back to the system after a large one. Pages ask through `states_or_warning`, which says why when the
server has no room now.
"""

from __future__ import annotations

from explorer.budget import return_freed_memory
from explorer.states import LayerStates
from explorer.ui import caches, memory

STATES_CLAIM = caches.STATES_CLAIM  # the ledger name of a forward pass in progress (nothing is kept under it)
_MB = 2**20
# After a pass larger than this, freed memory is handed back to the system (0.25 s, small next to such
# a pass). Four visitors reading 80 long contexts one after another: RSS rose 1,208 MB without it, 641 with.
TRIM_AFTER_BYTES = 128 * _MB


def _states_ready(model_id: str, texts: tuple[str, ...]) -> bool:
    """Whether these states need no forward pass: shipped with the app, or in the shared states cache."""
    stored = caches.stored_for(model_id)
    return (stored is not None and texts in stored.states) or (model_id, texts) in caches._STATES


def _peak_for(model_id: str, texts: tuple[str, ...]) -> int:
    """The peak memory of a forward pass over these sentences (`caches.states_peak`)."""
    return caches.states_peak(model_id, texts)


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
        memory.say_full(exc)
        return None
