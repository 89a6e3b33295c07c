"""AppTest sessions in threads of one server, as `bench crowd` runs them: visitors pressing Train on their
own long tables at once each get a trained head (waiting for room in turn), every claim on the memory
ledger ends with its work on every path (finished, failed, refused), a session keeps one head, and every
model run a press starts is claimed, the proof inside Train's claim."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import streamlit.elements.lib.utils as widget_utils
import streamlit.testing.v1.app_test as app_test
from conftest import APPTEST_TIMEOUT, ROOT, jobs_idle
from streamlit.runtime import Runtime
from streamlit.testing.v1 import AppTest

from bench.bench_class import AppTestAlwaysOn
from bench.heavy import dense_text
from explorer.finetune import head as hd
from explorer.finetune.labelled import prepare_labelled
from explorer.ledger import SessionLedger
from explorer.models import DEFAULT_MODEL_ID
from explorer.share import encode_view
from explorer.ui import caches, memory
from explorer.ui.finetune import keys, training

PAGE = str(ROOT / "pages" / "3_Fine_tune.py")
MB = 2**20


@pytest.fixture
def threads(monkeypatch):
    """AppTest swaps a stand-in Runtime in for each run and sets it back to None after, which breaks runs
    at once in threads (one finds no Runtime). Keep the last stand-in while the test runs instead."""

    class _Sticky(type(Runtime)):
        def __setattr__(cls, name: str, value: object) -> None:
            if name != "_instance":
                super().__setattr__(name, value)
            elif value is not None:
                type.__setattr__(Runtime, "_instance", value)

    monkeypatch.setattr(app_test, "Runtime", _Sticky("Runtime", (Runtime,), {}))

    # AppTest turns `global.appTest` off when a run ends, under the runs still going (see the class)
    monkeypatch.setattr(widget_utils, "config", AppTestAlwaysOn())
    yield
    Runtime._instance = None


def _ledger(monkeypatch, mb: float, wait_seconds: float) -> SessionLedger:
    jobs_idle()
    ledger = SessionLedger(max_bytes=int(mb * MB), idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", wait_seconds)
    return ledger


def _rows(tag: str, n: int = 24) -> list[list[str]]:
    """A long table of its own (256 word pieces a row): the model must read it; nothing is cached."""
    return [[dense_text(f"{tag} row {i}", 1000), ("yes", "no")[i % 2]] for i in range(n)]


def _visitor(rows: list[list[str]]) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=APPTEST_TIMEOUT * 5)
    at.query_params["view"] = encode_view({"rows": rows, "trained": True, "steps": 20, "step": 20})
    return at


def _train(at: AppTest) -> None:
    next(b for b in at.button if "Train the head" in b.label).click().run()


def _owner(at: AppTest) -> str:
    return at.session_state[memory.OWNER_KEY]


def test_visitors_pressing_train_at_once_wait_in_turn_and_every_claim_ends(threads, monkeypatch) -> None:
    """Four visitors open their own long trained links and press Train at once, on a budget that holds
    about two runs of the model: each waits for room, each gets its head, and afterwards the ledger holds
    no claim, only one head per visitor."""
    ledger = _ledger(monkeypatch, 300, wait_seconds=300)
    visitors = [_visitor(_rows(f"Crowd {i}")) for i in range(4)]
    most, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            most[0] = max(most[0], len(ledger.claims()))
            stop.wait(0.01)

    start = threading.Barrier(len(visitors))

    def visit(at: AppTest) -> None:
        at.run()
        assert "This link shows a trained head" in " ".join(i.value for i in at.info), "nothing ran on open"
        start.wait()
        _train(at)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(len(visitors)) as pool:
            list(pool.map(visit, visitors))
    finally:
        stop.set()
        watcher.join()
    for at in visitors:
        assert not at.exception, at.exception
        view = ledger.get(_owner(at), keys.RUN)
        assert isinstance(view, training.FineTuneView) and view.source == "trained"
    assert 1 <= most[0] <= 2, "the budget let at most two runs claim at once"
    assert ledger.claims() == [], "every claim ended with its work"
    assert ledger.owners() == {_owner(at) for at in visitors}
    kept = [ledger.get(_owner(at), name) for at in visitors for name in (keys.RUN, caches.STATES_CLAIM)]
    assert sum(v is not None for v in kept) == len(visitors), "one head per visitor, nothing else"


def test_every_model_run_of_a_train_press_is_claimed_the_proof_inside_trains_claim(monkeypatch) -> None:
    ledger = _ledger(monkeypatch, 600, wait_seconds=5)
    seen: list[tuple[str, int]] = []
    claim = ledger.claim

    def spy(owner, name, nbytes, *args, **kwargs):
        seen.append((name, int(nbytes)))
        return claim(owner, name, nbytes, *args, **kwargs)

    monkeypatch.setattr(ledger, "claim", spy)
    during_proof: list[list] = []
    prove = training.prove_unchanged

    def prove_and_look(*args, **kwargs):
        during_proof.append(ledger.claims())
        return prove(*args, **kwargs)

    monkeypatch.setattr(training, "prove_unchanged", prove_and_look)
    rows = _rows("Claimed press", 16)
    texts = prepare_labelled(rows).texts
    at = _visitor(rows).run()
    _train(at)
    assert not at.exception
    pooled = caches.cached_pooled(DEFAULT_MODEL_ID, texts)
    pass_peak = caches.pooled_peak(DEFAULT_MODEL_ID, texts)
    train_peak = training.run_peak_bytes(pooled, pass_peak, hd.N_SNAPSHOTS + 1, hd.HeadConfig().rank)
    assert seen == [(caches.STATES_CLAIM, pass_peak), (keys.RUN, train_peak)], "the table's pass, then Train"
    assert len(during_proof) == 1 and [(c.name, c.nbytes) for c in during_proof[0]] == [
        (keys.RUN, train_peak)
    ]
    assert train_peak > pass_peak, "Train's claim covers the proof's pass over the table"
    assert ledger.claims() == [] and ledger.get(_owner(at), keys.RUN) is not None


@pytest.mark.parametrize("ending", ["failed", "refused"])
def test_a_press_that_fails_or_is_refused_holds_nothing_after(threads, monkeypatch, ending: str) -> None:
    """Two visitors press Train at once; the training fails (a bad table) or the server is full (another
    visitor holds the budget): each is told, and neither holds a claim or a head after."""
    ledger = _ledger(monkeypatch, 600, wait_seconds=0.5)
    if ending == "failed":

        def refuse(*args, **kwargs):
            raise ValueError("The loss needs at least one label with two training sentences.")
            yield  # a generator, like train_head

        monkeypatch.setattr(hd, "train_head", refuse)
    else:
        ledger.claim("another-visitor/1", "ft_tuned", 595 * MB)
    visitors = [_visitor(_rows(f"{ending.title()} {i}", 8)) for i in range(2)]
    for at in visitors:
        at.run()
    with ThreadPoolExecutor(len(visitors)) as pool:
        list(pool.map(_train, visitors))
    told = "could not be trained" if ending == "failed" else "server is busy"
    for at in visitors:
        assert not at.exception
        assert any(told in w.value for w in at.warning), [w.value for w in at.warning]
        assert ledger.get(_owner(at), keys.RUN) is None
    assert [c.owner for c in ledger.claims()] == (["another-visitor/1"] if ending == "refused" else [])


def test_adding_sentences_to_the_index_is_claimed_and_refused_when_the_server_is_full(monkeypatch) -> None:
    """The Sentence embedding page's index add (typed or uploaded) runs the model over every new sentence:
    it claims its peak first, and with no room says so and adds nothing."""
    from explorer.assets import bundled_corpus
    from explorer.index import embed_peak_bytes
    from explorer.states import word_pieces

    ledger = _ledger(monkeypatch, 600, wait_seconds=0.5)
    seen: list[tuple[str, int]] = []
    claim = ledger.claim

    def spy(owner, name, nbytes, *args, **kwargs):
        seen.append((name, int(nbytes)))
        return claim(owner, name, nbytes, *args, **kwargs)

    monkeypatch.setattr(ledger, "claim", spy)
    corpus = len(bundled_corpus().texts)  # the index the sentences join
    lines = [dense_text(f"Index add {i}", 600) for i in range(3)]
    at = AppTest.from_file(str(ROOT / "pages" / "2_Sentence_embedding.py"), default_timeout=APPTEST_TIMEOUT)
    at.session_state["_keep_sentence_tab"] = "Search an index"  # the tab with the index, opened
    at.run()
    at.file_uploader(key="sentence_upload").upload("long.txt", "\n".join(lines).encode(), "text/plain")
    at.run()
    ledger.claim("another-visitor/1", "ft_tuned", 590 * MB)  # someone else's tuning in progress
    at.button(key="add_upload").click().run()
    assert not at.exception
    assert any("server is busy" in w.value and "Nothing was added" in w.value for w in at.warning)
    assert not [m for m in at.metric if m.label == "Sentences in the index" and m.value != f"{corpus:,}"]
    ledger.release("another-visitor/1")
    seen.clear()
    at.button(key="add_upload").click().run()
    assert not at.exception
    sizes = [m.value for m in at.metric if m.label == "Sentences in the index"]
    assert sizes == [f"{corpus + 3:,}"], "added on the second try"
    longest = max(word_pieces(caches.cached_model(DEFAULT_MODEL_ID), lines))
    assert seen == [(caches.STATES_CLAIM, embed_peak_bytes(longest, 3, 384, 12, corpus))]
    assert ledger.claims() == [] and ledger.total_bytes == 0
