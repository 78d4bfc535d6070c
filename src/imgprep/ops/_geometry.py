"""Geometry that resamples or moves pixels: resize (and its plan, ``scaled_size``), rotate,
mirror, flip and EXIF orientation."""

from __future__ import annotations

import math

from PIL import Image, ImageOps

from imgprep.errors import UsageError
from imgprep.ops._common import (
    Color,
    SizeLike,
    _as_size,
    _back_to_bilevel,
    _colour_mode,
    _copy_info,
    _fill_value,
    _resampling_mode,
    _scale_half_up,
)

RESIZE_MODES: tuple[str, ...] = ("fit", "cover", "pad", "stretch")

RESAMPLING_FILTERS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


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


def resize(
    image: Image.Image,
    size: SizeLike,
    mode: str = "fit",
    *,
    only_shrink: bool = False,
    resample: str | Image.Resampling = "bicubic",
    pad_color: Color | None = None,
    source_size: tuple[int, int] | None = None,
    source_box: tuple[float, float, float, float] | None = None,
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
    only by resampling, never the geometry. ``source_box`` (with ``source_size``): the full
    image lies in this box of ``image`` (fractional pixels) instead, e.g. after a crop of a
    reduced decode that kept the whole pixels around the cropped part.

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
    origin, per_pixel = _source_mapping(image.size, full, source_box)
    target = scaled_size(full, box, mode, only_shrink=only_shrink)
    if box.width is None or box.height is None or mode in ("fit", "stretch"):
        output = target
    elif mode == "cover":
        output = min(box.width, target[0]), min(box.height, target[1])
    else:  # pad
        output = box.width, box.height

    if (
        target == image.size and per_pixel is None
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
    if per_pixel is None or isinstance(per_pixel, int):  # the whole image, maybe reduced
        reduction = per_pixel or 1
        x_scale = full[0] / target[0] / reduction
        y_scale = full[1] / target[1] / reduction
    else:
        x_scale, y_scale = per_pixel[0] / target[0], per_pixel[1] / target[1]
    window = (
        origin[0] + half_left * x_scale,
        origin[1] + half_top * y_scale,
        origin[0] + (half_left + crop[0]) * x_scale,
        origin[1] + (half_top + crop[1]) * y_scale,
    )
    scaled = working.resize(crop, method, box=window)
    if output != target:
        scaled = _pad(scaled, output, pad_color)
    return _back_to_bilevel(image, scaled)


def _source_mapping(
    size: tuple[int, int],
    full: tuple[int, int],
    source_box: tuple[float, float, float, float] | None,
) -> tuple[tuple[float, float], int | tuple[float, float] | None]:
    """Where a ``full``-sized source lies in an image of ``size``: the box's origin, and None
    (the image itself), a power-of-two reduction factor (the whole image, reduced), or the
    box's width and height (``source_box``, in fractional pixels of the image)."""
    if source_box is None or (tuple(source_box) == (0, 0, *size) and full == size):
        reduction = _reduction(full, size)
        return (0.0, 0.0), None if reduction == 1 else reduction
    left, top, right, bottom = source_box
    if not (0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]):
        raise UsageError(
            f"source_box must lie inside the {size[0]}x{size[1]} image, not {source_box!r}"
        )
    return (float(left), float(top)), (right - left, bottom - top)


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
