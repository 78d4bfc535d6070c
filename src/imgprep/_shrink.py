"""Shrink-on-load: what the decoder may skip for a chain, and applying steps to what it gave.

``decode_hint(steps)`` reads the chain's ``Effects`` before any file is opened. Steps that
commute with a reduced decode (exact moves, linear per-pixel maps such as grayscale, crops in
percentages or to a ratio, pads to a ratio) may come before the first RESAMPLE step; its
``scaled_size`` then bounds the decode size for every variant (a quarter-turned variant needs
the other axis, a crop's box keeps fewer pixels than the image). A grey decode is asked for
when a TO_GREY step comes before anything that reads colour.

``apply_steps`` then runs steps on the decoded image. A BOX step computes its box for the
full size and keeps the whole pixels of the reduced image around the matching box, which
starts and ends between pixels; that fractional box travels to the RESAMPLE step, which
resamples exactly it from the full size's geometry. So output sizes never depend on whether
the decoder reduced, and a crop adds no resampling of its own. After a BOX step, only KEEP
steps may come before the RESAMPLE step (a move would have to move the fractional box too),
and it must be in the same run of steps: the planner stops otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from imgprep._draws import INPUT_STAGE, Draws
from imgprep._step_model import Colour, Effects, Geometry, Step
from imgprep.files import DecodeHint

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["apply_steps", "decode_hint", "size_maps"]

Size = tuple[int, int]
SizeMap = Callable[[Size], Size]
Region = tuple[Fraction, Fraction, Fraction, Fraction]  # where the full image lies, exactly

# How much larger than the resize target a reduced decode must stay, per DCT scale. libjpeg's
# 1/2 and 1/4 scalings filter well; 1/8 keeps only each block's average and aliases on fine
# detail. Measured on the sample photos (tests/test_pipeline.py): with these gaps every chain
# stays within 2 levels (mean absolute difference) of the full decode, and the tutorial's
# 640x427 -> 200x200 cover still decodes at 1/2.
_REDUCING_GAPS = {8: 2.0, 4: 1.4, 2: 1.0}


def _effects_of(step: Step) -> list[Effects]:
    return [v.effects for v in step.variants] if step.variants else [step.effects]


def size_maps(step: Step) -> list[SizeMap] | None:
    """For a step that commutes with a reduced decode (and is not RESAMPLE): the size each of
    its outputs (one per variant) gives a source; None for any other step."""
    maps: list[SizeMap] = []
    for effects in _effects_of(step):
        if not effects.scale_invariant or effects.geometry in (Geometry.RESAMPLE, Geometry.OTHER):
            return None
        maps.append(functools.partial(_mapped, effects))
    return maps


def _mapped(effects: Effects, size: Size) -> Size:
    mapped = effects.maps_size(size)
    assert mapped is not None
    return mapped


def _grey_decode(steps: Sequence[Step]) -> str | None:
    """ "L" when a TO_GREY step comes before anything that reads colour."""
    for step in steps:
        effects = _effects_of(step)
        if any(e.colour is Colour.TO_GREY for e in effects):
            return "L"
        if any(e.colour is Colour.READS for e in effects):
            return None
    return None


def decode_hint(steps: Sequence[Step]) -> Callable[[Size], DecodeHint | None]:
    """What to ask of the decoder for an upright image of a given size, given the steps."""
    mode = _grey_decode(steps)
    paths: list[tuple[SizeMap, ...]] = [()]  # for each path through the steps: its size maps
    boxed = False  # a BOX step has cut a fractional box that only KEEP steps may carry on
    for step in steps:
        if step.effects.geometry is Geometry.RESAMPLE:
            return functools.partial(_hint_for_resample, mode, step.effects, tuple(paths))
        maps = size_maps(step)
        if maps is None or (boxed and (step.variants or step.effects.geometry is Geometry.MOVE)):
            break
        boxed = boxed or step.effects.geometry is Geometry.BOX
        paths = [(*path, size_map) for path in paths for size_map in maps]
    return functools.partial(_hint_mode_only, mode)


def _hint_mode_only(mode: str | None, size: Size) -> DecodeHint | None:
    return DecodeHint(mode=mode) if mode else None


def _hint_for_resample(
    mode: str | None, effects: Effects, paths: tuple[tuple[SizeMap, ...], ...], size: Size
) -> DecodeHint | None:
    assert effects.scaled_size is not None
    needs: list[tuple[Size, Size]] = []  # per path: the size the resample sees, and needs
    for path in paths:
        source = size
        for size_map in path:
            source = size_map(source)
        needs.append((source, effects.scaled_size(source)))
    for factor, gap in _REDUCING_GAPS.items():
        # the decoder rounds up; a box of the reduced image is its size / factor, rounded up
        if all(
            -(-source[0] // factor) >= need[0] * gap and -(-source[1] // factor) >= need[1] * gap
            for source, need in needs
        ):
            # Pillow's draft picks the largest scale whose floor division still fits the
            # request: asking for the floor sizes selects exactly `factor`.
            return DecodeHint(mode=mode, size=(size[0] // factor, size[1] // factor))
    return DecodeHint(mode=mode) if mode else None


def apply_steps(
    steps: Sequence[Step], image: Image, full: Size | None, draws: Draws | None = None
) -> tuple[Image, Size | None]:
    """Apply ``steps``; while ``image`` is a reduced decode of a ``full``-sized one, a
    scale-invariant BOX step keeps the matching box of it and the first RESAMPLE step computes
    its geometry for the full size (of the box). Returns the image and the full size still
    pending (None once a RESAMPLE step has consumed it).

    A random step draws from ``draws`` (a generator seeded 0 without) for the full size of
    what it sees, so a reduced decode never changes what is drawn; ``draws`` notes it."""
    region: Region | None = None  # None: all of a power-of-two reduction
    for step in steps:
        if step.draw is not None:
            draws = draws or Draws(0, "", INPUT_STAGE)
            step, drawn = step.bound(draws.rng, full or image.size)
            draws.note(step.name, drawn)
        effects = step.effects
        if full is None:
            image = step(image)
        elif effects.geometry is Geometry.RESAMPLE:
            image = step.resample_from(image, full, _floats(region))
            full = region = None
        elif effects.geometry is Geometry.BOX and effects.scale_invariant:
            image, full, region = _reframe(step, image, full, region)
        elif region is not None and effects.geometry is not Geometry.KEEP:
            raise ValueError(f"{step.name} cannot follow a crop of a reduced decode")
        else:
            image = step(image)
            if effects.swaps_axes:
                full = (full[1], full[0])
    if region is not None:
        raise ValueError("a crop of a reduced decode must be followed by a resize")
    return image, full


def _reframe(
    step: Step, image: Image, full: Size, region: Region | None
) -> tuple[Image, Size, Region]:
    """A BOX step on a reduced decode: its box for the ``full`` size, mapped into ``image``
    (where the full image lies in ``region``); the whole pixels around it are kept, and the
    box's exact place in them is the new region."""
    if region is None:
        factor = _reduction(full, image.size)
        region = (Fraction(0), Fraction(0), Fraction(full[0], factor), Fraction(full[1], factor))
    assert step.effects.box is not None
    left, top, right, bottom = step.effects.box(full)
    x_scale = (region[2] - region[0]) / full[0]
    y_scale = (region[3] - region[1]) / full[1]
    mapped = (
        region[0] + left * x_scale,
        region[1] + top * y_scale,
        region[0] + right * x_scale,
        region[1] + bottom * y_scale,
    )
    kept = (
        math.floor(mapped[0]),
        math.floor(mapped[1]),
        math.ceil(mapped[2]),
        math.ceil(mapped[3]),
    )
    shifted = (
        mapped[0] - kept[0],
        mapped[1] - kept[1],
        mapped[2] - kept[0],
        mapped[3] - kept[1],
    )
    return step.reframe(image, kept), (right - left, bottom - top), shifted


def _floats(region: Region | None) -> tuple[float, float, float, float] | None:
    if region is None:
        return None
    left, top, right, bottom = region
    return float(left), float(top), float(right), float(bottom)


def _reduction(full: Size, reduced: Size) -> int:
    """The decoder's scale (1, 2, 4 or 8) that made ``reduced`` of a ``full``-sized image."""
    for factor in (1, 2, 4, 8):
        if (-(-full[0] // factor), -(-full[1] // factor)) == reduced:
            return factor
    raise ValueError(f"{reduced} is not a reduced decode of a {full} image")
