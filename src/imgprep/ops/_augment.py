"""The pure ops behind the random steps: a crop resampled to a size, and colour jitter.

They take what was drawn as plain arguments (a box, factors in an order) and are
deterministic: the same image and arguments give the same pixels. Drawing them is the step
table's job (``_step_table._random``), from a generator the run seeds per input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PIL import Image

from imgprep.errors import OpError, UsageError
from imgprep.ops._adjust import brightness, contrast, hue, saturation
from imgprep.ops._common import Box, SizeLike, _as_size
from imgprep.ops._geometry import resize

#: What ``jitter`` can adjust, by name, in the words of torchvision's ColorJitter.
JITTER_ADJUSTMENTS: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "brightness": brightness,
    "contrast": contrast,
    "saturation": saturation,
    "hue": hue,
}


def resized_crop(
    image: Image.Image,
    box: Box,
    size: SizeLike,
    *,
    resample: str | Image.Resampling = "bilinear",
    source_size: tuple[int, int] | None = None,
    source_box: tuple[float, float, float, float] | None = None,
) -> Image.Image:
    """Keep ``box`` (left, top, right, bottom; whole pixels inside the image) and resample it
    to exactly ``size`` (both sides), as torchvision's ``resized_crop``: ``image.crop(box)``
    resized with ``resample`` (default bilinear) in one pass. Modes as ``resize``.

    ``source_size`` and ``source_box``: ``image`` is a reduced decode of a ``source_size``
    image (which lies in ``source_box`` of it); ``box`` is in the full image's pixels. The
    whole pixels of ``image`` around the matching box are kept and the box's fractional
    place in them is resampled, so the output covers the same part as on the full image.
    """
    target = _as_size(size)
    if target.width is None or target.height is None:
        raise UsageError(f"size needs both sides, not {size!r}")
    full = image.size if source_size is None else source_size
    left, top, right, bottom = box
    if not (0 <= left < right <= full[0] and 0 <= top < bottom <= full[1]):
        raise OpError(f"crop box {box} must lie inside the {full[0]}x{full[1]} image")
    output = (target.width, target.height)
    if source_size is None and source_box is None:
        return resize(image.crop(box), output, "stretch", resample=resample)
    origin_x, origin_y, end_x, end_y = source_box or (0.0, 0.0, *_reduced_extent(image, full))
    x_scale, y_scale = (end_x - origin_x) / full[0], (end_y - origin_y) / full[1]
    mapped = (
        origin_x + left * x_scale,
        origin_y + top * y_scale,
        origin_x + right * x_scale,
        origin_y + bottom * y_scale,
    )
    kept = (
        math.floor(mapped[0]),
        math.floor(mapped[1]),
        min(image.width, math.ceil(mapped[2])),
        min(image.height, math.ceil(mapped[3])),
    )
    inside = (mapped[0] - kept[0], mapped[1] - kept[1], mapped[2] - kept[0], mapped[3] - kept[1])
    return resize(
        image.crop(kept),
        output,
        "stretch",
        resample=resample,
        source_size=(right - left, bottom - top),
        source_box=inside,
    )


def _reduced_extent(image: Image.Image, full: tuple[int, int]) -> tuple[float, float]:
    """Where a full image ends in its power-of-two reduced decode ``image`` (the decoder
    rounds the last partial block up, so a little short of the image's edge)."""
    for factor in (1, 2, 4, 8):
        if (-(-full[0] // factor), -(-full[1] // factor)) == image.size:
            return full[0] / factor, full[1] / factor
    raise UsageError(f"source_size {full} is not a power-of-two reduction of {image.size}")


def jitter(image: Image.Image, adjustments: Sequence[tuple[str, float]]) -> Image.Image:
    """Apply ``adjustments`` in their order: ``(name, value)`` pairs of ``JITTER_ADJUSTMENTS``
    (brightness, contrast and saturation factors, a hue shift), each the op of that name. The
    random step ``jitter`` draws them as torchvision's ColorJitter does."""
    result = image.copy()
    for name, value in adjustments:
        adjust = JITTER_ADJUSTMENTS.get(name)
        if adjust is None:
            known = ", ".join(JITTER_ADJUSTMENTS)
            raise UsageError(f"jitter adjusts {known}, not {name!r}")
        result = adjust(result, value)
    return result
