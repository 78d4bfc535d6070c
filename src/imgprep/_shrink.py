"""Shrink-on-load: what the decoder may skip for a chain, and applying steps to what it gave.

``decode_hint(steps)`` reads the chain's ``Effects`` before any file is opened. Steps that
commute with a reduced decode (exact moves, per-pixel maps such as grayscale) may come before
the first RESAMPLE step; its ``scaled_size`` then bounds the decode size for every variant
(a quarter-turned variant needs the other axis). A grey decode is asked for when a TO_GREY
step comes before anything that reads colour. ``apply_steps`` then runs steps on the decoded
image, giving the first RESAMPLE step the full size, so output sizes never depend on whether
the decoder reduced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from imgprep._step_model import Colour, Effects, Geometry, Step
from imgprep.files import DecodeHint

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["apply_steps", "decode_hint", "step_swaps"]

Size = tuple[int, int]

# How much larger than the resize target a reduced decode must stay, per DCT scale. libjpeg's
# 1/2 and 1/4 scalings filter well; 1/8 keeps only each block's average and aliases on fine
# detail. Measured on the sample photos (tests/test_pipeline.py): with these gaps every chain
# stays within 2 levels (mean absolute difference) of the full decode, and the tutorial's
# 640x427 -> 200x200 cover still decodes at 1/2.
_REDUCING_GAPS = {8: 2.0, 4: 1.4, 2: 1.0}


def step_swaps(step: Step) -> frozenset[bool] | None:
    """For a step that commutes with a reduced decode (and is not RESAMPLE): whether each of
    its outputs swaps width and height (one per variant); None for any other step."""
    effects = [v.effects for v in step.variants] if step.variants else [step.effects]
    if not all(e.scale_invariant and e.geometry is not Geometry.RESAMPLE for e in effects):
        return None
    return frozenset(e.swaps_axes for e in effects)


def _grey_decode(steps: Sequence[Step]) -> str | None:
    """ "L" when a TO_GREY step comes before anything that reads colour."""
    for step in steps:
        effects = [v.effects for v in step.variants] if step.variants else [step.effects]
        if any(e.colour is Colour.TO_GREY for e in effects):
            return "L"
        if any(e.colour is Colour.READS for e in effects):
            return None
    return None


def decode_hint(steps: Sequence[Step]) -> Callable[[Size], DecodeHint | None]:
    """What to ask of the decoder for an upright image of a given size, given the steps."""
    mode = _grey_decode(steps)
    swaps = frozenset({False})  # for each path through the steps: are width and height swapped?
    for step in steps:
        if step.effects.geometry is Geometry.RESAMPLE:
            return functools.partial(_hint_for_resample, mode, step.effects, swaps)
        step_swap = step_swaps(step)
        if step_swap is None:
            break
        swaps = frozenset(before != now for before in swaps for now in step_swap)
    return functools.partial(_hint_mode_only, mode)


def _hint_mode_only(mode: str | None, size: Size) -> DecodeHint | None:
    return DecodeHint(mode=mode) if mode else None


def _hint_for_resample(
    mode: str | None, effects: Effects, turns: frozenset[bool], size: Size
) -> DecodeHint | None:
    assert effects.scaled_size is not None
    need_w = need_h = 0
    for swapped in turns:
        source = (size[1], size[0]) if swapped else size
        width, height = effects.scaled_size(source)
        if swapped:
            width, height = height, width
        need_w, need_h = max(need_w, width), max(need_h, height)
    for factor, gap in _REDUCING_GAPS.items():
        reduced = (-(-size[0] // factor), -(-size[1] // factor))  # the decoder rounds up
        if reduced[0] >= need_w * gap and reduced[1] >= need_h * gap:
            # Pillow's draft picks the largest scale whose floor division still fits the
            # request: asking for the floor sizes selects exactly `factor`.
            return DecodeHint(mode=mode, size=(size[0] // factor, size[1] // factor))
    return DecodeHint(mode=mode) if mode else None


def apply_steps(
    steps: Sequence[Step], image: Image, full: Size | None
) -> tuple[Image, Size | None]:
    """Apply ``steps``; while ``image`` is a reduced decode of a ``full``-sized one, the first
    RESAMPLE step computes its geometry for ``full``. Returns the image and the full size
    still pending (None once a RESAMPLE step has consumed it)."""
    for step in steps:
        if full is not None and step.effects.geometry is Geometry.RESAMPLE:
            image = step.resample_from(image, full)
            full = None
            continue
        image = step(image)
        if full is not None and step.effects.swaps_axes:
            full = (full[1], full[0])
    return image, full
