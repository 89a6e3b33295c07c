"""Each visitor's heavy objects (a tuned copy's results, a trained head) under one budget for the server.

They live in one `SessionLedger` for the whole process, keyed by session id, not in st.session_state:
so a session that closes its tab or stays idle gives its memory back at the next sweep (every page run
sweeps), and work that would push the server past the budget waits for room or says the server is busy.
Settings (environment): `LSE_SESSION_MEMORY_MB` (default 600, for a 2.7 GB host),
`LSE_SERVER_MEMORY_MB` (default 1,472: the whole server process stays under it, the room for work
shrinking to what its memory at rest leaves; see `SessionLedger.cap_process`) and `LSE_IDLE_MINUTES`
(default 20).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.budget import positive_setting, resident_bytes, return_freed_memory
from explorer.ledger import BudgetFull, Claim, SessionLedger, StillRunning

MEMORY_ENV = "LSE_SESSION_MEMORY_MB"
DEFAULT_MEMORY_MB = 600
SERVER_ENV = "LSE_SERVER_MEMORY_MB"
# 1.5 GB less 64 MB for what page runs draw unclaimed (charts, tables, derived frames). Eight visitors
# opening the largest links at once (bench crowd mixed), ceiling at 1,536 MB: peak 1,551 MB, 495 MB above
# rest while the claims held at most 434 MB; at 1,472 MB: peak 1,209-1,240 MB.
DEFAULT_SERVER_MB = 1472
IDLE_ENV = "LSE_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 20
WAIT_SECONDS = 90  # how long heavy work waits for room before saying the server is busy

__all__ = ["BudgetFull", "StillRunning", "claiming", "held", "keep", "quiet_room", "release", "room", "sweep"]


_LEDGER = SessionLedger(
    max_bytes=int(positive_setting(os.environ.get(MEMORY_ENV), DEFAULT_MEMORY_MB) * 2**20),
    idle_seconds=positive_setting(os.environ.get(IDLE_ENV), DEFAULT_IDLE_MINUTES) * 60,
)
_LEDGER.cap_process(
    int(positive_setting(os.environ.get(SERVER_ENV), DEFAULT_SERVER_MB) * 2**20),
    resident_bytes,
    return_freed_memory,
)


def ledger() -> SessionLedger:
    return _LEDGER


OWNER_KEY = "memory_owner"


def session_id() -> str:
    """This session's owner name in the ledger: the server's session id (to ask whether it is still
    connected) and a random part kept in the session (test harnesses give every session the same id)."""
    ctx = get_script_run_ctx()
    server_id = ctx.session_id if ctx is not None else "no-session"
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = f"{server_id}/{uuid.uuid4().hex}"
    return st.session_state[OWNER_KEY]


BACKGROUND = "background"  # the owner of work that runs in a thread of no session (a background job)


def _owner() -> str:
    """The ledger's owner for work in this thread: its session, or the thread itself outside any session."""
    if get_script_run_ctx() is None:
        return f"{BACKGROUND}/{threading.get_ident()}"
    return session_id()


def alive(owner: str) -> bool:
    """Is this session still connected? Always True outside a server (tests, scripts) and for work in a
    thread of no session (its claim ends with its work)."""
    if not Runtime.exists() or owner.startswith(f"{BACKGROUND}/"):
        return True
    return Runtime.instance().is_active_session(owner.split("/", 1)[0])


def sweep() -> int:
    """Free what closed or idle sessions held; the bytes freed. Cheap: every page run calls it."""
    freed = _LEDGER.sweep(alive)
    if freed:
        return_freed_memory()
    return freed


def held(name: str) -> object | None:
    """What this session keeps under `name`, or None."""
    return _LEDGER.get(session_id(), name)


def keep(name: str, value: object, nbytes: int) -> None:
    """Keep `value` for this session, counted at `nbytes` against the server's budget."""
    _LEDGER.put(session_id(), name, value, nbytes)


def release(name: str | None = None) -> None:
    """Drop what this session keeps under `name` (everything if None)."""
    _LEDGER.release(session_id(), name)


@contextmanager
def room(name: str, nbytes: int, what: str) -> Iterator[None]:
    """Reserve `nbytes` for this session's work on `name` (what it kept under that name is dropped first),
    waiting for room with a message if the server is full; BudgetFull if it stays full.

    The reservation ends with the block, whatever ends it: the work kept its result (which then stays),
    failed, or was stopped by a rerun, a page switch or a closed tab (Streamlit raises StopException or
    RerunException, BaseExceptions, at the run's next Streamlit call, and a stopped run raises at every
    one after: so nothing between the claim and its release calls Streamlit). Pressed again while the
    earlier run is still unwinding, the new run waits for it, holding no second claim (StillRunning if
    it does not end in time)."""
    owner = session_id()
    notes: list = []  # the waiting message's place, made only if it waits: a claim made at once sends nothing
    ledger = _LEDGER  # the claim is given back to the ledger it was made on

    def waiting(in_use: int) -> None:
        limit = ledger.limit_bytes
        if not notes:
            notes.append(st.empty())
        notes[0].info(
            f"Waiting for room on this server before {what}: other visitors' work holds "
            f"{min(in_use, limit) / 2**20:,.0f} MB of the {limit / 2**20:,.0f} MB it "
            "allows. This usually takes seconds.",
            icon="⏳",
        )

    claim = partial(ledger.claim, owner, name, nbytes, WAIT_SECONDS, waiting, alive, _stop_point)

    def then() -> None:  # the message goes once the claim is made or refused; a replaced run stops here
        if notes:
            notes[0].empty()
        else:
            _stop_point()

    with _held(ledger, claim, then=then):
        yield


@contextmanager
def _held(
    ledger: SessionLedger, claim: Callable[[], Claim], then: Callable[[], object] | None = None
) -> Iterator[None]:
    """Hold what `claim()` takes on `ledger` (the ledger it is given back to) for the block, and give it
    back on every way out: finished, failed, stopped by a rerun. `then` runs right after the claim is
    made or refused; the claim is already held then, so a rerun that `then` sees still gives it back."""
    held: Claim | None = None
    try:
        try:
            held = claim()
        finally:
            if then is not None:
                then()
        yield
    finally:
        if held is not None:
            ledger.release_claim(held)


def say_full(exc: BudgetFull) -> None:
    """Where a visitor's work found no room on the server: why, and what needs less."""
    st.warning(f"{exc} Fewer or shorter sentences need less.", icon="⏳")


def _stop_point() -> None:
    """A Streamlit yield point that draws nothing: reading session state raises StopException or
    RerunException once this run has been stopped or replaced, so a run that waits for room gives up."""
    st.session_state.get(OWNER_KEY)


def claiming(name: str) -> bool:
    """Whether work in this thread's session holds a claim under `name` right now."""
    owner = _owner()
    return any(claim.owner == owner and claim.name == name for claim in _LEDGER.claims())


@contextmanager
def quiet_room(name: str, nbytes: int) -> Iterator[None]:
    """`room` for work that runs where nothing may be drawn (inside a cached function, in a background
    job): the same claim, released the same way, but no message while it waits; BudgetFull if the server
    stays full. In a session's run, a stopped run stops waiting (see `_stop_point`)."""
    owner = _owner()
    interrupt = _stop_point if get_script_run_ctx() is not None else None
    ledger = _LEDGER  # the claim is given back to the ledger it was made on
    with _held(ledger, lambda: ledger.claim(owner, name, nbytes, WAIT_SECONDS, None, alive, interrupt)):
        yield
