"""Which of the gathered inputs a run processes: ``--limit N`` and ``--sample N --seed S``.

``--limit N`` keeps the first N inputs in the run's order. ``--sample N`` keeps N inputs
picked by the run's seed, and picks the same files however they were listed or found: each
input is ranked by a hash of the seed and its path relative to its input root (the name its
outputs get below ``-o``, in POSIX form), the N lowest ranks are kept, and they keep the run's
order. A file found under another root, or given another way (``-i photos`` or a stdin
list with ``--base photos``), has the same name and so the same chance. Both together: the
sample, then its first N.
"""

from __future__ import annotations

import hashlib
import heapq
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imgprep._discover import InputFile, InputList
from imgprep.errors import UsageError

if TYPE_CHECKING:
    from imgprep._run_options import RunOptions

__all__ = ["rank", "select_inputs"]


def rank(seed: int, relative: str) -> tuple[int, str]:
    """Where an input falls in the sample order of ``seed``: a 64-bit hash of the seed and its
    POSIX relative path (ties, one name under two roots, broken by the name)."""
    key = f"{seed}\0{relative}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"), relative


def select_inputs(inputs: Sequence[InputFile], options: RunOptions) -> Sequence[InputFile]:
    """``inputs`` as ``options.sample`` and ``options.limit`` cut them (unchanged without)."""
    limit, sample = options.limit, options.sample
    for name, value in (("limit", limit), ("sample", sample)):
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be a whole number of at least 1, not {value}")
    kept: Sequence[int] = range(len(inputs))
    if sample is not None and sample < len(kept):
        names = [_relative(inputs, index).replace(os.sep, "/") for index in kept]
        chosen = heapq.nsmallest(sample, kept, key=lambda index: rank(options.seed, names[index]))
        kept = sorted(chosen)
    if limit is not None:
        kept = kept[:limit]
    if len(kept) == len(inputs):
        return inputs
    return _subset(inputs, kept)


def _relative(inputs: Sequence[InputFile], index: int) -> str:
    if isinstance(inputs, InputList):
        return inputs.relative_text(index)  # no Path made per input
    return str(inputs[index].relative)


def _subset(inputs: Sequence[InputFile], indices: Sequence[int]) -> Sequence[InputFile]:
    if not isinstance(inputs, InputList):
        return [inputs[index] for index in indices]
    return inputs.subset(indices)  # with what the walk knew of each: no second stat
