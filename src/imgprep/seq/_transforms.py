"""Element-wise and structural lazy operations: ``smap``, ``concatenate``, ``collate``,
``unbatch``. Each is a small class implementing ``__len__`` and ``_item``; the factories check
their arguments so that mistakes fail where the pipeline is built, not deep in a run."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, TypeVar, overload

from imgprep.seq._base import LazySequence, check_count
from imgprep.seq._cache import SharedResults

__all__ = ["collate", "concatenate", "smap", "unbatch"]

T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")
B = TypeVar("B")


def _same_lengths(operation: str, sequences: Sequence[Sequence[Any]]) -> int:
    lengths = [len(sequence) for sequence in sequences]
    if len(set(lengths)) > 1:
        raise ValueError(f"{operation} needs sequences of the same length, not lengths {lengths}")
    return lengths[0]


def _function_name(function: Callable[..., Any]) -> str:
    name = getattr(function, "__qualname__", None)
    return name if isinstance(name, str) else repr(function)


class _Mapping(LazySequence[R]):
    __slots__ = ("_function", "_length", "_sequences")

    def __init__(self, function: Callable[..., R], sequences: tuple[Sequence[Any], ...]) -> None:
        super().__init__(f"smap({_function_name(function)})")
        self._function = function
        self._sequences = sequences
        self._length = _same_lengths("smap", sequences)

    def __len__(self) -> int:
        return self._length

    def _item(self, index: int) -> R:
        return self._function(*[sequence[index] for sequence in self._sequences])


@overload
def smap(function: Callable[[A], R], sequence: Sequence[A], /) -> LazySequence[R]: ...


@overload
def smap(
    function: Callable[[A, B], R], first: Sequence[A], second: Sequence[B], /
) -> LazySequence[R]: ...


@overload
def smap(function: Callable[..., R], /, *sequences: Sequence[Any]) -> LazySequence[R]: ...


def smap(function: Callable[..., R], /, *sequences: Sequence[Any]) -> LazySequence[R]:
    """Lazy ``[function(*items) for items in zip(*sequences)]``: item ``i`` is computed when
    asked for, every time it is asked for.

    Several sequences must have the same length (``ValueError`` otherwise): unlike ``zip``,
    a silently dropped tail would be a lost image.

    >>> list(smap(lambda x, y: x + y, [1, 2, 3], [10, 20, 30]))
    [11, 22, 33]
    """
    if not callable(function):
        raise TypeError(f"smap needs a callable, not {function!r}")
    if not sequences:
        raise ValueError("smap needs at least one sequence")
    return _Mapping(function, sequences)


class _Concatenation(LazySequence[T]):
    __slots__ = ("_ends", "_sequences")

    def __init__(self, sequences: tuple[Sequence[T], ...]) -> None:
        super().__init__(f"concatenate({len(sequences)} sequences)")
        self._sequences = sequences
        # End offset of each part, from the lengths now: parts must not change length later.
        self._ends = list(accumulate(len(sequence) for sequence in sequences))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _item(self, index: int) -> T:
        part = bisect_right(self._ends, index)
        start = self._ends[part - 1] if part else 0
        return self._sequences[part][index - start]


def concatenate(sequences: Sequence[Sequence[T]]) -> LazySequence[T]:
    """The items of each sequence in turn, as one lazy sequence.

    >>> list(concatenate([[1, 2], [], [3]]))
    [1, 2, 3]
    """
    return _Concatenation(tuple(sequences))


class _Collation(LazySequence[tuple[Any, ...]]):
    __slots__ = ("_length", "_sequences")

    def __init__(self, sequences: tuple[Sequence[Any], ...]) -> None:
        super().__init__(f"collate({len(sequences)} sequences)")
        self._sequences = sequences
        self._length = _same_lengths("collate", sequences)

    def __len__(self) -> int:
        return self._length

    def _item(self, index: int) -> tuple[Any, ...]:
        return tuple(sequence[index] for sequence in self._sequences)


def collate(sequences: Sequence[Sequence[Any]]) -> LazySequence[tuple[Any, ...]]:
    """Item ``i`` is the tuple of item ``i`` of every sequence (a lazy ``zip``; the sequences
    must have the same length).

    >>> list(collate([[1, 2], ["a", "b"]]))
    [(1, 'a'), (2, 'b')]
    """
    sequences = tuple(sequences)
    if not sequences:
        raise ValueError("collate needs at least one sequence")
    return _Collation(sequences)


# How many partly read batches unbatch keeps; a batch is released as soon as every item of it
# has been read, so in-order reading (even by a prefetch pool) keeps about one batch per worker.
HELD_BATCHES = 16


@dataclass(eq=False)
class _HeldBatch:
    items: Sequence[Any]
    unread: set[int] = field(default_factory=set)


class _Unbatching(LazySequence[T]):
    __slots__ = ("_batch_size", "_batches", "_last_batch_size", "_lock", "_source")

    def __init__(self, source: Sequence[Sequence[T]], batch_size: int, last_batch_size: int):
        super().__init__(f"unbatch(batch_size={batch_size})")
        self._source = source
        self._batch_size = batch_size
        self._last_batch_size = last_batch_size
        self._batches: SharedResults[_HeldBatch] = SharedResults(HELD_BATCHES)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        batches = len(self._source)
        return (batches - 1) * self._batch_size + self._last_batch_size if batches else 0

    def _batch_length(self, batch: int) -> int:
        last = batch == len(self._source) - 1
        return self._last_batch_size if last else self._batch_size

    def _load(self, batch: int) -> _HeldBatch:
        items = self._source[batch]
        expected = self._batch_length(batch)
        if len(items) != expected:
            raise ValueError(f"batch {batch} must have {expected} items, not {len(items)}")
        return _HeldBatch(items, set(range(expected)))

    def _item(self, index: int) -> T:
        batch, offset = divmod(index, self._batch_size)
        # Shared and in-flight aware: reading the items of one batch, even from several
        # threads at once, computes the batch once (SeqTools 1.4.1 recomputes it per item).
        held = self._batches.get(batch, self._load)
        item: T = held.items[offset]
        with self._lock:
            held.unread.discard(offset)
            if not held.unread:
                self._batches.discard(batch)
        return item


def unbatch(
    sequence: Sequence[Sequence[T]], batch_size: int, last_batch_size: int | None = None
) -> LazySequence[T]:
    """Flatten a sequence of batches of ``batch_size`` items (the last one may hold
    ``last_batch_size``): item ``i`` is ``sequence[i // batch_size][i % batch_size]``.

    ``last_batch_size`` of ``None`` or ``0`` (SeqTools' documented default) means a full last
    batch of ``batch_size`` items.

    Each batch is computed once while its items are read, in any order and from any number of
    threads; it is released when all its items have been read (at most ``HELD_BATCHES``
    partly read batches are kept). ``unbatch(collate([a, b]), 2)`` interleaves ``a`` and ``b``.

    >>> list(unbatch(collate([[1, 2], [10, 20]]), 2))
    [1, 10, 2, 20]
    """
    batch_size = check_count("batch_size", batch_size, 1)
    if last_batch_size is None:
        last_batch_size = batch_size
    elif check_count("last_batch_size", last_batch_size, 0) == 0:
        last_batch_size = batch_size  # SeqTools: 0 is "no short last batch"
    if last_batch_size > batch_size:
        raise ValueError(
            f"last_batch_size must be at most batch_size={batch_size}, not {last_batch_size}"
        )
    return _Unbatching(sequence, batch_size, last_batch_size)
