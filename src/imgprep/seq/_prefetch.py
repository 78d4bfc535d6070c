"""``prefetch``: compute the next items of a sequence ahead, in a bounded pool of threads.

Design, and where it differs from SeqTools 1.4.1 (which deadlocks on index -1, fails on slices
and empty sequences, computes past the end and joins its workers without timeout):

- Only iteration uses the pool. Random access ``p[i]`` (``-1`` included) and slices compute
  inline in the calling thread, so they can never wait for a worker.
- Each iteration owns a ``_Pool``: ``min(nworkers, len, max_buffered)`` daemon threads named
  ``imgprep-prefetch-N``, started on the first ``next()``, fed ``(index, Future)`` tasks through a
  queue. At most ``max_buffered`` futures are outstanding (queued, running, or done but not yet
  consumed) and no index past the end is ever queued.
- The workers are plain daemon threads, not a ``ThreadPoolExecutor``: the executor's threads
  are joined at interpreter exit without a timeout, so one stuck item would hang the exit.
- Every blocking wait has a timeout (``POLL_SECONDS``) inside a loop, so Ctrl-C in the consumer
  is handled promptly and a stop request reaches idle workers even if a sentinel were lost.
- When iteration ends (exhausted, an item failed, ``KeyboardInterrupt`` while waiting, the
  iterator closed or garbage-collected after ``break``, or the sequence's ``close()``), queued
  work is cancelled and the workers are told to stop; in-flight items finish in the background
  and their threads then exit. ``close()`` also joins the threads, for at most ``timeout``
  seconds in total.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Generic, TypeVar

from imgprep.seq._base import LazySequence, check_count
from imgprep.seq._futures import POLL_SECONDS, wait_for

__all__ = ["CLOSE_TIMEOUT", "PrefetchedSequence", "prefetch", "usable_cpus"]

T = TypeVar("T")

# Longest close() waits for in-flight items to finish, in seconds.
CLOSE_TIMEOUT = 10.0

_thread_numbers = itertools.count(1)


class _Signal(enum.Enum):
    STOP = enum.auto()  # the dedicated sentinel telling one worker to exit


_Task = tuple[int, "Future[T]"]


class _Pool(Generic[T]):
    """Worker threads computing ``sequence._evaluate(index)`` for queued ``(index, future)``.

    Holds no reference to the iterator using it, so that the iterator can be garbage-collected
    (and shut the pool down) while workers are still running.
    """

    def __init__(self, sequence: LazySequence[T], nworkers: int) -> None:
        self._sequence = sequence
        self._tasks: queue.SimpleQueue[_Task[T] | _Signal] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self.threads = [
            threading.Thread(
                target=self._work, name=f"imgprep-prefetch-{next(_thread_numbers)}", daemon=True
            )
            for _ in range(nworkers)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, index: int) -> Future[T]:
        future: Future[T] = Future()
        self._tasks.put((index, future))
        return future

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                task = self._tasks.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if task is _Signal.STOP:
                return
            index, future = task
            if self._stopping.is_set() or not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                value = self._sequence._evaluate(index)
            except BaseException as error:  # SystemExit from the item reaches the consumer too
                future.set_exception(error)
            else:
                future.set_result(value)
            del task, future  # drop references to results as soon as they are handed over

    def stop(self) -> None:
        """Ask the workers to exit after their current item; returns at once. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for _ in self.threads:
            self._tasks.put(_Signal.STOP)

    def join(self, deadline: float) -> None:
        current = threading.current_thread()
        for thread in self.threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))


class _PrefetchIterator(Iterator[T]):
    """Iterates a ``PrefetchedSequence`` in order, keeping ``max_buffered`` items ahead."""

    def __init__(self, owner: PrefetchedSequence[T]) -> None:
        self._owner = owner
        self._length = len(owner)
        self._next_submit = 0
        self._outstanding: deque[Future[T]] = deque()  # futures of the next items, in order
        self._pool: _Pool[T] | None = None
        self._finished = False
        # Guards the fields above (never held while waiting), so that close() from another
        # thread, or the sequence's close(), cannot interleave with a top-up.
        self._lock = threading.RLock()

    def __iter__(self) -> _PrefetchIterator[T]:
        return self

    def __next__(self) -> T:
        owner = self._owner
        with self._lock:
            if self._finished:
                raise StopIteration
            if self._pool is None and self._length > 0:
                workers = min(owner.nworkers, self._length, owner.max_buffered)
                self._pool = _Pool(owner, workers)
                owner._pools.add(self._pool)
            while len(self._outstanding) < owner.max_buffered and self._next_submit < self._length:
                assert self._pool is not None
                self._outstanding.append(self._pool.submit(self._next_submit))
                self._next_submit += 1
            future = self._outstanding.popleft() if self._outstanding else None
        if future is None:
            self._finish(join=True)
            raise StopIteration
        try:
            value = wait_for(future)
        except Exception:
            self._finish(join=True)  # an item failed: no thread stays behind the error
            raise
        except BaseException:
            self._finish(join=False)  # Ctrl-C: stop now, in-flight items end in background
            raise
        with self._lock:
            last = self._next_submit == self._length and not self._outstanding
        if last:
            self._finish(join=True)  # workers are idle now, joining is immediate
        return value

    def _finish(self, join: bool, timeout: float = CLOSE_TIMEOUT) -> None:
        with self._lock:
            self._finished = True
            for future in self._outstanding:
                future.cancel()  # queued ones are cancelled; running ones finish unobserved
            self._outstanding.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            if join:
                pool.join(time.monotonic() + timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop iterating: cancel queued items, stop the workers and join them (bounded)."""
        self._finish(join=True, timeout=timeout)

    def __del__(self) -> None:
        # A `for` loop left by `break` drops its iterator without closing it: stop the pool
        # here, without blocking whatever thread the garbage collector runs in.
        with contextlib.suppress(Exception):  # modules may be half torn down at exit
            self._finish(join=False)


class PrefetchedSequence(LazySequence[T]):
    """``sequence`` whose iteration computes items ahead in threads; see ``prefetch``."""

    __slots__ = ("_iterators", "_pools", "_source", "max_buffered", "nworkers")

    def __init__(self, sequence: Sequence[T], *, nworkers: int, max_buffered: int) -> None:
        super().__init__(f"prefetch(nworkers={nworkers}, max_buffered={max_buffered})")
        self._source = sequence
        self.max_buffered = max_buffered
        self.nworkers = nworkers
        # Weak: an iterator dropped after `break` must stay collectable. A pool stays in its set
        # while its threads run (they hold it), so close() can join pools whose iterator is gone.
        self._iterators: weakref.WeakSet[_PrefetchIterator[T]] = weakref.WeakSet()
        self._pools: weakref.WeakSet[_Pool[T]] = weakref.WeakSet()

    def __len__(self) -> int:
        return len(self._source)

    def _item(self, index: int) -> T:
        return self._source[index]  # random access and slices: inline, never via the pool

    def __iter__(self) -> Iterator[T]:
        if self.nworkers == 0:
            return super().__iter__()
        iterator = _PrefetchIterator(self)
        self._iterators.add(iterator)
        return iterator

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """End every iteration in progress: cancel queued items, stop the worker threads and
        join them, waiting at most ``timeout`` seconds in total for in-flight items. Threads
        still busy after that exit on their own when their item is done. Idempotent; the
        sequence can be iterated again afterwards (with new threads)."""
        deadline = time.monotonic() + timeout
        for iterator in list(self._iterators):
            iterator._finish(join=False)
        for pool in list(self._pools):
            pool.stop()
        for pool in list(self._pools):
            pool.join(deadline)

    def __enter__(self) -> PrefetchedSequence[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def usable_cpus() -> int:
    """How many CPUs this process may run on (its affinity mask, where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_threads(nworkers: object) -> int:
    """The number of threads ``nworkers`` asks for: itself if it is at least 0, else
    ``usable_cpus() + nworkers`` but never fewer than 1."""
    if isinstance(nworkers, bool) or not isinstance(nworkers, int):
        raise TypeError(f"nworkers must be an integer, not {nworkers!r}")
    if nworkers >= 0:
        return nworkers
    return max(1, usable_cpus() + nworkers)


def prefetch(
    sequence: Sequence[T], nworkers: int = 0, method: str = "thread", max_buffered: int = 10
) -> PrefetchedSequence[T]:
    """Iterate ``sequence`` in order while ``nworkers`` threads compute up to ``max_buffered``
    items ahead. The parameters are SeqTools 1.4's, in its order: ``prefetch(seq, 4)`` means
    four worker threads.

    - ``nworkers > 0``: that many threads (never more than ``max_buffered`` or ``len``).
    - ``nworkers == 0`` (the default): no thread; each item is computed inline when the loop
      reaches it, as SeqTools does for 0.
    - ``nworkers < 0``: all usable CPUs but ``-nworkers`` (``-1``: all cores but one), and at
      least one thread on a machine with fewer CPUs than that.
    - ``method`` must be ``"thread"``: there is no process pool (``ValueError`` otherwise).

    Random access and slices compute inline in the calling thread. Use it as a context manager
    (or call ``close()``) to stop the threads when leaving a loop early; they are also stopped
    when iteration ends, fails, or its iterator is garbage-collected.

    >>> with prefetch(smap(str.upper, ["a", "b", "c"]), 2, max_buffered=2) as items:
    ...     list(items)
    ['A', 'B', 'C']
    """
    if method != "thread":
        raise ValueError(
            f"method must be 'thread' (imgprep.seq prefetches in threads only), not {method!r}"
        )
    max_buffered = check_count("max_buffered", max_buffered, 1)
    threads = _worker_threads(nworkers)
    return PrefetchedSequence(sequence, nworkers=threads, max_buffered=max_buffered)
