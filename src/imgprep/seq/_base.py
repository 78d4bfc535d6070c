"""The one place that knows about indexing, slicing, iteration and error wrapping.

Every lazy sequence of ``imgprep.seq`` derives from ``LazySequence`` and implements only
``__len__`` and ``_item(index)`` for a valid, non-negative ``index``. Everything a caller can do
with an index (negative indexes, ``IndexError``, ``TypeError``, slices as lazy views, iteration)
and the wrapping of failures into ``EvaluationError`` lives here, so the subclasses cannot
disagree about it.
"""

from __future__ import annotations

import operator
import sys
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TypeVar, overload

from imgprep.errors import EvaluationError

__all__ = ["LazySequence", "builder_location", "check_count"]

T = TypeVar("T")

_PACKAGE = __name__.rpartition(".")[0]  # "imgprep.seq"


def builder_location() -> str:
    """``file:line`` of the code that called into ``imgprep.seq`` to build a sequence.

    Frames inside this package are skipped, so the location is the user's line, however deep
    the factory that asks for it.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def check_count(name: str, value: object, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``; the error names the parameter and value."""
    # bool is an int subclass, but `nworkers=True` is a mistake rather than "one worker".
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return value


class LazySequence(Sequence[T]):
    """A read-only sequence whose items are computed when they are asked for.

    Supports ``len``, integer indexing (negative too; ``IndexError`` past either end;
    ``TypeError`` for anything that is not an integer, including ``bool``), slicing (a lazy view
    that computes nothing until indexed; a view of a view is a single view of the original) and
    iteration in order. Items are not stored: asking twice computes twice (see ``add_cache``).

    A failure while computing an item is raised as ``EvaluationError`` naming the index, the
    operation and where the sequence was built, with the original exception as ``__cause__``.
    An ``EvaluationError`` from an inner stage passes through unchanged (the innermost stage
    knows best what failed); ``KeyboardInterrupt`` and ``SystemExit`` are never wrapped.
    """

    __slots__ = ("_operation", "_where")

    def __init__(self, operation: str, where: str | None = None) -> None:
        self._operation = operation  # e.g. "smap(load_image)", for messages and repr
        self._where = builder_location() if where is None else where

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _item(self, index: int) -> T:
        """Compute item ``index``; ``0 <= index < len(self)`` is guaranteed by the caller."""

    def _evaluate(self, index: int) -> T:
        """``_item(index)`` with any failure turned into an ``EvaluationError`` for this stage."""
        try:
            return self._item(index)
        except EvaluationError:
            raise
        except Exception as error:
            raise self._evaluation_error(index, error) from error

    def _evaluation_error(self, index: int, error: BaseException) -> EvaluationError:
        return EvaluationError(
            f"computing item {index} of {self._operation} (built at {self._where}) failed: "
            f"{type(error).__name__}: {error}",
            index=index,
        )

    def _view(self, key: slice) -> LazySequence[T]:
        return _SliceView(self, range(len(self))[key])

    @overload
    def __getitem__(self, key: int) -> T: ...

    @overload
    def __getitem__(self, key: slice) -> LazySequence[T]: ...

    def __getitem__(self, key: int | slice) -> T | LazySequence[T]:
        if isinstance(key, slice):
            return self._view(key)
        if isinstance(key, bool):
            raise TypeError("sequence index must be an integer or a slice, not bool")
        try:
            index = operator.index(key)
        except TypeError:
            raise TypeError(
                f"sequence index must be an integer or a slice, not {type(key).__name__}"
            ) from None
        length = len(self)
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f"index {index} is out of range for a sequence of length {length}")
        return self._evaluate(position)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self)):
            yield self._evaluate(index)

    def __repr__(self) -> str:
        return f"<{self._operation}: {len(self)} items, built at {self._where}>"


class _SliceView(LazySequence[T]):
    """Items ``indices`` of ``parent``, computed by the parent when asked for."""

    __slots__ = ("_indices", "_parent")

    def __init__(self, parent: LazySequence[T], indices: range) -> None:
        step = "" if indices.step == 1 else f":{indices.step}"
        super().__init__(f"[{indices.start}:{indices.stop}{step}] of {parent._operation}")
        self._parent = parent
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    def _item(self, index: int) -> T:
        return self._parent._evaluate(self._indices[index])

    def _view(self, key: slice) -> LazySequence[T]:
        # Slicing a range gives a range, so views never nest: one hop to the real sequence.
        return _SliceView(self._parent, self._indices[key])
