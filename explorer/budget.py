"""A cache shared by every session of the server, bounded by bytes as well as by entries.

Hidden states are large and vary a thousandfold in size: four short sentences take about 1 MB, a hundred
long ones about 275 MB. A count limit alone would let a few large requests fill the server's memory, so
this cache evicts the least recently used entries until the total fits the budget. The newest entry is
always kept (the session that asked for it is about to use it), so one entry larger than the budget
still works, alone. No Streamlit here: the UI layer owns one instance.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


def return_freed_memory() -> None:
    """Collect what only reference cycles keep alive (a model copy is full of them), then hand freed
    memory back to the operating system (glibc's malloc_trim; elsewhere only the collection).

    Each Streamlit session runs in its own thread, and glibc gives each thread its own heap arena: a
    tuning run's few hundred MB, freed, stay held by that thread's arena unless trimmed. Measured with
    six tunings one after another, each in its own thread: RSS grew from 504 to 978 MB without this,
    and stayed at 620 MB with it.
    """
    gc.unfreeze()  # what `settle_long_lived` set aside is looked at again, then set aside again
    gc.collect()
    gc.freeze()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK_BYTES = 2**20


def large_blocks_straight_back() -> None:
    """Blocks of 1 MB and more (tensors, arrays) get their own mappings, handed back to the operating
    system the moment they are freed (glibc; elsewhere nothing).

    By default glibc raises that threshold to the largest block freed so far (up to 32 MB), after which
    a forward pass's attention scores and activations come from the heap and stay there between batches
    and across sessions' threads. Measured on the largest Fine-tune table's sentence vectors (25 batches
    of 8 × 256 word pieces): 124-151 MB above the model by default, 62-63 MB with this, in the same time;
    every layer of 100 sentences of 256 pieces: 349 → 308 MB.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


def settle_long_lived() -> None:
    """Collect, then set every object alive now aside from the cyclic collector (`gc.freeze`).

    After torch, transformers and the model are loaded the server holds about 600,000 objects, and
    Streamlit runs a full collection after every page run (`runner.postScriptGC`): 300 ms a run on this
    machine, for objects that live as long as the server. Set aside, a collection takes about 1 ms.
    `return_freed_memory` looks at them again, so a cycle that dies later is still freed then.
    """
    gc.collect()
    gc.freeze()


def one_blas_thread() -> None:
    """numpy's and scipy's BLAS (OpenBLAS) on one thread in this process; torch keeps its own threads.

    The server's matrix work is small (a page's tokens: hundreds of rows) and runs beside other sessions
    and, on a laptop, the browser. On two cores, OpenBLAS's second thread then mostly waits for a core:
    the journey's nearest-neighbour faithfulness (7 layers of 130 tokens) took 90 ms a page run with two
    threads while the browser drew, 17 ms with one.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def positive_setting(raw: str | None, default: float) -> float:
    """A positive finite number from a setting (an environment variable); the default when unset or not one."""
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


class ByteBudgetCache(Generic[V]):
    """Thread-safe LRU cache of values that are never mutated, bounded by total bytes and by count."""

    def __init__(
        self, max_bytes: int, max_entries: int = 32, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_bytes <= 0 or max_entries <= 0:
            raise ValueError(
                f"max_bytes and max_entries must be positive, got {max_bytes} and {max_entries}."
            )
        self.max_bytes = int(max_bytes)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._used: dict[Hashable, float] = {}  # when each entry was made or last read
        self._clock = clock
        self._total = 0
        self._guard = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}
        # Every value made and still alive somewhere (a session's run may hold one evicted a moment ago):
        # found again instead of made twice, so two copies of the same states never coexist.
        self._alive: weakref.WeakValueDictionary[Hashable, V] = weakref.WeakValueDictionary()

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get_or_make(self, key: Hashable, make: Callable[[], V], size: Callable[[V], int]) -> V:
        """The cached value for `key`, or `make()`'s result (made once even when sessions ask at once).

        An exception from `make` is raised to the caller and nothing is cached.
        """
        with self._guard:
            if key in self._entries:
                return self._read(key)
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._guard:
                if key in self._entries:  # another session made it while this one waited
                    return self._read(key)
                value = self._alive.get(key)  # evicted, but still held by someone: counted again
            try:
                if value is None:
                    value = make()
                    self._remember(key, value)
                nbytes = int(size(value))
            except BaseException:
                self._done_making(key, making)
                raise
            with self._guard:
                old = self._entries.pop(key, None)  # made twice only in a rare race: count it once
                if old is not None:
                    self._total -= old[1]
                self._entries[key] = (value, nbytes)
                self._used[key] = self._clock()
                self._total += nbytes
                self._evict()
            self._done_making(key, making)
            return value

    def _read(self, key: Hashable) -> V:
        self._entries.move_to_end(key)
        self._used[key] = self._clock()
        return self._entries[key][0]

    def drop_idle(self, idle_seconds: float, min_bytes: int = 0) -> int:
        """Drop entries of at least `min_bytes` not read for `idle_seconds` (the newest too): once the
        visitors who asked for large states have left, the server's memory goes back to its resting
        level instead of holding the budget until other input pushes them out. The bytes dropped."""
        now = self._clock()
        with self._guard:
            idle = [
                key
                for key, (_, nbytes) in self._entries.items()
                if nbytes >= min_bytes and now - self._used.get(key, now) > idle_seconds
            ]
            freed = 0
            for key in idle:
                freed += self._entries.pop(key)[1]
                self._used.pop(key, None)
            self._total -= freed
            return freed

    def _remember(self, key: Hashable, value: V) -> None:
        with contextlib.suppress(
            TypeError
        ):  # a value no weak reference can point to: found only while cached
            self._alive[key] = value

    def _done_making(self, key: Hashable, making: threading.Lock) -> None:
        """Forget this key's maker lock, unless a newer one has already replaced it."""
        with self._guard:
            if self._making.get(key) is making:
                del self._making[key]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self._used.clear()
            self._total = 0

    def _evict(self) -> None:
        """Drop the least recently used entries until both limits hold (the newest always stays)."""
        while len(self._entries) > 1 and (
            self._total > self.max_bytes or len(self._entries) > self.max_entries
        ):
            key, (_, nbytes) = self._entries.popitem(last=False)
            self._used.pop(key, None)
            self._total -= nbytes


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
                if not running and self._used() + nbytes <= self.max_bytes:
                    break
                left = deadline - self._clock()
                if left <= 0:
                    raise self._refusal(running)
                if not running and waiting is not None and not told:
                    told = True
                    self._unlocked(waiting, self._used())  # never call back into the UI holding the lock
                    continue
                if interrupt is not None:
                    self._unlocked(interrupt)
                self._room.wait(timeout=min(left, 1.0))  # a change missed while unlocked: seen within 1 s
            made = Claim(owner, name, nbytes, next(self._serials))
            self._entries[key] = _Entry(None, nbytes, self._clock(), made.serial)
            return made

    def check_size(self, nbytes: int) -> None:
        """BudgetFull, saying both sizes, if `nbytes` is more than the whole budget (no wait can help)."""
        if int(nbytes) > self.max_bytes:
            raise BudgetFull(
                f"This needs about {_mb(int(nbytes))} of memory, more than the {_mb(self.max_bytes)} this "
                "server allows for all visitors' work together; whoever runs the server can raise that limit."
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

    def _unlocked(self, call: Callable[..., None], *args: object) -> None:
        """Run `call` with the lock released (it may call into the UI, or raise); held again after."""
        self._room.release()
        try:
            call(*args)
        finally:
            self._room.acquire()

    def _refusal(self, running: bool) -> BudgetFull:
        if running:
            return StillRunning(
                "Your earlier run of this has not finished stopping yet (a new click stops it first). "
                "Try again in a moment."
            )
        return BudgetFull(
            f"The server is busy: other visitors' work holds {_mb(self._used())} of the "
            f"{_mb(self.max_bytes)} it allows. Try again in a minute (their copies are freed "
            "when they reset, leave, or stay idle)."
        )


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MB"
