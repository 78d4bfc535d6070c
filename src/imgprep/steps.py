"""Steps: the table of image operations a chain is made of, and the parser of step words.

A *step* is a named image operation with its values, e.g. ``resize 200x200 --mode cover``.
``STEPS`` maps each name to a ``StepDef`` (parameters, help, effects, builder);
``parse_steps("resize 200 grayscale")`` gives bound ``Step`` objects, parsed exactly as the
command line parses them. The model lives in ``_step_model``, the entries in ``_step_table``
and the parser in ``_step_parse``; this module is their public face.
"""

from __future__ import annotations

from collections.abc import Sequence

from imgprep._step_model import Colour, Effects, Geometry, Param, Step, StepDef, Variant
from imgprep._step_parse import make_step, parse_step_tokens
from imgprep._step_table import STEPS

__all__ = [
    "STEPS",
    "Colour",
    "Effects",
    "Geometry",
    "Param",
    "Step",
    "StepDef",
    "Variant",
    "make_step",
    "parse_steps",
]


def parse_steps(words: str | Sequence[str]) -> list[Step]:
    """Parse steps written as on the command line.

    ``parse_steps("resize 200x200 --mode cover grayscale")`` gives two steps, resize and
    grayscale; a string is split on white space, a sequence is taken word by word.
    """
    return parse_step_tokens(words.split() if isinstance(words, str) else list(words))
