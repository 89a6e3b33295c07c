"""ui/memory.room: a reservation in the server's ledger ends with its work, however the work ends.

Streamlit stops a run by raising StopException or RerunException (BaseExceptions) at the run's next
Streamlit call; a stopped run raises again at every call after that, and with fast reruns (the default)
the new run starts at once in another thread while the old one unwinds. These tests stand in for the few
Streamlit calls `room` makes, behaving that way, and check the ledger returns to zero on every path.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import jobs_idle
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

from explorer.ledger import BudgetFull, SessionLedger
from explorer.ui import memory

MB = 2**20


class _Streamlit:
    """The parts of Streamlit `room` and `keep` use, as a script run sees them: every call is a yield
    point; a stopped run (thread) raises StopException at each one, a replaced run RerunException once."""

    def __init__(self) -> None:
        self.session_state = _SessionState(self)
        self.stopped: set[int] = set()
        self.replaced: set[int] = set()
        self.calls = 0

    def stop(self, thread: threading.Thread | None = None) -> None:
        self.stopped.add((thread or threading.current_thread()).ident)

    def replace(self) -> None:
        self.replaced.add(threading.get_ident())

    def yield_point(self) -> None:
        self.calls += 1
        if threading.get_ident() in self.stopped:
            raise StopException()
        if threading.get_ident() in self.replaced:
            self.replaced.discard(threading.get_ident())
            raise RerunException(RerunData())

    def empty(self) -> _Placeholder:
        self.yield_point()
        return _Placeholder(self)


class _Placeholder:
    def __init__(self, st: _Streamlit) -> None:
        self.st = st
        self.shown: list[str] = []

    def info(self, text: str, **_) -> None:
        self.st.yield_point()
        self.shown.append(text)

    def empty(self) -> None:
        self.st.yield_point()


class _SessionState(dict):
    """Reads and writes are yield points (as SafeSessionState's are); `in` is not (as in Streamlit)."""

    def __init__(self, st: _Streamlit) -> None:
        super().__init__()
        self.st = st

    def __getitem__(self, key: str):
        self.st.yield_point()
        return super().__getitem__(key)

    def __setitem__(self, key: str, value) -> None:
        self.st.yield_point()
        super().__setitem__(key, value)

    def get(self, key: str, default=None):
        self.st.yield_point()
        return super().get(key, default)


@pytest.fixture
def st(monkeypatch) -> _Streamlit:
    jobs_idle()
    fake = _Streamlit()
    monkeypatch.setattr(memory, "st", fake)
    monkeypatch.setattr(memory, "get_script_run_ctx", lambda: None)
    monkeypatch.setattr(memory, "_LEDGER", SessionLedger(max_bytes=1000 * MB, idle_seconds=600))
    monkeypatch.setattr(memory, "WAIT_SECONDS", 5)
    return fake


def _ledger() -> SessionLedger:
    return memory.ledger()


def test_streamlits_stops_are_base_exceptions() -> None:
    """What makes these paths easy to miss: `except Exception` does not see them."""
    assert not issubclass(StopException, Exception) and not issubclass(RerunException, Exception)


def test_finished_work_keeps_its_result_and_gives_the_rest_back(st: _Streamlit) -> None:
    with memory.room("tuned", 600 * MB, "tuning"):
        assert _ledger().total_bytes == 600 * MB and len(_ledger().claims()) == 1
        memory.keep("tuned", "results", 3 * MB)
    assert _ledger().total_bytes == 3 * MB and _ledger().claims() == []
    assert memory.held("tuned") == "results"
    memory.release("tuned")
    assert _ledger().total_bytes == 0


def test_work_that_keeps_nothing_gives_its_room_back(st: _Streamlit) -> None:
    with memory.room("tuned", 600 * MB, "tuning"):
        pass
    assert _ledger().total_bytes == 0


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(ValueError("this model cannot be tuned"), id="failed"),
        pytest.param(BudgetFull("no room for the result"), id="failed-budget"),
        pytest.param(RerunException(RerunData()), id="rerun"),
        pytest.param(RerunException(RerunData(page_script_hash="another page")), id="page-switch"),
        pytest.param(KeyboardInterrupt(), id="interrupted"),
    ],
)
def test_work_that_raises_gives_its_room_back(st: _Streamlit, ending: BaseException) -> None:
    with pytest.raises(type(ending)), memory.room("tuned", 600 * MB, "tuning"):
        assert _ledger().total_bytes == 600 * MB
        raise ending
    assert _ledger().total_bytes == 0 and _ledger().claims() == []


def test_a_stopped_run_gives_its_room_back_though_every_streamlit_call_raises(st: _Streamlit) -> None:
    """Stopped (a fast rerun, a page switch, a closed tab): the unwinding run raises at every Streamlit
    call, so the release must not need one (it used to read session state first)."""
    with pytest.raises(StopException), memory.room("tuned", 600 * MB, "tuning"):
        st.stop()
        st.yield_point()  # the progress bar's next update
    assert _ledger().total_bytes == 0 and _ledger().claims() == []


def test_a_run_replaced_just_after_its_claim_gives_it_back(st: _Streamlit, monkeypatch) -> None:
    """A click that arrives while the claim waits is seen at the next Streamlit call: clearing the
    waiting message, before the work's own block. The claim used to be made outside the try that
    releases it, and stayed forever."""
    ledger = _ledger()
    claim = ledger.claim

    def claim_then_a_click_arrives(*args, **kwargs):
        made = claim(*args, **kwargs)
        st.replace()
        return made

    monkeypatch.setattr(ledger, "claim", claim_then_a_click_arrives)
    ran = []
    with pytest.raises(RerunException), memory.room("tuned", 600 * MB, "tuning"):
        ran.append(1)
    assert ran == [] and ledger.total_bytes == 0 and ledger.claims() == []


def test_a_run_stopped_while_waiting_for_room_gives_up_and_claims_nothing(st: _Streamlit) -> None:
    _ledger().claim("another-visitor/1", "tuned", 900 * MB)
    stopped_at = time.perf_counter()

    def stop_soon() -> None:
        time.sleep(0.3)  # kept: the stop comes while the run has been waiting for room a while
        st.stop(waiter)

    result: list[BaseException] = []

    def wait_for_room() -> None:
        try:
            with memory.room("tuned", 600 * MB, "tuning"):
                result.append(AssertionError("the work ran"))
        except BaseException as exc:
            result.append(exc)

    waiter = threading.Thread(target=wait_for_room)
    waiter.start()
    threading.Thread(target=stop_soon).start()
    waiter.join(timeout=10)
    assert len(result) == 1 and isinstance(result[0], StopException), result
    assert time.perf_counter() - stopped_at < 4, "it stopped waiting within about a second"
    assert _ledger().owners() == {"another-visitor/1"} and _ledger().total_bytes == 900 * MB


def test_pressing_again_while_the_work_runs_adds_no_second_claim(st: _Streamlit) -> None:
    """Double-click: Streamlit stops the first run and starts the second at once, in another thread,
    while the first is still tuning. The second waits for the first to unwind, then runs alone."""
    inside, carry_on = threading.Event(), threading.Event()
    endings: dict[str, object] = {}
    steps: list[str] = []

    def run(label: str, first: bool) -> None:
        try:
            with memory.room("tuned", 600 * MB, "tuning"):
                steps.append(f"{label} works")
                try:
                    if first:
                        inside.set()
                        carry_on.wait(10)
                        st.yield_point()  # the next progress update: raises, this run was stopped
                    memory.keep("tuned", label, 3 * MB)
                finally:
                    steps.append(f"{label} ends")
            endings[label] = "kept"
        except BaseException as exc:
            endings[label] = exc

    first = threading.Thread(target=run, args=("first", True))
    first.start()
    assert inside.wait(10)
    st.stop(first)  # the second press stops the first run...
    second = threading.Thread(target=run, args=("second", False))
    second.start()  # ...and starts the second at once
    time.sleep(0.5)  # kept: what is tested is that the second still waits, half a second on
    assert len(_ledger().claims()) == 1 and _ledger().total_bytes == 600 * MB, "one claim, not two"
    carry_on.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert isinstance(endings["first"], StopException) and endings["second"] == "kept"
    assert steps == ["first works", "first ends", "second works", "second ends"], "never both at once"
    assert memory.held("tuned") == "second" and _ledger().claims() == []
    assert _ledger().total_bytes == 3 * MB
