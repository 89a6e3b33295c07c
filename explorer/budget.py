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
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
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


def resident_bytes() -> int:
    """This process's resident memory (RSS) from Linux's /proc; 0 where there is none (the ledger's
    process ceiling then has nothing to go by and leaves the budget as it is)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


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
        self._sizes: dict[Hashable, int] = {}  # the size of each value in `_alive`, cached or not

    @property
    def total_bytes(self) -> int:
        """The bytes of the values cached now."""
        return self._total

    @property
    def held_bytes(self) -> int:
        """The bytes of every value this cache made that is still alive: the cached ones, and those
        dropped from the cache that a run still holds (they are freed only when that run lets go).

        What the server's memory ledger counts: evicted states a page run still reads take memory as
        much as cached ones. Eight visitors with 100 long sentences each held several sets of states at
        once while the cache, and so the ledger, counted one."""
        with self._guard:
            for key in [k for k in self._sizes if k not in self._alive]:
                del self._sizes[key]  # freed since
            return self._total + sum(n for k, n in self._sizes.items() if k not in self._entries)

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
                if key in self._alive:
                    self._sizes[key] = nbytes
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

    def shrink(self, nbytes: int) -> int:
        """Drop the least recently used entries until at least `nbytes` are freed or none is left. The
        bytes really freed: an entry a run still holds is dropped but stays alive (and counted in
        `held_bytes`) until that run lets go; `get_or_make` finds it again rather than making it twice."""
        freed = 0
        with self._guard:
            while self._entries and freed < nbytes:
                key, entry = self._entries.popitem(last=False)
                size = entry[1]
                del entry  # the cache's reference: the value dies now unless a run holds it
                self._used.pop(key, None)
                self._total -= size
                if key not in self._alive:
                    self._sizes.pop(key, None)
                    freed += size
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
            self._sizes.clear()
            self._total = 0

    def _evict(self) -> None:
        """Drop the least recently used entries until both limits hold (the newest always stays)."""
        while len(self._entries) > 1 and (
            self._total > self.max_bytes or len(self._entries) > self.max_entries
        ):
            key, (_, nbytes) = self._entries.popitem(last=False)
            self._used.pop(key, None)
            self._total -= nbytes
