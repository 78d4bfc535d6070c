"""A compact index of 64-bit hashes, for what a run keeps per file when it has a million files.

A Python ``set`` or ``dict`` of ints costs 50-100 bytes an entry (a 32-byte int object, and a
table kept a third empty); ``HashIndex`` costs 4 bytes a row plus 4 a bucket on top of the
caller's own ``array('q')`` of keys. It is built once from that array (a counting sort of row
numbers by the key's low bits) and then answers which rows hold a key; ``repeats`` finds the
codes that occur more than once in such an array. Standard library only.
"""

from __future__ import annotations

import itertools
from array import array

__all__ = ["HashIndex", "repeats"]


class HashIndex:
    """Rows of ``keys`` (an ``array('q')``, read, never copied) found by their key.

    Rows of one bucket stay in row order, so ``find`` gives the last row holding a key (the
    last line of a log wins). ``keys`` must not change while the index is used.
    """

    def __init__(self, keys: array[int]) -> None:
        self.keys = keys
        bits = max(4, len(keys).bit_length())  # 1-2 rows a bucket
        self._mask = (1 << bits) - 1
        buckets = array("I", map(self._mask.__and__, keys))
        counts = array("I", [0]) * ((1 << bits) + 1)
        for bucket in buckets:
            counts[bucket + 1] += 1
        self._starts = array("I", itertools.accumulate(counts))
        free = array("I", self._starts)
        self._rows = array("I", [0]) * len(keys)
        for row, bucket in enumerate(buckets):
            self._rows[free[bucket]] = row
            free[bucket] += 1

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: int) -> int:
        """The last row holding ``key``, or -1."""
        bucket = key & self._mask
        found = -1
        keys, rows = self.keys, self._rows
        for position in range(self._starts[bucket], self._starts[bucket + 1]):
            row = rows[position]
            if keys[row] == key:
                found = row
        return found


def repeats(codes: array[int]) -> dict[int, int]:
    """How often each code that occurs more than once occurs, with ~2 bytes a code: a bitmap
    of 16 bits a code says which codes may repeat, counting those says which do (no int object
    per code, unlike a ``set``)."""
    bits = max(10, (16 * len(codes)).bit_length())
    mask = (1 << bits) - 1
    seen = bytearray(1 << (bits - 3))
    maybe: dict[int, int] = {}
    for code in codes:
        bit = code & mask
        if seen[bit >> 3] & (1 << (bit & 7)):
            maybe[code] = 0
        else:
            seen[bit >> 3] |= 1 << (bit & 7)
    if maybe:
        for code in codes:
            if code in maybe:
                maybe[code] += 1
    return {code: count for code, count in maybe.items() if count > 1}
