"""Build the lazy pipeline from inputs and steps, run it, and report what happened.

The shape, for ``resize 200x200 --mode cover grayscale augment --mirror``::

    inputs   = find_inputs(...)                          # paths only, nothing opened
    decoded  = add_cache(smap(decode, range(n)))         # load + steps before augment, once
    variants = [smap(produce(v), range(n)) for v in (original, mirror)]
    groups   = collate(variants)                         # (a.png, a_mirror.png), (b.png, ...
    for group in prefetch(groups, buffer, workers):      # in order, `workers` threads ahead
        report(*group)                                   # the consumer does the unbatch

Each pool task is one input; each of its outputs checks the manifest first (an up-to-date
output never decodes its input), then takes its input's decoded image from the cache, applies
its variant and the steps after ``augment``, and encodes and writes the file atomically, all
in the worker thread, so Pillow's
GIL-free decode, resample and zlib overlap. Failures are data: each item returns an
``OutputRecord`` with a status and a reason; only bugs raise.

Shrink-on-load: ``decode_hint`` looks at the steps the decoder's output goes through first and
asks the JPEG decoder for the smallest DCT scale that still leaves the first ``resize`` enough
pixels, and for grayscale directly when a ``grayscale`` step comes before anything that looks at
colour.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import os
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from imgprep import __version__, files, ops
from imgprep.config import MAX_PIXELS, default_workers
from imgprep.errors import (
    ImgprepError,
    InputError,
    OutputCollisionError,
    OutputError,
    UsageError,
)
from imgprep.files import DecodeHint, InputFile, InputList
from imgprep.manifest import Entry, Manifest
from imgprep.seq import add_cache, collate, prefetch, smap
from imgprep.steps import Step, Variant

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "OutputRecord",
    "Plan",
    "Report",
    "RunOptions",
    "Status",
    "decode_hint",
    "plan_outputs",
    "run",
]

NAME_FIELDS = ("stem", "suffix", "ext")
FORMATS = ("same", *files.OUTPUT_FORMATS)


class Status(enum.Enum):
    WRITTEN = "written"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass(frozen=True)
class RunOptions:
    """Everything one run needs; the CLI's global options map onto these one to one."""

    output: Path
    steps: Sequence[Step]
    inputs: Sequence[str] = ()  # files, folders or glob patterns
    input_paths: Sequence[str] = ()  # explicit file paths (e.g. read from stdin): a relative
    # path keeps its folders under the output folder, like rsync --files-from
    recursive: bool = False
    format: str = "same"
    quality: int | None = None
    png_compress_level: int = 6
    optimize: bool = False
    name: str = "{stem}{suffix}.{ext}"
    workers: int | None = None  # None: the CPUs available
    buffer: int | None = None  # None: 2 x workers
    force: bool = False
    fail_fast: bool = False
    in_place: bool = False
    max_pixels: int | None = MAX_PIXELS
    allow_truncated: bool = False
    keep_icc: bool = True
    fsync: bool = False

    def validate(self) -> None:
        """Raise ``UsageError`` for values no run could use (the CLI checks types already)."""
        if self.format not in FORMATS:
            raise UsageError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise UsageError(f"quality must be in 1..100, not {self.quality}")
        if not 0 <= self.png_compress_level <= 9:
            raise UsageError(f"png compress level must be in 0..9, not {self.png_compress_level}")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"workers must be at least 1, not {self.workers}")
        if self.buffer is not None and self.buffer < 1:
            raise UsageError(f"buffer must be at least 1, not {self.buffer}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise UsageError(f"max pixels must be positive, not {self.max_pixels}")
        fields = _template_fields(self.name)
        unknown = sorted(fields - set(NAME_FIELDS))
        if unknown:
            raise UsageError(
                f"--name may use {{stem}}, {{suffix}} and {{ext}}, not {{{unknown[0]}}} "
                f"in {self.name!r}"
            )
        augments = [s for s in self.steps if s.variants]
        if len(augments) > 1:
            raise UsageError("augment may appear once in a chain")
        if augments and "suffix" not in fields:
            raise UsageError(
                f"--name must contain {{suffix}} when augment makes several outputs per input, "
                f"not {self.name!r}"
            )


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise UsageError(f"--name is not a valid template ({error}): {template!r}") from None


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """What happened to one planned output."""

    input: Path
    output: Path | None
    status: Status
    reason: str | None = None
    variant: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


@dataclass
class Report:
    """The outcome of a run: counts per status, and each failed input with its reason.

    Records are counted, not kept, so memory stays flat however many files a run has; pass
    ``on_record`` to ``run`` to see every one.
    """

    planned: int = 0
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    failures: list[tuple[Path, str]] = field(default_factory=list)  # once per input, in order
    replaced: list[Path] = field(default_factory=list)  # inputs --in-place overwrote
    elapsed: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False  # --fail-fast

    def add(self, record: OutputRecord) -> None:
        self.counts[record.status] += 1
        if record.failed and (not self.failures or self.failures[-1][0] != record.input):
            # an input's records arrive together: its second failed variant is no new failure
            self.failures.append((record.input, record.reason or "failed"))

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def written(self) -> int:
        return self.counts[Status.WRITTEN]

    @property
    def up_to_date(self) -> int:
        return self.counts[Status.UP_TO_DATE]

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    def summary(self) -> str:
        parts = [
            f"{self.written} written",
            f"{self.up_to_date} up to date",
            f"{self.failed} failed",
        ]
        left = self.planned - self.done
        if left and (self.interrupted or self.stopped_early):
            parts.append(f"{left} not done")
        return f"{', '.join(parts)} in {self.elapsed:.1f}s"


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True, slots=True)
class _Job:
    """One output to produce: which input, which variant, where, and its recipe fingerprint."""

    index: int  # the input's index
    variant: Variant
    key: str  # path relative to the output folder, POSIX (the manifest key); the path is
    # made from it when needed, so a plan of a million outputs holds no Path objects
    recipe: str
    pil_format: str

    def path(self, output: Path) -> Path:
        return output / self.key


def _split_at_augment(steps: Sequence[Step]) -> tuple[list[Step], tuple[Variant, ...], list[Step]]:
    for position, step in enumerate(steps):
        if step.variants:
            return list(steps[:position]), step.variants, list(steps[position + 1 :])
    return list(steps), (Variant("", None),), []


class Plan:
    """Every output of a run, made on demand from (input index, variant index).

    Nothing is kept per output, so a plan of a million outputs costs almost nothing; ``check``
    still goes through all of them before anything is written.
    """

    def __init__(self, options: RunOptions, inputs: Sequence[InputFile]) -> None:
        self.options = options
        self.inputs = inputs
        prefix, self.variants, suffix = _split_at_augment(options.steps)
        self._common = [
            __version__,
            [step.recipe() for step in prefix],
            [step.recipe() for step in suffix],
            options.quality,
            options.png_compress_level,
            options.optimize,
            options.keep_icc,
            options.allow_truncated,
        ]
        self._recipes: dict[tuple[str, str, str], str] = {}

    def __len__(self) -> int:
        return len(self.inputs) * len(self.variants)

    def job(self, index: int, variant_index: int, file: InputFile | None = None) -> _Job:
        """Output ``variant_index`` of input ``index`` (``file``: that input, when at hand)."""
        if file is None:
            file = self.inputs[index]
        variant = self.variants[variant_index]
        pil_format, ext = _format_of(self.options.format, file)
        name = self.options.name.format(stem=file.relative.stem, suffix=variant.suffix, ext=ext)
        relative = file.relative.parent / name
        _check_inside(relative, file)
        recipe_key = (variant.suffix, pil_format, ext)
        if recipe_key not in self._recipes:
            self._recipes[recipe_key] = _fingerprint([*self._common, *recipe_key])
        key = PurePosixPath(*relative.parts).as_posix()
        return _Job(index, variant, key, self._recipes[recipe_key], pil_format)

    def jobs(self, index: int) -> list[_Job]:
        return [self.job(index, v) for v in range(len(self.variants))]

    def check(self) -> None:
        """Raise before anything is written if two outputs would collide, one would leave the
        output folder, or one would overwrite an input without --in-place."""
        # This walks every output of a possibly huge run, so it keeps only hashes of real paths
        # (~100 bytes an output, dropped when done); a repeated hash is confirmed on the real
        # paths themselves in a second pass, which a run without a problem never makes.
        output_root = os.path.realpath(self.options.output)
        input_hashes = {  # only an input inside the output folder can be overwritten
            hash(real)
            for real, file in self._real_inputs()
            if file.problem is None and _inside(real, output_root)
        }
        output_hashes: set[int] = set()
        suspects: set[int] = set()
        for real, _, _ in self._real_outputs():
            code = hash(real)
            if code in output_hashes or code in input_hashes:
                suspects.add(code)
            output_hashes.add(code)
        if suspects:
            self._confirm(suspects)

    def _real_inputs(self) -> Iterator[tuple[str, InputFile]]:
        real_path = _RealPaths()
        for file in self.inputs:
            yield real_path(file.path), file

    def _real_outputs(self) -> Iterator[tuple[str, _Job, InputFile]]:
        """Every output's real path (its folder resolved, its name joined: a symlink at the
        output's own place is replaced by the rename, never followed); raises for an output
        leaving the output folder."""
        options = self.options
        output_root = os.path.realpath(options.output)
        real_folders: dict[PurePath, str] = {}
        for index, file in enumerate(self.inputs):
            folder = file.relative.parent
            if folder not in real_folders:
                real_folder = os.path.realpath(options.output / folder)
                if os.path.commonpath([real_folder, output_root]) != output_root:
                    raise OutputError(  # e.g. a symlinked sub-folder of -o leading elsewhere
                        f"{options.output / folder} would leave the output folder "
                        f"{options.output} (it resolves to {real_folder})"
                    )
                real_folders[folder] = real_folder
            skip = len(folder.as_posix()) + 1 if folder.parts else 0  # the key's folder part
            for variant_index in range(len(self.variants)):
                job = self.job(index, variant_index, file)
                # --name may give the name folders of its own
                real = os.path.normpath(os.path.join(real_folders[folder], job.key[skip:]))
                if not _inside(real, output_root):
                    raise OutputError(
                        f"output name {job.key} for {file.path} would leave the output folder"
                    )
                yield real, job, file

    def _confirm(self, suspects: set[int]) -> None:
        """The second pass: compare the real paths whose hashes repeated."""
        options = self.options
        inputs = {
            real: file.path
            for real, file in self._real_inputs()
            if file.problem is None and hash(real) in suspects
        }
        claimed: dict[str, Path] = {}
        for real, job, file in self._real_outputs():
            if hash(real) not in suspects:
                continue
            path = job.path(options.output)
            earlier = claimed.setdefault(real, file.path)
            if earlier != file.path:
                raise OutputCollisionError(
                    f"{earlier} and {file.path} would both be written to {path}; "
                    "rename one or use --name"
                )
            source = inputs.get(real)
            if source is not None and not options.in_place:
                raise OutputError(
                    f"{path} would overwrite the input {source}; "
                    "pass --in-place to allow it or choose another --output"
                )


def plan_outputs(options: RunOptions, inputs: Sequence[InputFile]) -> Plan:
    """The plan of a run, checked (see ``Plan.check``)."""
    plan = Plan(options, inputs)
    plan.check()
    return plan


def _format_of(requested: str, file: InputFile) -> tuple[str, str]:
    if requested != "same":
        return files.OUTPUT_FORMATS[requested]
    # With --format same the extension decides until the file is opened; an input whose content
    # disagrees with its extension is still written in the format its name promises.
    suffix = file.path.suffix
    return files.output_format("same", files.format_of_suffix(suffix), suffix)


def _check_inside(relative: PurePath, file: InputFile) -> None:
    if relative.is_absolute() or ".." in relative.parts:
        raise OutputError(f"output name {relative} for {file.path} would leave the output folder")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _fingerprint(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def decode_hint(steps: Sequence[Step]) -> Callable[[tuple[int, int]], DecodeHint | None]:
    """What to ask of the decoder for an upright image of a given size, given the steps.

    Geometry-only steps (mirror, flip, quarter turns, augment) may come before the first
    ``resize``; its target then bounds the decode size, for every variant (a quarter-turned
    variant needs the other axis). Grayscale decode is asked when ``grayscale`` comes before
    any step that looks at colour (autocontrast, equalize, a rotation that fills corners).
    """
    mode: str | None = None
    for step in steps:
        if step.name == "grayscale":
            mode = "L"
            break
        if step.name != "resize" and _axis_swaps(step) is None:
            break
    swaps = {False}  # for each path through the steps: does it swap width and height?
    for step in steps:
        if step.name == "resize":
            options = step.option_dict
            return functools.partial(
                _hint_for_resize,
                mode,
                options["size"],
                options["mode"],
                options["only_shrink"],
                frozenset(swaps),
            )
        if step.name == "grayscale":
            continue
        step_swaps = _axis_swaps(step)
        if step_swaps is None:
            break
        swaps = {before != now for before in swaps for now in step_swaps}
    return functools.partial(_hint_mode_only, mode)


def _axis_swaps(step: Step) -> set[bool] | None:
    """For a step that only moves pixels: whether each of its outputs swaps the axes; else None."""
    if step.name in ("mirror", "flip"):
        return {False}
    if step.name == "rotate":
        degrees = float(step.option_dict["degrees"])
        return {degrees % 180 != 0} if degrees % 90 == 0 else None
    if step.variants:
        return {variant.suffix in ("_rot90", "_rot270") for variant in step.variants}
    return None


def _hint_mode_only(mode: str | None, size: tuple[int, int]) -> DecodeHint | None:
    return DecodeHint(mode=mode) if mode else None


# How much larger than the resize target a reduced decode must stay, per DCT scale. libjpeg's
# 1/2 and 1/4 scalings filter well; 1/8 keeps only each block's average and aliases on fine
# detail. Measured on the sample photos (tests/test_pipeline.py): with these gaps every chain
# stays within 2 levels (mean absolute difference) of the full decode, and the tutorial's
# 640x427 -> 200x200 cover still decodes at 1/2.
_REDUCING_GAPS = {8: 2.0, 4: 1.4, 2: 1.0}


def _hint_for_resize(
    mode: str | None,
    box: ops.Size,
    resize_mode: str,
    only_shrink: bool,
    turns: frozenset[bool],
    size: tuple[int, int],
) -> DecodeHint | None:
    need_w = need_h = 0
    for swapped in turns:
        source = (size[1], size[0]) if swapped else size
        width, height = ops.scaled_size(source, box, resize_mode, only_shrink=only_shrink)
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


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class _Decoded:
    image: Image
    icc_profile: bytes | None
    identity: tuple[int, int]
    digest: str
    full_size: tuple[int, int] | None  # set while `image` is a reduced decode (shrink-on-load)


def _reduced_from(loaded: files.LoadedImage) -> tuple[int, int] | None:
    """The upright full size of a reduced decode; None when the decoder did not reduce."""
    if loaded.decoded_size == loaded.source_size:
        return None
    width, height = loaded.source_size
    if loaded.image.size != loaded.decoded_size:  # EXIF orientation turned it a quarter
        width, height = height, width
    return width, height


def _apply(
    steps: Sequence[Step], image: Image, full: tuple[int, int] | None
) -> tuple[Image, tuple[int, int] | None]:
    """Apply ``steps``; while ``image`` is a reduced decode of a ``full``-sized one, the first
    resize computes its geometry for ``full`` (so shrink-on-load never changes output sizes)."""
    for step in steps:
        if full is not None and step.name == "resize":
            image = step(image, source_size=full)
            full = None
            continue
        image = step(image)
        if full is not None and _axis_swaps(step) == {True}:
            full = (full[1], full[0])
    return image, full


@dataclass(frozen=True)
class _Failed:
    reason: str


def gather_inputs(options: RunOptions, manifest: Manifest | None = None) -> InputList:
    """The inputs of a run, minus outputs that would feed back into it.

    Left out: files inside the output folder when it sits inside an input folder, and files the
    manifest records as outputs of other inputs (``-o`` equal to ``-i`` must not turn last
    run's ``a_mirror.png`` into this run's input).
    """
    output = os.path.realpath(options.output)
    real_path = _RealPaths()
    roots: dict[Path, str] = {}
    kept = InputList()
    found = files.iter_inputs(
        options.inputs, recursive=options.recursive, listed=options.input_paths
    )
    for file in found:
        real = real_path(file.path)
        root_path = file.path.parents[len(file.relative.parts) - 1]
        if root_path not in roots:
            roots[root_path] = os.path.realpath(root_path)
        root = roots[root_path]
        if output != root and _inside(output, root) and _inside(real, output):
            continue  # the output folder sits inside the folder this input was found in
        if manifest is not None and _inside(real, output):
            entry = manifest.get(Path(os.path.relpath(real, output)).as_posix())
            if entry is not None and os.path.realpath(entry.input) != real:
                continue
        kept.append(file)
    return kept


class _RealPaths:
    """``os.path.realpath`` for many files in few folders: each folder is resolved once, and a
    file's own name only when it is a symbolic link (one lstat instead of one per component)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: Path | str) -> str:
        folder, name = os.path.split(os.fspath(path))
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder or os.curdir)
        if name in ("", os.curdir, os.pardir):
            return os.path.realpath(path)
        joined = os.path.join(real_folder, name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies strictly below ``folder`` (both real, absolute, normalized)."""
    return path != folder and path.startswith(
        folder if folder.endswith(os.sep) else folder + os.sep
    )


def run(
    options: RunOptions,
    *,
    on_start: Callable[[int], None] | None = None,
    on_record: Callable[[OutputRecord], None] | None = None,
) -> Report:
    """Run the pipeline. ``on_start(n_outputs)`` is called once planning is done, ``on_record``
    after every output (from the calling thread). Ctrl-C (KeyboardInterrupt) at any point ends
    the run early with the report so far (``interrupted``); outputs in flight are finished or
    discarded, never half-written. Raises ``ImgprepError`` only for problems of the whole run
    (collisions, an output folder that cannot be created); an input's problem is a record."""
    options.validate()
    started = time.monotonic()
    report = Report()
    try:
        manifest = Manifest.load(options.output)
        inputs = gather_inputs(options, manifest)
        plan = plan_outputs(options, inputs)
        report.planned = len(plan)
        if on_start is not None:
            on_start(report.planned)
        if plan:
            _make_output_folder(options.output)
            files.remove_stale_temp_files(options.output)
            _execute(options, inputs, plan, manifest, report, on_record)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        report.elapsed = time.monotonic() - started
    return report


def _make_output_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise OutputError(f"cannot create output folder {folder}: {reason}") from None


def _execute(
    options: RunOptions,
    inputs: Sequence[InputFile],
    plan: Plan,
    manifest: Manifest,
    report: Report,
    on_record: Callable[[OutputRecord], None] | None,
) -> None:
    """Decode, transform and write every planned output; records go into ``report``."""
    prefix, variants, after_augment = _split_at_augment(options.steps)
    hint = decode_hint(options.steps)
    workers = options.workers or default_workers()
    buffer = options.buffer or 2 * workers

    def decode(index: int) -> _Decoded | _Failed:
        file = inputs[index]
        if file.problem is not None:
            return _Failed(file.problem)
        identity = files.file_identity(file.path)
        try:
            loaded = files.load_image(
                file.path,
                max_pixels=options.max_pixels,
                hint=hint,
                allow_truncated=options.allow_truncated,
            )
            image, full = _apply(prefix, loaded.image, _reduced_from(loaded))
        except InputError as error:
            return _Failed(error.reason)
        except ImgprepError as error:
            return _Failed(str(error))
        except Exception as error:  # an op that cannot handle this image: the image's failure
            return _Failed(f"{type(error).__name__}: {error}")
        if identity is None:
            return _Failed("disappeared while being read")
        return _Decoded(image, loaded.icc_profile, identity, loaded.digest, full)

    # Variants of one input share its decode through the cache. A worker holds at most one
    # input in flight, and at most `buffer` inputs are ahead, so buffer + workers entries mean
    # a decode is never evicted before all its variants have used it.
    decoded: Sequence[_Decoded | _Failed] = smap(decode, range(len(inputs)))
    if len(variants) > 1:
        decoded = add_cache(decoded, cache_size=buffer + workers)

    def produce(variant_index: int, index: int) -> OutputRecord:
        file = inputs[index]
        job = plan.job(index, variant_index, file)
        return _produce(options, manifest, job, file, decoded, after_augment)

    # One pool task per input: its variants, one after the other in the same worker. (Pooling
    # single outputs of unbatch(collate(...)) would let the worker that computes a collated
    # group make every variant while the others wait for it: -j 2 as slow as -j 1.)
    per_variant = [
        smap(functools.partial(produce, v), range(len(inputs))) for v in range(len(variants))
    ]
    finished: dict[int, tuple[OutputRecord, ...]] = {}  # done by a worker, not yet consumed

    def produce_all(index: int, group: tuple[OutputRecord, ...]) -> tuple[OutputRecord, ...]:
        finished[index] = group
        return group

    groups = smap(produce_all, range(len(inputs)), collate(per_variant))
    try:
        with prefetch(groups, max_buffered=buffer, nworkers=workers) as results:
            for index, group in enumerate(results):
                _count(report, group, options.in_place)
                del finished[index]
                for record in group:
                    if on_record is not None:
                        on_record(record)
                    if record.failed and options.fail_fast:
                        report.stopped_early = True
                if report.stopped_early:
                    break
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        # Inputs that workers finished after the consumer stopped (Ctrl-C, --fail-fast) are on
        # disk and in the manifest: count them too. The pool has been closed by now.
        for index in sorted(finished):
            _count(report, finished.pop(index), options.in_place)
        try:
            _rebase_in_place(manifest, plan, inputs, report)
            manifest.compact()
        except OutputError:
            pass  # only tidying: the journal as it stands is valid, and failures are reported
        finally:
            manifest.close()


def _produce(
    options: RunOptions,
    manifest: Manifest,
    job: _Job,
    file: InputFile,
    decoded: Sequence[_Decoded | _Failed],
    after_augment: Sequence[Step],
) -> OutputRecord:
    """One output: skip it when current, else transform its input's decode and write it."""
    suffix = job.variant.suffix
    path = job.path(options.output)
    if (
        not options.force
        and file.problem is None
        and manifest.is_current(job.key, path, file.path, job.recipe)
    ):
        return OutputRecord(file.path, path, Status.UP_TO_DATE, variant=suffix)
    source = decoded[job.index]  # decodes now, unless another variant already did
    if isinstance(source, _Failed):
        return OutputRecord(file.path, None, Status.FAILED, source.reason, suffix)
    try:
        image, full = source.image, source.full_size
        if job.variant.op is not None:
            image = job.variant.op(image)
            if full is not None and suffix in ("_rot90", "_rot270"):
                full = (full[1], full[0])
        image, _ = _apply(after_augment, image, full)
        files.save_image(
            image,
            path,
            format=job.pil_format,
            quality=options.quality,
            png_compress_level=options.png_compress_level,
            optimize=options.optimize,
            icc_profile=source.icc_profile,
            embed_icc=options.keep_icc,
            fsync=options.fsync,
        )
        _remember(manifest, job, path, file, source)
    except ImgprepError as error:
        reason = error.reason if isinstance(error, InputError) else str(error)
        return OutputRecord(file.path, None, Status.FAILED, reason, suffix)
    except Exception as error:
        return OutputRecord(
            file.path, None, Status.FAILED, f"{type(error).__name__}: {error}", suffix
        )
    return OutputRecord(file.path, path, Status.WRITTEN, variant=suffix)


def _count(report: Report, group: Sequence[OutputRecord], in_place: bool) -> None:
    for record in group:
        report.add(record)
        if (
            in_place
            and record.status is Status.WRITTEN
            and record.output is not None
            and _real(record.output) == _real(record.input)
        ):
            report.replaced.append(record.input)


def _rebase_in_place(
    manifest: Manifest, plan: Plan, inputs: Sequence[InputFile], report: Report
) -> None:
    """An input replaced by its own output (--in-place) is, from now on, that output: every
    output made from it records the replacement as its input, or the next run would see a
    changed input and process the processed image again."""
    if not report.replaced:
        return
    replaced = set(report.replaced)
    for index, file in enumerate(inputs):
        if file.path not in replaced:
            continue
        jobs = plan.jobs(index)
        identity = files.file_identity(file.path)
        for job in jobs:
            written = files.file_identity(manifest.path.parent / job.key)
            if identity is None or written is None:
                continue
            manifest.record(
                Entry(
                    output=job.key,
                    input=str(file.path.absolute()),
                    input_size=identity[0],
                    input_mtime_ns=identity[1],
                    input_digest="",
                    recipe=job.recipe,
                    output_size=written[0],
                    output_mtime_ns=written[1],
                )
            )


def _remember(manifest: Manifest, job: _Job, path: Path, file: InputFile, source: _Decoded) -> None:
    written = files.file_identity(path)
    if written is None:
        return
    manifest.record(
        Entry(
            output=job.key,
            input=str(file.path.absolute()),
            input_size=source.identity[0],
            input_mtime_ns=source.identity[1],
            input_digest=source.digest,
            recipe=job.recipe,
            output_size=written[0],
            output_mtime_ns=written[1],
        )
    )
