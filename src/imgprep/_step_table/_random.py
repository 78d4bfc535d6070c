"""Random steps: random-crop, random-flip, random-rotate and jitter, as torchvision draws them.

Each entry's builder returns a ``RandomOp``: ``draw(rng, size)`` draws the step's parameters
for an image of ``size`` from the generator the run hands it (see ``_draws``), and ``apply``
is a pure op of ``ops`` taking them. Drawing uses ``_draws.uniform``/``below``/
``permutation`` only, and rounds what it draws to what it records, so a record's parameters
redo the output exactly. Their ``Effects`` say ``random=True``, and what they do to the grid:
random-crop is a RESAMPLE step whose ``scaled_size`` is the scale of its smallest possible box
(so a reduced decode always leaves enough pixels for any draw); random-flip an exact move;
random-rotate and jitter stop the shrink-on-load planner.
"""

from __future__ import annotations

import functools
import math
import random
from typing import TYPE_CHECKING, Any

from imgprep import ops
from imgprep._draws import below, permutation, uniform
from imgprep._step_model import Colour, Effects, Geometry, Param, RandomOp, StepDef
from imgprep._step_table._geometry import COLOUR_HELP
from imgprep._step_table._values import parse_degrees, parse_factor
from imgprep.errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image

ATTEMPTS = 10  # torchvision's RandomResizedCrop: then the centre crop
DEFAULT_SCALE = (0.08, 1.0)
DEFAULT_RATIO = (3 / 4, 4 / 3)
DIGITS = 4  # drawn factors and angles are rounded to this many decimals, as recorded


def _pair(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts) if len(parts) == 2 else (math.nan, 0.0)
    except ValueError:
        low = math.nan
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UsageError(f"{what} must be MIN,MAX (two numbers), not {text!r}")
    if low > high:
        raise UsageError(f"{what} must be MIN,MAX with MIN <= MAX, not {text!r}")
    return low, high


def parse_scale(text: str) -> tuple[float, float]:
    low, high = _pair(text, "scale")
    if not 0 < low <= high <= 1:
        raise UsageError(f"scale must be MIN,MAX with 0 < MIN <= MAX <= 1, not {text!r}")
    return low, high


def parse_ratio_range(text: str) -> tuple[float, float]:
    low, high = _pair(text, "ratio")
    if low <= 0:
        raise UsageError(f"ratio must be MIN,MAX with 0 < MIN <= MAX, not {text!r}")
    return low, high


def parse_probability(text: str) -> float:
    return _number_in(text, "probability", 0.0, 1.0)


def parse_hue(text: str) -> float:
    return _number_in(text, "hue", 0.0, 0.5)


def _number_in(text: str, what: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan  # refused below, with the rule
    if not low <= value <= high:
        raise UsageError(f"{what} must be a number in [{low:g}, {high:g}], not {text!r}")
    return value


def parse_angle_range(text: str) -> tuple[float, float]:
    """``"15"`` -> (-15, 15); ``"-5,20"`` -> (-5, 20)."""
    if "," in text:
        return _pair(text, "degrees")
    degrees = parse_degrees(text)
    if degrees <= 0:
        raise UsageError(f"degrees must be a number > 0 or MIN,MAX, not {text!r}")
    return -degrees, degrees


# ---------------------------------------------------------------------------------------------
# random-crop


def _needs_both_sides(size: ops.Size) -> tuple[int, int]:
    if size.width is None or size.height is None:
        raise UsageError(f"SIZE needs both sides (WIDTHxHEIGHT or one number), not {size}")
    return size.width, size.height


def centre_box(size: tuple[int, int], ratio: tuple[float, float]) -> ops.Box:
    """torchvision's fallback: the centred box of the whole image cut to the ratio range (at
    least one pixel: torchvision's would be empty for a 1x1 image and a ratio of 0.5)."""
    width, height = size
    if width / height < ratio[0]:
        box_width, box_height = width, max(1, min(height, round(width / ratio[0])))
    elif width / height > ratio[1]:
        box_width, box_height = max(1, min(width, round(height * ratio[1]))), height
    else:
        box_width, box_height = width, height
    left, top = (width - box_width) // 2, (height - box_height) // 2
    return left, top, left + box_width, top + box_height


def draw_crop_box(
    rng: random.Random,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> ops.Box:
    """torchvision's RandomResizedCrop.get_params: up to 10 tries of an area (``scale`` of the
    image's) and a log-uniform aspect ratio, placed uniformly; then the centre crop."""
    width, height = size
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(ATTEMPTS):
        target = area * uniform(rng, *scale)
        aspect = math.exp(uniform(rng, log_low, log_high))
        box_width = round(math.sqrt(target * aspect))
        box_height = round(math.sqrt(target / aspect))
        if 0 < box_width <= width and 0 < box_height <= height:
            top = below(rng, height - box_height + 1)
            left = below(rng, width - box_width + 1)
            return left, top, left + box_width, top + box_height
    return centre_box(size, ratio)


def _crop_scaled_size(
    source: tuple[int, int],
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> tuple[int, int]:
    """What the whole source is scaled to with the smallest box any draw can give (a try's
    rounded sides, or the centre crop): the planner's bound for every draw."""
    width, height = source
    area = width * height
    least_width = max(1, math.floor(math.sqrt(scale[0] * area * ratio[0]) - 0.5))
    least_height = max(1, math.floor(math.sqrt(scale[0] * area / ratio[1]) - 0.5))
    left, top, right, bottom = centre_box(source, ratio)
    least_width = min(least_width, right - left, width)
    least_height = min(least_height, bottom - top, height)
    return math.ceil(width * size[0] / least_width), math.ceil(height * size[1] / least_height)


def _build_random_crop(
    size: ops.Size, scale: tuple[float, float], ratio: tuple[float, float] | None, filter: str
) -> RandomOp:
    output = _needs_both_sides(size)
    ratio = ratio or DEFAULT_RATIO

    def draw(rng: random.Random, source: tuple[int, int]) -> dict[str, Any]:
        return {"box": draw_crop_box(rng, source, scale, ratio)}

    return RandomOp(draw, functools.partial(ops.resized_crop, size=output, resample=filter))


def _random_crop_effects(
    size: ops.Size, scale: tuple[float, float], ratio: tuple[float, float] | None, **_: Any
) -> Effects:
    output = _needs_both_sides(size)
    ratio = ratio or DEFAULT_RATIO
    return Effects(
        Geometry.RESAMPLE,
        Colour.NEUTRAL,
        scale_invariant=True,
        random=True,
        scaled_size=functools.partial(_crop_scaled_size, size=output, scale=scale, ratio=ratio),
    )


# ---------------------------------------------------------------------------------------------
# random-flip, random-rotate, jitter


def flip_if(image: Image, *, flipped: bool, vertical: bool) -> Image:
    """``image`` mirrored (flipped top to bottom with ``vertical``) when ``flipped``."""
    if not flipped:
        return image.copy()
    return ops.flip(image) if vertical else ops.mirror(image)


def _build_random_flip(p: float, vertical: bool) -> RandomOp:
    def draw(rng: random.Random, size: tuple[int, int]) -> dict[str, Any]:
        return {"flipped": rng.random() < p}

    return RandomOp(draw, functools.partial(flip_if, vertical=bool(vertical)))


def _build_random_rotate(degrees: tuple[float, float], expand: bool, fill: str | None) -> RandomOp:
    def draw(rng: random.Random, size: tuple[int, int]) -> dict[str, Any]:
        return {"degrees": round(uniform(rng, *degrees), DIGITS)}

    return RandomOp(draw, functools.partial(ops.rotate, expand=bool(expand), fill=fill))


def _build_jitter(
    brightness: float | None, contrast: float | None, saturation: float | None, hue: float | None
) -> RandomOp:
    spreads = {"brightness": brightness, "contrast": contrast, "saturation": saturation}
    if all(value is None for value in (*spreads.values(), hue)):
        raise UsageError("needs at least one of --brightness, --contrast, --saturation, --hue")

    def draw(rng: random.Random, size: tuple[int, int]) -> dict[str, Any]:
        # torchvision's ColorJitter.get_params: an order of the four, then each value given
        order = permutation(rng, 4)
        values: dict[str, float] = {}
        for name, spread in spreads.items():
            if spread is not None:
                values[name] = round(uniform(rng, max(0.0, 1 - spread), 1 + spread), DIGITS)
        if hue is not None:
            values["hue"] = round(uniform(rng, -hue, hue), DIGITS)
        names = ("brightness", "contrast", "saturation", "hue")
        chosen = [(names[i], values[names[i]]) for i in order if names[i] in values]
        return {"adjustments": tuple(chosen)}

    return RandomOp(draw, ops.jitter)


_RANDOM_MOVE = Effects(Geometry.MOVE, Colour.NEUTRAL, scale_invariant=True, random=True)
_SPREAD = "draws a factor in [max(0, 1-F), 1+F]"

RANDOM_CROP = StepDef(
    "random-crop",
    "A box of random area and aspect ratio, resized to SIZE (RandomResizedCrop).",
    "Crop a random box and resize it to SIZE, as torchvision's RandomResizedCrop: up to 10 "
    "tries draw an area (--scale of the image's) and an aspect ratio (log-uniform in --ratio), "
    "placed uniformly where it fits; if none fits, the centre crop within --ratio. The box is "
    "drawn for the full image, so a JPEG may still decode at reduced scale when SIZE is small "
    "enough for the smallest box.",
    (
        Param(
            "size",
            "The output: WIDTHxHEIGHT, or a single number for a square.",
            positional=True,
            metavar="SIZE",
            parse=ops.parse_size,
        ),
        Param(
            "scale",
            "The box's area as a share of the image's: MIN,MAX in (0, 1].",
            metavar="MIN,MAX",
            default=DEFAULT_SCALE,
            parse=parse_scale,
        ),
        Param(
            "ratio",
            "The box's aspect ratio (width/height): MIN,MAX [default: 3/4 to 4/3].",
            metavar="MIN,MAX",
            parse=parse_ratio_range,
        ),
        Param(
            "filter",
            "Resampling filter.",
            default="bilinear",
            choices=tuple(ops.RESAMPLING_FILTERS),
        ),
    ),
    _build_random_crop,
    "imgprep -i photos -o out random-crop 224 --scale 0.5,1",
    _random_crop_effects,
)

RANDOM_FLIP = StepDef(
    "random-flip",
    "Mirror left to right with probability --p (top to bottom with --vertical).",
    "Mirror each image left to right with probability P (torchvision's RandomHorizontalFlip), "
    "or flip it top to bottom with --vertical. Exact: no resampling.",
    (
        Param(
            "p",
            "The probability of flipping, in [0, 1].",
            kind=float,
            default=0.5,
            metavar="P",
            parse=parse_probability,
        ),
        Param("vertical", "Flip top to bottom instead of mirroring.", kind=bool),
    ),
    _build_random_flip,
    "imgprep -i photos -o out random-flip --p 0.5",
    _RANDOM_MOVE,
)

RANDOM_ROTATE = StepDef(
    "random-rotate",
    "Rotate by a random angle in [-DEG, DEG], keeping the size.",
    "Rotate counter-clockwise by an angle drawn uniformly in [-DEG, DEG] (or in MIN,MAX), "
    "bicubic, as torchvision's RandomRotation: the canvas keeps its size and the "
    "uncovered corners are --fill, unless --expand grows it to hold the whole image.",
    (
        Param(
            "degrees",
            "The largest angle either way, in degrees, or MIN,MAX.",
            positional=True,
            metavar="DEG",
            parse=parse_angle_range,
        ),
        Param("expand", "Grow the canvas to hold the whole rotated image.", kind=bool),
        Param(
            "fill",
            f"Colour of the uncovered corners ({COLOUR_HELP}) "
            "[default: transparent with alpha, else black].",
            metavar="COLOR",
            parse=ops.check_color,
        ),
    ),
    _build_random_rotate,
    "imgprep -i photos -o out random-rotate 10",
    Effects(Geometry.OTHER, Colour.READS, random=True),
)

JITTER = StepDef(
    "jitter",
    "Random brightness, contrast, saturation, hue in random order (ColorJitter).",
    "Change brightness, contrast, saturation and hue by random amounts, in a random order, as "
    "torchvision's ColorJitter (Pillow's ImageEnhance underneath; hue turned in HSV). Only "
    "the adjustments given are made; at least one is needed.",
    (
        Param("brightness", f"Brightness: {_SPREAD}.", kind=float, metavar="F", parse=parse_factor),
        Param("contrast", f"Contrast: {_SPREAD}.", kind=float, metavar="F", parse=parse_factor),
        Param("saturation", f"Saturation: {_SPREAD}.", kind=float, metavar="F", parse=parse_factor),
        Param(
            "hue",
            "Hue: draws a shift in [-H, H] of a full turn; H in [0, 0.5].",
            kind=float,
            metavar="H",
            parse=parse_hue,
        ),
    ),
    _build_jitter,
    "imgprep -i photos -o out jitter --brightness 0.3 --hue 0.05",
    Effects(Geometry.KEEP, Colour.READS, random=True),
)
