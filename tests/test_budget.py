"""The byte-budgeted cache that holds hidden states for every session of the server."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ROOT

from explorer.budget import ByteBudgetCache
from explorer.ledger import BudgetFull, SessionLedger, StillRunning
from explorer.states import extract_states
from explorer.ui.caches import DEFAULT_STATES_CACHE_MB


def _array(kb: int) -> np.ndarray:
    return np.zeros(kb * 1024, dtype=np.uint8)


def _nbytes(a: np.ndarray) -> int:
    return int(a.nbytes)


def test_least_recently_used_entries_go_first_when_bytes_run_out() -> None:
    cache = ByteBudgetCache[np.ndarray](max_bytes=300 * 1024, max_entries=10)
    for name in "abc":
        cache.get_or_make(name, lambda: _array(100), _nbytes)
    cache.get_or_make("a", lambda: _array(999), _nbytes)  # a hit: "a" becomes the most recent
    cache.get_or_make("d", lambda: _array(100), _nbytes)  # 400 KB > 300 KB: the oldest, "b", goes
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.total_bytes == 300 * 1024 and len(cache) == 3


def test_the_entry_count_is_bounded_too() -> None:
    cache = ByteBudgetCache[np.ndarray](max_bytes=10**9, max_entries=2)
    for name in "abc":
        cache.get_or_make(name, lambda: _array(1), _nbytes)
    assert len(cache) == 2 and "a" not in cache


def test_an_entry_larger_than_the_budget_is_kept_alone() -> None:
    cache = ByteBudgetCache[np.ndarray](max_bytes=100 * 1024, max_entries=10)
    cache.get_or_make("small", lambda: _array(10), _nbytes)
    big = cache.get_or_make("big", lambda: _array(500), _nbytes)
    assert len(big) == 500 * 1024
    assert "big" in cache and "small" not in cache and cache.total_bytes == 500 * 1024


def test_sessions_asking_at_once_share_one_computation() -> None:
    cache = ByteBudgetCache[np.ndarray](max_bytes=10**9)
    made = []
    guard = threading.Lock()

    def make() -> np.ndarray:
        with guard:
            made.append(1)
        time.sleep(0.05)  # kept: a slow computation, so that the eight sessions do ask at once
        return _array(1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: cache.get_or_make("same", make, _nbytes), range(8)))
    assert len(made) == 1
    assert all(r is results[0] for r in results)


def test_a_failure_is_raised_and_not_cached() -> None:
    cache = ByteBudgetCache[np.ndarray](max_bytes=10**9)

    def broken() -> np.ndarray:
        raise ValueError("no sentences")

    with pytest.raises(ValueError, match="no sentences"):
        cache.get_or_make("k", broken, _nbytes)
    assert "k" not in cache and cache.total_bytes == 0
    assert len(cache.get_or_make("k", lambda: _array(2), _nbytes)) == 2048


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ByteBudgetCache(max_bytes=0)


def test_layer_states_report_their_size(model) -> None:
    states = extract_states(model, ["A short sentence.", "Another, slightly longer sentence here."])
    arrays = states.layers.nbytes + states.pooled_raw.nbytes + states.pooled.nbytes
    assert arrays < states.nbytes < arrays + 200_000  # plus the token table
    n_tokens = len(states.tokens)
    assert states.layers.nbytes == (states.n_layers + 1) * n_tokens * states.layers.shape[2] * 4


def test_only_the_budgeted_cache_keeps_states_alive() -> None:
    """The journey and geometry caches keep what they derive, so evicting states frees their memory."""
    import gc
    import weakref

    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches, journey
    from explorer.ui import lab_measures as lab

    texts = ("Budget test: the river bank flooded.", "Budget test: the bank raised its rates.")
    journey_view = journey.cached_journey(DEFAULT_MODEL_ID, texts, (), "pca_shared", 0, False, False)
    measures_view = lab.cached_measures(DEFAULT_MODEL_ID, texts, False)
    assert journey_view.states is measures_view.states is caches.cached_states(DEFAULT_MODEL_ID, texts)
    alive = weakref.ref(journey_view.states)
    del journey_view, measures_view
    caches._STATES.clear()
    gc.collect()
    assert alive() is None, "a derived cache still holds the states"
    again = journey.cached_journey(DEFAULT_MODEL_ID, texts, (), "pca_shared", 0, False, False)
    assert again.states.texts == texts  # fetched anew from the model


def test_a_key_made_again_after_eviction_is_counted_once() -> None:
    """A key evicted and made again (by a slow maker, then anew) leaves the byte total exact."""
    cache = ByteBudgetCache[np.ndarray](max_bytes=150 * 1024, max_entries=10)
    started, release = threading.Event(), threading.Event()

    def slow_make() -> np.ndarray:
        started.set()
        release.wait(5)
        return _array(100)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(cache.get_or_make, "k", slow_make, _nbytes)
        started.wait(5)
        release.set()
        first.result()
    cache.get_or_make("other", lambda: _array(100), _nbytes)  # evicts "k"
    cache.get_or_make("k", lambda: _array(100), _nbytes)  # made again, evicts "other"
    assert cache.total_bytes == 100 * 1024 and len(cache) == 1
    assert not cache._making, "no maker lock is left behind"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT_STATES_CACHE_MB),
        ("", DEFAULT_STATES_CACHE_MB),
        ("512", 512),
        ("0.5", 0.5),
        ("0", DEFAULT_STATES_CACHE_MB),
        ("-3", DEFAULT_STATES_CACHE_MB),
        ("lots", DEFAULT_STATES_CACHE_MB),
        ("inf", DEFAULT_STATES_CACHE_MB),
    ],
)
def test_the_budget_setting_falls_back_to_the_default(raw, expected) -> None:
    from explorer.ui.caches import states_cache_mb

    assert states_cache_mb(raw) == expected


def test_the_default_budget_keeps_the_largest_input_beside_the_corpus(model) -> None:
    """A hundred sentences at the model's limit (the largest input the pages accept), then the Geometry
    lab's corpus: the default budget holds both, so the lab measures what the journey just ran without
    running the model again (the corpus used to evict them)."""
    from explorer.assets import geometry_corpus
    from explorer.inputs import MAX_SENTENCES

    one = extract_states(model, ["word " * 400])  # cut at the model's limit
    largest = MAX_SENTENCES * one.nbytes
    corpus = extract_states(model, list(geometry_corpus())).nbytes
    assert one.layers.shape[1] == model.max_seq_length
    assert largest + corpus <= DEFAULT_STATES_CACHE_MB * 2**20


def test_a_journey_rerun_does_not_need_the_states_again() -> None:
    """After eviction, redrawing the same journey must not run the model again (only export does)."""
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches, journey

    texts = ("Rerun test: a heron stood in the shallows.", "Rerun test: the market opened higher.")
    first = journey.cached_journey(DEFAULT_MODEL_ID, texts, (), "pca_shared", 0, False, False)
    caches._STATES.clear()
    again = journey.cached_journey(DEFAULT_MODEL_ID, texts, (), "pca_shared", 0, False, False)
    assert again is first and (DEFAULT_MODEL_ID, texts) not in caches._STATES
    assert again.summary.n_layers == 6 and again.summary.width == 384
    assert again.states.layers.shape[1] == len(again.summary.tokens)  # the export fetches them anew
    assert (DEFAULT_MODEL_ID, texts) in caches._STATES


# ---------------------------------------------------------------- per-session objects, one server budget
class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_claims_then_keeps_its_real_size() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    ledger.claim("a", "tuned", 800)
    assert ledger.total_bytes == 800 and ledger.get("a", "tuned") is None  # claimed, nothing kept yet
    ledger.put("a", "tuned", "results", 50)
    assert ledger.total_bytes == 50 and ledger.get("a", "tuned") == "results"
    ledger.claim("b", "tuned", 900)  # fits now that a's claim shrank to what it keeps
    with pytest.raises(BudgetFull, match="busy"):
        ledger.claim("c", "tuned", 100)
    assert ledger.total_bytes == 950


def test_claiming_again_replaces_what_the_session_held_under_that_name() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    ledger.put("a", "tuned", "old", 700)
    ledger.claim("a", "tuned", 700)  # one copy per session: the old one goes first, so this fits
    assert ledger.get("a", "tuned") is None and ledger.total_bytes == 700


def test_one_claim_larger_than_the_whole_budget_is_refused_at_once() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    started = time.perf_counter()
    with pytest.raises(BudgetFull, match="more than the"):
        ledger.claim("a", "tuned", 2000, wait_seconds=30)
    assert time.perf_counter() - started < 5 and ledger.total_bytes == 0


def test_a_waiting_claim_gets_room_when_another_session_finishes() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    ledger.claim("a", "tuned", 900)
    told: list[int] = []
    done = threading.Event()

    def b_claims() -> None:
        ledger.claim("b", "tuned", 900, wait_seconds=30, waiting=told.append)
        done.set()

    worker = threading.Thread(target=b_claims)
    worker.start()
    time.sleep(0.3)  # kept: what is tested is that the waiter is still waiting a while later
    assert not done.is_set() and told == [900]  # b waits, and was told how much is in use
    ledger.put("a", "tuned", "results", 10)
    worker.join(timeout=10)
    assert done.is_set() and ledger.total_bytes == 910


def test_sessions_that_are_gone_or_idle_give_their_memory_back() -> None:
    clock = _Clock()
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60, clock=clock)
    for owner in ("open", "closed", "idle"):
        ledger.put(owner, "tuned", owner, 300)
    clock.now = 50
    assert ledger.get("open", "tuned") == "open"  # used: its idle time starts again
    ledger.claim("working", "tuned", 100)  # a live session's recent claim: work in progress, kept
    clock.now = 100
    freed = ledger.sweep(alive=lambda owner: owner != "closed")
    assert freed == 600 and ledger.owners() == {"open", "working"}
    # a full server sweeps before it says it is busy
    ledger.put("gone", "head", "x", 500)
    ledger.claim("new", "tuned", 500, alive=lambda owner: owner != "gone")
    assert ledger.owners() == {"open", "working", "new"}


def test_a_claim_of_a_session_that_is_gone_is_swept() -> None:
    """A claim without a value used to outlive its session forever: sweeps skipped it."""
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    ledger.claim("closed-tab", "tuned", 600)
    ledger.claim("open-tab", "tuned", 300)
    assert ledger.sweep(alive=lambda owner: owner != "closed-tab") == 600
    assert ledger.owners() == {"open-tab"} and ledger.total_bytes == 300


def test_a_claim_older_than_the_idle_limit_is_swept() -> None:
    clock = _Clock()
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60, clock=clock)
    old = ledger.claim("a", "tuned", 600)
    clock.now = 30
    ledger.claim("b", "tuned", 300)
    clock.now = 61
    assert ledger.sweep() == 600 and ledger.owners() == {"b"}  # b's claim is 31 s old: still running
    assert ledger.release_claim(old) == 0, "a swept claim is already given back"
    clock.now = 100
    assert ledger.sweep() == 300 and ledger.total_bytes == 0
    # a full server sweeps a stale claim before it says it is busy
    ledger.claim("stuck", "tuned", 900)
    clock.now = 200
    ledger.claim("new", "tuned", 900)
    assert ledger.owners() == {"new"}


def test_releasing_a_claim_gives_back_that_claim_and_nothing_else() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    first = ledger.claim("a", "tuned", 600)
    assert ledger.claims() == [first]
    assert ledger.release_claim(first) == 600 and ledger.total_bytes == 0
    assert ledger.release_claim(first) == 0, "twice is harmless"
    kept = ledger.claim("a", "tuned", 600)
    ledger.put("a", "tuned", "results", 50)
    assert ledger.release_claim(kept) == 0 and ledger.get("a", "tuned") == "results", "what was kept stays"
    ledger.release("a")  # Reset during the work, then the work ends
    later = ledger.claim("a", "tuned", 400)
    assert ledger.release_claim(kept) == 0 and ledger.claims() == [later], "an older claim ends only itself"
    ledger.release_claim(later)
    assert ledger.total_bytes == 0 and ledger.claims() == []


def test_one_session_holds_one_claim_per_name_pressing_again_waits_for_the_first() -> None:
    """A second press while the first run is still unwinding (Streamlit starts the new run at once)
    adds no claim: it waits for the first to end, then takes its place."""
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    first = ledger.claim("a", "tuned", 600)
    got: list = []
    second = threading.Thread(target=lambda: got.append(ledger.claim("a", "tuned", 600, wait_seconds=30)))
    second.start()
    time.sleep(0.3)  # kept: what is tested is that the waiter is still waiting a while later
    assert not got and ledger.claims() == [first] and ledger.total_bytes == 600
    ledger.claim("b", "tuned", 300)  # another session still fits beside the one claim
    ledger.release_claim(first)
    second.join(timeout=10)
    assert len(got) == 1 and got[0] != first and ledger.total_bytes == 900
    assert [c for c in ledger.claims() if c.owner == "a"] == got
    ledger.release("b")
    ledger.release_claim(got[0])
    assert ledger.total_bytes == 0


def test_a_second_claim_says_the_first_is_still_running_if_it_does_not_end() -> None:
    ledger = SessionLedger(max_bytes=10_000, idle_seconds=60)
    first = ledger.claim("a", "tuned", 600)
    told: list[int] = []
    with pytest.raises(StillRunning, match="not finished stopping"):
        ledger.claim("a", "tuned", 600, wait_seconds=0.3, waiting=told.append)
    assert ledger.claims() == [first] and ledger.total_bytes == 600
    assert told == [], "no 'waiting for other visitors' message: the server is not full"
    assert issubclass(StillRunning, BudgetFull), "the pages' BudgetFull handling shows it"


class _Stopped(BaseException):
    """Stands for Streamlit's StopException: a BaseException raised at the run's next Streamlit call."""


def test_an_interrupt_ends_the_wait_and_claims_nothing() -> None:
    ledger = SessionLedger(max_bytes=1000, idle_seconds=60)
    ledger.claim("other", "tuned", 900)
    calls: list[int] = []

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise _Stopped

    started = time.perf_counter()
    with pytest.raises(_Stopped):
        ledger.claim("a", "tuned", 500, wait_seconds=30, interrupt=interrupt)
    assert time.perf_counter() - started < 5 and ledger.owners() == {"other"} and ledger.total_bytes == 900


def test_kept_objects_are_freed_when_released() -> None:
    ledger = SessionLedger(max_bytes=10**9, idle_seconds=60)
    big = _array(1024)

    class Holder:  # numpy arrays cannot be weakly referenced: watch a holder of one
        def __init__(self, a: np.ndarray) -> None:
            self.a = a

    held = Holder(big)
    ref = weakref.ref(held)
    ledger.put("a", "tuned", held, big.nbytes)
    del held, big
    assert ref() is not None  # the ledger keeps it alive for its session
    assert ledger.release("a") == 1024 * 1024
    assert ref() is None and ledger.total_bytes == 0


def test_the_server_runs_numpy_and_scipy_blas_on_one_thread() -> None:
    """Importing the UI's caches (every page does) puts OpenBLAS on one thread; torch keeps its own."""
    code = (
        "import numpy, scipy.linalg\n"
        "from threadpoolctl import threadpool_info\n"
        "before = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "import explorer.ui.caches\n"
        "after = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "print(before, after)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = (ast.literal_eval(part + "]") for part in done.stdout.strip().rstrip("]").split("] "))
    assert len(after) >= 2 and set(after) == {1}, (before, after)  # numpy's and scipy's own OpenBLAS


# ---------------------------------------------------------------- states held elsewhere, idle states, claims
def test_a_value_evicted_while_still_held_is_found_again_not_made_twice() -> None:
    """A session's run may still hold states another session's input just evicted: asking again finds
    that object (counted again) instead of running the model for a second copy."""
    import gc

    cache = ByteBudgetCache[np.ndarray](max_bytes=150 * 1024)
    made: list[int] = []

    def make() -> np.ndarray:
        made.append(1)
        return _array(100)

    held = cache.get_or_make("k", make, _nbytes)
    cache.get_or_make("other", lambda: _array(100), _nbytes)  # evicts "k", which a run still holds
    assert "k" not in cache
    assert cache.get_or_make("k", make, _nbytes) is held and made == [1]
    assert "k" in cache and "other" not in cache and cache.total_bytes == 100 * 1024
    del held
    cache.clear()
    gc.collect()
    cache.get_or_make("k", make, _nbytes)
    assert made == [1, 1], "once nobody holds it, it is made anew"


def test_large_entries_nobody_reads_are_dropped_after_their_idle_time() -> None:
    clock = _Clock()
    cache = ByteBudgetCache[np.ndarray](max_bytes=10 * 2**20, clock=clock)
    for key, kb in (("big", 2048), ("small", 1), ("read", 2048)):
        cache.get_or_make(key, lambda kb=kb: _array(kb), _nbytes)
    clock.now = 50.0
    cache.get_or_make("read", lambda: _array(1), _nbytes)  # read again: its idle time starts anew
    clock.now = 70.0
    assert cache.drop_idle(60.0, min_bytes=2**20) == 2048 * 1024
    assert "big" not in cache and "small" in cache and "read" in cache
    assert cache.total_bytes == 2049 * 1024
    clock.now = 200.0
    assert cache.drop_idle(60.0) == 2049 * 1024 and len(cache) == 0 and cache.total_bytes == 0


def _spy_claims(monkeypatch, mb: float) -> tuple[SessionLedger, list[tuple[str, str, int]]]:
    from explorer.ui import memory

    ledger = SessionLedger(max_bytes=int(mb * 2**20), idle_seconds=600)
    seen: list[tuple[str, str, int]] = []
    claim = ledger.claim

    def spy(owner, name, nbytes, *args, **kwargs):
        seen.append((owner, name, int(nbytes)))
        return claim(owner, name, nbytes, *args, **kwargs)

    monkeypatch.setattr(ledger, "claim", spy)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 0.5)
    return ledger, seen


def test_states_asked_for_outside_any_page_claim_claim_their_peak(monkeypatch) -> None:
    """No forward pass runs unclaimed: states evicted between two calls of a page's run, or asked for by
    a background job, claim their peak where they are made (quietly: nothing may be drawn there)."""
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches

    ledger, seen = _spy_claims(monkeypatch, 1000)
    texts = ("Quiet claim: the heron waited by the bank.", "Quiet claim: rates rose again.")
    caches.cached_states(DEFAULT_MODEL_ID, texts)
    assert seen == [(seen[0][0], caches.STATES_CLAIM, caches.states_peak(DEFAULT_MODEL_ID, texts))]
    assert seen[0][0].startswith("background/"), "a thread of no session is its own owner"
    assert ledger.claims() == [] and ledger.total_bytes == 0, "the claim ended with the pass"


def test_with_no_room_states_asked_for_outside_a_page_claim_are_refused(monkeypatch) -> None:
    from explorer.models import DEFAULT_MODEL_ID
    from explorer.ui import caches

    ledger, _ = _spy_claims(monkeypatch, 1)
    texts = ("Quiet refusal: a long enough sentence to need more than one megabyte? " * 20,)
    with pytest.raises(BudgetFull, match="more than the 1 MB"):
        caches.cached_states(DEFAULT_MODEL_ID, texts)
    assert (DEFAULT_MODEL_ID, texts) not in caches._STATES and ledger.total_bytes == 0


def test_the_janitor_drops_large_idle_states_and_sweeps_the_ledger(monkeypatch) -> None:
    from explorer.ui import caches, memory

    tidy = caches.tidy
    monkeypatch.setattr(caches, "tidy", lambda: 0)  # the server's janitor thread (if running) stays out
    clock = _Clock()
    cache = ByteBudgetCache[np.ndarray](max_bytes=100 * 2**20, clock=clock)
    cache.get_or_make("left behind", lambda: _array(32 * 1024), _nbytes)
    monkeypatch.setattr(caches, "_STATES", cache)
    ledger = SessionLedger(max_bytes=2**30, idle_seconds=600)
    ledger.put("gone/1", "ft_run", "a head", 5 * 2**20)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "alive", lambda owner: not owner.startswith("gone/"))
    clock.now = caches.IDLE_STATES_SECONDS + 1
    assert tidy() == 37 * 2**20
    assert len(cache) == 0 and ledger.total_bytes == 0


def _shared(max_bytes: int, cache_bytes: int) -> tuple[SessionLedger, ByteBudgetCache]:
    """A ledger whose budget also holds a cache, as the server's ledger holds the states cache."""
    cache: ByteBudgetCache[np.ndarray] = ByteBudgetCache(max_bytes=cache_bytes)
    ledger = SessionLedger(max_bytes=max_bytes, idle_seconds=600)
    ledger.share_with(lambda: cache.total_bytes, cache.shrink)
    return ledger, cache


def test_a_claim_that_fits_only_without_cached_states_drops_the_oldest_first() -> None:
    ledger, cache = _shared(max_bytes=1000, cache_bytes=1000)
    for key in ("old", "mid", "new"):
        cache.get_or_make(key, lambda: np.zeros(1), lambda _: 300)
    cache.get_or_make("old", lambda: np.zeros(1), lambda _: 300)  # read again: now the newest
    claim = ledger.claim("a", "run", 500)
    assert "mid" not in cache and "new" not in cache and "old" in cache, "least recently used went first"
    assert ledger.total_bytes + cache.total_bytes == 800 <= ledger.max_bytes
    ledger.release_claim(claim)


def test_cached_states_count_in_the_budget_and_in_the_busy_message() -> None:
    ledger, cache = _shared(max_bytes=1000 * 2**20, cache_bytes=1000 * 2**20)
    held = ledger.claim("other-visitor", "run", 600 * 2**20)  # work the cache cannot give back
    cache.get_or_make("states", lambda: np.zeros(1), lambda _: 300 * 2**20)
    assert ledger.claim("a", "small", 100 * 2**20) is not None, "fits beside both"
    with pytest.raises(BudgetFull, match="1,000 MB of the 1,000 MB"):
        ledger.claim("b", "big", 400 * 2**20, wait_seconds=0.2)
    assert "states" in cache, "dropping it would not have made room: it stays"
    ledger.release_claim(held)


def test_states_dropped_while_a_run_still_reads_them_count_until_it_lets_go() -> None:
    """Dropping states a page run still holds frees nothing: they stay counted (`held_bytes`), and a claim
    that needs their room waits until the run lets go (it used to go ahead at once, and eight visitors'
    runs held several sets of 265 MB states while the ledger counted one)."""
    cache: ByteBudgetCache[np.ndarray] = ByteBudgetCache(max_bytes=10 * 2**20)
    ledger = SessionLedger(max_bytes=10 * 2**20, idle_seconds=600)
    ledger.share_with(lambda: cache.held_bytes, cache.shrink)
    reading = cache.get_or_make("a run's states", lambda: _array(6 * 1024), _nbytes)  # a run holds them
    cache.get_or_make("idle states", lambda: _array(1024), _nbytes)
    assert cache.held_bytes == 7 * 2**20
    with pytest.raises(BudgetFull, match="holds 6 MB of the 10 MB"):
        ledger.claim("b", "run", 5 * 2**20, wait_seconds=0.3)
    assert len(cache) == 0, "both were dropped from the cache"
    assert cache.total_bytes == 0 and cache.held_bytes == 6 * 2**20, "the one a run reads still counts"
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(ledger.claim("b", "run", 5 * 2**20, wait_seconds=10)))
    waiter.start()
    time.sleep(0.3)  # kept: what is tested is that the waiter is still waiting a while later
    assert not got, "still waiting for the run"
    del reading  # the run ends
    waiter.join(timeout=10)
    assert got and cache.held_bytes == 0 and ledger.total_bytes == 5 * 2**20
    assert cache.shrink(1) == 0
