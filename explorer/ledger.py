"""The server-wide ledger of heavy objects that belong to one session each, under one byte budget."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TRIM_SECONDS = 5.0  # at most this often, a claim waiting on the process ceiling hands freed memory back


class BudgetFull(RuntimeError):
    """No room in the server-wide budget for a session's heavy object; the message says what to do."""


class StillRunning(BudgetFull):
    """The same session's earlier work under that name has not ended (a rerun stopped it and it is
    still unwinding, or it is stuck); the message says to try again."""


@dataclass(frozen=True)
class Claim:
    """One reservation made by `SessionLedger.claim`: `release_claim` gives back this one and no other."""

    owner: str
    name: str
    nbytes: int
    serial: int


@dataclass
class _Entry:
    value: object | None  # None while only claimed
    nbytes: int
    used: float  # when it was claimed, kept or last read
    claim: int | None = None  # the claim's serial while its work runs; None once something is kept


class SessionLedger:
    """Heavy objects that belong to one session each (a tuned copy's results, a trained head's snapshots),
    held here rather than in the session, under one byte budget for the whole server.

    Work that needs room first `claim`s an estimate of its peak (waiting up to `wait_seconds` for other
    sessions to finish, then `BudgetFull`), then `put`s what it keeps, counted at its real size, and
    gives the claim back with `release_claim` however it ends. A session holds at most one claim per
    name: a second one waits for the first to end. The ledger holds the only reference, so `release`
    and `sweep` (sessions gone or idle, claims included) free the memory.
    Thread-safe; no Streamlit: the UI layer names owners (session ids) and says which are still alive.
    """

    def __init__(
        self, max_bytes: int, idle_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_bytes <= 0 or idle_seconds <= 0:
            raise ValueError(f"max_bytes and idle_seconds must be positive, got {max_bytes}, {idle_seconds}.")
        self.max_bytes = int(max_bytes)
        self.idle_seconds = float(idle_seconds)
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}  # (owner, name) -> what is claimed or kept
        self._serials = itertools.count(1)
        self._room = threading.Condition()
        self._outside: Callable[[], int] = lambda: 0
        self._make_room: Callable[[int], int] | None = None
        self.ceiling_bytes: int | None = None
        self._resident: Callable[[], int] | None = None
        self._rest: int | None = None  # the process's memory outside the budget, when last measured
        self._rest_low: int | None = None  # the lowest it was measured (what refusing at once goes by)
        self._trim: Callable[[], None] | None = None
        self._trimmed_at = float("-inf")

    def cap_process(
        self, ceiling_bytes: int, resident: Callable[[], int], trim: Callable[[], None] | None = None
    ) -> None:
        """Keep the whole process under `ceiling_bytes` (its resident memory, `resident()`), not only the
        visitors' work under `max_bytes`: the room for work is then the smaller of the budget and the
        ceiling less the process's memory at rest.

        At rest means outside this budget: `resident()` less what the budget holds, measured whenever a
        claim is asked for while no work runs (everything the budget holds is then made, so counted once;
        a run's claim is a bound, not yet memory). The rest grows when the server first uses UMAP (its
        code stays, about 360 MB) and shrinks when freed memory goes back to the system; the room follows.
        A measure can catch other visitors' page runs drawing (memory no claim covers, for a moment), so a
        claim is refused at once only if it is larger than the room at the lowest rest measured; above
        the room now, it waits like any claim that does not fit yet. Memory that finished work freed may
        still be held by the allocator and read as rest: before a claim waits on the ceiling alone, with
        no work running, `trim()` hands it back (at most every `TRIM_SECONDS`).
        """
        if ceiling_bytes <= 0:
            raise ValueError(f"ceiling_bytes must be positive, got {ceiling_bytes}.")
        with self._room:
            self.ceiling_bytes, self._resident, self._trim = int(ceiling_bytes), resident, trim
            self._rest = self._rest_low = None

    @property
    def limit_bytes(self) -> int:
        """What all visitors' work may hold together now: the budget, or less under the process's ceiling."""
        with self._room:
            return self._limit()

    def _may_trim(self) -> bool:
        """Whether to hand freed memory back now: a trim hook, no work running, none in the last while."""
        if self._trim is None or any(entry.claim is not None for entry in self._entries.values()):
            return False
        if self._clock() - self._trimmed_at < TRIM_SECONDS:
            return False
        self._trimmed_at = self._clock()
        return True

    def _limit(self) -> int:
        """The room for work now: `_rooms()`'s first."""
        return self._rooms()[0]

    def _rooms(self) -> tuple[int, int]:
        """The room for work under the budget and the ceiling: at the rest measured now (or last, while
        work runs), and at the lowest rest measured (one reading of the process's memory for both)."""
        if self.ceiling_bytes is None or self._resident is None:
            return self.max_bytes, self.max_bytes
        if self._rest is None or not any(entry.claim is not None for entry in self._entries.values()):
            self._rest = max(0, int(self._resident()) - self._in_use())
            self._rest_low = min(self._rest, self._rest_low if self._rest_low is not None else self._rest)
        low = self._rest_low if self._rest_low is not None else self._rest
        now, lowest = (max(0, min(self.max_bytes, self.ceiling_bytes - rest)) for rest in (self._rest, low))
        return now, lowest

    def share_with(self, held: Callable[[], int], make_room: Callable[[int], int]) -> None:
        """Count memory held elsewhere (a shared cache: `held()` bytes) inside this one budget, and let a
        claim that does not fit ask it to free at least n bytes (`make_room(n)`, called without the
        ledger's lock; it returns the bytes freed). Work and the cache then never take more together
        than `max_bytes`."""
        self._outside, self._make_room = held, make_room

    @property
    def total_bytes(self) -> int:
        with self._room:
            return self._used()

    def owners(self) -> set[str]:
        with self._room:
            return {owner for owner, _ in self._entries}

    def claims(self) -> list[Claim]:
        """The claims whose work has not ended yet."""
        with self._room:
            return [
                Claim(owner, name, entry.nbytes, entry.claim)
                for (owner, name), entry in self._entries.items()
                if entry.claim is not None
            ]

    def claim(
        self,
        owner: str,
        name: str,
        nbytes: int,
        wait_seconds: float = 0.0,
        waiting: Callable[[int], None] | None = None,
        alive: Callable[[str], bool] | None = None,
        interrupt: Callable[[], None] | None = None,
    ) -> Claim:
        """Reserve `nbytes` for `owner`'s work on `name`; what it kept under that name is dropped first.

        If `owner`'s earlier claim on `name` has not ended, wait for it (one claim per session and name),
        then StillRunning. If the budget is full, wait for room, calling `waiting(bytes_in_use)` once,
        then BudgetFull; one claim larger than the whole budget is refused at once. Waits end after
        `wait_seconds` in all. `interrupt()` is called before each wait, without the lock: it may raise
        to give up (the UI's way to stop waiting once its run is stopped). While waiting, what belongs
        to sessions that are gone or idle is swept (see `sweep`).
        """
        nbytes = int(nbytes)
        self.check_size(nbytes)
        key = (owner, name)
        deadline = self._clock() + wait_seconds
        told = False
        with self._room:
            while True:
                self._sweep_locked(alive)
                entry = self._entries.get(key)
                if entry is not None and entry.claim is None:  # what it kept: replaced by this work
                    del self._entries[key]
                    self._room.notify_all()
                    entry = None
                running = entry is not None
                limit, at_most = self._rooms()
                if not running and self._in_use() + nbytes <= limit:
                    break
                if not running and self._in_use() + nbytes <= self.max_bytes and self._may_trim():
                    self._unlocked(self._trim)  # only the ceiling stands in the way: is all of the rest rest?
                    continue
                if not running and nbytes > at_most:
                    raise self._too_big(nbytes, at_most)  # beside the server at rest: no wait can help
                short = self._in_use() + nbytes - limit
                if not running and short <= self._outside() and self._unlocked_freed(short) >= short:
                    continue  # the shared cache could let go of enough, and did: look again
                left = deadline - self._clock()
                if left <= 0:
                    raise self._refusal(running, nbytes)
                if not running and waiting is not None and not told:
                    told = True
                    self._unlocked(waiting, self._in_use())  # never call back into the UI holding the lock
                    continue
                if interrupt is not None:
                    self._unlocked(interrupt)
                self._room.wait(timeout=min(left, 1.0))  # a change missed while unlocked: seen within 1 s
            made = Claim(owner, name, nbytes, next(self._serials))
            self._entries[key] = _Entry(None, nbytes, self._clock(), made.serial)
            return made

    def check_size(self, nbytes: int) -> None:
        """BudgetFull, saying both sizes, if `nbytes` is more than the whole room for work (no wait can
        help): the budget, or what the process's ceiling leaves beside its memory at rest."""
        nbytes = int(nbytes)
        with self._room:
            limit = self._rooms()[1]
            trim = limit < nbytes <= self.max_bytes and self._may_trim()
        if trim:  # the rest measured may hold memory freed work left with the allocator
            self._trim()
            with self._room:
                limit = self._rooms()[1]
        if nbytes > limit:
            raise self._too_big(nbytes, limit)

    def _too_big(self, nbytes: int, limit: int) -> BudgetFull:
        if limit >= self.max_bytes:
            return BudgetFull(
                f"This needs about {_mb(nbytes)} of memory, more than the {_mb(self.max_bytes)} this "
                "server allows for all visitors' work together; whoever runs the server can raise that limit."
            )
        return BudgetFull(
            f"This needs about {_mb(nbytes)} of memory, more than the {_mb(limit)} this server has left for "
            f"visitors' work: it keeps itself under {_mb(self.ceiling_bytes or 0)} and needs the rest for "
            "the model and its code. Fewer or shorter sentences fit; whoever runs the server can raise that limit."
        )

    def release_claim(self, claim: Claim) -> int:
        """End `claim`'s work: drop its reservation unless something was kept in its place (then that
        stays). Safe to call more than once, or after a sweep. The bytes freed."""
        with self._room:
            entry = self._entries.get((claim.owner, claim.name))
            if entry is None or entry.claim != claim.serial:
                return 0
            del self._entries[(claim.owner, claim.name)]
            self._room.notify_all()
            return entry.nbytes

    def put(self, owner: str, name: str, value: object, nbytes: int) -> None:
        """Keep `value` for `owner`, counted at `nbytes` (it ends the claim on `name`, which may have been
        larger)."""
        with self._room:
            self._entries[(owner, name)] = _Entry(value, int(nbytes), self._clock())
            self._room.notify_all()

    def get(self, owner: str, name: str) -> object | None:
        """The value `owner` keeps under `name` (None if none, or only claimed); marks it used now."""
        with self._room:
            entry = self._entries.get((owner, name))
            if entry is None:
                return None
            entry.used = self._clock()
            return entry.value

    def release(self, owner: str, name: str | None = None) -> int:
        """Drop `owner`'s object `name` (all of its objects if None), claimed or kept; the bytes freed."""
        with self._room:
            keys = [k for k in self._entries if k[0] == owner and (name is None or k[1] == name)]
            freed = sum(self._entries.pop(k).nbytes for k in keys)
            self._room.notify_all()
            return freed

    def sweep(self, alive: Callable[[str], bool] | None = None) -> int:
        """Drop what belongs to sessions that are gone (`alive(owner)` is False), and what has been idle
        longer than `idle_seconds`: a kept object not read since, a claim made that long ago (no work
        here runs that long, so its release was lost; were one still running, only its count would go).
        The bytes freed."""
        with self._room:
            return self._sweep_locked(alive)

    def _sweep_locked(self, alive: Callable[[str], bool] | None) -> int:
        now = self._clock()
        gone = [
            key
            for key, entry in self._entries.items()
            if (alive is not None and not alive(key[0])) or now - entry.used > self.idle_seconds
        ]
        freed = sum(self._entries.pop(k).nbytes for k in gone)
        if gone:
            self._room.notify_all()
        return freed

    def _used(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def _in_use(self) -> int:
        """What the budget holds: this ledger's claims and kept objects, and what it shares (`share_with`)."""
        return self._used() + int(self._outside())

    def _unlocked_freed(self, nbytes: int) -> int:
        """`make_room(nbytes)` without the lock (the cache takes its own); the bytes it freed."""
        self._room.release()
        try:
            return int(self._make_room(nbytes)) if self._make_room is not None else 0
        finally:
            self._room.acquire()

    def _unlocked(self, call: Callable[..., None], *args: object) -> None:
        """Run `call` with the lock released (it may call into the UI, or raise); held again after."""
        self._room.release()
        try:
            call(*args)
        finally:
            self._room.acquire()

    def _refusal(self, running: bool, nbytes: int) -> BudgetFull:
        if running:
            return StillRunning(
                "Your earlier run of this has not finished stopping yet (a new click stops it first). "
                "Try again in a moment."
            )
        limit = self._limit()
        return BudgetFull(
            f"The server is busy: this needs about {_mb(nbytes)}, and other visitors' work holds "
            f"{_mb(min(self._in_use(), limit))} of the {_mb(limit)} it allows. Try again in a minute (their "
            "copies are freed when they reset, leave, or stay idle)."
        )


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MB"
