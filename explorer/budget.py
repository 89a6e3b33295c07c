"""A cache shared by every session of the server, bounded by bytes as well as by entries.

Hidden states are large and vary a thousandfold in size: four short sentences take about 1 MB, a hundred
long ones about 275 MB. A count limit alone would let a few large requests fill the server's memory, so
this cache evicts the least recently used entries until the total fits the budget. The newest entry is
always kept (the session that asked for it is about to use it), so one entry larger than the budget
still works, alone. No Streamlit here: the UI layer owns one instance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteBudgetCache(Generic[V]):
    """Thread-safe LRU cache of values that are never mutated, bounded by total bytes and by count."""

    def __init__(self, max_bytes: int, max_entries: int = 32) -> None:
        if max_bytes <= 0 or max_entries <= 0:
            raise ValueError(
                f"max_bytes and max_entries must be positive, got {max_bytes} and {max_entries}."
            )
        self.max_bytes = int(max_bytes)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._guard = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}

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
                self._entries.move_to_end(key)
                return self._entries[key][0]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._guard:
                if key in self._entries:  # another session made it while this one waited
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            try:
                value = make()
                nbytes = int(size(value))
            except BaseException:
                self._done_making(key, making)
                raise
            with self._guard:
                old = self._entries.pop(key, None)  # made twice only in a rare race: count it once
                if old is not None:
                    self._total -= old[1]
                self._entries[key] = (value, nbytes)
                self._total += nbytes
                self._evict()
            self._done_making(key, making)
            return value

    def _done_making(self, key: Hashable, making: threading.Lock) -> None:
        """Forget this key's maker lock, unless a newer one has already replaced it."""
        with self._guard:
            if self._making.get(key) is making:
                del self._making[key]

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
            self._total = 0

    def _evict(self) -> None:
        """Drop the least recently used entries until both limits hold (the newest always stays)."""
        while len(self._entries) > 1 and (
            self._total > self.max_bytes or len(self._entries) > self.max_entries
        ):
            _, (_, nbytes) = self._entries.popitem(last=False)
            self._total -= nbytes
