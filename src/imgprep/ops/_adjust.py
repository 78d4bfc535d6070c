"""Per-pixel tone maps: brightness, contrast, saturation, gamma, invert and posterize.

8-bit images go through Pillow (``ImageEnhance``, ``ImageOps``, ``Image.point``); alpha is
split off first and put back untouched. 16-bit and float grey (I;16, I, F) are computed in
float with ``ImageMath`` on their own range (0..65535, F 0..255.0), rounded and clipped back
to their mode, never through 8 bits. CMYK is refused with an ``OpError``: ink values are not
light, so "brighter" or "gamma" has no meaning there (``convert rgb`` first).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageEnhance, ImageOps

from imgprep.errors import OpError, UsageError
from imgprep.ops._common import (
    _back_to_bilevel,
    _colour_mode,
    _copy_info,
    _deep_range,
    _from_deep_float,
    _from_deep_working,
    _math,
)

_DEEP_MODES = ("I;16", "I", "F")


def _per_pixel(
    image: Image.Image,
    name: str,
    eight_bit: Callable[[Image.Image], Image.Image],
    deep: Callable[[Image.Image], Image.Image],
) -> Image.Image:
    """Apply a per-pixel map: ``eight_bit`` to L or RGB colour bands, ``deep`` to I;16/I/F."""
    if image.mode in _DEEP_MODES:
        return deep(image)
    if image.mode == "1":  # as L, thresholded back at 128
        return _back_to_bilevel(image, _copy_info(image, eight_bit(image.convert("L"))))
    working = _colour_mode(image)
    if working.mode in ("L", "RGB"):
        result = eight_bit(working)
    elif working.mode in ("LA", "RGBA"):
        *colour_bands, alpha = working.split()
        colour = eight_bit(Image.merge(working.mode[:-1], colour_bands))
        result = Image.merge(working.mode, [*colour.split(), alpha])
    else:
        raise OpError(
            f"{name} works on grey and RGB images (with or without alpha), 16-bit and float "
            f"grey, not {image.mode}; convert it to rgb first"
        )
    return _copy_info(working, result)


def _deep_map(image: Image.Image, expression: Callable[[Any], Any]) -> Image.Image:
    """``expression`` of the pixel values of an I;16, I or F image, computed in float, then
    rounded (integer modes) and clipped to the mode's range as the other deep ops do."""
    mapped = _math(expression, a=image.convert("F"))
    return _from_deep_float(image, mapped.convert("F"))


def _clipped(env: Any, value: Any, top: float) -> Any:
    return env["min"](env["max"](value, 0.0), top)


def check_factor(factor: float, name: str = "factor") -> float:
    """``factor`` when it is a finite number >= 0 (an enhancement factor; 1 changes nothing)."""
    valid = isinstance(factor, int | float) and not isinstance(factor, bool)
    if not valid or not math.isfinite(factor) or factor < 0:
        raise UsageError(f"{name} must be a finite number >= 0, not {factor!r}")
    return float(factor)


def brightness(image: Image.Image, factor: float) -> Image.Image:
    """Scale the brightness: ``ImageEnhance.Brightness(image).enhance(factor)``.

    0 gives black, 1 the image unchanged, 2 twice as bright (clipped). 16-bit and float grey:
    each value times ``factor``, clipped to the mode's range.
    """
    factor = check_factor(factor)
    return _per_pixel(
        image,
        "brightness",
        lambda colour: ImageEnhance.Brightness(colour).enhance(factor),
        lambda deep: _deep_map(deep, lambda env: env["a"] * factor),
    )


def contrast(image: Image.Image, factor: float) -> Image.Image:
    """Scale the contrast around the mean grey: ``ImageEnhance.Contrast(image).enhance(factor)``.

    0 gives a flat image of the mean grey (Pillow's: the rounded mean of the luma, alpha not
    considered), 1 the image unchanged. 16-bit and float grey: ``mean + factor * (v - mean)``
    with the exact mean of the values.
    """
    factor = check_factor(factor)
    return _per_pixel(
        image,
        "contrast",
        lambda colour: ImageEnhance.Contrast(colour).enhance(factor),
        lambda deep: _deep_contrast(deep, factor),
    )


def _deep_contrast(image: Image.Image, factor: float) -> Image.Image:
    values = image.convert("F")
    mean = values.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # exact average
    assert isinstance(mean, float)
    return _deep_map(image, lambda env: (env["a"] - mean) * factor + mean)


def saturation(image: Image.Image, factor: float) -> Image.Image:
    """Scale the colourfulness: ``ImageEnhance.Color(image).enhance(factor)``.

    0 gives grey (in the image's own mode), 1 the image unchanged, 2 more saturated. Grey
    images (L, LA, 1, I;16, I, F) have no colour: an unchanged copy.
    """
    factor = check_factor(factor)
    if image.mode in ("L", "LA", "1", *_DEEP_MODES):
        return image.copy()
    return _per_pixel(
        image,
        "saturation",
        lambda colour: ImageEnhance.Color(colour).enhance(factor),
        lambda deep: deep.copy(),
    )


def gamma(image: Image.Image, value: float) -> Image.Image:
    """Gamma-correct like ImageMagick's ``-gamma``: ``out = full * (in / full) ** (1 / value)``.

    ``value`` > 1 lightens the mid-tones, < 1 darkens them, 1 changes nothing; black and white
    stay. ``full`` is 255, 65535 for I;16 and I, 255.0 for F (8-bit results rounded).
    """
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not math.isfinite(value) or value <= 0:
        raise UsageError(f"gamma must be a finite number > 0, not {value!r}")
    exponent = 1 / value
    table = [round(255 * (level / 255) ** exponent) for level in range(256)]

    def deep(image: Image.Image) -> Image.Image:
        top = _deep_range(image.mode)
        return _deep_map(image, lambda env: (_clipped(env, env["a"], top) / top) ** exponent * top)

    return _per_pixel(image, "gamma", lambda colour: colour.point(table * len(colour.mode)), deep)


def invert(image: Image.Image) -> Image.Image:
    """The negative: ``ImageOps.invert`` (``255 - v``); ``65535 - v`` for I;16 and I, ``255 - v``
    for F (values outside the range clipped first); 1 exactly. Alpha untouched."""

    def deep(image: Image.Image) -> Image.Image:
        top = _deep_range(image.mode)
        return _deep_map(image, lambda env: top - _clipped(env, env["a"], top))

    return _per_pixel(image, "invert", ImageOps.invert, deep)


def posterize(image: Image.Image, bits: int) -> Image.Image:
    """Keep the top ``bits`` (1..8) of each channel: ``ImageOps.posterize``, 2**bits levels.

    I;16 and I keep the top ``bits`` of 16 (the same 2**bits levels over 0..65535); F, on
    0..255.0, is floored to the same levels as 8-bit.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise UsageError(f"bits must be a whole number in 1..8, not {bits!r}")
    return _per_pixel(
        image,
        "posterize",
        lambda colour: ImageOps.posterize(colour, bits),
        lambda deep: _deep_posterize(deep, bits),
    )


def _deep_posterize(image: Image.Image, bits: int) -> Image.Image:
    if image.mode == "F":
        step = float(2 ** (8 - bits))
        return _deep_map(
            image,
            lambda env: env["float"](env["int"](_clipped(env, env["a"], 255.0) / step)) * step,
        )
    mask = 0xFFFF & ~(2 ** (16 - bits) - 1)
    working = image.convert("I;16").convert("I")  # clipped to 0..65535
    return _from_deep_working(image, _math(lambda env: env["a"] & mask, a=working))


def hue(image: Image.Image, shift: float) -> Image.Image:
    """Turn every hue by ``shift`` of a full turn, in [-0.5, 0.5], as torchvision's
    ``adjust_hue`` does with Pillow: in HSV, each H value (0..255) plus ``int(shift * 255)``,
    wrapping around. 0 changes nothing. Grey images (L, LA, 1, I;16, I, F) have no hue: an
    unchanged copy. Alpha is left alone.
    """
    valid = isinstance(shift, int | float) and not isinstance(shift, bool)
    if not valid or not math.isfinite(shift) or not -0.5 <= shift <= 0.5:
        raise UsageError(f"hue shift must be a number in [-0.5, 0.5], not {shift!r}")
    if image.mode in ("L", "LA", "1", *_DEEP_MODES):
        return image.copy()
    turn = int(shift * 255)  # truncated toward 0, as numpy's int8 does in torchvision
    table = [(level + turn) % 256 for level in range(256)]

    def eight_bit(colour: Image.Image) -> Image.Image:
        if colour.mode == "L":
            return colour.copy()
        hue_band, saturation_band, value_band = colour.convert("HSV").split()
        shifted = Image.merge("HSV", (hue_band.point(table), saturation_band, value_band))
        return shifted.convert("RGB")

    return _per_pixel(image, "hue", eight_bit, lambda deep: deep.copy())
