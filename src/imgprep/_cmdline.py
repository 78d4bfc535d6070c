"""The command line's grammar: the global option table and the one parser of ``argv``.

    imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]...

Global options are read up to the first word that is not an option or an option's value;
from there on the words are steps, parsed by ``_step_parse`` (the parser ``parse_steps``
uses). Both tables are data: ``_help`` renders them and the docs tests read them.

Why imgprep parses its own words instead of letting Typer do it: Typer 0.26 and later coerce
every option value through pydantic, which costs ~0.15 s per start here, half of a one-image
run; and Typer ignores Click's ``chain=True``, so a chain of steps is not a Typer grammar
anyway. Typer runs the program (``cli.app``), hands these words over through its public
``Context.args``, and provides the test runner and the exit handling.

``Grammar`` and ``take_options`` read another command's options the same way (``_commands``:
``imgprep inspect``). This module imports no Pillow: ``--version`` and ``--help`` answer before
any image library is loaded; the steps are parsed (which imports ``ops``) only for a run.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imgprep.config import (
    DEFAULTS,
    FORMATS,
    ON_COLLISION,
    canonical_format,
    default_max_memory,
    format_bytes,
    parse_byte_size,
)
from imgprep.errors import UsageError

__all__ = [
    "COMMANDS",
    "GLOBAL_OPTIONS",
    "CommandLine",
    "GlobalOption",
    "Grammar",
    "Kind",
    "global_spellings",
    "option_for",
    "parse_command_line",
    "step_help_request",
    "take_options",
    "whole_number",
]

HELP_FLAGS = ("-h", "--help")

#: Words that, first on the line, name a command of their own rather than a step.
COMMANDS = {
    "inspect": "Draw one image after each step side by side: a contact sheet PNG.",
    "presets": "List the presets of the config file, with their chains.",
}


class Kind(enum.Enum):
    FLAG = "flag"  # no value; True when given (False with its negation)
    TEXT = "text"
    INT = "int"
    CHOICE = "choice"
    LIST = "list"  # repeatable: every value is kept, in order
    SIZE = "size"  # bytes: 512M, 2G (config.parse_byte_size)


@dataclass(frozen=True)
class GlobalOption:
    """One global option: its spellings, what it sets, and its help."""

    key: str  # the setting it fills (a RunOptions field, or one of the CLI's own)
    flags: tuple[str, ...]
    help: str
    kind: Kind = Kind.FLAG
    metavar: str = ""
    negation: str | None = None  # the spelling that sets False (--no-optimize, --strip-icc)
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: str = ""  # shown in help; the value itself lives in config.DEFAULTS or RunOptions

    @property
    def spellings(self) -> tuple[str, ...]:
        return (*self.flags, self.negation) if self.negation else self.flags

    def label(self) -> str:
        return "/".join(self.flags)


def _default(key: str) -> str:
    return str(DEFAULTS[key])


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        "inputs",
        ("-i", "--input"),
        "An image file, a folder, or a glob pattern (quote it). Repeatable. "
        "'-' reads one path per line from stdin.",
        Kind.LIST,
        "PATH",
    ),
    GlobalOption("recursive", ("-r", "--recursive"), "Walk sub-folders of input folders."),
    GlobalOption(
        "output",
        ("-o", "--output"),
        "Output folder, created if missing; sub-folders of inputs are mirrored.",
        Kind.TEXT,
        "DIR",
    ),
    GlobalOption("null", ("-0", "--null"), "With '-i -': paths are NUL-separated (find -print0)."),
    GlobalOption(
        "base",
        ("--base",),
        "With '-i -': place each listed file under -o by its path relative to DIR.",
        Kind.TEXT,
        "DIR",
        default="paths as listed (relative ones keep their folders)",
    ),
    GlobalOption(
        "preset",
        ("--preset",),
        "Run a preset of the config file: its settings under the options given here, its "
        "steps before the steps given here.",
        Kind.TEXT,
        "NAME",
    ),
    GlobalOption(
        "limit",
        ("--limit",),
        "Only the first N inputs, in the run's order.",
        Kind.INT,
        "N",
        minimum=1,
        default="all",
    ),
    GlobalOption(
        "sample",
        ("--sample",),
        "Only N inputs picked at random by --seed: the same files whatever order they are "
        "listed or found in.",
        Kind.INT,
        "N",
        minimum=1,
        default="all",
    ),
    GlobalOption(
        "seed",
        ("--seed",),
        "The run's seed: which inputs --sample picks and what random steps draw.",
        Kind.INT,
        "S",
        minimum=0,
        default="0",
    ),
    GlobalOption(
        "format",
        ("--format",),
        "Output format; 'same' keeps each input's (jpg and tif are accepted too; avif where "
        "Pillow has the plugin).",
        Kind.CHOICE,
        "FORMAT",
        choices=FORMATS,
        default=_default("format"),
    ),
    GlobalOption(
        "lossless",
        ("--lossless",),
        "Lossless WebP (with --format webp): every pixel kept; --quality sets the effort.",
    ),
    GlobalOption(
        "quality",
        ("--quality",),
        "JPEG/WebP quality, 1-100.",
        Kind.INT,
        "N",
        minimum=1,
        maximum=100,
        default="the encoder's: JPEG 75, WebP 80",
    ),
    GlobalOption(
        "png_compress_level",
        ("--png-compress-level",),
        "PNG deflate level 0-9 (zlib-ng): lower is faster and larger.",
        Kind.INT,
        "N",
        minimum=0,
        maximum=9,
        default=f"{_default('png_compress_level')}, the size of Pillow's default",
    ),
    GlobalOption(
        "optimize",
        ("--optimize",),
        "Extra encoder pass for smaller PNG/JPEG files (slower).",
        negation="--no-optimize",
        default="--optimize" if DEFAULTS["optimize"] else "--no-optimize",
    ),
    GlobalOption(
        "name",
        ("--name",),
        "Output file name; fields {stem}, {suffix} (augment's _mirror...), {ext}, and the "
        "input's {inext} (its extension, no dot) and {name} (stem and extension).",
        Kind.TEXT,
        "TEMPLATE",
        default=_default("name"),
    ),
    GlobalOption(
        "on_collision",
        ("--on-collision",),
        "Two inputs with one output name (a.dds, a.png -> a.png): fail refuses the run, skip "
        "fails those inputs alone, suffix adds each one's extension (a.dds.png, a.png.png).",
        Kind.CHOICE,
        "WHAT",
        choices=ON_COLLISION,
        default=_default("on_collision"),
    ),
    GlobalOption(
        "workers",
        ("-j", "--workers"),
        "Worker threads.",
        Kind.INT,
        "N",
        minimum=1,
        default="CPU count",
    ),
    GlobalOption(
        "buffer",
        ("--buffer",),
        "Inputs computed ahead (bounds memory).",
        Kind.INT,
        "N",
        minimum=1,
        default="2 x workers",
    ),
    GlobalOption(
        "progress",
        ("--progress",),
        "Progress bar on stderr.",
        negation="--no-progress",
        default="on when stderr is a terminal",
    ),
    GlobalOption("quiet", ("-q", "--quiet"), "No summary line; errors are still printed."),
    GlobalOption("force", ("-f", "--force"), "Rebuild outputs even when up to date."),
    GlobalOption(
        "dry_run",
        ("-n", "--dry-run"),
        "List what the run would do (WOULD-WRITE, UP-TO-DATE ... on stdout); decode and "
        "write nothing.",
    ),
    GlobalOption(
        "report",
        ("--report",),
        "Write a JSON Lines report, one object per output and the run's totals last "
        "('-' for stdout).",
        Kind.TEXT,
        "FILE",
    ),
    GlobalOption("verbose", ("-v", "--verbose"), "One line per output on stderr."),
    GlobalOption(
        "prune",
        ("--prune",),
        "After the run, remove the outputs the manifest has that this run no longer makes "
        "(input gone, name or chain changed); nothing else.",
    ),
    GlobalOption("fail_fast", ("--fail-fast",), "Stop at the first failed input (exit 1)."),
    GlobalOption(
        "in_place", ("--in-place",), "Allow outputs to replace input files (-o equal to -i)."
    ),
    GlobalOption(
        "max_pixels",
        ("--max-pixels",),
        "Refuse images whose header declares more pixels (decompression bombs).",
        Kind.INT,
        "N",
        minimum=1,
        default=f"{_default('max_pixels')}, Pillow's",
    ),
    GlobalOption(
        "max_memory",
        ("--max-memory",),
        "Memory the images of a run may take at once (512M, 2G); workers wait for it, and an "
        "input that needs more alone fails.",
        Kind.SIZE,
        "SIZE",
        minimum=1 << 20,
        default=f"a quarter of the RAM, at most 2G: {format_bytes(default_max_memory())} here",
    ),
    GlobalOption(
        "allow_truncated",
        ("--allow-truncated",),
        "Accept truncated images (missing part gray).",
    ),
    GlobalOption(
        "keep_icc",
        ("--keep-icc",),
        "Keep embedded ICC colour profiles, or convert colours to sRGB and drop them.",
        negation="--strip-icc",
        default="--keep-icc",
    ),
    GlobalOption(
        "keep_metadata",
        ("--keep-metadata",),
        "Write the input's EXIF (camera, date, GPS; Orientation 1) and XMP into JPEG, PNG, "
        "WebP and TIFF outputs, or none.",
        negation="--strip-metadata",
        default="--strip-metadata",
    ),
    GlobalOption(
        "depth",
        ("--depth",),
        "Bits a sample: 8, 16 (grey, in PNG and TIFF), or keep each image's where the format "
        "holds it.",
        Kind.CHOICE,
        "BITS",
        choices=("8", "16", "keep"),
        default="keep",
    ),
    GlobalOption("fsync", ("--fsync",), "fsync each output before renaming it (power-loss safe)."),
    GlobalOption(
        "shard",
        ("--shard",),
        "Only shard K of N of the inputs, by a hash of each input's name: N runs (a job "
        "array) split the work with no overlap and no gap.",
        Kind.TEXT,
        "K/N",
        default="all",
    ),
    GlobalOption(
        "wait",
        ("--wait",),
        "While another run writes to the output folder: wait for it, or refuse (exit 75).",
        negation="--no-wait",
        default="--wait",
    ),
    GlobalOption(
        "executor",
        ("--executor",),
        "Where the work runs: threads of this process, or a Dask cluster "
        "(pip install 'imgprep[dask]').",
        Kind.CHOICE,
        "NAME",
        choices=("threads", "dask"),
        default="threads",
    ),
    GlobalOption(
        "scheduler",
        ("--scheduler",),
        "With --executor dask: the scheduler's address (tcp://HOST:8786), or 'local' for a "
        "cluster of -j processes on this machine.",
        Kind.TEXT,
        "ADDRESS",
    ),
    GlobalOption(
        "batch",
        ("--batch",),
        "With --executor dask: inputs per task.",
        Kind.INT,
        "N",
        minimum=1,
        default="about a second of work",
    ),
    GlobalOption("version", ("--version",), "Print the version and exit."),
    GlobalOption("help", HELP_FLAGS, "Show this message and exit."),
)

_BY_SPELLING: dict[str, GlobalOption] = {
    spelling: option for option in GLOBAL_OPTIONS for spelling in option.spellings
}
_BY_KEY: dict[str, GlobalOption] = {option.key: option for option in GLOBAL_OPTIONS}


def option_for(key: str) -> GlobalOption:
    """The global option that sets ``key`` (``"max_pixels"`` -> ``--max-pixels``)."""
    return _BY_KEY[key]


@dataclass(frozen=True)
class Grammar:
    """The options one command reads (by spelling), and how a refusal points at its help."""

    by_spelling: dict[str, GlobalOption]
    unknown: str  # "no global option"
    see: str  # "imgprep --help"


_GLOBAL = Grammar(_BY_SPELLING, "no global option", "imgprep --help")


@dataclass
class CommandLine:
    """What the words asked for: the settings given (only those given), the step words, and
    whether help (``help_step``: "" for the global help, else a step name) or the version was
    asked for."""

    given: dict[str, Any] = field(default_factory=dict)
    step_words: list[str] = field(default_factory=list)
    help_step: str | None = None
    version: bool = False


def parse_command_line(words: Sequence[str]) -> CommandLine:
    """Split ``words`` into global settings and step words; raises ``UsageError``.

    The step words are returned unparsed (parsing them imports the image operations); help
    and version requests are recognised anywhere, so they answer even on a broken line.
    """
    line = CommandLine()
    position = take_options(line, words, 0, _GLOBAL)
    line.step_words = list(words[position:])
    if line.help_step is None:
        line.help_step = step_help_request(line.step_words)
    return line


def take_options(line: CommandLine, words: Sequence[str], position: int, grammar: Grammar) -> int:
    """Read the options of ``grammar`` from ``words[position]`` on into ``line``; return the
    position of the first word that is not an option or an option's value."""
    while position < len(words):
        word = words[position]
        if word == "-" or not word.startswith("-"):
            break
        position = _take_global(line, words, position, grammar)
    return position


def _take_global(
    line: CommandLine, words: Sequence[str], position: int, grammar: Grammar = _GLOBAL
) -> int:
    """Read the option at ``words[position]``; return the position of the next word."""
    word = words[position]
    if word.startswith("--"):
        spelled, has_value, text = word.partition("=")
        option = _option(spelled, None, grammar)
        return _set(line, option, spelled, text if has_value else None, words, position)
    # -j2, -i-: a short option with its value attached; -rq: short flags together
    letters = word[1:]
    for offset, letter in enumerate(letters):
        spelled = "-" + letter
        option = _option(spelled, word, grammar)
        if option.kind is not Kind.FLAG:
            attached = letters[offset + 1 :]
            return _set(line, option, spelled, attached or None, words, position)
        _set(line, option, spelled, None, words, position)
    return position + 1


def _option(spelled: str, word: str | None = None, grammar: Grammar = _GLOBAL) -> GlobalOption:
    option = grammar.by_spelling.get(spelled)
    if option is not None:
        return option
    from imgprep._step_parse import did_you_mean  # imports no image library

    shown = word or spelled
    hint = did_you_mean(spelled, grammar.by_spelling) if spelled.startswith("--") else ""
    raise UsageError(f"{grammar.unknown} {shown}{hint} (see {grammar.see})")


def _set(
    line: CommandLine,
    option: GlobalOption,
    spelled: str,
    attached: str | None,
    words: Sequence[str],
    position: int,
) -> int:
    if option.kind is Kind.FLAG:
        if attached is not None:
            raise UsageError(f"{spelled} is a flag and takes no value")
        if option.key == "help":
            line.help_step = ""
        elif option.key == "version":
            line.version = True
        else:
            line.given[option.key] = spelled != option.negation
        return position + 1
    if attached is None:
        if position + 1 >= len(words):
            raise UsageError(f"{option.label()} needs a value ({option.metavar})")
        attached, position = words[position + 1], position + 1
    value = _convert(option, attached)
    if option.kind is Kind.LIST:
        line.given.setdefault(option.key, []).append(value)
    else:
        line.given[option.key] = value
    return position + 1


def _convert(option: GlobalOption, text: str) -> Any:
    if option.kind is Kind.INT:
        return whole_number(option, text)
    if option.kind is Kind.CHOICE:
        return canonical_format(text) if option.key == "format" else _choice(option, text)
    if option.kind is Kind.SIZE:
        return _byte_size(option, text)
    return shard_value(text) if option.key == "shard" else text


def shard_value(text: str) -> tuple[int, int]:
    """``--shard K/N`` as ``(K, N)``, with 1 <= K <= N."""
    k, slash, n = text.strip().partition("/")
    numbers = slash and f"{k}{n}".isascii() and k.isdigit() and n.isdigit()
    if numbers and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise UsageError(
        f"--shard must be K/N, two whole numbers with 1 <= K <= N (such as 2/8), not {text!r}"
    )


def _byte_size(option: GlobalOption, text: str) -> int:
    try:
        value = parse_byte_size(text)
    except ValueError:
        value = 0
    if value < (option.minimum or 1):
        raise UsageError(
            f"{option.label()} must be a size such as 512M or 2G (at least "
            f"{format_bytes(option.minimum or 1)}), not {text!r}"
        )
    return value


def _choice(option: GlobalOption, text: str) -> str:
    if text not in option.choices:
        raise UsageError(
            f"{option.label()} must be one of {', '.join(option.choices)}, not {text!r}"
        )
    return text


def whole_number(option: GlobalOption, text: str) -> int:
    """``text`` as the whole number ``option`` takes, within its bounds; else ``UsageError``."""
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in "+-" else stripped
    low, high = option.minimum, option.maximum
    if high is not None and low is not None:
        rule = f"a whole number from {low} to {high}"
    elif low is not None:
        rule = f"a whole number of at least {low}"
    else:
        rule = "a whole number"
    # str.isdigit also accepts superscripts and other digits that int() refuses
    if not digits or not digits.isascii() or not digits.isdigit():
        raise UsageError(f"{option.label()} must be {rule}, not {text!r}")
    value = int(stripped)
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{option.label()} must be {rule}, not {text!r}")
    return value


def step_help_request(step_words: Sequence[str]) -> str | None:
    """The step whose ``--help`` is asked for (``resize 200 --help``), if any."""
    if not any(word in HELP_FLAGS for word in step_words):
        return None
    from imgprep._step_table import STEPS  # imports the image operations: only for help

    current = ""
    for word in step_words:
        if word in HELP_FLAGS:
            return current
        if word in STEPS:
            current = word
    return current


def global_spellings() -> frozenset[str]:
    """Every spelling of every global option (for the step parser's advice)."""
    return frozenset(_BY_SPELLING)
