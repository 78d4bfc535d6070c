"""The step table: every step a user can chain, with its parameters, help and effects.

Each entry is data (``StepDef``) plus builders that bind parsed values to a pure function of
``ops``. Value parsers (``_values``) raise ``UsageError`` stating the rule and the value; the
step parser adds the step and the option. Nothing here branches on a step's name elsewhere:
the planner, the pipeline and the help read ``Effects`` and ``Param``. The entries live by
theme, geometry (``_geometry``), colour, tone and detail (``_tone``), then the random steps
(``_random``); ``STEPS`` lists them in that order, with ``augment`` last.
"""

from __future__ import annotations

from imgprep._step_model import StepDef
from imgprep._step_table._geometry import AUGMENT, CROP, FLIP, MIRROR, PAD, RESIZE, ROTATE, TRIM
from imgprep._step_table._random import JITTER, RANDOM_CROP, RANDOM_FLIP, RANDOM_ROTATE
from imgprep._step_table._tone import (
    AUTOCONTRAST,
    BLUR,
    BRIGHTNESS,
    CONTRAST,
    CONVERT,
    EQUALIZE,
    GAMMA,
    GRAYSCALE,
    INVERT,
    NORMALIZE,
    POSTERIZE,
    SATURATION,
    SHARPEN,
)
from imgprep._step_table._values import parse_angles, parse_degrees, parse_percent

__all__ = ["STEPS", "parse_angles", "parse_degrees", "parse_percent"]

STEPS: dict[str, StepDef] = {
    step.name: step
    for step in (
        RESIZE,
        CROP,
        PAD,
        TRIM,
        MIRROR,
        FLIP,
        ROTATE,
        CONVERT,
        GRAYSCALE,
        AUTOCONTRAST,
        NORMALIZE,
        EQUALIZE,
        BRIGHTNESS,
        CONTRAST,
        SATURATION,
        GAMMA,
        INVERT,
        POSTERIZE,
        BLUR,
        SHARPEN,
        RANDOM_CROP,
        RANDOM_FLIP,
        RANDOM_ROTATE,
        JITTER,
        AUGMENT,
    )
}
