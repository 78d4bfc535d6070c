"""The step table: every step a user can chain, with its parameters, help and effects.

Each entry is data (``StepDef``) plus builders that bind parsed values to a pure function of
``ops``. Value parsers raise ``UsageError`` stating the rule and the value; the step parser
adds the step and the option. Nothing here branches on a step's name elsewhere: the planner,
the pipeline and the help read ``Effects`` and ``Param``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from imgprep import ops
from imgprep._step_model import (
    EXACT_MOVE,
    QUARTER_TURN,
    Colour,
    Effects,
    Geometry,
    ImageOp,
    Param,
    ResampleOp,
    StepDef,
    Variant,
)
from imgprep.errors import UsageError

__all__ = ["STEPS", "parse_angles", "parse_degrees", "parse_percent"]


# ---------------------------------------------------------------------------------------------
# Value parsers: text -> value, or UsageError.


def parse_angles(text: str) -> tuple[int, ...]:
    """``"90,180"`` -> ``(90, 180)``; only quarter turns, each once."""
    angles: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            angle = int(part)
        except ValueError:
            raise UsageError(f"rotations must be 90, 180 or 270, not {part!r}") from None
        if angle not in (90, 180, 270):
            raise UsageError(f"rotations must be 90, 180 or 270, not {angle}")
        if angle in angles:
            raise UsageError(f"rotation {angle} is given twice in {text!r}")
        angles.append(angle)
    return tuple(angles)


def parse_percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"cutoff must be a number of percent, not {text!r}") from None
    if math.isnan(value):
        raise UsageError(f"cutoff must be in [0, 50), not {text}")
    return ops.check_cutoff(value)


def parse_degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"degrees must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"degrees must be a finite number, not {text!r}")
    return value


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


def _build_autocontrast(cutoff: float) -> ImageOp:
    return functools.partial(ops.autocontrast, cutoff=cutoff)


def _build_rotate(degrees: float, fill: str | None) -> ImageOp:
    return functools.partial(ops.rotate, degrees=degrees, fill=fill)


def _rotate_effects(degrees: float, **_: Any) -> Effects:
    if degrees % 90:
        return Effects(Geometry.OTHER, Colour.READS)  # resamples, fills corners with a colour
    return QUARTER_TURN if degrees % 180 else EXACT_MOVE


def _build_augment(mirror: bool, flip: bool, rotate: tuple[int, ...] | None) -> tuple[Variant, ...]:
    variants = [Variant("", None)]
    if mirror:
        variants.append(Variant("_mirror", ops.mirror))
    if flip:
        variants.append(Variant("_flip", ops.flip))
    for angle in sorted(rotate or ()):
        turn = functools.partial(ops.rotate, degrees=angle)
        variants.append(Variant(f"_rot{angle}", turn, _rotate_effects(angle)))
    if len(variants) == 1:
        raise UsageError("augment needs at least one of --mirror, --flip, --rotate")
    return tuple(variants)


def _constant(op: ImageOp) -> Any:
    return lambda: op


_COLOUR_HELP = "a CSS name such as red, #rrggbb or #rrggbbaa"

STEPS: dict[str, StepDef] = {
    step.name: step
    for step in (
        StepDef(
            "resize",
            "Resize to a box: fit inside it, cover it (centre crop), pad to it, or stretch.",
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
                    f"Colour of the padding with --mode pad ({_COLOUR_HELP}) "
                    "[default: transparent with alpha, black otherwise].",
                    metavar="COLOR",
                    parse=ops.check_color,
                ),
            ),
            _build_resize,
            "imgprep -i photos -o out resize 200x200 --mode cover",
            _resize_effects,
        ),
        StepDef(
            "grayscale",
            "Convert to grayscale (alpha kept).",
            "Convert colour to grayscale using ITU-R 601 luma (8-bit for 8-bit images); an alpha "
            "channel is kept. JPEGs are decoded straight to grey when nothing before this step "
            "looks at colour.",
            (),
            _constant(ops.grayscale),
            "imgprep -i photos -o out grayscale",
            Effects(Geometry.KEEP, Colour.TO_GREY, scale_invariant=True),
        ),
        StepDef(
            "autocontrast",
            "Stretch the histogram to the full range, clipping --cutoff percent at each end.",
            "Stretch each channel's histogram to the full range after ignoring CUTOFF percent "
            "of the darkest and the lightest pixels. Alpha is left alone.",
            (
                Param(
                    "cutoff",
                    "Percent of pixels to clip at each end of the histogram, in [0, 50).",
                    kind=float,
                    default=0.0,
                    metavar="PCT",
                    parse=parse_percent,
                ),
            ),
            _build_autocontrast,
            "imgprep -i photos -o out autocontrast --cutoff 3",
            Effects(Geometry.KEEP, Colour.READS),
        ),
        StepDef(
            "equalize",
            "Equalize the histogram.",
            "Equalize each channel's histogram so that tones spread evenly. Alpha is left alone.",
            (),
            _constant(ops.equalize),
            "imgprep -i photos -o out equalize",
            Effects(Geometry.KEEP, Colour.READS),
        ),
        StepDef(
            "mirror",
            "Mirror left to right.",
            "Mirror the image left to right (exact, no resampling).",
            (),
            _constant(ops.mirror),
            "imgprep -i photos -o out mirror",
            EXACT_MOVE,
        ),
        StepDef(
            "flip",
            "Flip top to bottom.",
            "Flip the image top to bottom (exact, no resampling).",
            (),
            _constant(ops.flip),
            "imgprep -i photos -o out flip",
            EXACT_MOVE,
        ),
        StepDef(
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
                    f"({_COLOUR_HELP}) [default: transparent with alpha, else black].",
                    metavar="COLOR",
                    parse=ops.check_color,
                ),
            ),
            _build_rotate,
            "imgprep -i photos -o out rotate 90",
            _rotate_effects,
        ),
        StepDef(
            "augment",
            "Keep the image and add mirrored, flipped or rotated copies, each its own file.",
            "Fan out: keep each image and add one output per variant, named STEM_mirror, "
            "STEM_flip, STEM_rot90, STEM_rot180, STEM_rot270. Steps after augment apply to every "
            "variant; steps before it run once per input, whatever the number of variants.",
            (
                Param("mirror", "Add a left-right mirrored copy (suffix _mirror).", kind=bool),
                Param("flip", "Add a top-bottom flipped copy (suffix _flip).", kind=bool),
                Param(
                    "rotate",
                    "Add rotated copies, a comma-separated list of 90, 180, 270 (suffix _rotN).",
                    metavar="ANGLES",
                    parse=parse_angles,
                ),
            ),
            _build_augment,
            "imgprep -i photos -o out augment --mirror --rotate 90,270",
            EXACT_MOVE,  # the kept original; each variant carries its own effects
            fans_out=True,
        ),
    )
}
