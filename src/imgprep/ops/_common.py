"""What every op shares: sizes, colours, the working modes and 16-bit helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

from PIL import Image, ImageColor, ImageMath

from imgprep.errors import UsageError

#: A colour: any string ``PIL.ImageColor`` accepts ("red", "#ff000080", "hsl(0,100%,50%)"),
#: a number (single-band modes) or a tuple in the image's own mode.
Color: TypeAlias = str | float | tuple[float, ...]


class Size(NamedTuple):
    """A requested box; ``None`` for a side means that side follows the aspect ratio."""

    width: int | None
    height: int | None


SizeLike: TypeAlias = Size | tuple[int | None, int | None] | int


Box: TypeAlias = tuple[int, int, int, int]
"""A box ``(left, top, right, bottom)`` in whole pixels, as Pillow's ``Image.crop`` takes it."""

_ALPHA_MODES = ("RGBA", "LA", "PA")
_SIXTEEN_BIT_MODES = ("I;16", "I")  # value range 0..65535 for autocontrast/equalize/colours
_SIXTEEN_BIT_MAX = 65535
_FLOAT_MAX = 255.0
_SIZE_FORMS = "WIDTHxHEIGHT, WIDTH, WIDTHx or xHEIGHT"


# --------------------------------------------------------------------------- sizes


def _parse_side(part: str, text: str) -> int | None:
    part = part.strip()
    if not part:
        return None
    digits = part[1:] if part[0] in "+-" else part
    # str.isdigit would also accept superscripts and other Unicode digits int() refuses.
    if not digits or not digits.isascii() or not digits.isdigit():
        raise UsageError(f"size must be {_SIZE_FORMS}, not {text!r}")
    return int(part)


def parse_size(text: str) -> Size:
    """Parse ``"200x100"``, ``"200"`` (a 200x200 box), ``"200x"`` or ``"x100"`` (one side).

    The ``x`` is case-insensitive and spaces around the numbers are ignored. Raises
    ``UsageError`` (a ``ValueError``) for anything else or for a side that is not positive:
    ``size must be positive, not '0x5'``.
    """
    stripped = text.strip().lower()
    if "x" in stripped:
        width_text, height_text = stripped.split("x", 1)
        width = _parse_side(width_text, text)
        height = _parse_side(height_text, text)
        if width is None and height is None:
            raise UsageError(f"size must be {_SIZE_FORMS}, not {text!r}")
    else:
        if not stripped:
            raise UsageError(f"size must be {_SIZE_FORMS}, not {text!r}")
        width = height = _parse_side(stripped, text)
    if (width is not None and width <= 0) or (height is not None and height <= 0):
        raise UsageError(f"size must be positive, not {text!r}")
    return Size(width, height)


def _as_size(size: SizeLike) -> Size:
    """Normalise resize's ``size`` argument and check it."""
    if isinstance(size, int) and not isinstance(size, bool):
        width: object = size
        height: object = size
    elif isinstance(size, tuple) and len(size) == 2:
        width, height = size
    else:
        raise UsageError(f"size must be an int or a (width, height) tuple, not {size!r}")
    for side in (width, height):
        if side is not None and (not isinstance(side, int) or isinstance(side, bool)):
            raise UsageError(f"size sides must be int or None, not {size!r}")
    if width is None and height is None:
        raise UsageError(f"size needs a width or a height, not {size!r}")
    if (isinstance(width, int) and width <= 0) or (isinstance(height, int) and height <= 0):
        raise UsageError(f"size must be positive, not {size!r}")
    assert width is None or isinstance(width, int)
    assert height is None or isinstance(height, int)
    return Size(width, height)


def _scale_half_up(length: int, numerator: int, denominator: int) -> int:
    """``length * numerator / denominator`` rounded half up, in exact integer arithmetic."""
    return (2 * length * numerator + denominator) // (2 * denominator)


# --------------------------------------------------------------------------- modes and colours


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)


def _colour_mode(image: Image.Image) -> Image.Image:
    """P/PA as RGBA (with transparency) or RGB, for ops that compute new colours."""
    if image.mode == "PA" or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode == "P":
        return image.convert("RGB")
    return image


def _resampling_mode(image: Image.Image) -> Image.Image:
    """The mode to interpolate in: Pillow silently uses NEAREST for P and 1."""
    if image.mode == "1":
        return image.convert("L")
    return _colour_mode(image)


def _back_to_bilevel(original: Image.Image, result: Image.Image) -> Image.Image:
    if original.mode == "1" and result.mode != "1":
        bilevel = result.convert("1", dither=Image.Dither.NONE)
        bilevel.info = result.info.copy()
        return bilevel
    return result


def _fill_value(mode: str, color: Color | None, option: str) -> float | tuple[float, ...]:
    """``color`` as a pixel value of ``mode``; None: transparent with alpha, black without."""
    if color is None:
        if mode in ("RGBA", "LA", "PA"):
            return (0,) * len(mode)
        color = "black"
    if not isinstance(color, str):
        return color
    try:
        if mode == "CMYK":
            # ImageColor gives 3 values for CMYK, which Pillow reads as (C, M, Y, K=0), and
            # Pillow's RGB->CMYK never uses K: black would be 300% rich black. Convert with
            # full grey replacement instead, so black is K alone and white is no ink.
            return _rgb_to_cmyk(ImageColor.getrgb(color)[:3])
        if mode in _SIXTEEN_BIT_MODES:
            grey = ImageColor.getcolor(color, "L")
            assert isinstance(grey, int)
            return grey * 257  # 255 -> 65535
        if mode == "1":
            grey = ImageColor.getcolor(color, "L")
            assert isinstance(grey, int)
            return 255 if grey >= 128 else 0
        return ImageColor.getcolor(color, mode)
    except ValueError as error:
        raise UsageError(f"{option} must be a colour Pillow knows, not {color!r}") from error


def check_color(color: str) -> str:
    """``color`` when ``PIL.ImageColor`` knows it (``red``, ``#rrggbb``, ``hsl(...)``)."""
    try:
        ImageColor.getrgb(color)
    except ValueError:
        raise UsageError(
            f"colour must be a CSS name (red), #rgb, #rrggbb, #rrggbbaa or rgb(...), not {color!r}"
        ) from None
    return color


def _rgb_to_cmyk(rgb: tuple[int, ...]) -> tuple[int, int, int, int]:
    red, green, blue = rgb
    black = 255 - max(red, green, blue)
    if black == 255:
        return 0, 0, 0, 255
    white = 255 - black

    def ink(value: int) -> int:
        return round((white - value) * 255 / white)

    return ink(red), ink(green), ink(blue), black


def _copy_info(source: Image.Image, target: Image.Image) -> Image.Image:
    target.info = source.info.copy()
    return target


def _deep_range(mode: str) -> float:
    return _FLOAT_MAX if mode == "F" else _SIXTEEN_BIT_MAX


def _as_deep_working(image: Image.Image) -> Image.Image:
    """I;16 as I (Pillow's point and histogram need I); I and F as they are."""
    return image.convert("I") if image.mode == "I;16" else image


def _from_deep_working(original: Image.Image, result: Image.Image) -> Image.Image:
    """Clip to the mode's range and return to the original mode, keeping its info."""
    if original.mode == "F":
        clipped = ImageMath.lambda_eval(
            lambda env: env["min"](env["max"](env["a"], 0.0), _FLOAT_MAX), a=result
        )
        assert isinstance(clipped, Image.Image)
        out = clipped.convert("F")
    else:
        out = result.convert("I;16")  # Pillow clips I -> I;16 to 0..65535
        if original.mode == "I":
            out = out.convert("I")
    return _copy_info(original, out)


def _from_deep_float(original: Image.Image, values: Image.Image) -> Image.Image:
    """Float (F) results of a deep op back to ``original``'s mode: rounded to whole numbers for
    I;16 and I, then clipped to the mode's range as ``_from_deep_working`` does."""
    if original.mode != "F":
        shifted = ImageMath.lambda_eval(lambda env: env["a"] + 0.5, a=values)
        assert isinstance(shifted, Image.Image)
        values = shifted.convert("I")  # truncates: + 0.5 rounds the non-negative values
    return _from_deep_working(original, values)


def _math(expression: Callable[[dict[str, Any]], Any], **images: Image.Image) -> Image.Image:
    """``ImageMath.lambda_eval`` that must give an image (single-band I or F arithmetic in C)."""
    result = ImageMath.lambda_eval(expression, **images)
    assert isinstance(result, Image.Image)
    return result
