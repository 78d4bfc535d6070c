"""Geometry steps: resize, crop, pad, trim, mirror, flip, rotate, and the augment fan-out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imgprep import ops
from imgprep._step_model import (
    EXACT_MOVE,
    QUARTER_TURN,
    BoxOp,
    Colour,
    Effects,
    Geometry,
    ImageOp,
    Param,
    ResampleOp,
    StepDef,
    Variant,
)
from imgprep._step_table._values import parse_angles, parse_copies, parse_degrees, parse_fuzz
from imgprep.errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image

COLOUR_HELP = "a CSS name such as red, #rrggbb or #rrggbbaa"
WHOLE = ops.CropGeometry.parse("100%")  # crop's GEOMETRY when only --ratio is given
NO_MINIMUM = ops.Size(1, 1)  # pad's SIZE when only --ratio is given


def constant(op: ImageOp) -> Any:
    return lambda: op


# ---------------------------------------------------------------------------------------------
# Builders (values -> the image function) and effects (values -> what the step does).


def _build_resize(
    size: ops.Size, mode: str, only_shrink: bool, filter: str, pad_color: str | None
) -> ResampleOp:
    if pad_color is not None and mode != "pad":
        raise UsageError(f"--pad-color only applies with --mode pad, not --mode {mode}")
    if mode == "cover" and (size.width is None or size.height is None):
        raise UsageError(
            f"--mode cover needs both sides of the box (WIDTHxHEIGHT), not {size.width or ''}"
            f"x{size.height or ''}"
        )
    return functools.partial(
        ops.resize,
        size=size,
        mode=mode,
        only_shrink=only_shrink,
        resample=filter,
        pad_color=pad_color,
    )


def _resize_effects(size: ops.Size, mode: str, only_shrink: bool, **_: Any) -> Effects:
    return Effects(
        Geometry.RESAMPLE,
        Colour.NEUTRAL,
        scale_invariant=True,
        scaled_size=functools.partial(
            ops.scaled_size, size=size, mode=mode, only_shrink=only_shrink
        ),
    )


@dataclass(frozen=True)
class _BoxStep:
    """A crop or pad as a ``BoxOp``: the box its plan computes for the image's size, or the
    box shrink-on-load gives it; the part outside the image is ``color``."""

    box_of: Callable[[tuple[int, int]], ops.Box]
    color: str | None = None

    def __call__(self, image: Image, /, *, box: ops.Box | None = None) -> Image:
        return ops.extent(image, self.box_of(image.size) if box is None else box, color=self.color)


def _crop_box(
    geometry: ops.CropGeometry, gravity: str | None, ratio: ops.Ratio | None, clamp: bool
) -> Callable[[tuple[int, int]], ops.Box]:
    if geometry.offset is not None and gravity is not None:
        raise UsageError(
            f"--gravity places a box without offsets; {geometry} is placed from the top-left corner"
        )
    if geometry.offset is not None and ratio is not None:
        raise UsageError(f"--ratio needs a GEOMETRY without offsets, not {geometry}")
    if geometry == WHOLE and ratio is None:
        raise UsageError("needs a GEOMETRY smaller than the image, --ratio W:H or both")
    return functools.partial(
        ops.crop_box, geometry=geometry, gravity=gravity, ratio=ratio, clamp=clamp
    )


def _build_crop(
    geometry: ops.CropGeometry, gravity: str | None, ratio: ops.Ratio | None, clamp: bool
) -> BoxOp:
    return _BoxStep(_crop_box(geometry, gravity, ratio, clamp))


def _crop_effects(
    geometry: ops.CropGeometry, gravity: str | None, ratio: ops.Ratio | None, clamp: bool
) -> Effects:
    box = _crop_box(geometry, gravity, ratio, clamp)
    # A box in percentages (or the whole image cut to a ratio) is the same part of the image at
    # any scale; pixel sizes and offsets are not, so they stop the shrink-on-load planner.
    return Effects(Geometry.BOX, Colour.NEUTRAL, scale_invariant=geometry.scale_invariant, box=box)


def _pad_box(
    size: ops.Size, ratio: ops.Ratio | None, gravity: str | None
) -> Callable[[tuple[int, int]], ops.Box]:
    if size == NO_MINIMUM and ratio is None:
        raise UsageError("needs a SIZE larger than 1x1, --ratio W:H or both")
    minimum = None if size == NO_MINIMUM else size
    return functools.partial(ops.pad_box, minimum=minimum, ratio=ratio, gravity=gravity)


def _build_pad(
    size: ops.Size, ratio: ops.Ratio | None, color: str | None, gravity: str | None
) -> BoxOp:
    return _BoxStep(_pad_box(size, ratio, gravity), color)


def _pad_effects(
    size: ops.Size, ratio: ops.Ratio | None, color: str | None, gravity: str | None
) -> Effects:
    # Padding to a ratio alone scales with the image; a SIZE in pixels does not.
    return Effects(
        Geometry.BOX,
        Colour.NEUTRAL if color is None else Colour.READS,  # a colour of its own
        scale_invariant=size == NO_MINIMUM,
        box=_pad_box(size, ratio, gravity),
    )


def _build_rotate(degrees: float, fill: str | None) -> ImageOp:
    return functools.partial(ops.rotate, degrees=degrees, fill=fill)


def _rotate_effects(degrees: float, **_: Any) -> Effects:
    if degrees % 90:
        return Effects(Geometry.OTHER, Colour.READS)  # resamples, fills corners with a colour
    return QUARTER_TURN if degrees % 180 else EXACT_MOVE


def _build_augment(
    mirror: bool, flip: bool, rotate: tuple[int, ...] | None, copies: int | None
) -> tuple[Variant, ...]:
    variants = [Variant("", None)]
    if mirror:
        variants.append(Variant("_mirror", ops.mirror))
    if flip:
        variants.append(Variant("_flip", ops.flip))
    for angle in sorted(rotate or ()):
        turn = functools.partial(ops.rotate, degrees=angle)
        variants.append(Variant(f"_rot{angle}", turn, _rotate_effects(angle)))
    variants.extend(Variant(f"_r{number}", None, redraws=True) for number in range(copies or 0))
    if len(variants) == 1:
        raise UsageError("augment needs at least one of --mirror, --flip, --rotate, --copies")
    return tuple(variants)


_GRAVITY = Param(
    "gravity",
    "Where the box sits: center, a side or a corner [default: center].",
    choices=tuple(ops.GRAVITIES),
)
_RATIO_HELP = "an aspect ratio WIDTH:HEIGHT such as 1:1, 16:9 or 1.91:1"

RESIZE = StepDef(
    "resize",
    "Resize to a box: fit inside, cover it (centre crop), pad to it, or stretch.",
    "Resize every image to SIZE. --mode fit keeps the aspect ratio inside the box; cover "
    "fills the box and crops the centre; pad fits, then pads to exactly the box; stretch "
    "ignores the ratio. Before anything that needs full resolution, it lets JPEGs "
    "decode at 1/2, 1/4 or 1/8 scale.",
    (
        Param(
            "size",
            "The box: WIDTHxHEIGHT, a single number for a square, or WIDTHx / xHEIGHT to "
            "set one side and keep the aspect ratio.",
            positional=True,
            metavar="SIZE",
            parse=ops.parse_size,
        ),
        Param(
            "mode",
            "How the image meets the box.",
            default="fit",
            choices=ops.RESIZE_MODES,
        ),
        Param("only_shrink", "Never enlarge: smaller images pass unchanged.", kind=bool),
        Param(
            "filter",
            "Resampling filter.",
            default="bicubic",
            choices=tuple(ops.RESAMPLING_FILTERS),
        ),
        Param(
            "pad_color",
            f"Colour of the padding with --mode pad ({COLOUR_HELP}) "
            "[default: transparent with alpha, black otherwise].",
            metavar="COLOR",
            parse=ops.check_color,
        ),
    ),
    _build_resize,
    "imgprep -i photos -o out resize 200x200 --mode cover",
    _resize_effects,
)

CROP = StepDef(
    "crop",
    "Keep a box: WxH+X+Y, WxH or PCT% at --gravity, or the largest --ratio box.",
    "Crop to GEOMETRY, written as ImageMagick writes it: WIDTHxHEIGHT+X+Y is a box at pixel "
    "offsets from the top-left corner; WIDTHxHEIGHT, PCT% and PCTxPCT% are placed by --gravity. "
    "--ratio keeps the largest box of that aspect ratio inside GEOMETRY (the whole image when "
    "GEOMETRY is left out). A box reaching outside an image fails that image, unless --clamp "
    "cuts it to the part inside. Crops in percentages or to a ratio still let a resize after "
    "them decode JPEGs at reduced scale.",
    (
        Param(
            "geometry",
            "The box: WIDTHxHEIGHT, PCT% or PCTxPCT%, optionally +X+Y; optional with --ratio "
            "[default: the whole image].",
            positional=True,
            metavar="GEOMETRY",
            default=WHOLE,
            parse=ops.CropGeometry.parse,
        ),
        _GRAVITY,
        Param(
            "ratio",
            f"Keep the largest box of this ratio ({_RATIO_HELP}) inside GEOMETRY.",
            metavar="RATIO",
            parse=ops.Ratio.parse,
        ),
        Param("clamp", "Cut a box reaching outside the image to the part inside.", kind=bool),
    ),
    _build_crop,
    "imgprep -i photos -o out crop 50%x50%",
    _crop_effects,
)

PAD = StepDef(
    "pad",
    "Extend the canvas to at least SIZE, or to an aspect ratio, without resizing.",
    "Extend the canvas to at least SIZE without resizing: a side already that long stays "
    "as it is. --ratio then widens or heightens the canvas to that aspect ratio (SIZE may be "
    "left out). The image sits at --gravity on a canvas of --color. Padding to a ratio alone "
    "still lets a resize after it decode JPEGs at reduced scale.",
    (
        Param(
            "size",
            "The smallest canvas: WIDTHxHEIGHT, a single number for a square, or WIDTHx / "
            "xHEIGHT for one side; optional with --ratio.",
            positional=True,
            metavar="SIZE",
            default=NO_MINIMUM,
            parse=ops.parse_size,
        ),
        Param(
            "ratio",
            f"Pad further to this aspect ratio ({_RATIO_HELP}).",
            metavar="RATIO",
            parse=ops.Ratio.parse,
        ),
        Param(
            "color",
            f"Colour of the new canvas ({COLOUR_HELP}) "
            "[default: transparent with alpha, black otherwise].",
            metavar="COLOR",
            parse=ops.check_color,
        ),
        _GRAVITY,
    ),
    _build_pad,
    "imgprep -i photos -o out pad 800x800 --color white",
    _pad_effects,
)

TRIM = StepDef(
    "trim",
    "Remove borders of the top-left pixel's colour, like ImageMagick's -trim.",
    "Crop away the borders that have the colour of the top-left pixel. --fuzz counts "
    "colours within that percentage of it as border too (JPEG noise, soft scans). An image "
    "that is all border is kept as it is.",
    (
        Param(
            "fuzz",
            "Border tolerance: percent of the full range, root mean square over the channels, "
            "in [0, 100).",
            kind=float,
            default=0.0,
            metavar="PCT",
            parse=parse_fuzz,
        ),
    ),
    lambda fuzz: functools.partial(ops.trim, fuzz=fuzz),
    "imgprep -i photos -o out trim --fuzz 5",
    Effects(Geometry.BOX, Colour.READS),  # its box depends on the pixels
)

MIRROR = StepDef(
    "mirror",
    "Mirror left to right.",
    "Mirror the image left to right (exact, no resampling).",
    (),
    constant(ops.mirror),
    "imgprep -i photos -o out mirror",
    EXACT_MOVE,
)

FLIP = StepDef(
    "flip",
    "Flip top to bottom.",
    "Flip the image top to bottom (exact, no resampling).",
    (),
    constant(ops.flip),
    "imgprep -i photos -o out flip",
    EXACT_MOVE,
)

ROTATE = StepDef(
    "rotate",
    "Rotate counter-clockwise by DEGREES (quarter turns are exact).",
    "Rotate counter-clockwise by DEGREES. 90, 180 and 270 are exact; other angles resample "
    "bicubically and enlarge the canvas, filling the corners with --fill (transparent "
    "with alpha).",
    (
        Param(
            "degrees",
            "Angle, counter-clockwise; negative turns clockwise.",
            kind=float,
            positional=True,
            metavar="DEGREES",
            parse=parse_degrees,
        ),
        Param(
            "fill",
            f"Colour of the uncovered corners with an angle that is not a quarter turn "
            f"({COLOUR_HELP}) [default: transparent with alpha, else black].",
            metavar="COLOR",
            parse=ops.check_color,
        ),
    ),
    _build_rotate,
    "imgprep -i photos -o out rotate 90",
    _rotate_effects,
)

AUGMENT = StepDef(
    "augment",
    "Keep each image and add mirrored, flipped, rotated or redrawn copies.",
    "Fan out: keep each image and add one output per variant, named STEM_mirror, "
    "STEM_flip, STEM_rot90, STEM_rot180, STEM_rot270, and STEM_r0.. for --copies. Steps "
    "after augment apply to every variant, each with its own random draws; steps before it "
    "run once per input, whatever the number of variants.",
    (
        Param("mirror", "Add a left-right mirrored copy (suffix _mirror).", kind=bool),
        Param("flip", "Add a top-bottom flipped copy (suffix _flip).", kind=bool),
        Param(
            "rotate",
            "Add rotated copies, a comma-separated list of 90, 180, 270 (suffix _rotN).",
            metavar="ANGLES",
            parse=parse_angles,
        ),
        Param(
            "copies",
            "Add N copies (suffixes _r0.._rN-1) that differ by what the random steps after "
            "augment draw for each.",
            kind=int,
            metavar="N",
            parse=parse_copies,
        ),
    ),
    _build_augment,
    "imgprep -i photos -o out augment --mirror --rotate 90,270",
    EXACT_MOVE,  # the kept original; each variant carries its own effects
    fans_out=True,
)
