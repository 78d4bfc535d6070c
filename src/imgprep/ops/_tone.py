"""Histogram tone ops (grayscale, autocontrast, equalize, normalize), mode by mode."""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable

from PIL import Image, ImageOps

from imgprep.errors import UsageError
from imgprep.ops._common import (
    _as_deep_working,
    _colour_mode,
    _copy_info,
    _deep_range,
    _from_deep_working,
    _has_alpha,
)


def grayscale(image: Image.Image) -> Image.Image:
    """Convert to grey (ITU-R 601-2 luma: L = 0.299 R + 0.587 G + 0.114 B, as Pillow).

    RGB, CMYK and P without transparency -> L; RGBA, LA, PA and P with transparency -> LA with
    the alpha kept. L, LA, 1, I;16, I and F are already grey: an unchanged copy (depth kept).
    An ICC profile describing the colour space is dropped: it does not describe grey data.
    """
    if image.mode in ("L", "LA", "1", "I;16", "I", "F"):
        return image.copy()
    working = _colour_mode(image)
    grey = working.convert("LA" if _has_alpha(working) else "L")
    grey.info.pop("icc_profile", None)
    return grey


def check_cutoff(cutoff: float) -> float:
    """``cutoff`` when it is a valid autocontrast cutoff (``0 <= cutoff < 50``)."""
    valid = isinstance(cutoff, int | float) and not isinstance(cutoff, bool)
    if not valid or not 0 <= cutoff < 50:
        raise UsageError(f"cutoff must be in [0, 50), not {cutoff!r}")
    return cutoff


def autocontrast(image: Image.Image, cutoff: float = 0) -> Image.Image:
    """Stretch each channel so its darkest value becomes black and its lightest white.

    ``cutoff`` is the percentage (``0 <= cutoff < 50``) of darkest and of lightest pixels
    ignored (clipped) when finding the range, as ``ImageOps.autocontrast``.

    RGB and L: ``ImageOps.autocontrast`` (per channel). RGBA/LA: the same on the colour
    channels, alpha untouched and fully transparent pixels left out of the histogram.
    P/PA: done as RGB/RGBA and returned so. CMYK: per ink channel (C, M, Y, K each stretched to
    0..255), mode kept. I;16 and I: stretched to 0..65535; F: to 0.0..255.0 (mode kept; with a
    cutoff the range is found from Pillow's 256-bin histogram, so to within 1/255 of it).
    1: already full contrast, an unchanged copy.
    """
    cutoff = check_cutoff(cutoff)
    return _map_tones(
        image,
        lambda bands, mask: _stretch_8bit(bands, cutoff, mask),
        lambda deep: _stretch_deep(deep, cutoff),
    )


def _stretch_8bit(image: Image.Image, cutoff: float, mask: Image.Image | None) -> Image.Image:
    """``ImageOps.autocontrast(image, cutoff, mask=mask)`` for L and RGB, pixel for pixel.

    Pillow finds each band's range by walking its histogram in Python and builds the table in
    Python too; here the range comes from a running total (bisect) and the table, which depends
    only on the range, is remembered: the same pixels for a fraction of the interpreter time.
    """
    histogram = image.histogram(mask)
    table: list[int] = []
    for start in range(0, len(histogram), 256):
        totals = list(itertools.accumulate(histogram[start : start + 256]))
        count = totals[-1]
        # Pillow removes int(count * cutoff // 100) pixels from each end, then takes the first
        # and last levels left: the levels of the first and last remaining pixel in sort order.
        cut = int(count * cutoff // 100)
        low = bisect.bisect_right(totals, cut)
        high = bisect.bisect_left(totals, count - cut)
        table.extend(_stretch_table(low, high))
    return image.point(table)


@functools.lru_cache(maxsize=512)
def _stretch_table(low: int, high: int) -> tuple[int, ...]:
    """Pillow's autocontrast table mapping ``low`` to 0 and ``high`` to 255 (identity when
    ``high <= low``), with its arithmetic: truncation, then clipping."""
    if high <= low:
        return tuple(range(256))
    scale = 255.0 / (high - low)
    offset = -low * scale
    return tuple(min(255, max(0, int(level * scale + offset))) for level in range(256))


def equalize(image: Image.Image) -> Image.Image:
    """Equalize the histogram: spread the grey levels so each is about equally common.

    RGB and L: ``ImageOps.equalize`` (per channel). RGBA/LA: colour channels equalized over the
    visible pixels, alpha untouched. P/PA: done as RGB/RGBA and returned so. CMYK: per ink
    channel, mode kept. I;16, I and F keep their mode and range (0..65535, 0..255.0) but are
    equalized over 256 levels (Pillow's histograms of these modes have 256 bins), so the
    result has at most 256 distinct values. 1: an unchanged copy.
    """
    return _map_tones(image, lambda band, mask: ImageOps.equalize(band, mask=mask), _equalize_deep)


def normalize(image: Image.Image, cutoff: float = 0) -> Image.Image:
    """Stretch the tones to the full range with ONE mapping for all colour channels.

    ``autocontrast`` stretches each channel on its own, which also shifts the colour balance (a
    photo with a blue cast comes out neutral, or a sunset loses its warmth). ``normalize``
    finds one range over all the colour channels together (ImageMagick's ``-auto-level``), so
    colours keep their balance and only the contrast grows. ``cutoff`` as in ``autocontrast``,
    counted over the pooled channel values. On grey images (L, LA, I;16, I, F, and 1) the two
    are the same op, pixel for pixel. Alpha is left alone and fully transparent pixels do not
    count; P/PA are done as RGB/RGBA and returned so; CMYK uses one range for the four inks.
    """
    cutoff = check_cutoff(cutoff)
    return _map_tones(
        image,
        lambda bands, mask: _stretch_linked(bands, cutoff, mask),
        lambda deep: _stretch_deep(deep, cutoff),
        linked=True,
    )


def _stretch_linked(image: Image.Image, cutoff: float, mask: Image.Image | None) -> Image.Image:
    """One autocontrast table, from the histogram of all bands pooled, applied to each band."""
    histogram = image.histogram(mask)
    bands = len(histogram) // 256
    pooled = [sum(histogram[level::256]) for level in range(256)]
    totals = list(itertools.accumulate(pooled))
    count = totals[-1]
    cut = int(count * cutoff // 100)
    low = bisect.bisect_right(totals, cut)
    high = bisect.bisect_left(totals, count - cut)
    return image.point(_stretch_table(low, high) * bands)


def _map_tones(
    image: Image.Image,
    eight_bit: Callable[[Image.Image, Image.Image | None], Image.Image],
    deep: Callable[[Image.Image], Image.Image],
    *,
    linked: bool = False,
) -> Image.Image:
    """Apply a histogram-based tone map, choosing the working mode as the docstrings say
    (``linked``: CMYK's inks are mapped together, not one by one)."""
    if image.mode == "1":
        return image.copy()
    if image.mode in ("I;16", "I", "F"):
        return deep(image)
    working = _colour_mode(image)
    if working.mode in ("L", "RGB"):
        result = eight_bit(working, None)
    elif working.mode in ("LA", "RGBA"):
        *colour_bands, alpha = working.split()
        colour_mode = working.mode[:-1]
        colour = Image.merge(colour_mode, colour_bands)
        result = Image.merge(working.mode, [*eight_bit(colour, alpha).split(), alpha])
    elif working.mode == "CMYK" and linked:
        result = eight_bit(working, None)
    elif working.mode == "CMYK":
        result = Image.merge("CMYK", [eight_bit(band, None) for band in working.split()])
    else:
        raise UsageError(f"tone operations support the imgprep modes, not {image.mode!r}")
    return _copy_info(working, result)


def _histogram_limits(working: Image.Image, cutoff: float) -> tuple[float, float]:
    low, high = working.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if not cutoff or high <= low:
        return low, high
    # Pillow bins I and F images over (low, high) into 256 bins with scale 255 / (high - low).
    histogram = working.histogram(extrema=(low, high))
    clip = sum(histogram) * cutoff / 100
    step = (high - low) / 255
    low_bin = _first_bin_past(histogram, clip)
    high_bin = 255 - _first_bin_past(histogram[::-1], clip)
    return low + low_bin * step, min(high, low + (high_bin + 1) * step)


def _first_bin_past(counts: list[int], clip: float) -> int:
    """Index of the first bin where the running total of ``counts`` exceeds ``clip``."""
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen > clip:
            return index
    return len(counts) - 1


def _stretch_deep(image: Image.Image, cutoff: float) -> Image.Image:
    working = _as_deep_working(image)
    low, high = _histogram_limits(working, cutoff)
    if high <= low:
        return image.copy()
    scale = _deep_range(image.mode) / (high - low)
    offset = -low * scale
    return _from_deep_working(image, working.point(lambda value: value * scale + offset))


def _equalize_deep(image: Image.Image) -> Image.Image:
    working = _as_deep_working(image)
    low, high = working.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if high <= low:
        return image.copy()
    scale = 255 / (high - low)
    offset = -low * scale
    levels = working.point(lambda value: value * scale + offset).convert("L")
    equalized = ImageOps.equalize(levels).convert(working.mode)
    if image.mode == "F":
        return _from_deep_working(image, equalized)
    return _from_deep_working(image, equalized.point(lambda value: value * 257))
