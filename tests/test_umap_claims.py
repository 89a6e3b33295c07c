"""UMAP fits (the Token journey's view, the Geometry lab's faithfulness) claim their bound on the server's
memory ledger while they run, and give it back however they end."""

from __future__ import annotations

import pytest
from conftest import jobs_idle

from explorer.assets import geometry_corpus, sentence_sets
from explorer.ledger import BudgetFull, SessionLedger
from explorer.models import DEFAULT_MODEL_ID
from explorer.peaks import umap_peak_bytes
from explorer.ui import caches, memory
from explorer.ui import lab_measures as lab
from explorer.ui.journey import view

MB = 2**20


@pytest.fixture
def ledger(monkeypatch) -> SessionLedger:
    jobs_idle()
    fresh = SessionLedger(max_bytes=600 * MB, idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", fresh)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 1)
    return fresh


def _bank_inputs() -> tuple:
    bank = sentence_sets()["Word senses: bank"]
    return (DEFAULT_MODEL_ID, bank.sentences, bank.groups, "umap", 0, False, False)


def test_the_journeys_umap_fit_holds_its_bound_while_it_runs(ledger, monkeypatch) -> None:
    inputs = _bank_inputs()
    seen: list[list] = []
    make = view.make_journey

    def watched(*args):  # what the ledger holds while the view is made (the real fit runs)
        seen.append([(c.name, c.nbytes) for c in ledger.claims()])
        return make(*args)

    monkeypatch.setattr(view, "make_journey", watched)
    fitted = view._fitted_umap(*inputs)
    tokens = view.cached_tokens(DEFAULT_MODEL_ID, inputs[1], False, False)
    bound = umap_peak_bytes(int(tokens.shown.sum()), tokens.summary.n_layers, tokens.summary.width)
    assert seen == [[(caches.UMAP_CLAIM, bound)]]
    assert fitted.projection.method == "umap"
    assert ledger.total_bytes == 0, "the claim ends with the fit"


def test_a_umap_fit_larger_than_the_budget_is_refused_and_holds_nothing(ledger, monkeypatch) -> None:
    monkeypatch.setattr(memory, "_LEDGER", SessionLedger(max_bytes=1 * MB, idle_seconds=600))
    with pytest.raises(BudgetFull):
        view._fitted_umap(*_bank_inputs())
    assert memory._LEDGER.total_bytes == 0


def _not_stored() -> tuple[str, ...]:
    """The corpus but its last sentence: measured when asked (the whole corpus's are stored ahead)."""
    corpus = tuple(geometry_corpus())[:-1]
    assert caches.stored_lab_measures(DEFAULT_MODEL_ID, corpus) is None
    return corpus


def test_the_bundled_corpus_measures_are_read_and_claim_nothing(ledger, monkeypatch) -> None:
    """The lab's first view: the bundled corpus's measures (without UMAP) come from the stored file,
    with no run and no claim; with UMAP they are measured (and claimed) as for any other sentences."""
    corpus = tuple(geometry_corpus())
    stored = caches.stored_lab_measures(DEFAULT_MODEL_ID, corpus)
    assert stored is not None
    monkeypatch.setattr(lab.geometry, "layer_measures", lambda *a: pytest.fail("measured again"))
    assert lab._measures(DEFAULT_MODEL_ID, corpus, False)[0] is stored.measures
    assert ledger.total_bytes == 0 and memory._LEDGER.claims() == []


def test_the_labs_measures_and_their_umap_are_claimed(ledger, monkeypatch) -> None:
    corpus = _not_stored()
    states = lab.cached_states(DEFAULT_MODEL_ID, corpus)  # the corpus's states, made (and claimed) once
    need = lab._measures_peak(states)
    seen: list[list] = []
    measure = lab.geometry.layer_measures

    def watched(*args):
        seen.append([(c.name, c.nbytes) for c in memory._LEDGER.claims()])
        return measure(*args)

    monkeypatch.setattr(lab.geometry, "layer_measures", watched)
    assert lab._measures(DEFAULT_MODEL_ID, corpus, False)[1] > 0
    assert seen == [[(caches.MEASURES_CLAIM, need)]] and ledger.total_bytes == 0
    monkeypatch.setattr(memory, "_LEDGER", SessionLedger(max_bytes=need - 1, idle_seconds=600))
    with pytest.raises(BudgetFull):  # the measures alone do not fit
        lab._measures(DEFAULT_MODEL_ID, corpus, False)
    monkeypatch.setattr(
        memory, "_LEDGER", SessionLedger(max_bytes=need + states.nbytes + MB, idle_seconds=600)
    )
    with pytest.raises(BudgetFull):  # they do, but not with the UMAP fit beside them
        lab._measures(DEFAULT_MODEL_ID, corpus, True)
    assert memory._LEDGER.total_bytes == 0


def test_measures_that_fit_only_without_the_states_they_read_are_refused_at_once(ledger, monkeypatch) -> None:
    """The states stay alive (and counted) while they are measured: measures that fit the budget alone,
    but not beside those states, are refused at once with their size, instead of waiting for room that
    only their own run could give."""
    corpus = _not_stored()
    states = lab.cached_states(DEFAULT_MODEL_ID, corpus)
    need = lab._measures_peak(states)
    monkeypatch.setattr(
        memory, "_LEDGER", SessionLedger(max_bytes=need + states.nbytes - 1, idle_seconds=600)
    )
    monkeypatch.setattr(memory, "WAIT_SECONDS", 30)
    with pytest.raises(BudgetFull, match="more than the"):
        lab._measures(DEFAULT_MODEL_ID, corpus, False)
    assert memory._LEDGER.total_bytes == 0 and memory._LEDGER.claims() == []
