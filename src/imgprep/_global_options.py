"""The global option table: every option before the first step, its spellings, kind (flag,
text, whole number, choice, repeatable, byte size), bounds, default as shown, and help.

Data only: ``_cmdline`` parses the words against it, ``_help`` renders it, ``_completion``
offers it, and the docs tests hold docs/cli.md to it. The defaults' values live in
``config.DEFAULTS`` (one place); what is shown here is read from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from imgprep._formats import DEPTHS
from imgprep.config import (
    DEFAULTS,
    EXECUTORS,
    FORMATS,
    ON_COLLISION,
    default_max_memory,
    format_bytes,
)

__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "HELP_FLAGS", "GlobalOption", "Kind"]

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
        "Inputs computed ahead of the one reported (their records, not their images).",
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
        choices=DEPTHS,
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
        choices=EXECUTORS,
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
