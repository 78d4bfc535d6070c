"""``RunOptions``: everything one run needs, with its defaults in one place.

The settings a config file may change take their defaults from ``config.DEFAULTS``;
``RunOptions.from_settings`` lays the user's config file under what the caller gives, which is
how the command line builds every run. ``validate`` refuses values no run could use.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgprep.config import (
    DEFAULTS,
    EXECUTORS,
    ON_COLLISION,
    canonical_format,
    load_user_defaults,
)
from imgprep.errors import UsageError
from imgprep.steps import Step

__all__ = ["NAME_FIELDS", "RunOptions"]

NAME_FIELDS = ("stem", "suffix", "ext", "inext", "name")


@dataclass(frozen=True)
class RunOptions:
    """Everything one run needs; the CLI's global options map onto these one to one."""

    output: Path
    steps: Sequence[Step]
    inputs: Sequence[str] = ()  # files, folders or glob patterns
    input_paths: Sequence[str] = ()  # explicit file paths (e.g. read from stdin): a relative
    # path keeps its folders under the output folder, like rsync --files-from
    base: str | None = None  # input_paths go below the output folder relative to this folder
    recursive: bool = False
    # the settings a config file may change: their defaults live in config.DEFAULTS
    format: str = DEFAULTS["format"]
    quality: int | None = DEFAULTS["quality"]
    png_compress_level: int = DEFAULTS["png_compress_level"]
    optimize: bool = DEFAULTS["optimize"]
    name: str = DEFAULTS["name"]
    workers: int | None = DEFAULTS["workers"]  # None: the CPUs available
    buffer: int | None = DEFAULTS["buffer"]  # None: 2 x workers
    max_pixels: int | None = DEFAULTS["max_pixels"]
    max_memory: int | None = DEFAULTS["max_memory"]  # bytes at once; None: the default
    force: bool = False
    fail_fast: bool = False
    in_place: bool = False
    allow_truncated: bool = False
    keep_icc: bool = True
    keep_metadata: bool = False  # EXIF (Orientation 1) and XMP written with the outputs
    depth: str = "keep"  # "8", "16" or "keep": bits a sample of the outputs (see _encode)
    # two inputs, one output: refuse the run, skip them, suffix them
    on_collision: str = DEFAULTS["on_collision"]
    fsync: bool = False
    limit: int | None = None  # only the first N inputs, in the run's order (None: all)
    sample: int | None = None  # only N inputs picked by seed, whatever the listing order
    seed: int = 0  # the run's seed: which inputs --sample picks, what random steps draw
    lossless: bool = False  # WebP only
    dry_run: bool = False  # plan and list, decode and write nothing
    prune: bool = False  # remove outputs the manifest has that this run no longer makes
    # beyond one process (docs/scale.md)
    shard: tuple[int, int] | None = None  # (K, N): only the inputs of shard K of N
    wait: bool = True  # another run writing to the output folder: wait (else FolderBusyError)
    executor: str = "threads"  # one of EXECUTORS
    scheduler: str | None = None  # executor "dask": the scheduler's address, or "local"
    batch: int | None = None  # executor "dask": inputs per task (None: about a second of work)

    @classmethod
    def from_settings(cls, **given: Any) -> RunOptions:
        """The options of a run: the user's config file (see ``config``) as defaults,
        ``given`` on top. The command line builds its runs this way."""
        return cls(**{**load_user_defaults(), **given})

    def validate(self) -> None:
        """Raise ``UsageError`` for values no run could use (the CLI checks types already)."""
        canonical_format(self.format)
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise UsageError(f"quality must be in 1..100, not {self.quality}")
        if not 0 <= self.png_compress_level <= 9:
            raise UsageError(f"png compress level must be in 0..9, not {self.png_compress_level}")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"workers must be at least 1, not {self.workers}")
        if self.buffer is not None and self.buffer < 1:
            raise UsageError(f"buffer must be at least 1, not {self.buffer}")
        if self.max_memory is not None and self.max_memory < 1:
            raise UsageError(f"max memory must be positive, not {self.max_memory}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise UsageError(f"max pixels must be positive, not {self.max_pixels}")
        _check_depth(self.depth, canonical_format(self.format))
        if self.on_collision not in ON_COLLISION:
            allowed = ", ".join(ON_COLLISION)
            raise UsageError(f"on collision must be one of {allowed}, not {self.on_collision!r}")
        fields = _template_fields(self.name)
        unknown = sorted(fields - set(NAME_FIELDS))
        if unknown:
            allowed = ", ".join("{" + field + "}" for field in NAME_FIELDS)
            raise UsageError(f"--name may use {allowed}, not {{{unknown[0]}}} in {self.name!r}")
        if "ext" not in fields:
            _check_literal_extension(self.name, canonical_format(self.format))
        partial = {"--limit": self.limit, "--sample": self.sample, "--shard": self.shard}
        chosen = next((flag for flag, value in partial.items() if value is not None), None)
        if self.prune and chosen is not None:
            raise UsageError(
                f"--prune cannot go with {chosen}: a run over some inputs would prune the "
                f"outputs of all the others; run --prune without {chosen}"
            )
        _check_scale(self)
        augments = [s for s in self.steps if s.variants]
        if len(augments) > 1:
            raise UsageError("augment may appear once in a chain")
        if augments:
            _check_copies(self.steps)
        _check_encoder(self.format, self.lossless)
        if augments and "suffix" not in fields:
            raise UsageError(
                f"--name must contain {{suffix}} when augment makes several outputs per input, "
                f"not {self.name!r}"
            )


def _check_copies(steps: Sequence[Step]) -> None:
    """augment --copies makes copies that differ only by their draws: it needs a random step
    after augment, or it would write N identical files."""
    position = next(n for n, step in enumerate(steps) if step.variants)
    redraws = [v.suffix for v in steps[position].variants if v.redraws]
    if redraws and not any(step.draw is not None for step in steps[position + 1 :]):
        raise UsageError(
            f"augment --copies {len(redraws)} needs a random step after augment "
            "(random-crop, random-flip, random-rotate, jitter): its copies differ only by "
            "what those draw"
        )


def _check_encoder(format: str, lossless: bool) -> None:
    """Refuse what the chosen format cannot do: --lossless is WebP's alone, and AVIF needs
    Pillow's AVIF plugin."""
    canonical = canonical_format(format)
    if lossless and canonical != "webp":
        raise UsageError(f"--lossless applies to --format webp only, not --format {canonical}")
    if canonical != "same":
        from imgprep._formats import check_format_available

        check_format_available(canonical)


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise UsageError(f"--name is not a valid template ({error}): {template!r}") from None


def _check_literal_extension(template: str, format: str) -> None:
    """Refuse a name whose own extension promises another format than the one written
    (``--name '{stem}.png' --format jpeg`` would put JPEG bytes in .png files)."""
    from imgprep._formats import OUTPUT_FORMATS, format_of_suffix

    trailing = list(string.Formatter().parse(template))[-1]
    literal = trailing[0] if trailing[1] is None else ""
    dot = literal.rfind(".")
    suffix_format = format_of_suffix(literal[dot:]) if dot >= 0 else ""
    if not suffix_format:
        return  # no extension, or one that names no image format: the user's choice
    suffix = literal[dot:]
    matching = [name for name, (pillow, _) in OUTPUT_FORMATS.items() if pillow == suffix_format]
    advice = "use {ext} in the name" + (f", or --format {matching[0]}" if matching else "")
    if format == "same":
        raise UsageError(
            f"--name {template!r} names every output {suffix}, but --format same keeps each "
            f"input's format: {advice}"
        )
    if OUTPUT_FORMATS[format][0] != suffix_format:
        raise UsageError(
            f"--name {template!r} names every output {suffix}, but --format {format} writes "
            f"{OUTPUT_FORMATS[format][0]} data: {advice}"
        )


def _check_depth(depth: str, format: str) -> None:
    """Refuse a depth no output of the run could have (``--depth 16 --format jpeg``)."""
    from imgprep._formats import DEPTHS, OUTPUT_FORMATS, SIXTEEN_BIT_FORMATS

    if depth not in DEPTHS:
        raise UsageError(f"--depth must be one of {', '.join(DEPTHS)}, not {depth!r}")
    if depth == "16" and format != "same" and OUTPUT_FORMATS[format][0] not in SIXTEEN_BIT_FORMATS:
        raise UsageError(
            f"--depth 16 cannot be written as --format {format}, which holds 8 bits a sample: "
            "use --format png or tiff, or --depth 8"
        )


def _check_scale(options: RunOptions) -> None:
    """Refuse a shard that does not exist, and Dask settings without Dask."""
    if options.shard is not None:
        k, n = options.shard
        if not 1 <= k <= n:
            raise UsageError(f"--shard must be K/N with 1 <= K <= N, not {k}/{n}")
    if options.executor not in EXECUTORS:
        raise UsageError(
            f"executor must be one of {', '.join(EXECUTORS)}, not {options.executor!r}"
        )
    if options.executor != "dask":
        for flag, value in (("--scheduler", options.scheduler), ("--batch", options.batch)):
            if value is not None:
                raise UsageError(f"{flag} goes with --executor dask")
        return
    if not options.scheduler:
        raise UsageError(
            "--executor dask needs --scheduler ADDRESS (tcp://HOST:8786, or 'local' for a "
            "cluster of this machine's cores)"
        )
    if options.batch is not None and options.batch < 1:
        raise UsageError(f"batch must be at least 1, not {options.batch}")
    try:
        import distributed  # noqa: F401  (only asked for here: Dask is no start-up cost)
    except ImportError:
        raise UsageError("--executor dask needs Dask: pip install 'imgprep[dask]'") from None
