"""Slow work that must not hold a page: run in the background, shown when ready.

UMAP takes seconds, and a minute the first time after a restart (numba compiles it). A page asks for it
with `started(key, work)`, draws what it can at once (PCA), and `wait_here` keeps a line where the chart is
that counts the seconds and reruns the page when the result is in. Jobs are shared by every session (the
same key is fitted once) and run one at a time, so a class asking at once does not starve the server.

A job belongs to the sessions that asked for it. A session waits for one job at most: asking for another,
or for none (`drop_mine`), lets go of the one before. A job nobody waits for any more (its sessions asked
for something else or left, see `forget_gone`) is cancelled if it has not started, and stopped if it runs:
so visitors who open heavy links and leave do not make the next visitor wait for work nobody will see.
Jobs the server starts itself (the warm-up's preset fits) belong to no session and always finish.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.ui import memory

MAX_KEPT = 16  # finished results kept for the sessions that asked (the oldest go first)

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lse-job")
_guard = threading.Lock()


class JobStopped(Exception):
    """Raised inside a running job once nobody waits for it (see `forget_gone`)."""


@dataclass
class _Job:
    future: Future
    began: float
    askers: set[str] = field(default_factory=set)  # sessions waiting for it
    kept: bool = False  # started outside any session (the server's own): never stopped for lack of askers
    thread: int | None = None  # the worker thread while the work runs
    stop_sent: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_jobs: OrderedDict[Hashable, _Job] = OrderedDict()


def _asker() -> str | None:
    """The session asking, or None for the server's own work (a thread of no session)."""
    return memory.session_id() if get_script_run_ctx() is not None else None


def _stopped(job: _Job) -> bool:
    """Cancelled before it ran, or stopped while it ran: to be started afresh when asked again."""
    future = job.future
    return future.cancelled() or (future.done() and isinstance(future.exception(), JobStopped))


_THIS_SESSION = "this session"


def started(key: Hashable, work: Callable[[], Any], asker: str | None = _THIS_SESSION) -> Future:
    """The job for `key`, started now with `work` unless it already runs or has finished. `asker` (by
    default this thread's session; None for the server's own work) waits for it, and for no other job."""
    if asker == _THIS_SESSION:
        asker = _asker()
    with _guard:
        if asker is not None:
            _let_go(asker, but=key)
        job = _jobs.get(key)
        if job is None or _stopped(job):
            job = _Job(Future(), time.monotonic(), kept=asker is None)
            job.future = _pool.submit(_run, job, work)
            _jobs[key] = job
            _forget_oldest_finished()
        _jobs.move_to_end(key)
        if asker is None:
            job.kept = True
        else:
            job.askers.add(asker)
        return job.future


def asked(key: Hashable) -> Future | None:
    """The job for `key` if one runs or has finished (and was not stopped), else None: asks for nothing."""
    with _guard:
        job = _jobs.get(key)
        return None if job is None or _stopped(job) else job.future


def _forget_oldest_finished() -> None:
    """Keep at most MAX_KEPT jobs, forgetting the oldest finished ones (work still to do is never lost)."""
    finished = [key for key, job in _jobs.items() if job.future.done()]
    for key in finished[: max(0, len(_jobs) - MAX_KEPT)]:
        del _jobs[key]


def drop_mine() -> None:
    """This session waits for no job now (it asked for a view that needs none)."""
    asker = _asker()
    if asker is not None:
        with _guard:
            _let_go(asker, but=None)


def forget_gone(alive: Callable[[str], bool]) -> int:
    """Sessions that are no longer `alive` wait for nothing; jobs left with nobody are cancelled or stopped.
    The number of jobs stopped or cancelled. Cheap: the janitor calls it."""
    with _guard:
        ended = 0
        for job in _jobs.values():
            gone = {a for a in job.askers if not alive(a)}
            if gone:
                job.askers -= gone
                ended += _stop(job)
        return ended


def _let_go(asker: str, but: Hashable | None) -> None:
    for key, job in _jobs.items():
        if key != but and asker in job.askers:
            job.askers.discard(asker)
            _stop(job)


def _stop(job: _Job) -> int:
    """Cancel or stop `job` if nobody waits for it (under `_guard`); 1 if it was."""
    if job.kept or job.askers or job.future.done():
        return 0
    if job.future.cancel():  # not started yet
        return 1
    with job.lock:
        if job.thread is None or job.stop_sent:
            return 0
        # Raised in the worker at its next Python instruction: between two UMAP epochs, two batches of the
        # model, two waits for room. Every claim and lock on the way out is released by its `with`/`finally`.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(job.thread), ctypes.py_object(JobStopped))
        job.stop_sent = True
        return 1


def _run(job: _Job, work: Callable[[], Any]) -> Any:
    with job.lock:
        job.thread = threading.get_ident()
    try:
        return work()
    finally:
        with job.lock:
            job.thread = None
            if job.stop_sent:  # sent but not raised yet: it must not land in the pool's own code
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(threading.get_ident()), None)


def unfinished() -> list[Future]:
    """The jobs not done yet (for tests and benches that wait for the background to settle)."""
    with _guard:
        return [job.future for job in _jobs.values() if not job.future.done()]


QUICK_SECONDS = 1.0  # work done within this is shown at once, without a progress line


def result_or_none(future: Future, wait: float = QUICK_SECONDS) -> tuple[Any, str | None]:
    """(result, None) when done within `wait` seconds; (None, a message) when the work failed; (None, None)
    while it still runs."""
    futures.wait([future], timeout=wait)
    if not future.done():
        return None, None
    if future.cancelled():
        return None, "stopped: nobody was waiting for it"
    error = future.exception()
    if error is not None:
        return None, f"{type(error).__name__}: {error}"
    return future.result(), None


def _since(future: Future) -> float:
    with _guard:
        for job in _jobs.values():
            if job.future is future:
                return time.monotonic() - job.began
    return 0.0


def wait_here(future: Future, doing: str, expect: str) -> None:
    """A line, where it is called, that says what runs and for how long; the page reruns when it is done."""
    poll(
        future,
        lambda: st.info(
            f"⏳ {doing}: {_since(future):.0f} s so far ({expect}). The chart switches when it is ready."
        ),
    )


def ready_or_said(future: Future, doing: str, expect: str, failed: str) -> Any:
    """The background work's result once it is there; until then None, and where this is called a line
    that says what runs (`wait_here`) or, if the work failed, `failed` with the reason."""
    result, error = result_or_none(future)
    if result is not None:
        return result
    if error is None:
        wait_here(future, doing, expect)
    else:
        st.warning(failed.format(error=error), icon="⚠️")
    return None


def poll(future: Future, show: Callable[[], None]) -> None:
    """Where this is called, `show()` the work's progress every second until `future` is done; then
    rerun the whole page, which finds the result."""

    @st.fragment(run_every=1.0)
    def progress() -> None:
        if future.done():
            st.rerun(scope="app")
        show()

    progress()
