"""The memory ceiling (``--max-memory``): what one input may need, and a budget threads share.

A worker reserves what an input will need before its pixels are decoded, from the size the
header declares after shrink-on-load (``peak_bytes``), and gives it back once the input's
outputs are written. While the reservations would pass the ceiling, it waits: so however many
workers run and whatever the files declare, the images in memory at once stay within the
ceiling (Python, Pillow and the threads themselves come on top: a fixed overhead). An input
that alone needs more than the ceiling is refused at once (``TooMuchMemory``), never waited
for. Waiting is first come, first served, so a large input is not passed over for ever by
smaller ones.
"""

from __future__ import annotations

import collections
import ctypes
import threading
from collections.abc import Sequence

from imgprep._step_model import Effects, Step
from imgprep.config import format_bytes
from imgprep.errors import ImgprepError

__all__ = ["BudgetClosed", "MemoryBudget", "TooMuchMemory", "peak_bytes"]

# Bytes a pixel takes in Pillow's memory, by decoded mode: one byte for 1, L and P, two for
# I;16 and its byte orders, and four for everything else (Pillow stores RGB, LA and YCbCr as
# four bytes a pixel too).
_ONE_BYTE = frozenset({"1", "L", "P"})
_WORKING_BYTES = 4  # the working modes' worst (RGB, RGBA, I, F)
# Images the steps hold at once, in the largest size the chain reaches: the working image,
# an op's output and its temporaries (resize goes through one pass's image, blur and sharpen
# through float planes, rotate through its expanded canvas). Measured on a 12 MP RGB image:
# no step needed more than twice the larger of its input and output besides its input.
_STEP_IMAGES = 3


def bytes_per_pixel(mode: str) -> int:
    if mode in _ONE_BYTE:
        return 1
    if mode.startswith("I;16"):
        return 2
    return _WORKING_BYTES


def peak_bytes(decoded: tuple[int, int], mode: str, file_bytes: int, steps: Sequence[Step]) -> int:
    """What decoding a file of ``file_bytes`` to ``decoded`` pixels in ``mode`` and applying
    ``steps`` (augment's variants included) may hold at most, conservatively: the file's bytes,
    the decode, and three working images of the largest size the chain reaches (a step whose
    output size is not known from its input's is taken to give the canvas of any rotation)."""
    width, height = decoded
    largest = width * height
    size = decoded
    for step in steps:
        every = [step.effects, *(variant.effects for variant in step.variants)]
        size = max((_size_after(effects, size) for effects in every), key=_area)
        largest = max(largest, _area(size))
    decode = width * height * bytes_per_pixel(mode)
    return file_bytes + decode + _STEP_IMAGES * largest * _WORKING_BYTES


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _size_after(effects: Effects, size: tuple[int, int]) -> tuple[int, int]:
    mapped = effects.maps_size(size)
    if mapped is None and effects.scaled_size is not None:
        mapped = effects.scaled_size(size)
    if mapped is None:  # a free rotation, trim: at most the canvas of any rotation
        side = size[0] + size[1]
        mapped = (side, side)
    return mapped


# glibc keeps freed memory in each thread's arena for reuse: a worker that once held a large
# image keeps its pages after the memory went to another worker, and the process's RSS grows
# towards the sum of every worker's largest (measured: 1.6 GB for 1.3 GB reserved at most,
# -j 4). Blocks from 4 MiB up (Pillow allocates image memory in blocks of up to 16 MiB) are
# mapped one by one once glibc's mmap threshold is fixed there (mallopt M_MMAP_THRESHOLD), so
# they go back to the system when freed (then 0.43 GB). The price: mapping fresh pages costs
# page faults, ~15% more CPU on a chain at full resolution over 12 MP images, and fixing the
# threshold also stops glibc's dynamic trimming, so even a run of small images paid ~10% of
# wall time in system time (the seed bench: 0.3 s of sys became 0.9 s). So the threshold is
# fixed only once an input needs ``_LARGE_INPUT`` or more: retention by the workers' arenas
# below that is a bounded overhead, above it the ceiling would not hold. One arena
# (M_ARENA_MAX 1) would cost nothing, but glibc fixes its arena limit when the first thread
# starts, and one heap fragmented to 0.7-1.0 GB in the same run. Process-wide and once;
# smaller blocks (small images, Python's objects) are unaffected, and other C libraries (musl,
# macOS) simply lack mallopt.
_M_MMAP_THRESHOLD = -3
_MMAP_FROM = 4 << 20
_LARGE_INPUT = 128 << 20  # an input's reservation from which freed images go back at once
_mallopt_done = False


def return_freed_images() -> None:
    """Ask the C allocator to give image memory back to the system as soon as it is freed."""
    global _mallopt_done
    if _mallopt_done:
        return
    _mallopt_done = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)


class TooMuchMemory(ImgprepError):
    """An input needs more memory than the whole ceiling."""

    def __init__(self, needed: int, ceiling: int) -> None:
        super().__init__(
            f"decoding it needs about {format_bytes(needed)}, more than the --max-memory "
            f"limit of {format_bytes(ceiling)}"
        )
        self.needed, self.ceiling = needed, ceiling


class BudgetClosed(ImgprepError):
    """The run ended while an input was waiting for memory."""


class MemoryBudget:
    """Bytes reserved by threads, at most ``ceiling`` at once; ``reserve`` waits its turn."""

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError(f"ceiling must be positive, not {ceiling}")
        self.ceiling = ceiling
        self.reserved = 0
        self._condition = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()  # waiting, first first
        self._closed = False

    def reserve(self, amount: int) -> None:
        """Wait until ``amount`` more bytes fit under the ceiling and every earlier request
        was served, then hold them. Raises ``TooMuchMemory`` at once when ``amount`` alone is
        above the ceiling, and ``BudgetClosed`` when ``close`` is called meanwhile."""
        if amount > self.ceiling:
            raise TooMuchMemory(amount, self.ceiling)
        if amount >= _LARGE_INPUT:
            return_freed_images()
        turn = object()
        with self._condition:
            self._queue.append(turn)
            try:
                while not self._closed and (
                    self._queue[0] is not turn or self.reserved + amount > self.ceiling
                ):
                    self._condition.wait()
                if self._closed:
                    raise BudgetClosed("the run ended while this input waited for memory")
                self.reserved += amount
            finally:
                self._queue.remove(turn)
                self._condition.notify_all()  # the next in line may fit too

    def release(self, amount: int) -> None:
        """Give back ``amount`` bytes a ``reserve`` took."""
        with self._condition:
            self.reserved -= amount
            self._condition.notify_all()

    def close(self) -> None:
        """Wake every waiting ``reserve``: they raise ``BudgetClosed``."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
