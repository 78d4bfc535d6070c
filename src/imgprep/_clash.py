"""Name clashes between inputs: what ``--on-collision`` does with them, and how they are worded.

Two inputs clash when they would be written to the same output file: ``a.dds`` and ``a.png``
both to ``a.png``, or one input's ``a_mirror.jpg`` next to an input named ``a_mirror.jpg``.
``Plan.check`` finds them (``_plan``); this module holds what it found and says it:

- ``fail`` (the default): the run is refused before anything is written, and the message
  names the template field that tells the two apart (``{inext}``, ``{stem}``) when one does.
- ``skip``: the clashing inputs fail, each with one line naming the other; the rest are
  written.
- ``suffix``: a clashing input's stem gets its own extension (``a.dds`` -> ``a.dds.png``,
  ``a.png`` -> ``a.png.png``: the ``{name}`` of the input, then the output's). A suffixed name
  can clash again (with an input named ``a.dds.png``): planning goes round again, suffixing
  the inputs of every new clash, until no clash is new; inputs still clashing then (already
  suffixed, or named by a template without ``{stem}``) fail as with ``skip``, so no output is
  ever written twice.

Nothing is kept per input until the first clash; then a byte and an 8-byte index per input
(the plan of a million inputs stays as flat as its hash arrays).
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator, Sequence

from imgprep._discover import split_name

__all__ = ["Clashes", "collision_advice"]

_NONE = -1


class Clashes:
    """Which inputs clash, and which were suffixed, for a plan of ``count`` inputs."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._other: array[int] | None = None  # per input: the input it clashes with, or -1
        self._suffixed: bytearray | None = None  # per input: 1 when its stem got its extension

    def __bool__(self) -> bool:
        """Whether any clash was ever found (so some input failed or was suffixed)."""
        return self._other is not None or self._suffixed is not None

    def subset(self, indices: Sequence[int]) -> Clashes:
        """What a plan of the inputs at ``indices`` alone keeps of these clashes: which inputs
        were suffixed. An input that fails for a clash fails there through its problem text
        (``Plan.problem``), since the input it clashes with may not be among them."""
        kept = Clashes(len(indices))
        if self._suffixed is not None:
            kept._suffixed = bytearray(self._suffixed[index] for index in indices)
        return kept

    def record(self, first: int, second: int) -> None:
        if self._other is None:
            self._other = array("q", [_NONE]) * self.count
        self._other[first] = second
        self._other[second] = first

    def forget_clashes(self) -> None:
        """Before planning goes round again with the suffixed names."""
        if self._other is not None:
            self._other = array("q", [_NONE]) * self.count

    def suffix_clashing(self) -> bool:
        """Suffix every clashing input not suffixed yet; whether there was any."""
        if self._other is None:
            return False
        if self._suffixed is None:
            self._suffixed = bytearray(self.count)
        suffixed, changed = self._suffixed, False
        for index, other in enumerate(self._other):
            if other != _NONE and not suffixed[index]:
                suffixed[index] = changed = True
        return changed

    def is_suffixed(self, index: int) -> bool:
        return self._suffixed is not None and bool(self._suffixed[index])

    def other(self, index: int) -> int | None:
        """The input that input ``index`` still clashes with (it fails), if any."""
        if self._other is None:
            return None
        other = self._other[index]
        return None if other == _NONE else other

    def touched(self) -> Iterator[int]:
        """The inputs whose outputs changed after a first look: failed or suffixed."""
        if self._other is None:
            return
        suffixed = self._suffixed
        for index, other in enumerate(self._other):
            if other != _NONE or (suffixed is not None and suffixed[index]):
                yield index


def collision_advice(template: str, first: str, second: str) -> str:
    """What tells the inputs ``first`` and ``second`` (paths) apart in ``--name``."""
    stem_a, ext_a = split_name(os.path.basename(first))
    stem_b, ext_b = split_name(os.path.basename(second))
    uses = {field for field in ("stem", "inext", "name") if "{" + field + "}" in template}
    if stem_a == stem_b and ext_a != ext_b and not uses & {"inext", "name"}:
        return (
            "the field {inext} (the input's extension) tells them apart, "
            "e.g. --name '{stem}_{inext}{suffix}.{ext}'"
        )
    if stem_a != stem_b and not uses:
        return "the field {stem} (the input's name) tells them apart"
    return "no --name field tells them apart: rename one"
