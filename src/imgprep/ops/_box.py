"""Ops that keep a box of the image, pixels copied as they are: crop, pad, extent and trim.

A crop box is written as ImageMagick writes geometry (``200x100+10+20``, ``50%``) and placed
by a gravity; ``crop_box`` and ``pad_box`` are the plans, pure functions of the image size, so
the shrink-on-load planner can map a reduced decode through them exactly as ``scaled_size``
lets it map a resize.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image

from imgprep.errors import OpError, UsageError
from imgprep.ops._common import (
    Box,
    Color,
    SizeLike,
    _as_size,
    _back_to_bilevel,
    _colour_mode,
    _copy_info,
    _fill_value,
    _math,
    _resampling_mode,
)

#: Where a box sits: (across, down) in halves of the free space (0: left/top, 2: right/bottom).
GRAVITIES: dict[str, tuple[int, int]] = {
    "center": (1, 1),
    "north": (1, 0),
    "south": (1, 2),
    "east": (2, 1),
    "west": (0, 1),
    "northeast": (2, 0),
    "northwest": (0, 0),
    "southeast": (2, 2),
    "southwest": (0, 2),
}

_GEOMETRY_FORMS = "WIDTHxHEIGHT, PCT% or PCT%xPCT%, each optionally followed by +X+Y"
_NUMBER = r"\d+(?:\.\d+)?"
_GEOMETRY = re.compile(
    rf"(?P<width>{_NUMBER})(?P<wpct>%?)(?:x(?P<height>{_NUMBER})(?P<hpct>%?))?"
    r"(?P<offset>[+-]\d+[+-]\d+)?"
)
_RATIO = re.compile(rf"({_NUMBER}):({_NUMBER})")


def _half_up(value: Fraction) -> int:
    """``value`` rounded half up (exact)."""
    return math.floor(value + Fraction(1, 2))


def _number_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


@dataclass(frozen=True)
class CropGeometry:
    """A crop box as ImageMagick writes it: ``WIDTHxHEIGHT`` in pixels or ``PCT%`` /
    ``PCTxPCT%`` of the image's sides (a ``%`` anywhere makes both sides percentages), and
    optional pixel offsets ``+X+Y`` of its top-left corner from the image's (without them,
    a gravity places the box). ``str()`` gives it back in that form."""

    width: Fraction
    height: Fraction
    percent: bool = False
    offset: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> CropGeometry:
        """``"200x100+10+20"``, ``"50%"``, ``"50%x25%"``... or ``UsageError``."""
        found = _GEOMETRY.fullmatch(text.strip().lower().replace(" ", ""))
        if found is None:
            raise UsageError(f"geometry must be {_GEOMETRY_FORMS}, not {text!r}")
        percent = bool(found["wpct"] or found["hpct"])
        width = Fraction(found["width"])
        height = width if found["height"] is None else Fraction(found["height"])
        if not percent and found["height"] is None:
            raise UsageError(f"a crop in pixels needs both sides, WIDTHxHEIGHT, not {text!r}")
        offset = None
        if found["offset"]:
            x, y = re.findall(r"[+-]\d+", found["offset"])
            offset = int(x), int(y)
        return cls(width, height, percent, offset).checked(text)

    def checked(self, text: str | None = None) -> CropGeometry:
        shown = text if text is not None else str(self)
        if self.percent and not (0 < self.width <= 100 and 0 < self.height <= 100):
            raise UsageError(f"crop percentages must be in (0, 100], not {shown!r}")
        if not self.percent and (self.width.denominator != 1 or self.height.denominator != 1):
            raise UsageError(f"a crop in pixels needs whole numbers, not {shown!r}")
        if not self.percent and (self.width < 1 or self.height < 1):
            raise UsageError(f"crop size must be positive, not {shown!r}")
        return self

    @property
    def scale_invariant(self) -> bool:
        """Whether the box is the same part of the image at any scale (percentages, no offset)."""
        return self.percent and self.offset is None

    def size_for(self, source: tuple[int, int]) -> tuple[int, int]:
        """The box's size on an image of size ``source`` (percentages rounded half up, >= 1)."""
        if not self.percent:
            return int(self.width), int(self.height)
        return (
            max(1, _half_up(source[0] * self.width / 100)),
            max(1, _half_up(source[1] * self.height / 100)),
        )

    def __str__(self) -> str:
        sign = "%" if self.percent else ""
        text = f"{_number_text(self.width)}{sign}x{_number_text(self.height)}{sign}"
        if self.offset is not None:
            text += f"{self.offset[0]:+d}{self.offset[1]:+d}"
        return text


#: The whole image: ``crop`` with this geometry and a ``ratio`` crops only to the ratio.
WHOLE = CropGeometry(Fraction(100), Fraction(100), percent=True)


@dataclass(frozen=True)
class Ratio:
    """An aspect ratio ``WIDTH:HEIGHT`` (``16:9``, ``1.91:1``); ``str()`` gives it back."""

    width: Fraction
    height: Fraction

    @classmethod
    def parse(cls, text: str) -> Ratio:
        found = _RATIO.fullmatch(text.strip())
        if found is None or not Fraction(found[1]) or not Fraction(found[2]):
            raise UsageError(f"ratio must be WIDTH:HEIGHT with positive numbers, not {text!r}")
        return cls(Fraction(found[1]), Fraction(found[2]))

    def largest_in(self, width: int, height: int) -> tuple[int, int]:
        """The largest box of this ratio inside ``width`` x ``height`` (rounded, >= 1)."""
        if width * self.height > height * self.width:  # the box is wider than the ratio
            return max(1, _half_up(height * self.width / self.height)), height
        return width, max(1, _half_up(width * self.height / self.width))

    def smallest_around(self, width: int, height: int) -> tuple[int, int]:
        """The smallest box of this ratio holding ``width`` x ``height`` (rounded)."""
        if width * self.height < height * self.width:  # the box is narrower than the ratio
            return max(width, _half_up(height * self.width / self.height)), height
        return width, max(height, _half_up(width * self.height / self.width))

    def __str__(self) -> str:
        return f"{_number_text(self.width)}:{_number_text(self.height)}"


def _as_geometry(geometry: CropGeometry | str) -> CropGeometry:
    if isinstance(geometry, CropGeometry):
        return geometry.checked()
    if isinstance(geometry, str):
        return CropGeometry.parse(geometry)
    raise UsageError(f"geometry must be a CropGeometry or its text, not {geometry!r}")


def _as_ratio(ratio: Ratio | str | None) -> Ratio | None:
    if ratio is None or isinstance(ratio, Ratio):
        return ratio
    if isinstance(ratio, str):
        return Ratio.parse(ratio)
    raise UsageError(f"ratio must be a Ratio or its text (16:9), not {ratio!r}")


def _gravity(gravity: str | None) -> tuple[int, int]:
    if gravity is None:
        return GRAVITIES["center"]
    if gravity not in GRAVITIES:
        raise UsageError(f"gravity must be one of {', '.join(GRAVITIES)}, not {gravity!r}")
    return GRAVITIES[gravity]


def _placed(space: tuple[int, int], halves: tuple[int, int]) -> tuple[int, int]:
    """The offset of a box in ``space`` free pixels (negative: it overflows) at ``halves``."""
    return (space[0] * halves[0]) // 2, (space[1] * halves[1]) // 2


def _box_text(box: Box) -> str:
    left, top, right, bottom = box
    return f"{right - left}x{bottom - top}{left:+d}{top:+d}"


def crop_box(
    size: tuple[int, int],
    geometry: CropGeometry | str = WHOLE,
    *,
    gravity: str | None = None,
    ratio: Ratio | str | None = None,
    clamp: bool = False,
) -> Box:
    """The box ``crop`` keeps of an image of ``size``: ``(left, top, right, bottom)``.

    The ``geometry`` box, shrunk to the largest box of ``ratio`` inside it if one is given, is
    placed by ``gravity`` (default ``center``), or at the geometry's ``+X+Y`` offset from the
    top-left corner (an offset takes no gravity and no ratio). A box reaching outside the image
    raises ``OpError`` naming the box and the image size, or with ``clamp`` is cut to the part
    inside the image (``OpError`` still when nothing is inside).
    """
    geometry, ratio = _as_geometry(geometry), _as_ratio(ratio)
    if geometry.offset is not None and (gravity is not None or ratio is not None):
        raise UsageError(
            f"a crop at an offset ({geometry}) is placed from the top-left corner: "
            "it takes no gravity and no ratio"
        )
    width, height = geometry.size_for(size)
    if ratio is not None:
        width, height = ratio.largest_in(width, height)
    if geometry.offset is not None:
        left, top = geometry.offset
    else:
        left, top = _placed((size[0] - width, size[1] - height), _gravity(gravity))
    box = (left, top, left + width, top + height)
    inside = (max(left, 0), max(top, 0), min(box[2], size[0]), min(box[3], size[1]))
    if inside == box:
        return box
    image_text = f"the {size[0]}x{size[1]} image"
    if not clamp:
        raise OpError(
            f"crop box {_box_text(box)} reaches outside {image_text}; --clamp (clamp=True) "
            "keeps the part inside"
        )
    if inside[0] >= inside[2] or inside[1] >= inside[3]:
        raise OpError(f"crop box {_box_text(box)} does not overlap {image_text}")
    return inside


def crop(
    image: Image.Image,
    geometry: CropGeometry | str = WHOLE,
    *,
    gravity: str | None = None,
    ratio: Ratio | str | None = None,
    clamp: bool = False,
) -> Image.Image:
    """Keep the box ``crop_box(image.size, geometry, ...)`` of ``image``.

    Exact in every mode: no resampling; mode, palette, alpha, depth and ``info`` kept.
    ``crop(image, "50%")`` keeps the centre quarter; ``crop(image, ratio="1:1")`` the largest
    centred square; ``crop(image, "200x100+10+20")`` a box placed from the top-left corner.
    """
    return image.crop(crop_box(image.size, geometry, gravity=gravity, ratio=ratio, clamp=clamp))


def pad_box(
    size: tuple[int, int],
    minimum: SizeLike | None = None,
    *,
    ratio: Ratio | str | None = None,
    gravity: str | None = None,
) -> Box:
    """The canvas ``pad`` puts an image of ``size`` on, as a box in the image's coordinates
    (``left`` and ``top`` <= 0): at least ``minimum`` (a ``Size``, ``(w, h)`` with a side
    maybe None, or an int) and never smaller than the image, then widened or heightened to
    ``ratio``; the image sits at ``gravity`` (default ``center``)."""
    ratio = _as_ratio(ratio)
    width, height = size
    if minimum is not None:
        box = _as_size(minimum)
        width, height = max(width, box.width or 0), max(height, box.height or 0)
    if ratio is not None:
        width, height = ratio.smallest_around(width, height)
    left, top = _placed((width - size[0], height - size[1]), _gravity(gravity))
    return -left, -top, width - left, height - top


def pad(
    image: Image.Image,
    size: SizeLike | None = None,
    *,
    ratio: Ratio | str | None = None,
    color: Color | None = None,
    gravity: str | None = None,
) -> Image.Image:
    """Extend the canvas to at least ``size`` and/or to ``ratio``, without resizing.

    The image is pasted unchanged at ``gravity`` on a canvas of ``color`` (default: transparent
    with alpha, black otherwise; named colours per mode as in ``resize``'s pad). An image that
    already fits comes back as an unchanged copy. P/PA that need padding become RGB/RGBA and
    1 stays 1 (the colour thresholded at 128), as in ``resize(..., "pad")``.
    """
    return extent(image, pad_box(image.size, size, ratio=ratio, gravity=gravity), color=color)


def extent(image: Image.Image, box: Box, *, color: Color | None = None) -> Image.Image:
    """The ``box`` ``(left, top, right, bottom)`` of ``image`` in whole pixels, like
    ImageMagick's ``-extent``: a box inside the image is an exact crop; where the box reaches
    outside, the canvas is ``color`` (default: transparent with alpha, black otherwise), never
    Pillow's silent black band."""
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        raise UsageError(f"box must have a positive size, not {box!r}")
    if left >= 0 and top >= 0 and right <= image.width and bottom <= image.height:
        return image.crop(box)
    working = _resampling_mode(image)  # a palette has no index for an arbitrary colour
    canvas = Image.new(
        working.mode, (right - left, bottom - top), _fill_value(working.mode, color, "color")
    )
    canvas.paste(working, (-left, -top))  # paste, not composite: alpha is copied as it is
    return _back_to_bilevel(image, _copy_info(working, canvas))


def check_fuzz(fuzz: float) -> float:
    """``fuzz`` when it is a valid trim tolerance, a percentage in ``[0, 100)``."""
    valid = isinstance(fuzz, int | float) and not isinstance(fuzz, bool)
    if not valid or not 0 <= fuzz < 100:
        raise UsageError(f"fuzz must be a percentage in [0, 100), not {fuzz!r}")
    return fuzz


def trim_box(image: Image.Image, fuzz: float = 0) -> Box | None:
    """The smallest box holding every pixel that differs from the top-left pixel (the border
    colour, as ImageMagick's ``-trim`` takes it) by more than ``fuzz`` percent of the full range
    (root mean square over the channels, alpha included, colours premultiplied by alpha so that
    all fully transparent pixels are alike); None when every pixel is border."""
    fuzz = check_fuzz(fuzz)
    working = _comparable(image)
    top_left = working.getpixel((0, 0))
    corner = top_left if isinstance(top_left, tuple) else (top_left,)
    border = [float(value or 0) for value in corner]
    full_range = 255.0 if working.mode not in ("I", "F") else _deep_full_range(image.mode)

    def squared_distance(value: float) -> Callable[[dict[str, Any]], Any]:
        return lambda env: (env["a"] - value) * (env["a"] - value)

    bands = [band.convert("F") for band in working.split()]
    total = _math(squared_distance(border[0]), a=bands[0])
    for band, value in zip(bands[1:], border[1:], strict=True):
        total = _math(
            lambda env: env["t"] + env["d"], t=total, d=_math(squared_distance(value), a=band)
        )
    limit = len(border) * (fuzz / 100 * full_range) ** 2
    mask = _math(lambda env: env["a"] > limit, a=total)
    return mask.convert("L").getbbox()


def _deep_full_range(mode: str) -> float:
    return 255.0 if mode == "F" else 65535.0


def _comparable(image: Image.Image) -> Image.Image:
    """The pixels trim compares: colours premultiplied by alpha, 16-bit as I, 1 as L."""
    working = _colour_mode(image)
    if working.mode in ("RGBA", "LA"):
        return working.convert("RGBa" if working.mode == "RGBA" else "La")
    if working.mode == "1":
        return working.convert("L")
    if working.mode == "I;16":
        return working.convert("I")
    return working


def trim(image: Image.Image, fuzz: float = 0) -> Image.Image:
    """Remove uniform borders, like ImageMagick's ``-trim``: crop to ``trim_box(image, fuzz)``.

    Exact (mode, palette, depth and ``info`` kept). An image that is all border colour has no
    content to keep: it comes back as an unchanged copy (ImageMagick gives a 1x1 image, which
    no data set wants).
    """
    box = trim_box(image, fuzz)
    return image.copy() if box is None else image.crop(box)
