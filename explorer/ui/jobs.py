"""Slow work that must not hold a page: run in the background, shown when ready.

UMAP takes seconds, and a minute the first time after a restart (numba compiles it). A page asks for it
with `started(key, work)`, draws what it can at once (PCA), and `wait_here` keeps a line where the chart is
that counts the seconds and reruns the page when the result is in. Jobs are shared by every session (the
same key is fitted once) and run one at a time, so a class asking at once does not starve the server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import streamlit as st

MAX_KEPT = 16  # finished results kept for the sessions that asked (the oldest go first)

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lse-job")
_jobs: OrderedDict[Hashable, tuple[Future, float]] = OrderedDict()
_guard = threading.Lock()


def started(key: Hashable, work: Callable[[], Any]) -> Future:
    """The job for `key`, started now with `work` unless it already runs or has finished."""
    with _guard:
        if key in _jobs and not _jobs[key][0].cancelled():
            _jobs.move_to_end(key)
            return _jobs[key][0]
        future = _pool.submit(work)
        _jobs[key] = (future, time.monotonic())
        while len(_jobs) > MAX_KEPT:
            _jobs.popitem(last=False)
        return future


QUICK_SECONDS = 1.0  # work done within this is shown at once, without a progress line


def result_or_none(future: Future, wait: float = QUICK_SECONDS) -> tuple[Any, str | None]:
    """(result, None) when done within `wait` seconds; (None, a message) when the work failed; (None, None)
    while it still runs."""
    futures.wait([future], timeout=wait)
    if not future.done():
        return None, None
    error = future.exception()
    if error is not None:
        return None, f"{type(error).__name__}: {error}"
    return future.result(), None


def _since(future: Future) -> float:
    with _guard:
        for job, began in _jobs.values():
            if job is future:
                return time.monotonic() - began
    return 0.0


def wait_here(future: Future, doing: str, expect: str) -> None:
    """A line, where it is called, that says what runs and for how long; the page reruns when it is done."""

    @st.fragment(run_every=1.0)
    def progress() -> None:
        if future.done():
            st.rerun(scope="app")
        st.info(f"⏳ {doing}: {_since(future):.0f} s so far ({expect}). The chart switches when it is ready.")

    progress()
