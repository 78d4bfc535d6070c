"""What a step is: its parameters, the facts the planner reads, and a step with values bound.

A ``StepDef`` is one entry of the step table: name, help, parameters, and a builder that turns
parsed values into a pure image function (or, for a fan-out step, into ``Variant``s). Its
``Effects`` say what the step does to an image in terms the rest of imgprep reads instead of
step names: the shrink-on-load planner (may the decoder reduce or go grey before this step?),
the pipeline (does this step need the full size of a reduced decode? does it swap the axes?
which box of the source does it keep?) and the help. Adding a step means adding one table
entry and one function in ``ops``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Box",
    "BoxOp",
    "Colour",
    "Effects",
    "Geometry",
    "ImageOp",
    "Param",
    "RandomOp",
    "ResampleOp",
    "Step",
    "StepDef",
    "Variant",
]

ImageOp = Callable[["Image"], "Image"]
PixelSize = tuple[int, int]
Box = tuple[int, int, int, int]  # (left, top, right, bottom) in whole pixels, as Image.crop
Region = tuple[float, float, float, float]  # the same, in fractional pixels


class ResampleOp(Protocol):
    """The function of a ``Geometry.RESAMPLE`` step: it can take a reduced decode of an image
    whose full size is ``source_size`` and still give the geometry of the full image."""

    def __call__(
        self,
        image: Image,
        /,
        *,
        source_size: tuple[int, int] | None = None,
        source_box: Region | None = None,
    ) -> Image: ...


class BoxOp(Protocol):
    """The function of a ``Geometry.BOX`` step: ``op(image)`` keeps the box its effects compute
    for ``image.size``; ``op(image, box=...)`` keeps the given box of ``image`` instead (whole
    pixels, possibly reaching outside it: the step's own fill colour covers that part)."""

    def __call__(self, image: Image, /, *, box: Box | None = None) -> Image: ...


class Geometry(enum.Enum):
    """What a step does to the pixel grid."""

    KEEP = "keep"  # same size, each pixel stays where it is (grayscale, autocontrast)
    MOVE = "move"  # whole pixels move exactly, no resampling (mirror, flip, quarter turns)
    RESAMPLE = "resample"  # a new size computed from the source size (resize)
    BOX = "box"  # keeps a box of the source, pixels copied as they are (crop, pad, trim)
    OTHER = "other"  # anything else (a free rotation grows the canvas and fills corners)


class Colour(enum.Enum):
    """What a step does with colour."""

    NEUTRAL = "neutral"  # commutes with converting to grey (moves, resampling)
    TO_GREY = "to grey"  # makes the image grey
    READS = "reads"  # looks at colour values, or adds colours of its own


@dataclass(frozen=True)
class Effects:
    """The facts about a step (with its values bound) that planning needs.

    ``scale_invariant``: applying the step to a reduced decode and then finishing the chain
    gives what the full decode would, within the resampling tolerance tested (true of exact
    moves and per-pixel maps such as grayscale; false of histogram ops, whose statistics
    change with the scale). ``scaled_size`` maps a source size to the size a RESAMPLE step
    scales the whole image to (before a crop or pad of its own); the planner uses it to pick
    the smallest decode that still leaves the step enough pixels.

    ``box`` maps a source size to the box a BOX step keeps of it (``(left, top, right,
    bottom)``; a pad's box reaches outside the source), when the box depends on the size
    alone: not for ``trim``, whose box depends on the pixels. A scale-invariant BOX step (a
    crop in percentages or to a ratio, a pad to a ratio) passes the planner: a reduced decode
    keeps the matching box of its pixels, and the RESAMPLE step after it sees the box's size
    as the full size. ``maps_size`` is what the planner reads: the size a step gives a source.
    """

    geometry: Geometry = Geometry.KEEP
    colour: Colour = Colour.READS
    swaps_axes: bool = False
    scale_invariant: bool = False
    random: bool = False
    scaled_size: Callable[[tuple[int, int]], tuple[int, int]] | None = field(
        default=None, compare=False
    )
    box: Callable[[PixelSize], Box] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.geometry is Geometry.RESAMPLE) != (self.scaled_size is not None):
            raise ValueError("scaled_size is given exactly for RESAMPLE steps")
        if self.swaps_axes and self.geometry is not Geometry.MOVE:
            raise ValueError("only a MOVE step can swap the axes")
        if self.box is not None and self.geometry is not Geometry.BOX:
            raise ValueError("only a BOX step has a box")
        if self.geometry is Geometry.BOX and self.scale_invariant and self.box is None:
            raise ValueError("a scale-invariant BOX step needs its box")

    def maps_size(self, size: PixelSize) -> PixelSize | None:
        """The size this step gives a source of ``size``, when the size alone decides it (KEEP,
        MOVE, a BOX step with a ``box``); None otherwise (RESAMPLE's output includes its own
        crop or pad; OTHER and ``trim`` depend on more than the size)."""
        if self.geometry is Geometry.KEEP:
            return size
        if self.geometry is Geometry.MOVE:
            return (size[1], size[0]) if self.swaps_axes else size
        if self.box is not None:
            left, top, right, bottom = self.box(size)
            return right - left, bottom - top
        return None


#: A pure move that commutes with grey conversion and with a reduced decode.
EXACT_MOVE = Effects(Geometry.MOVE, Colour.NEUTRAL, scale_invariant=True)
QUARTER_TURN = Effects(Geometry.MOVE, Colour.NEUTRAL, swaps_axes=True, scale_invariant=True)


@dataclass(frozen=True)
class Param:
    """One parameter of a step: a positional argument, an option with a value, or a flag."""

    name: str  # Python identifier; the option is spelled --name-with-dashes
    help: str
    kind: type = str  # int, float, str or bool (bool: a flag)
    default: Any = None
    positional: bool = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # text -> value; raises UsageError

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """How messages and help name it: ``SIZE`` for a positional, ``--mode`` otherwise."""
        return (self.metavar or self.name.upper()) if self.positional else self.flag

    @property
    def takes_value(self) -> bool:
        """Whether the option consumes the next token (positionals and flags do not)."""
        return not self.positional and self.kind is not bool


@dataclass(frozen=True)
class Variant:
    """One output of a fan-out: a suffix for its file name, the exact move that makes it
    (None: the image as it is) and that move's effects. ``redraws``: a copy that differs from
    the original only by what the random steps after ``augment`` draw for it (``_r0``)."""

    suffix: str  # "" for the original
    op: ImageOp | None
    effects: Effects = EXACT_MOVE
    redraws: bool = False


Draw = Callable[[random.Random, PixelSize], dict[str, Any]]


@dataclass(frozen=True)
class RandomOp:
    """What a random step's builder returns: ``draw(rng, size)`` draws the parameters for an
    image of ``size`` (its full size, also under shrink-on-load) from ``rng`` and nothing else;
    ``apply(image, **parameters)`` is the pure op, the same pixels for the same parameters
    (a RESAMPLE step's also takes ``source_size`` and ``source_box``, as ``ResampleOp``)."""

    draw: Draw
    apply: Callable[..., Image]


@dataclass(frozen=True)
class StepDef:
    """A step's entry in the table: its parameters, help, effects, and how to build it.

    ``build(**values)`` returns the image function, a ``RandomOp`` for a random step, or a
    tuple of ``Variant`` for a fan-out step. ``effects`` is constant, or a function of the
    bound values (``rotate 90`` moves pixels exactly, ``rotate 15`` resamples).
    """

    name: str
    summary: str  # one line, shown in `imgprep --help`
    description: str  # shown in `imgprep STEP --help`
    params: tuple[Param, ...]
    build: Callable[..., ImageOp | ResampleOp | BoxOp | RandomOp | tuple[Variant, ...]]
    example: str
    effects: Effects | Callable[..., Effects] = Effects()
    fans_out: bool = False  # build returns Variants: one output per variant

    @property
    def positionals(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.positional)

    @property
    def options(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.positional)

    def option_named(self, spelled: str) -> Param | None:
        """The option spelled ``spelled`` (``--mode``), if any."""
        for param in self.params:
            if not param.positional and spelled == param.flag:
                return param
        return None

    def effects_of(self, values: Mapping[str, Any]) -> Effects:
        return self.effects(**values) if callable(self.effects) else self.effects


@dataclass(frozen=True)
class Step:
    """A step with its values bound: ``step(image)`` applies it.

    ``options`` keeps the values as parsed, so ``describe()`` can show the step the way a user
    would type it and ``recipe()`` can fingerprint it for incremental runs. A fan-out step has
    ``variants`` instead of a function.
    """

    definition: StepDef = field(repr=False, compare=False)
    options: tuple[tuple[str, Any], ...] = ()
    effects: Effects = field(default=Effects(), compare=False, repr=False)
    apply: ImageOp | ResampleOp | BoxOp | None = field(default=None, compare=False, repr=False)
    variants: tuple[Variant, ...] = field(default=(), compare=False, repr=False)
    draw: Draw | None = field(default=None, compare=False, repr=False)  # a random step's

    @property
    def name(self) -> str:
        return self.definition.name

    def __call__(self, image: Image) -> Image:
        """Apply the step. A random step called this way draws from a generator seeded 0, the
        same draw at every call; a run draws per input and variant (``bound``)."""
        if self.apply is None:
            raise TypeError(f"step {self.name!r} fans out into variants; it is not applied")
        if self.draw is not None:
            return self.bound(random.Random(0), image.size)[0](image)
        return self.apply(image)

    def bound(self, rng: random.Random, size: PixelSize) -> tuple[Step, dict[str, Any]]:
        """A random step with parameters drawn from ``rng`` for an image of ``size`` bound in
        (a step that is no longer random), and those parameters; any other step as it is."""
        if self.draw is None or self.apply is None:
            return self, {}
        drawn = self.draw(rng, size)
        apply = functools.partial(self.apply, **drawn)
        return dataclasses.replace(self, apply=apply, draw=None), drawn

    def resample_from(
        self, image: Image, full_size: tuple[int, int], source_box: Region | None = None
    ) -> Image:
        """Apply a RESAMPLE step to ``image``, a reduced decode of a ``full_size`` image, with
        the geometry it would have on the full image (shrink-on-load never changes sizes).
        ``source_box``: where the full image lies in ``image`` (fractional pixels), when a BOX
        step before cut it; default: all of a power-of-two reduction."""
        if self.effects.geometry is not Geometry.RESAMPLE or self.apply is None:
            raise TypeError(f"step {self.name!r} does not resample; it needs the full image")
        apply: ResampleOp = self.apply  # type: ignore[assignment]
        if source_box is None:
            return apply(image, source_size=full_size)
        return apply(image, source_size=full_size, source_box=source_box)

    def reframe(self, image: Image, box: Box) -> Image:
        """Apply a BOX step keeping ``box`` of ``image`` (shrink-on-load gives it the box of a
        reduced decode that matches the box the step keeps of the full image)."""
        if self.effects.box is None or self.apply is None:
            raise TypeError(f"step {self.name!r} computes no box from the size alone")
        apply: BoxOp = self.apply  # type: ignore[assignment]
        return apply(image, box=box)

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def describe(self) -> str:
        """The step as command-line words, e.g. ``resize 200x200 --mode cover``."""
        words = [self.name]
        params = {p.name: p for p in self.definition.params}
        for key, value in self.options:
            param = params[key]
            if param.positional:
                if param.default is None or value != param.default:  # an optional one: shown
                    words.append(format_value(value))  # when it is not the default
            elif param.kind is bool:
                if value:
                    words.append(param.flag)
            elif value != param.default:
                words.extend([param.flag, format_value(value)])
        return " ".join(words)

    def recipe(self) -> list[Any]:
        """A JSON-able fingerprint of what this step does to pixels."""
        return [self.name, [[k, format_value(v)] for k, v in self.options]]


def format_value(value: Any) -> str:
    """A parsed value as it would be typed (``Size(200, None)`` -> ``200x``)."""
    from imgprep.ops import Size  # ops imports Pillow: only when a step is shown

    if isinstance(value, Size):
        width = "" if value.width is None else str(value.width)
        height = "" if value.height is None else str(value.height)
        return f"{width}x{height}"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
