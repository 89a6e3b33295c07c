"""SessionLedger.cap_process: the whole server process stays under a ceiling, not only visitors' work
under the budget. The room for work is the smaller of the budget and the ceiling less the process's
memory at rest (its resident memory less what the budget holds, measured while no work runs).

The process's memory here is a number the test sets, as /proc would report it."""

from __future__ import annotations

import pytest

from explorer.budget import resident_bytes
from explorer.ledger import BudgetFull, SessionLedger

MB = 2**20


class _Process:
    """Resident memory: what the server holds at rest plus what the ledger's work has really made."""

    def __init__(self, rest: int) -> None:
        self.rest = rest
        self.made = 0

    def __call__(self) -> int:
        return self.rest + self.made


def _ledger(rest: int, ceiling: int = 1000, budget: int = 600) -> tuple[SessionLedger, _Process]:
    """Sizes in MB."""
    process = _Process(rest * MB)
    ledger = SessionLedger(max_bytes=budget * MB, idle_seconds=60)
    ledger.cap_process(ceiling * MB, process)
    return ledger, process


def test_without_a_ceiling_the_room_is_the_budget() -> None:
    ledger = SessionLedger(max_bytes=600 * MB, idle_seconds=60)
    assert ledger.limit_bytes == 600 * MB
    ledger.claim("a", "run", 600 * MB)


def test_the_room_is_what_the_ceiling_leaves_beside_the_rest() -> None:
    ledger, _ = _ledger(rest=700)  # 1000 - 700 = 300, under the budget of 600
    assert ledger.limit_bytes == 300 * MB
    ledger.claim("a", "run", 250 * MB)
    with pytest.raises(
        BudgetFull, match="busy: this needs about 100 MB, and other visitors' work holds 250 MB of the 300 MB"
    ):
        ledger.claim("b", "run", 100 * MB)


def test_a_low_rest_leaves_the_budget_as_it_is() -> None:
    ledger, _ = _ledger(rest=200)  # 1000 - 200 = 800: the budget (600) is the smaller
    assert ledger.limit_bytes == 600 * MB


def test_a_claim_larger_than_the_room_beside_the_rest_is_refused_at_once_saying_why() -> None:
    ledger, _ = _ledger(rest=700)
    with pytest.raises(BudgetFull, match="more than the 300 MB this server has left for visitors' work"):
        ledger.claim("a", "run", 400 * MB, wait_seconds=30)  # no wait: refused before it
    with pytest.raises(BudgetFull, match="has left for visitors' work"):
        ledger.check_size(400 * MB)
    assert ledger.total_bytes == 0


def test_the_memory_work_makes_is_not_taken_for_rest() -> None:
    ledger, process = _ledger(rest=500)  # room 500
    ledger.claim("a", "run", 300 * MB)
    process.made = 100 * MB  # a claim is a bound: the work has made a third of it so far
    # measured now, the rest would read 600 - 300 = 300 MB and leave room for 700: not measured while work runs
    assert ledger.limit_bytes == 500 * MB
    ledger.claim("b", "run", 200 * MB)  # 300 + 200 fits the room of 500
    with pytest.raises(BudgetFull, match="busy"):
        ledger.claim("c", "run", 1 * MB)


def test_the_rest_is_measured_again_once_no_work_runs() -> None:
    ledger, process = _ledger(rest=500)
    assert ledger.limit_bytes == 500 * MB
    process.rest = 800 * MB  # e.g. UMAP's code, loaded once and kept for the server's life
    assert ledger.limit_bytes == 200 * MB
    process.rest = 600 * MB  # freed memory handed back to the system
    assert ledger.limit_bytes == 400 * MB


def test_what_the_budget_holds_is_not_counted_twice() -> None:
    ledger, process = _ledger(rest=500)
    ledger.put("a", "head", "kept", 100 * MB)
    process.made = 100 * MB  # kept, so made: in the process and on the ledger
    assert ledger.limit_bytes == 500 * MB  # rest = 600 - 100
    ledger.claim("b", "run", 400 * MB)  # 100 + 400 fits


def test_a_moment_of_unclaimed_memory_makes_a_claim_wait_not_be_refused_at_once() -> None:
    ledger, process = _ledger(rest=500)
    assert ledger.limit_bytes == 500 * MB  # the lowest rest measured: 500
    process.rest = 650 * MB  # other visitors' page runs drawing, for a moment
    with pytest.raises(BudgetFull, match="busy"):  # waits (here: no time to wait), then busy
        ledger.claim("a", "run", 400 * MB)
    process.rest = 500 * MB
    ledger.claim("a", "run", 400 * MB)


def test_the_process_memory_is_read_from_the_system() -> None:
    before = resident_bytes()
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident now
    assert resident_bytes() - before >= 60 * 2**20
    del block


def test_memory_finished_work_freed_is_handed_back_before_a_claim_waits_on_the_ceiling() -> None:
    process = _Process(500 * MB)
    process.made = 300 * MB  # freed by work that ended, still held by the allocator: it reads as rest
    trims: list[int] = []

    def trim() -> None:
        trims.append(process.made)
        process.made = 0

    ledger = SessionLedger(max_bytes=600 * MB, idle_seconds=60)
    ledger.cap_process(1000 * MB, process, trim)
    assert ledger.limit_bytes == 200 * MB  # 800 MB read as rest
    ledger.claim("a", "run", 400 * MB)  # fits the budget, not the room: trimmed, then fits
    assert trims == [300 * MB] and ledger.limit_bytes == 500 * MB


def test_without_a_trim_the_same_claim_is_refused_saying_what_is_left() -> None:
    process = _Process(500 * MB)
    process.made = 300 * MB
    ledger = SessionLedger(max_bytes=600 * MB, idle_seconds=60)
    ledger.cap_process(1000 * MB, process)
    with pytest.raises(BudgetFull, match="more than the 200 MB this server has left"):
        ledger.claim("a", "run", 400 * MB)
