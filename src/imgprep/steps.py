"""The step table: every step a user can chain, its options and help, and step-token parsing.

A *step* is a named image operation with its options, e.g. ``resize 200x200 --mode cover``.
``STEPS`` maps each name to a ``StepDef`` that says which parameters the step takes (so the CLI can
build a Typer command per step, and the docs can be checked against it) and how to build the
``Step`` that applies the operation. ``augment`` is the one step that fans out: it keeps the image
and adds one variant per option, each written to its own file.

This module knows nothing of Typer: ``split_step_tokens`` cuts a command line into one token list
per step, and the CLI lets Typer parse each list against the step's ``params``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgprep import ops
from imgprep.errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "STEPS",
    "Param",
    "Step",
    "StepDef",
    "Variant",
    "make_step",
    "parse_steps",
    "split_step_tokens",
]

# (image) -> image; resize's also takes ops.resize's keyword source_size (shrink-on-load).
ImageOp = Callable[..., "Image"]


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
    def takes_value(self) -> bool:
        """Whether the option consumes the next token (positionals and flags do not)."""
        return not self.positional and self.kind is not bool


@dataclass(frozen=True)
class Variant:
    """One output of a fan-out: a suffix for its file name and the transpose that makes it."""

    suffix: str  # "" for the original
    op: ImageOp | None  # None: the image as it is


@dataclass(frozen=True)
class Step:
    """A step with its options bound: ``step(image)`` applies it.

    ``options`` keeps the values as given (after parsing), so ``describe()`` can show the step
    the way a user would type it and ``recipe()`` can fingerprint it for incremental runs.
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()
    apply: ImageOp | None = field(default=None, compare=False, repr=False)
    variants: tuple[Variant, ...] = field(default=(), compare=False, repr=False)

    def __call__(self, image: Image, **extra: Any) -> Image:
        if self.apply is None:
            raise TypeError(
                f"step {self.name!r} fans out into variants; it is not applied directly"
            )
        return self.apply(image, **extra)

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def describe(self) -> str:
        """The step as command-line words, e.g. ``resize 200x200 --mode cover``."""
        words = [self.name]
        params = {p.name: p for p in STEPS[self.name].params}
        for key, value in self.options:
            param = params[key]
            text = _format_value(value)
            if param.positional:
                words.append(text)
            elif param.kind is bool:
                if value:
                    words.append(param.flag)
            elif value != param.default:
                words.extend([param.flag, text])
        return " ".join(words)

    def recipe(self) -> list[Any]:
        """A JSON-able fingerprint of what this step does to pixels."""
        return [self.name, [[k, _format_value(v)] for k, v in self.options]]


def _format_value(value: Any) -> str:
    if isinstance(value, ops.Size):
        width = "" if value.width is None else str(value.width)
        height = "" if value.height is None else str(value.height)
        return f"{width}x{height}"
    if isinstance(value, tuple):
        return ",".join(_format_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class StepDef:
    """A step's entry in the table: its parameters, help, and how to build it."""

    name: str
    summary: str  # one line, shown in `imgprep --help`
    description: str  # shown in `imgprep STEP --help`
    params: tuple[Param, ...]
    build: Callable[..., ImageOp | tuple[Variant, ...]]
    example: str

    @property
    def positionals(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.positional)

    def option_named(self, token: str) -> Param | None:
        """The option spelled ``token`` (``--mode`` or ``--mode=cover``), if any."""
        spelled = token.split("=", 1)[0]
        for param in self.params:
            if not param.positional and spelled == param.flag:
                return param
        return None


# ---------------------------------------------------------------------------------------------
# Parsers for values that need more than int()/float(): they raise UsageError (a ValueError), which
# Typer reports as "Invalid value for 'SIZE': ...".


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
    if not 0 <= value < 50:
        raise UsageError(f"cutoff must be in [0, 50), not {text}")
    return value


def parse_degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"degrees must be a number, not {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"degrees must be a finite number, not {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Builders: options -> the image function (or, for augment, the variants).


def _build_resize(
    size: ops.Size, mode: str, only_shrink: bool, filter: str, pad_color: str | None
) -> ImageOp:
    return functools.partial(
        ops.resize,
        size=size,
        mode=mode,
        only_shrink=only_shrink,
        resample=filter,
        pad_color=pad_color,
    )


def _build_autocontrast(cutoff: float) -> ImageOp:
    return functools.partial(ops.autocontrast, cutoff=cutoff)


def _build_rotate(degrees: float, fill: str | None) -> ImageOp:
    return functools.partial(ops.rotate, degrees=degrees, fill=fill)


def _rotation(degrees: int) -> ImageOp:
    return functools.partial(ops.rotate, degrees=degrees)


def _build_augment(mirror: bool, flip: bool, rotate: tuple[int, ...] | None) -> tuple[Variant, ...]:
    variants = [Variant("", None)]
    if mirror:
        variants.append(Variant("_mirror", ops.mirror))
    if flip:
        variants.append(Variant("_flip", ops.flip))
    for angle in sorted(rotate or ()):
        variants.append(Variant(f"_rot{angle}", _rotation(angle)))
    if len(variants) == 1:
        raise UsageError("augment needs at least one of --mirror, --flip, --rotate")
    return tuple(variants)


def _constant(op: ImageOp) -> Callable[[], ImageOp]:
    return lambda: op


_SIZE = Param(
    "size",
    "The box: WIDTHxHEIGHT, a single number for a square, or WIDTHx / xHEIGHT to set one side "
    "and keep the aspect ratio.",
    positional=True,
    metavar="SIZE",
    parse=ops.parse_size,
)

STEPS: dict[str, StepDef] = {
    step.name: step
    for step in (
        StepDef(
            "resize",
            "Resize to a box: fit inside it, cover it (centre crop), pad to it, or stretch.",
            "Resize every image to SIZE. --mode fit keeps the aspect ratio inside the box; cover "
            "fills the box and crops the centre; pad fits, then pads to exactly the box; stretch "
            "ignores the ratio. As the first step it lets JPEGs decode at 1/2, 1/4 or 1/8 scale.",
            (
                _SIZE,
                Param(
                    "mode",
                    "How the image meets the box.",
                    default="fit",
                    choices=("fit", "cover", "pad", "stretch"),
                ),
                Param("only_shrink", "Never enlarge: smaller images pass unchanged.", kind=bool),
                Param(
                    "filter",
                    "Resampling filter.",
                    default="bicubic",
                    choices=("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"),
                ),
                Param(
                    "pad_color",
                    "Colour of the padding with --mode pad (a CSS name or #rrggbb) "
                    "[default: transparent with alpha, black otherwise].",
                    metavar="COLOR",
                ),
            ),
            _build_resize,
            "imgprep -i photos -o out resize 200x200 --mode cover",
        ),
        StepDef(
            "grayscale",
            "Convert to grayscale (alpha kept).",
            "Convert colour to 8-bit grayscale using ITU-R 601 luma; an alpha channel is kept.",
            (),
            _constant(ops.grayscale),
            "imgprep -i photos -o out grayscale",
        ),
        StepDef(
            "autocontrast",
            "Stretch the histogram to the full range, clipping --cutoff percent at each end.",
            "Stretch each channel's histogram to 0..255 after ignoring CUTOFF percent of the "
            "darkest and the lightest pixels. Alpha is left alone.",
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
        ),
        StepDef(
            "equalize",
            "Equalize the histogram.",
            "Equalize each channel's histogram so that tones spread evenly. Alpha is left alone.",
            (),
            _constant(ops.equalize),
            "imgprep -i photos -o out equalize",
        ),
        StepDef(
            "mirror",
            "Mirror left to right.",
            "Mirror the image left to right (exact, no resampling).",
            (),
            _constant(ops.mirror),
            "imgprep -i photos -o out mirror",
        ),
        StepDef(
            "flip",
            "Flip top to bottom.",
            "Flip the image top to bottom (exact, no resampling).",
            (),
            _constant(ops.flip),
            "imgprep -i photos -o out flip",
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
                    "Colour of the uncovered corners "
                    "[default: transparent with alpha, else black].",
                    metavar="COLOR",
                ),
            ),
            _build_rotate,
            "imgprep -i photos -o out rotate 90",
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
        ),
    )
}


def make_step(name: str, **values: Any) -> Step:
    """Build the step ``name`` from its parameter values (already parsed).

    Missing parameters take their defaults; unknown ones are a ``UsageError``.
    """
    try:
        definition = STEPS[name]
    except KeyError:
        raise UsageError(f"unknown step {name!r}; steps are: {', '.join(STEPS)}") from None
    known = {p.name for p in definition.params}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"step {name!r} has no option {unknown[0]!r}")
    bound: list[tuple[str, Any]] = []
    for param in definition.params:
        value = values.get(param.name, param.default)
        if param.positional and value is None:
            raise UsageError(f"step {name!r} needs {param.metavar or param.name.upper()}")
        if isinstance(value, str) and param.parse is not None:
            value = param.parse(value)
        if param.choices and value is not None and value not in param.choices:
            raise UsageError(
                f"{param.flag} must be one of {', '.join(param.choices)}, not {value!r}"
            )
        bound.append((param.name, value))
    built = definition.build(**dict(bound))
    if isinstance(built, tuple):
        return Step(name, tuple(bound), variants=built)
    return Step(name, tuple(bound), apply=built)


def split_step_tokens(tokens: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Cut ``resize 200x200 --mode cover grayscale`` into ``[(resize, [...]), (grayscale, [])]``.

    A token starts a new step when it is a step name and is not the value of the option before
    it. A word that is neither a step, nor a value the current step expects, is an unknown step.
    ``--help`` stays with the step it follows. In each piece the options come first and the
    positional values last, after ``--``, so that ``rotate -15`` is an angle, not an option.
    """
    chunks: list[tuple[str, list[str], list[str]]] = []
    definition: StepDef | None = None
    expecting_value = False
    for token in tokens:
        if expecting_value:
            chunks[-1][1].append(token)
            expecting_value = False
            continue
        if token in STEPS:
            definition = STEPS[token]
            chunks.append((token, [], []))
            continue
        if definition is None:
            raise UsageError(f"expected a step name, not {token!r}; steps are: {', '.join(STEPS)}")
        _, options, positionals = chunks[-1]
        if token.startswith("-") and not _is_number(token):
            options.append(token)
            option = definition.option_named(token)
            if option is None:
                # An unknown option: its value (if any) is unknowable; Typer will name the
                # option, which says more than calling the next word an unknown step.
                expecting_value = token not in ("--help", "-h")
            else:
                expecting_value = option.takes_value and "=" not in token
        elif len(positionals) < len(definition.positionals):
            positionals.append(token)
        else:
            raise UsageError(
                f"unknown step {token!r} after {definition.name!r}; steps are: {', '.join(STEPS)}"
            )
    return [
        (name, [*options, "--", *positionals] if positionals else options)
        for name, options, positionals in chunks
    ]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_steps(words: str | Sequence[str]) -> list[Step]:
    """Parse steps written as on the command line, for use from Python.

    ``parse_steps("resize 200x200 --mode cover grayscale")`` gives two steps, resize and
    grayscale.
    This is a small parser for library users; the CLI parses through Typer for full help text.
    """
    tokens = words.split() if isinstance(words, str) else list(words)
    steps = []
    for name, args in split_step_tokens(tokens):
        steps.append(make_step(name, **_parse_args(STEPS[name], args)))
    return steps


def _parse_args(definition: StepDef, args: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    positionals = list(definition.positionals)
    it = iter(args)
    after_dashes = False
    for token in it:
        if token == "--" and not after_dashes:
            after_dashes = True
        elif token.startswith("-") and not _is_number(token) and not after_dashes:
            option = definition.option_named(token)
            if option is None:
                raise UsageError(f"step {definition.name!r} has no option {token!r}")
            if option.kind is bool:
                values[option.name] = True
                continue
            text = token.split("=", 1)[1] if "=" in token else next(it, None)
            if text is None:
                raise UsageError(f"{option.flag} of step {definition.name!r} needs a value")
            values[option.name] = _convert(option, text)
        elif positionals:
            param = positionals.pop(0)
            values[param.name] = _convert(param, token)
        else:
            raise UsageError(f"step {definition.name!r} got an unexpected argument {token!r}")
    return values


def _convert(param: Param, text: str) -> Any:
    if param.parse is not None:
        return param.parse(text)
    if param.kind in (int, float):
        try:
            return param.kind(text)
        except ValueError:
            raise UsageError(
                f"{param.flag} must be a {param.kind.__name__}, not {text!r}"
            ) from None
    return text
