"""Background jobs belong to the sessions that asked for them (issue 32, item 3): a session waits for one
job at most, jobs nobody waits for are cancelled before they run and stopped while they run, and the
server's own jobs always finish. The work here is plain Python that loops (a UMAP fit loops over epochs
the same way), so a stop lands between two steps."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import jobs_idle, wait_until

from explorer.ui import jobs


@pytest.fixture(autouse=True)
def _quiet_pool():
    jobs_idle()
    yield
    jobs_idle()


def _looping(steps: int, done: list[int], gate: threading.Event | None = None):
    def work() -> int:
        if gate is not None:
            gate.wait(30)
        for i in range(steps):
            time.sleep(0.01)  # the job's work: a step that takes a while
            done.append(i)
        return len(done)

    return work


def _running(future, timeout: float = 10.0) -> None:
    wait_until(future.running, timeout, "the job running")


def test_a_running_job_nobody_waits_for_is_stopped_and_the_pool_goes_on() -> None:
    gate, done = threading.Event(), []
    first = jobs.started(("t", "first", time.time()), _looping(2000, done, gate), asker="a/1")
    _running(first)
    gate.set()
    wait_until(lambda: len(done) > 0, what="the job's first step")
    assert jobs.forget_gone(lambda owner: owner != "a/1") == 1
    with pytest.raises(jobs.JobStopped):
        first.result(timeout=10)
    assert 0 < len(done) < 2000, "stopped between two steps, not before and not after all of them"
    after: list[int] = []
    second = jobs.started(("t", "second", time.time()), _looping(5, after), asker="b/1")
    assert second.result(timeout=10) == 5, "the one worker survived the stop and runs the next job"
    assert jobs.result_or_none(first)[1].startswith("JobStopped")


def test_asking_for_another_job_lets_go_of_the_queued_one_and_a_shared_job_runs_for_the_other_asker() -> None:
    gate, done_a, done_b, done_c = threading.Event(), [], [], []
    # the server's own job, holding the one worker
    blocker = jobs.started(("t", "blocker", time.time()), _looping(1, [], gate), asker=None)
    shared_key, own_key = ("t", "shared", time.time()), ("t", "own", time.time())
    shared = jobs.started(shared_key, _looping(3, done_a), asker="a/1")
    assert jobs.started(shared_key, _looping(3, done_b), asker="b/1") is shared, "one job per key"
    own = jobs.started(own_key, _looping(3, done_c), asker="a/1")  # a asks for something else
    queued_again = jobs.started(("t", "last", time.time()), _looping(3, []), asker="a/1")
    assert own.cancelled(), "a's earlier queued job had no other asker: cancelled before it ran"
    assert not shared.cancelled(), "b still waits for the shared job"
    assert not queued_again.cancelled()
    assert not jobs.forget_gone(lambda owner: True), "nobody left: nothing stops"
    gate.set()
    assert blocker.result(timeout=10) == 1
    assert shared.result(timeout=10) == 3 and done_a == [0, 1, 2] and done_b == []
    queued_again.result(timeout=10)
    assert done_c == []


def test_the_servers_own_job_finishes_when_a_session_that_joined_it_leaves() -> None:
    key, done = ("t", "warm", time.time()), []
    warm = jobs.started(key, _looping(30, done), asker=None)
    assert jobs.started(key, _looping(30, []), asker="a/1") is warm
    _running(warm)
    assert jobs.forget_gone(lambda owner: False) == 0
    assert warm.result(timeout=10) == 30


def test_a_stopped_job_asked_for_again_starts_afresh() -> None:
    key, done, gate = ("t", "again", time.time()), [], threading.Event()
    first = jobs.started(key, _looping(2000, done, gate), asker="a/1")
    _running(first)
    gate.set()
    jobs.forget_gone(lambda owner: False)
    with pytest.raises(jobs.JobStopped):
        first.result(timeout=10)
    again = jobs.started(key, _looping(4, []), asker="c/1")
    assert again is not first and again.result(timeout=10) == 4
