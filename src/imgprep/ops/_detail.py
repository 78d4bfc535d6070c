"""Detail ops: Gaussian blur and unsharp-mask sharpening.

8-bit images use Pillow's ``ImageFilter`` (its Gaussian is three box blurs). Alpha is kept
as it is, and the colour is filtered premultiplied by alpha (Pillow's ``RGBa``), so the colour
hidden under transparent pixels never bleeds into visible ones. Pillow cannot filter I;16, I
or F: those are blurred here with Pillow's own kernel (three extended box blurs each way,
edges repeated) computed in float with ``ImageMath`` sums of shifted copies, so they keep
their depth and agree with the 8-bit result to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageFilter

from imgprep.errors import UsageError
from imgprep.ops._common import (
    _back_to_bilevel,
    _colour_mode,
    _copy_info,
    _deep_range,
    _from_deep_float,
    _math,
)

_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


def _check_radius(radius: float) -> float:
    valid = isinstance(radius, int | float) and not isinstance(radius, bool)
    if not valid or not math.isfinite(radius) or radius < 0:
        raise UsageError(f"radius must be a finite number >= 0, not {radius!r}")
    return float(radius)


def _filtered(
    image: Image.Image,
    image_filter: ImageFilter.Filter,
    deep: Callable[[Image.Image], Image.Image],
) -> Image.Image:
    """``image_filter`` in the working mode the module docstring describes."""
    if image.mode in ("I;16", "I", "F"):
        return deep(image)
    if image.mode == "1":  # as L, thresholded back at 128
        return _back_to_bilevel(image, _copy_info(image, image.convert("L").filter(image_filter)))
    working = _colour_mode(image)
    if working.mode in _PREMULTIPLIED:
        alpha = working.getchannel("A")
        result = working.convert(_PREMULTIPLIED[working.mode]).filter(image_filter)
        result = result.convert(working.mode)
        result.putalpha(alpha)  # our own new image: the original alpha, untouched
    else:
        result = working.filter(image_filter)
    return _copy_info(working, result)


def blur(image: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur with standard deviation ``radius`` pixels (``ImageFilter.GaussianBlur``);
    0 gives an unchanged copy. Alpha kept as it is; P/PA come back as RGB/RGBA; 1 is blurred
    as L and thresholded at 128; I;16, I and F keep their depth (see the module docstring)."""
    radius = _check_radius(radius)
    if radius == 0:
        return image.copy()
    return _filtered(
        image,
        ImageFilter.GaussianBlur(radius),
        lambda deep: _from_deep_float(deep, _gaussian_float(deep.convert("F"), radius)),
    )


def sharpen(
    image: Image.Image, radius: float = 2, percent: int = 150, threshold: int = 3
) -> Image.Image:
    """Unsharp mask, Pillow's ``ImageFilter.UnsharpMask`` (and its defaults): where a pixel
    differs from its Gaussian blur (``radius``) by more than ``threshold`` levels, add
    ``percent`` % of the difference. Modes as ``blur``; for I;16 and I the threshold is in
    8-bit levels, scaled by 257."""
    radius = _check_radius(radius)
    for name, value in (("percent", percent), ("threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{name} must be a whole number >= 0, not {value!r}")
    return _filtered(
        image,
        ImageFilter.UnsharpMask(radius, percent, threshold),
        lambda deep: _sharpen_deep(deep, radius, percent, threshold),
    )


def _sharpen_deep(image: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    values = image.convert("F")
    blurred = _gaussian_float(values, radius)
    limit = threshold * (1.0 if image.mode == "F" else _deep_range(image.mode) / 255)
    gain = percent / 100

    def unsharp(env: dict[str, Any]) -> Any:
        difference = env["a"] - env["b"]
        return env["a"] + difference * gain * (abs(difference) > limit)

    sharpened = _math(unsharp, a=values, b=blurred)
    return _from_deep_float(image, sharpened)


def _box_radius(radius: float, passes: int) -> float:
    """Pillow's box radius for a Gaussian of standard deviation ``radius`` made of ``passes``
    box blurs (Gwosdek et al., "Theoretical foundations of Gaussian convolution by extended
    box filtering", as in Pillow's BoxBlur.c)."""
    sigma2 = radius * radius / passes
    length = math.sqrt(12.0 * sigma2 + 1.0)
    whole = math.floor((length - 1.0) / 2.0)
    part = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
    part /= 6 * (sigma2 - (whole + 1) * (whole + 1))
    return whole + part


def _gaussian_float(values: Image.Image, radius: float) -> Image.Image:
    """A float (F) image blurred as Pillow's ``GaussianBlur(radius)`` blurs 8-bit images: three
    extended box blurs across, three down, edge pixels repeated outwards; in float, so 16-bit
    values keep their precision."""
    box = _box_radius(radius, 3)
    whole = math.floor(box)
    edge = box - whole
    weights = [edge, *[1.0] * (2 * whole + 1), edge]
    weights = [weight / (2 * box + 1) for weight in weights]
    for _ in range(2):  # rows, then (transposed) columns
        for _ in range(3):
            values = _convolve_rows(values, weights, whole + 1)
        values = values.transpose(Image.Transpose.TRANSPOSE)
    return values


def _convolve_rows(values: Image.Image, weights: list[float], reach: int) -> Image.Image:
    width, height = values.size
    padded = Image.new("F", (width + 2 * reach, height))
    padded.paste(values, (reach, 0))
    left_edge = values.crop((0, 0, 1, height)).resize((reach, height), Image.Resampling.NEAREST)
    right_edge = values.crop((width - 1, 0, width, height)).resize(
        (reach, height), Image.Resampling.NEAREST
    )
    padded.paste(left_edge, (0, 0))
    padded.paste(right_edge, (width + reach, 0))

    def term(weight: float) -> Callable[[dict[str, Any]], Any]:
        return lambda env: env["r"] + env["a"] * weight

    result = _math(lambda env: env["a"] * weights[0], a=padded.crop((0, 0, width, height)))
    for shift, weight in enumerate(weights[1:], start=1):
        result = _math(term(weight), r=result, a=padded.crop((shift, 0, shift + width, height)))
    return result
