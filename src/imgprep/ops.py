"""Pure image operations: ``(image, ...) -> Image``, in the spirit of Pillow's ``ImageOps``.

Every function returns a NEW image and never mutates its input (pixels, mode, size or ``info``).
No file I/O happens here: loading and saving live in ``imgprep.files``.

Modes. Every op accepts RGB, RGBA, LA, L, P (with or without ``transparency``), PA, CMYK,
I;16, I, F and 1. Where Pillow cannot do the job natively an op converts to a working mode:

* P / PA are resampled, rotated by odd angles, padded, auto-contrasted and equalized as RGBA
  (when they carry transparency) or RGB, and come back in that mode: interpolated colours are
  not in the palette, and re-quantising would add a second, silent loss. Exact ops (mirror,
  flip, multiples of 90 degrees, crops, ``resample="nearest"``) keep the palette.
* 1 is resampled and rotated as L and thresholded back to 1 at 128 (no dithering).
* I;16 stays 16-bit through every op; I and F keep their mode. For the value-mapping ops
  (autocontrast, equalize, named pad colours) I;16 and I use the 16-bit range 0..65535 and F
  uses 0..255, the scale Pillow assumes when it converts F to L.
* Alpha (RGBA, LA, PA) is resampled premultiplied by Pillow, so transparent pixels never bleed
  their colour into visible ones; value-mapping ops leave alpha untouched and build their
  histograms from the visible pixels only.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple, TypeAlias

from PIL import Image, ImageColor, ImageMath, ImageOps

from imgprep.errors import UsageError

__all__ = [
    "RESAMPLING_FILTERS",
    "RESIZE_MODES",
    "Color",
    "Size",
    "SizeLike",
    "auto_orient",
    "autocontrast",
    "check_color",
    "check_cutoff",
    "equalize",
    "flip",
    "grayscale",
    "mirror",
    "parse_size",
    "resize",
    "rotate",
    "scaled_size",
]

#: A colour: any string ``PIL.ImageColor`` accepts ("red", "#ff000080", "hsl(0,100%,50%)"),
#: a number (single-band modes) or a tuple in the image's own mode.
Color: TypeAlias = str | float | tuple[float, ...]


class Size(NamedTuple):
    """A requested box; ``None`` for a side means that side follows the aspect ratio."""

    width: int | None
    height: int | None


SizeLike: TypeAlias = Size | tuple[int | None, int | None] | int

RESIZE_MODES: tuple[str, ...] = ("fit", "cover", "pad", "stretch")

RESAMPLING_FILTERS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

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


def _check_resize_mode(mode: str) -> str:
    if mode not in RESIZE_MODES:
        raise UsageError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, not {mode!r}")
    return mode


def _as_filter(resample: str | Image.Resampling) -> Image.Resampling:
    if isinstance(resample, Image.Resampling):
        return resample
    if isinstance(resample, str) and resample.lower() in RESAMPLING_FILTERS:
        return RESAMPLING_FILTERS[resample.lower()]
    names = ", ".join(RESAMPLING_FILTERS)
    raise UsageError(f"resample must be one of {names}, not {resample!r}")


def _scale_half_up(length: int, numerator: int, denominator: int) -> int:
    """``length * numerator / denominator`` rounded half up, in exact integer arithmetic."""
    return (2 * length * numerator + denominator) // (2 * denominator)


def scaled_size(
    source: tuple[int, int],
    size: SizeLike,
    mode: str = "fit",
    *,
    only_shrink: bool = False,
) -> tuple[int, int]:
    """The size ``resize`` scales the WHOLE source image to, before cover's crop or pad's border.

    * ``fit`` and ``pad``: the largest size inside the box with the source's aspect ratio;
    * ``cover``: the smallest size covering the box with the source's aspect ratio;
    * ``stretch``: the box itself;
    * a box with one side ``None``: that side follows the ratio, whatever the mode.

    The limiting side equals the box exactly; the other is rounded half up (at least 1).
    ``only_shrink`` caps the scale at 1 (for ``stretch``: each side at the source's side).
    This is resize's whole plan in one pure function, so the shrink-on-load planner can pick
    a JPEG draft scale from it and agree exactly with ``resize``.
    """
    width, height = source
    if width <= 0 or height <= 0:
        raise UsageError(f"source size must be positive, not {source!r}")
    box = _as_size(size)
    mode = _check_resize_mode(mode)
    if box.width is not None and box.height is not None and mode == "stretch":
        if only_shrink:
            return min(box.width, width), min(box.height, height)
        return box.width, box.height
    # the scale as a fraction numerator / denominator: exact, like the sizes it is applied to
    if box.width is None:
        assert box.height is not None
        numerator, denominator = box.height, height
    elif box.height is None:
        numerator, denominator = box.width, width
    else:
        width_wins = box.width * height >= box.height * width  # box.width/width is the larger
        if width_wins == (mode == "cover"):
            numerator, denominator = box.width, width
        else:
            numerator, denominator = box.height, height
    if only_shrink and numerator > denominator:
        numerator = denominator = 1
    return (
        max(1, _scale_half_up(width, numerator, denominator)),
        max(1, _scale_half_up(height, numerator, denominator)),
    )


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


# --------------------------------------------------------------------------- geometry


def resize(
    image: Image.Image,
    size: SizeLike,
    mode: str = "fit",
    *,
    only_shrink: bool = False,
    resample: str | Image.Resampling = "bicubic",
    pad_color: Color | None = None,
    source_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Resize ``image`` to the box ``size`` (a ``Size``, ``(w, h)`` with one side maybe None,
    or an int for a square) in one of ``RESIZE_MODES``:

    * ``fit``: scale inside the box keeping the ratio (one side equals the box);
    * ``cover``: scale to cover the box keeping the ratio, then centre-crop to the box;
    * ``pad``: ``fit``, then centre on a box-sized canvas of ``pad_color`` (default:
      transparent for images with alpha, black otherwise; P/PA become RGB/RGBA);
    * ``stretch``: exactly the box, ratio ignored.

    A box with one side None makes every mode behave as ``fit``. The scaled size is always
    ``scaled_size(image.size, size, mode, only_shrink=only_shrink)``.

    ``only_shrink`` never enlarges: an image already inside the box is returned as an
    unchanged copy by fit, cover and stretch; cover still crops a side that exceeds the box;
    pad still pads the unscaled image to the full box (the canvas size is the point of pad).

    ``source_size``: ``image`` is a reduced decode (JPEG DCT scaling: a power-of-two
    reduction, last partial block rounded up) of an image of this size. Output
    size and crop are then computed for ``source_size``, so shrink-on-load changes the pixels
    only by resampling, never the geometry.

    ``resample`` (default bicubic, as ``Image.resize``: with Pillow's support scaled to the
    reduction it antialiases well; lanczos is a little sharper and slower) is a name of
    ``RESAMPLING_FILTERS`` or a ``PIL.Image.Resampling``. Modes:
    alpha is resampled premultiplied (no colour fringes) and kept; P/PA are resampled as
    RGB/RGBA except with ``"nearest"``, which keeps the palette (pad excepted); 1 is resampled
    as L and thresholded at 128; I;16, I, F and CMYK are resampled natively and keep their mode.
    """
    box = _as_size(size)
    mode = _check_resize_mode(mode)
    method = _as_filter(resample)
    full = image.size if source_size is None else source_size
    reduction = _reduction(full, image.size)
    target = scaled_size(full, box, mode, only_shrink=only_shrink)
    if box.width is None or box.height is None or mode in ("fit", "stretch"):
        output = target
    elif mode == "cover":
        output = min(box.width, target[0]), min(box.height, target[1])
    else:  # pad
        output = box.width, box.height

    if (
        target == image.size and reduction == 1
    ):  # nothing to resample: crop or pad exactly, in the input's mode
        if mode == "cover" and output != target:
            left, top = (target[0] - output[0]) // 2, (target[1] - output[1]) // 2
            return image.crop((left, top, left + output[0], top + output[1]))
        if output == target:
            return image.copy()
        return _pad(image, output, pad_color)

    keeps_palette = method == Image.Resampling.NEAREST and mode != "pad"
    working = image if keeps_palette else _resampling_mode(image)
    # Scale the whole image to `target` and, for cover, keep the centred `output` window: one
    # resampling pass over the matching source box (no work on cropped parts; a half-pixel
    # offset stays exact, as in ImageOps.fit). Boxes are in full-size pixels, then reduced.
    crop = output if mode == "cover" else target
    half_left, half_top = (target[0] - crop[0]) / 2, (target[1] - crop[1]) / 2
    x_scale = full[0] / target[0] / reduction
    y_scale = full[1] / target[1] / reduction
    source_box = (
        half_left * x_scale,
        half_top * y_scale,
        (half_left + crop[0]) * x_scale,
        (half_top + crop[1]) * y_scale,
    )
    scaled = working.resize(crop, method, box=source_box)
    if output != target:
        scaled = _pad(scaled, output, pad_color)
    return _back_to_bilevel(image, scaled)


def _reduction(full: tuple[int, int], reduced: tuple[int, int]) -> int:
    """The power-of-two factor by which ``reduced`` was decoded from a ``full``-sized image."""
    if full == reduced:
        return 1
    ratio = max(full[0] / reduced[0], full[1] / reduced[1])
    factor = 2 ** round(math.log2(ratio)) if ratio >= 1 else 0
    if factor < 1 or not all(-(-f // factor) == r for f, r in zip(full, reduced, strict=True)):
        raise UsageError(
            f"source_size {full} is not a power-of-two reduction of the image's {reduced}"
        )
    return int(factor)


def _pad(image: Image.Image, output: tuple[int, int], pad_color: Color | None) -> Image.Image:
    """Centre ``image`` on an ``output``-sized canvas of ``pad_color``."""
    original = image
    working = _resampling_mode(image)  # a palette has no index for an arbitrary pad colour
    fill = _fill_value(working.mode, pad_color, "pad_color")
    canvas = Image.new(working.mode, output, fill)
    offset = (output[0] - working.width) // 2, (output[1] - working.height) // 2
    canvas.paste(working, offset)  # paste, not composite: alpha is copied as it is
    return _back_to_bilevel(original, _copy_info(working, canvas))


def mirror(image: Image.Image) -> Image.Image:
    """Flip left-right. Exact for every mode; alpha, palette and depth are kept."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def flip(image: Image.Image) -> Image.Image:
    """Flip top-bottom. Exact for every mode; alpha, palette and depth are kept."""
    return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)


_QUARTER_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def rotate(
    image: Image.Image,
    degrees: float,
    *,
    expand: bool = True,
    fill: Color | None = None,
) -> Image.Image:
    """Rotate counter-clockwise by ``degrees`` (like Pillow; negative turns clockwise).

    Multiples of 90 are exact transposes in every mode (no resampling; palette, alpha and depth
    kept). Other angles are bicubic, with the canvas grown to hold the whole image unless
    ``expand=False``; uncovered corners are ``fill`` (default: transparent with alpha, black
    otherwise). For other angles P/PA become RGBA (with transparency) or RGB, and 1 is rotated
    as L and thresholded at 128. ``expand=False`` with 90/270 on a non-square image keeps the
    canvas: the transposed image is centred on it and cropped or filled.
    """
    if isinstance(degrees, bool) or not isinstance(degrees, int | float):
        raise UsageError(f"degrees must be a number, not {degrees!r}")
    if not math.isfinite(degrees):
        raise UsageError(f"degrees must be finite, not {degrees!r}")
    turn = degrees % 360
    if turn == 0:
        return image.copy()
    if turn in _QUARTER_TURNS:
        turned = image.transpose(_QUARTER_TURNS[int(turn)])
        if expand or turned.size == image.size:
            return turned
        return _centre_on_canvas(image, turned, fill)
    working = _resampling_mode(image)
    if working.mode == "I;16":
        # Pillow's bicubic/bilinear transform of I;16 keeps only 8 bits (40000 -> 66): use I.
        working = working.convert("I")
    fillcolor = _fill_value(working.mode, fill, "fill")
    rotated = working.rotate(turn, Image.Resampling.BICUBIC, expand=expand, fillcolor=fillcolor)
    if image.mode == "I;16":
        return _copy_info(image, rotated.convert("I;16"))  # clips bicubic overshoot to 0..65535
    return _back_to_bilevel(image, rotated)


def _centre_on_canvas(
    original: Image.Image, turned: Image.Image, fill: Color | None
) -> Image.Image:
    """``turned`` centred on a canvas of ``original``'s size (cropped where it overflows)."""
    working = _colour_mode(turned)
    canvas = Image.new(working.mode, original.size, _fill_value(working.mode, fill, "fill"))
    offset = (original.width - turned.width) // 2, (original.height - turned.height) // 2
    canvas.paste(working, offset)
    return _copy_info(working, canvas)


def auto_orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag (1..8) so the pixels are upright.

    The result carries no turning orientation tag (Pillow removes it from the EXIF, XMP and
    PNG profiles; a tag already 1, "upright", stays), so applying it again changes nothing.
    Without a tag: an unchanged copy.
    Exact transposes: every mode, alpha and palette kept.
    """
    oriented = ImageOps.exif_transpose(image)
    assert oriented is not None  # not in place: always a new image
    return oriented


# --------------------------------------------------------------------------- tones


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


def _map_tones(
    image: Image.Image,
    eight_bit: Callable[[Image.Image, Image.Image | None], Image.Image],
    deep: Callable[[Image.Image], Image.Image],
) -> Image.Image:
    """Apply a histogram-based tone map, choosing the working mode as the docstrings say."""
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
    elif working.mode == "CMYK":
        result = Image.merge("CMYK", [eight_bit(band, None) for band in working.split()])
    else:
        raise UsageError(f"tone operations support the imgprep modes, not {image.mode!r}")
    return _copy_info(working, result)


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
