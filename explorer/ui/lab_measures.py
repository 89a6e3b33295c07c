"""The Geometry lab's layer-by-layer measures: computed once per set of sentences and shared, each run
claimed on the server's memory ledger at its measured bound (UMAP faithfulness in the background)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from explorer import geometry
from explorer.peaks import measures_peak_bytes, umap_peak_bytes
from explorer.projection import MIN_POINTS_FOR_UMAP
from explorer.states import LayerStates
from explorer.ui import caches, claims, jobs, memory
from explorer.ui.caches import MEASURES_CLAIM, UMAP_CLAIM, cached_states


@dataclass(frozen=True)
class MeasuresView:
    """Everything the measure charts need, computed once per set of sentences.

    It names its states rather than holding them (as `JourneyView` does): a view kept by the export's
    deferred download would otherwise hold the vectors of 100 long sentences (265 MB) for as long as its
    visitor's tab stays open, and the server's budget would count them against every other visitor."""

    model_id: str
    texts: tuple[str, ...]
    measures: pd.DataFrame  # one row per layer
    n_words: int
    n_repeated: int
    changes: np.ndarray  # (N, L) cosine between consecutive layers, every token
    n_sampled: int  # words the faithfulness scores (and UMAP) were computed on: a seeded sample if many

    @property
    def states(self) -> LayerStates:
        return cached_states(self.model_id, self.texts)


def cached_measures(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    """The measures view; its states come from the byte-budgeted states cache, not from this one."""
    derived = _cached_measures(model_id, texts, with_umap)
    return MeasuresView(model_id, texts, *derived)


def _measures(
    model_id: str, texts: tuple[str, ...], with_umap: bool
) -> tuple[pd.DataFrame, int, int, np.ndarray, int]:
    """What the measure charts derive from the states (small next to the states themselves). The bundled
    corpus's, without UMAP, are stored ahead for the bundled model (the lab's first view): read, not run."""
    stored = None if with_umap else caches.stored_lab_measures(model_id, texts)
    if stored is not None:
        return _fields(stored)
    states = cached_states(model_id, texts)
    need = _measures_peak(states)
    # The measures read the states all along, and the ledger counts them apart (`held_bytes`): together
    # they must fit in the budget, else this run would wait for room only it could give (refused at once).
    memory.ledger().check_size(need + states.nbytes)
    with memory.quiet_room(MEASURES_CLAIM, need):  # see `measures_view`
        return _measured(states, with_umap)


def _fields(lab: geometry.LabMeasures) -> tuple[pd.DataFrame, int, int, np.ndarray, int]:
    return lab.measures, lab.n_words, lab.n_repeated, lab.changes, lab.n_sampled


def _measures_peak(states: LayerStates) -> int:
    """`measures_peak_bytes` for these states (their words counted as `pool_words` makes them)."""
    n_words = geometry.word_count(states.tokens)
    return measures_peak_bytes(n_words, len(states.tokens), states.n_layers, int(states.layers.shape[2]))


def _measured(states: LayerStates, with_umap: bool) -> tuple[pd.DataFrame, int, int, np.ndarray, int]:
    def umap(sample: np.ndarray) -> np.ndarray:  # the fit claimed on the ledger at its bound (`_fitted_umap`)
        with memory.quiet_room(
            UMAP_CLAIM, umap_peak_bytes(sample.shape[1], states.n_layers, sample.shape[2])
        ):
            return geometry.projection_faithfulness(sample, "umap", seed=0)

    return _fields(geometry.lab_measures(states, umap if with_umap else None))


_cached_measures = st.cache_resource(show_spinner=False, max_entries=16)(_measures)


def measures_view(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    """The measures; with UMAP, fitted in the background while the page shows the others (see `jobs`).
    The model's run over the sentences claims its peak on the server's ledger; with no room, the page
    says so and stops here."""
    if claims.states_or_warning(model_id, texts, "measuring the sentences") is None:
        st.stop()
    if with_umap and _measures_or_stop(model_id, texts, False).n_words < MIN_POINTS_FOR_UMAP:
        return _measures_or_stop(
            model_id, texts, True
        )  # too few words: no fit, the UMAP line is empty at once
    if with_umap:
        job = jobs.started(("measures", model_id, texts), partial(_measures, model_id, texts, True))
        caches.umap_wanted(model_id)  # UMAP's code is compiled now: the shipped sets' views next
        derived = jobs.ready_or_said(
            job,
            "Fitting UMAP on every layer to score its faithfulness; the other measures meanwhile",
            "about half a minute for the corpus; longer for many sentences",
            "UMAP could not be fitted ({error}); the other measures are shown.",
        )
        if derived is not None:
            return MeasuresView(model_id, texts, *derived)
    else:
        jobs.drop_mine()  # a fit this session asked for before is not waited for any more
    with st.spinner("Measuring every layer…"):
        return _measures_or_stop(model_id, texts, False)


def _measures_or_stop(model_id: str, texts: tuple[str, ...], with_umap: bool) -> MeasuresView:
    """`cached_measures`; the measures claim their peak on the ledger too (quietly: they run inside a
    cache), so with no room the page says why and stops here."""
    try:
        return cached_measures(model_id, texts, with_umap)
    except memory.BudgetFull as exc:
        memory.say_full(exc)
        st.stop()
