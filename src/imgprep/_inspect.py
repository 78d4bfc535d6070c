"""``imgprep inspect``: one image after each step of a chain, side by side on a contact sheet.

The tutorial's "let's check where it went wrong", for one image. ``stage_rows`` computes the
stages with the code a run uses (each ``Step`` in turn on the full decode) and nothing else:
the first row is the input and then the image after each step; with ``augment`` a last row
holds every variant's output (the variant, then the steps after augment), as a run would
write them. ``contact_sheet`` draws the rows, each panel labelled with the step as typed and
the size and mode of its image, with Pillow's default font. Panels higher than ``height`` are
scaled down for the sheet, and their label says so. Pure: no file is read or written here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from imgprep._draws import INPUT_STAGE, Draws, variant_stage
from imgprep._encode import _adapt_mode
from imgprep._step_model import Step, Variant
from imgprep.errors import InputError

__all__ = ["Panel", "Sheet", "contact_sheet", "stage_rows"]

PAD = 8  # pixels around and between panels
FONT_SIZE = 13  # at 12, the default font draws "--" as one dash
BACKGROUND = (232, 232, 232)
INK = (0, 0, 0)
WIDEST = 4  # a panel is at most this many times as wide as the panel height


@dataclass(frozen=True)
class Panel:
    """One stage: the image as computed (full size), and what made it."""

    image: Image.Image
    label: str


@dataclass(frozen=True)
class Sheet:
    """The contact sheet and, row by row, where each panel's picture lies on it (left, top,
    right, bottom), the scale it is shown at, and its two label lines."""

    image: Image.Image
    boxes: tuple[tuple[int, int, int, int], ...]
    scales: tuple[float, ...]
    labels: tuple[tuple[str, str], ...]


def stage_rows(
    image: Image.Image, steps: Sequence[Step], name: str, seed: int = 0
) -> list[list[Panel]]:
    """The stages of ``image`` (the input ``name``) through ``steps``. A step that fails on
    this image raises ``InputError(name, "STEP: reason")``. Random steps draw what a run of
    ``seed`` given this file draws for it (its name below its root is its file name)."""
    row = [Panel(image, f"input {name}")]
    augment: Step | None = None
    at_augment = image
    after: list[Step] = []
    draws = Draws(seed, os.path.basename(name), INPUT_STAGE)
    for step in steps:
        if step.variants:
            augment, at_augment = step, image
            # the first row goes on as the original variant, which draws on its own
            draws = Draws(seed, os.path.basename(name), variant_stage(""))
            continue
        image = _apply(step, image, name, draws)
        row.append(Panel(image, step.describe()))
        if augment is not None:
            after.append(step)
    if augment is None:
        return [row]
    return [row, [_variant_panel(v, at_augment, after, name, seed) for v in augment.variants]]


def _variant_panel(
    variant: Variant, image: Image.Image, after: list[Step], name: str, seed: int
) -> Panel:
    if variant.op is not None:
        try:
            image = variant.op(image)
        except Exception as error:  # one image's problem, as in a run
            raise InputError(name, f"augment {variant.suffix}: {error}") from error
    draws = Draws(seed, os.path.basename(name), variant_stage(variant.suffix))
    for step in after:
        image = _apply(step, image, name, draws)
    then = "".join(f", {step.describe()}" for step in after)
    return Panel(image, f"augment: {variant.suffix or 'original'}{then}")


def _apply(step: Step, image: Image.Image, name: str, draws: Draws) -> Image.Image:
    try:
        bound = step.bound(draws.rng, image.size)[0] if step.draw else step
        return bound(image)
    except Exception as error:  # one image's problem, as in a run
        raise InputError(name, f"{step.describe()}: {error}") from error


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _shown(image: Image.Image, height: int) -> tuple[Image.Image, float]:
    """``image`` as the sheet shows it: RGB (alpha over white, deep greys to 8 bits, as a JPEG
    output would), scaled down to ``height`` if higher (or to ``WIDEST`` x ``height`` wide)."""
    width, tall = image.size
    scale = min(1.0, height / tall, WIDEST * height / width)
    viewable = _adapt_mode(image, "JPEG").convert("RGB")
    if scale == 1.0:
        return viewable, scale
    size = (max(1, round(width * scale)), max(1, round(tall * scale)))
    return viewable.resize(size, Image.Resampling.LANCZOS), scale


@dataclass(frozen=True)
class _Cell:
    """A panel as drawn: its picture, the scale it is shown at, its label lines, its width."""

    picture: Image.Image
    scale: float
    lines: tuple[str, str]
    width: int


def _cell(panel: Panel, height: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> _Cell:
    picture, scale = _shown(panel.image, height)
    width, tall = panel.image.size
    facts = f"{width}x{tall} {panel.image.mode}"
    if scale != 1.0:
        facts += f", shown at {scale:.0%}"
    lines = (panel.label, facts)
    text_width = max(int(font.getbbox(text)[2]) for text in lines)
    return _Cell(picture, scale, lines, max(picture.width, text_width))


def contact_sheet(rows: Sequence[Sequence[Panel]], height: int) -> Sheet:
    """Draw ``rows`` of panels, each scaled to at most ``height`` pixels high, its two label
    lines under it."""
    font = _font()
    line_height = int(font.getbbox("Ag")[3]) + 3
    cells = [[_cell(panel, height, font) for panel in row] for row in rows]
    pictures_high = [max(cell.picture.height for cell in row) for row in cells]
    sheet = Image.new(
        "RGB",
        (
            PAD + max(sum(cell.width + PAD for cell in row) for row in cells),
            PAD + sum(high + PAD // 2 + 2 * line_height + PAD for high in pictures_high),
        ),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    boxes: list[tuple[int, int, int, int]] = []
    top = PAD
    for row, high in zip(cells, pictures_high, strict=True):
        left = PAD
        for cell in row:
            sheet.paste(cell.picture, (left, top))
            boxes.append((left, top, left + cell.picture.width, top + cell.picture.height))
            for number, text in enumerate(cell.lines):
                y = top + high + PAD // 2 + number * line_height
                draw.text((left, y), text, fill=INK, font=font)
            left += cell.width + PAD
        top += high + PAD // 2 + 2 * line_height + PAD
    drawn = [cell for row in cells for cell in row]
    return Sheet(
        sheet,
        tuple(boxes),
        tuple(cell.scale for cell in drawn),
        tuple(cell.lines for cell in drawn),
    )
