"""``add_cache``: a thread-safe least-recently-used cache of computed items.

``SharedResults`` is the engine, also used by ``unbatch`` to compute each batch once. It holds
its lock only to look up and update its tables, never while computing: a computation in
progress is an in-flight ``Future`` under its key, so a second thread asking for the same key
waits for that future instead of computing again, while threads asking for other keys compute
in parallel (SeqTools 1.4.1 holds one lock around the computation, which serialises workers).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, NamedTuple, TypeVar

from imgprep.seq._base import LazySequence, check_count
from imgprep.seq._futures import wait_for

__all__ = ["CacheInfo", "CachedSequence", "SharedResults", "add_cache"]

T = TypeVar("T")
V = TypeVar("V")


class CacheInfo(NamedTuple):
    """Like ``functools.lru_cache``'s: ``misses`` counts computations, ``hits`` the requests
    served without computing (from the cache, or by waiting for another thread's computation
    of the same item); ``currsize`` counts stored items (not those being computed)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class SharedResults(Generic[V]):
    """Results by integer key, computed at most once at a time, the last ``maxsize`` kept."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._stored: OrderedDict[int, V] = OrderedDict()  # least recently used first
        self._in_flight: dict[int, Future[V]] = {}
        self._hits = 0
        self._misses = 0

    def get(self, key: int, compute: Callable[[int], V]) -> V:
        """The stored result for ``key``, or ``compute(key)`` (stored if it returns).

        A failed computation is not stored: threads that were waiting for it get the same
        exception and later requests compute again. If the computing thread is interrupted
        (``KeyboardInterrupt``), a waiting thread computes in its place.
        """
        while True:
            with self._lock:
                if key in self._stored:
                    self._stored.move_to_end(key)
                    self._hits += 1
                    return self._stored[key]
                future = self._in_flight.get(key)
                if future is None:
                    future = self._in_flight[key] = Future()
                    self._misses += 1
                    break  # this thread computes, outside the lock
                self._hits += 1
            try:
                return wait_for(future)
            except BaseException:
                if not future.cancelled():
                    raise
            with self._lock:  # the computing thread gave up; not a hit after all: retry
                self._hits -= 1
        return self._compute(key, future, compute)

    def _compute(self, key: int, future: Future[V], compute: Callable[[int], V]) -> V:
        try:
            value = compute(key)
        except Exception as error:
            with self._lock:
                del self._in_flight[key]
            future.set_exception(error)
            raise
        except BaseException:
            with self._lock:
                del self._in_flight[key]
            future.cancel()  # still PENDING, so waiters see it cancelled and retry
            raise
        with self._lock:
            del self._in_flight[key]
            self._stored[key] = value
            while len(self._stored) > self._maxsize:
                self._stored.popitem(last=False)
        future.set_result(value)
        return value

    def discard(self, key: int) -> None:
        """Forget the stored result for ``key``, if any."""
        with self._lock:
            self._stored.pop(key, None)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, self._maxsize, len(self._stored))


class CachedSequence(LazySequence[T]):
    """``sequence`` with its ``cache_size`` most recently used items kept; see ``add_cache``."""

    __slots__ = ("_results", "_source")

    def __init__(self, sequence: Sequence[T], cache_size: int) -> None:
        super().__init__(f"add_cache(cache_size={cache_size})")
        self._source = sequence
        self._results: SharedResults[T] = SharedResults(cache_size)

    def __len__(self) -> int:
        return len(self._source)

    def _item(self, index: int) -> T:
        return self._results.get(index, self._source.__getitem__)

    def cache_info(self) -> CacheInfo:
        """Hits, misses, maximum and current size, like ``functools.lru_cache``."""
        return self._results.info()


def add_cache(sequence: Sequence[T], cache_size: int = 1) -> CachedSequence[T]:
    """Keep the ``cache_size`` most recently used items of ``sequence`` once computed.

    Thread-safe: several threads may index it at once. Two threads asking for the same item
    at the same time compute it once (the second waits); different items are computed in
    parallel. Failures are not cached. ``cache_info()`` reports hits and misses.

    >>> squares = add_cache(smap(lambda x: x * x, range(5)), cache_size=2)
    >>> squares[3], squares[3], squares.cache_info()
    (9, 9, CacheInfo(hits=1, misses=1, maxsize=2, currsize=1))
    """
    return CachedSequence(sequence, check_count("cache_size", cache_size, 1))
