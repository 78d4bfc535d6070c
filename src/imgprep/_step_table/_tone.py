"""Colour, tone and detail steps: convert, grayscale, the histogram stretches, the per-pixel
tone maps, blur and sharpen.

Effects. Every one keeps the pixel grid (KEEP) and, but for grayscale and ``convert l``/``la``,
READS colour. ``scale_invariant`` (may the decoder reduce before it?) needs two things: the map
commutes with averaging pixels, which is what a reduced decode and a resize do (it is linear:
grayscale, convert, invert, brightness, saturation), and it does not amplify the reduced
decode's own difference beyond the tested 2 levels (a gain of at most 1: brightness and
saturation only with FACTOR <= 1; brightness 2 doubles a 1.1-level difference). Histogram
ops, contrast (it pivots on the image's mean and amplifies), the curved maps gamma and
posterize (posterize 3 before a resize differs by 3 levels), blur and sharpen stop the
planner. Measured on the sample photos; tests/test_pipeline.py checks the chains that pass.
"""

from __future__ import annotations

import functools
from typing import Any

from imgprep import ops
from imgprep._step_model import Colour, Effects, Geometry, ImageOp, Param, StepDef
from imgprep._step_table._geometry import COLOUR_HELP, constant
from imgprep._step_table._values import (
    parse_amount,
    parse_bits,
    parse_factor,
    parse_gamma,
    parse_percent,
    parse_radius,
)
from imgprep.errors import UsageError

_LINEAR_MAP = Effects(Geometry.KEEP, Colour.READS, scale_invariant=True)
_AMPLIFYING_MAP = Effects(Geometry.KEEP, Colour.READS)  # linear, but a gain above 1
_CURVED_MAP = Effects(Geometry.KEEP, Colour.READS)  # per pixel, but does not commute with averaging
_WHOLE_IMAGE = Effects(Geometry.KEEP, Colour.READS)  # reads a statistic of the whole image


def _build_convert(mode: str, background: str | None) -> ImageOp:
    if background is not None and mode in ("la", "rgba"):
        raise UsageError(f"--background only applies to rgb and l, which drop alpha, not {mode}")
    return functools.partial(ops.convert, mode=mode, background=background or "white")


def _convert_effects(mode: str, **_: Any) -> Effects:
    colour = Colour.TO_GREY if mode in ("l", "la") else Colour.READS
    return Effects(Geometry.KEEP, colour, scale_invariant=True)


def _factor_effects(factor: float) -> Effects:
    return _LINEAR_MAP if factor <= 1 else _AMPLIFYING_MAP


def _cutoff(help: str) -> Param:
    return Param("cutoff", help, kind=float, default=0.0, metavar="PCT", parse=parse_percent)


def _factor(what: str) -> Param:
    return Param(
        "factor",
        f"{what}: 1 keeps the image, 0 gives {'black' if what == 'Brightness' else 'grey'}, "
        "2 doubles it; any number >= 0.",
        kind=float,
        positional=True,
        metavar="FACTOR",
        parse=parse_factor,
    )


CONVERT = StepDef(
    "convert",
    "Force the colour mode: rgb, l, la or rgba (alpha dropped over --background).",
    "Convert every image to MODE, so a data set has one mode whatever its inputs: rgb (3 "
    "channels), l (8-bit grey), la or rgba (with alpha, opaque where there was none). rgb and "
    "l drop alpha by compositing over --background. Grey inputs become three equal channels "
    "with rgb; 16-bit grey becomes 8-bit.",
    (
        Param(
            "mode",
            "The mode: rgb, l, la or rgba.",
            positional=True,
            metavar="MODE",
            choices=tuple(ops.CONVERT_MODES),
        ),
        Param(
            "background",
            f"Colour under transparent pixels when rgb or l drops alpha ({COLOUR_HELP}) "
            "[default: white].",
            metavar="COLOR",
            parse=ops.check_color,
        ),
    ),
    _build_convert,
    "imgprep -i photos -o out convert rgb",
    _convert_effects,
)

GRAYSCALE = StepDef(
    "grayscale",
    "Convert to grayscale (alpha kept).",
    "Convert colour to grayscale using ITU-R 601 luma (8-bit for 8-bit images); an alpha "
    "channel is kept. JPEGs are decoded straight to grey when nothing before this step "
    "looks at colour.",
    (),
    constant(ops.grayscale),
    "imgprep -i photos -o out grayscale",
    Effects(Geometry.KEEP, Colour.TO_GREY, scale_invariant=True),
)

AUTOCONTRAST = StepDef(
    "autocontrast",
    "Stretch each channel to the full range, clipping --cutoff % at each end.",
    "Stretch each channel's histogram to the full range after ignoring CUTOFF percent "
    "of the darkest and the lightest pixels. Alpha is left alone.",
    (_cutoff("Percent of pixels to clip at each end of the histogram, in [0, 50)."),),
    lambda cutoff: functools.partial(ops.autocontrast, cutoff=cutoff),
    "imgprep -i photos -o out autocontrast --cutoff 3",
    _WHOLE_IMAGE,
)

NORMALIZE = StepDef(
    "normalize",
    "Stretch to the full range with one mapping for all channels (colours kept).",
    "Stretch the tones to the full range like autocontrast, but with one range found over all "
    "colour channels together, so the colour balance is kept (autocontrast stretches each "
    "channel on its own, which also shifts the colours). On grey images the two are the same. "
    "Alpha is left alone.",
    (_cutoff("Percent of the pooled channel values to clip at each end, in [0, 50)."),),
    lambda cutoff: functools.partial(ops.normalize, cutoff=cutoff),
    "imgprep -i photos -o out normalize --cutoff 1",
    _WHOLE_IMAGE,
)

EQUALIZE = StepDef(
    "equalize",
    "Equalize the histogram.",
    "Equalize each channel's histogram so that tones spread evenly. Alpha is left alone.",
    (),
    constant(ops.equalize),
    "imgprep -i photos -o out equalize",
    _WHOLE_IMAGE,
)

BRIGHTNESS = StepDef(
    "brightness",
    "Scale the brightness by FACTOR (1 keeps the image).",
    "Multiply the brightness by FACTOR, as Pillow's ImageEnhance.Brightness: 0 is black, "
    "1 the image as it is, 1.2 a fifth brighter. Alpha is left alone.",
    (_factor("Brightness"),),
    lambda factor: functools.partial(ops.brightness, factor=factor),
    "imgprep -i photos -o out brightness 1.2",
    _factor_effects,
)

CONTRAST = StepDef(
    "contrast",
    "Scale the contrast around the mean grey by FACTOR (1 keeps the image).",
    "Scale the contrast by FACTOR around the image's mean grey, as Pillow's "
    "ImageEnhance.Contrast: 0 is a flat grey, 1 the image as it is, 1.5 half as much again. "
    "Alpha is left alone.",
    (_factor("Contrast"),),
    lambda factor: functools.partial(ops.contrast, factor=factor),
    "imgprep -i photos -o out contrast 1.5",
    _WHOLE_IMAGE,
)

SATURATION = StepDef(
    "saturation",
    "Scale the colourfulness by FACTOR (0 grey, 1 keeps the image).",
    "Scale the colour saturation by FACTOR, as Pillow's ImageEnhance.Color: 0 is grey (in "
    "the image's own mode), 1 the image as it is, 2 twice as colourful. Grey images pass "
    "unchanged; alpha is left alone.",
    (_factor("Saturation"),),
    lambda factor: functools.partial(ops.saturation, factor=factor),
    "imgprep -i photos -o out saturation 0.5",
    _factor_effects,
)

GAMMA = StepDef(
    "gamma",
    "Gamma-correct: GAMMA above 1 lightens the mid-tones, below 1 darkens them.",
    "Apply out = in ^ (1 / GAMMA) on the 0..1 range, as ImageMagick's -gamma: black and "
    "white stay, 2.2 lightens the mid-tones, 0.45 darkens them. Alpha is left alone.",
    (
        Param(
            "gamma",
            "The gamma, a number > 0; 1 keeps the image.",
            kind=float,
            positional=True,
            metavar="GAMMA",
            parse=parse_gamma,
        ),
    ),
    lambda gamma: functools.partial(ops.gamma, value=gamma),
    "imgprep -i photos -o out gamma 1.8",
    _CURVED_MAP,
)

INVERT = StepDef(
    "invert",
    "Invert the tones (a negative); alpha kept.",
    "Make a negative: each colour value v becomes its range's top minus v (255 - v; 65535 - v "
    "for 16-bit images). Alpha is left alone.",
    (),
    constant(ops.invert),
    "imgprep -i photos -o out invert",
    _LINEAR_MAP,
)

POSTERIZE = StepDef(
    "posterize",
    "Keep BITS bits per channel (2^BITS levels).",
    "Reduce each channel to 2^BITS levels by keeping its top BITS bits, as Pillow's "
    "ImageOps.posterize (16-bit images keep the same levels). Alpha is left alone.",
    (
        Param(
            "bits",
            "Bits to keep per channel, 1..8.",
            kind=int,
            positional=True,
            metavar="BITS",
            parse=parse_bits,
        ),
    ),
    lambda bits: functools.partial(ops.posterize, bits=bits),
    "imgprep -i photos -o out posterize 4",
    _CURVED_MAP,
)

BLUR = StepDef(
    "blur",
    "Gaussian blur with standard deviation RADIUS pixels.",
    "Blur with a Gaussian of standard deviation RADIUS pixels (Pillow's GaussianBlur; 0 "
    "changes nothing). Alpha is kept; colours are blurred weighted by it, so what hides under "
    "transparent pixels never bleeds out. 16-bit images keep their depth.",
    (
        Param(
            "radius",
            "Standard deviation of the Gaussian, in pixels (>= 0).",
            kind=float,
            positional=True,
            metavar="RADIUS",
            parse=parse_radius,
        ),
    ),
    lambda radius: functools.partial(ops.blur, radius=radius),
    "imgprep -i photos -o out blur 2",
    Effects(Geometry.KEEP, Colour.NEUTRAL),  # linear: commutes with grey, not with scale
)

SHARPEN = StepDef(
    "sharpen",
    "Sharpen with an unsharp mask (--radius, --percent, --threshold).",
    "Sharpen with an unsharp mask, Pillow's ImageFilter.UnsharpMask with its defaults: where "
    "a pixel differs from its Gaussian blur of --radius by more than --threshold levels, add "
    "--percent of the difference. Alpha is kept. 16-bit images keep their depth.",
    (
        Param(
            "radius",
            "Radius of the blur, in pixels (>= 0).",
            kind=float,
            default=2.0,
            metavar="PX",
            parse=parse_radius,
        ),
        Param(
            "percent",
            "Strength, percent of the difference added.",
            kind=int,
            default=150,
            metavar="PCT",
            parse=parse_amount,
        ),
        Param(
            "threshold",
            "Smallest difference sharpened, in 8-bit levels.",
            kind=int,
            default=3,
            metavar="LEVELS",
            parse=parse_amount,
        ),
    ),
    lambda radius, percent, threshold: functools.partial(
        ops.sharpen, radius=radius, percent=percent, threshold=threshold
    ),
    "imgprep -i photos -o out sharpen --percent 120",
    Effects(Geometry.KEEP, Colour.READS),
)
