"""Random draws that a run can reproduce byte for byte: one generator per input and stage.

A random step never reads a global generator. A run hands it the ``random.Random`` of
``generator(seed, name, stage)``, seeded from a sha256 of the run's ``--seed``, the input's
name below its input root (POSIX, the manifest's name for it) and the stage: ``"input"`` for
the steps before ``augment`` (run once per input, shared by its variants) and ``"variant"``
plus the variant's suffix for the steps after it (``"variant_r0"``; ``"variant"`` for the
original). Nothing else goes in: not the order of the inputs, not the thread, not the other
files, so ``-j``, ``--buffer`` and the listing order never change what is drawn.

The steps draw through ``uniform``, ``below`` and ``permutation``, which use only
``Random.random()``: Python keeps that sequence stable for a seed across versions, while its
``randrange``, ``shuffle`` and ``uniform`` may change.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = [
    "DRAWS_VERSION",
    "INPUT_STAGE",
    "Draws",
    "below",
    "generator",
    "merged",
    "permutation",
    "uniform",
    "variant_stage",
]

#: Goes into the recipe of every chain with a random step: a change in how steps draw (the
#: derivation, the order or the rounding of draws) must rebuild their outputs.
DRAWS_VERSION = 1

INPUT_STAGE = "input"


def variant_stage(suffix: str) -> str:
    """The stage of a variant's steps after ``augment`` (``"variant_r0"``)."""
    return "variant" + suffix


def generator(seed: int, name: str, stage: str) -> random.Random:
    """The generator of input ``name``'s ``stage`` in a run of ``seed``."""
    key = "\0".join(("imgprep", str(DRAWS_VERSION), str(seed), name, stage))
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return random.Random(int.from_bytes(digest, "big"))


def uniform(rng: random.Random, low: float, high: float) -> float:
    """A float in [low, high)."""
    return low + (high - low) * rng.random()


def below(rng: random.Random, count: int) -> int:
    """A whole number in [0, count)."""
    return min(count - 1, int(rng.random() * count))


def permutation(rng: random.Random, count: int) -> list[int]:
    """0..count-1 in a random order (Fisher-Yates)."""
    order = list(range(count))
    for last in range(count - 1, 0, -1):
        other = below(rng, last + 1)
        order[last], order[other] = order[other], order[last]
    return order


class Draws:
    """What one stage of one input draws: its generator, and each random step's parameters as
    drawn (by step name; a second step of the same name is ``name#2``), for its record."""

    def __init__(self, seed: int, name: str, stage: str) -> None:
        self.key = (seed, name, stage)
        self._rng: random.Random | None = None  # made when a step first draws: most chains
        self.drawn: dict[str, object] = {}  # have no random step, and seeding costs a hash

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = generator(*self.key)
        return self._rng

    def note(self, step: str, parameters: dict[str, Any]) -> None:
        self.drawn[_free_name(self.drawn, step)] = parameters


def merged(*parts: dict[str, object] | None) -> dict[str, object] | None:
    """The draws of an output: its input's stage, then its variant's (None when nothing)."""
    drawn: dict[str, object] = {}
    for part in parts:
        for key, value in (part or {}).items():
            # the same step before and after augment: the variant's gets the next number
            name = key if key not in drawn else _free_name(drawn, key.partition("#")[0])
            drawn[name] = value
    return drawn or None


def _free_name(drawn: dict[str, Any], step: str) -> str:
    """``step``, or ``step#2``, ``step#3``...: the first name ``drawn`` does not hold yet."""
    name, count = step, 1
    while name in drawn:
        count += 1
        name = f"{step}#{count}"
    return name
