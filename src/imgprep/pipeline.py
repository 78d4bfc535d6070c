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

from imgprep import _discover, _fs, files
from imgprep._discover import InputList
from imgprep._fs import StrPath
from imgprep._shrink import apply_steps, decode_hint
from imgprep._version import __version__
from imgprep.config import DEFAULTS, canonical_format, default_workers, load_user_defaults
from imgprep.errors import (
    ImgprepError,
    InputError,
    OutputCollisionError,
    OutputError,
    UsageError,
)
from imgprep.files import InputFile
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
    # the settings a config file may change: their defaults live in config.DEFAULTS
    format: str = DEFAULTS["format"]
    quality: int | None = DEFAULTS["quality"]
    png_compress_level: int = DEFAULTS["png_compress_level"]
    optimize: bool = DEFAULTS["optimize"]
    name: str = DEFAULTS["name"]
    workers: int | None = DEFAULTS["workers"]  # None: the CPUs available
    buffer: int | None = DEFAULTS["buffer"]  # None: 2 x workers
    max_pixels: int | None = DEFAULTS["max_pixels"]
    force: bool = False
    fail_fast: bool = False
    in_place: bool = False
    allow_truncated: bool = False
    keep_icc: bool = True
    fsync: bool = False

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


class OutputRecord:
    """What happened to one planned output: ``input`` and ``output`` (None unless written or up
    to date), its ``status``, the ``reason`` of a failure and the ``variant`` suffix. Immutable.

    The paths may be given as text; they become ``Path`` objects when first read, so a run that
    only counts its records makes no Path objects for them (Python 3.11's pathlib interns every
    name it parses, and a run's memory should not grow with its number of files).
    """

    __slots__ = ("_input", "_output", "reason", "status", "variant")

    _input: Path | str
    _output: Path | str | None
    status: Status
    reason: str | None
    variant: str

    def __init__(
        self,
        input: StrPath,
        output: StrPath | None,
        status: Status,
        reason: str | None = None,
        variant: str = "",
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "_input", _text_or_path(input))
        set_field(self, "_output", None if output is None else _text_or_path(output))
        set_field(self, "status", status)
        set_field(self, "reason", reason)
        set_field(self, "variant", variant)

    @property
    def input(self) -> Path:
        if isinstance(self._input, str):
            object.__setattr__(self, "_input", Path(self._input))
        assert isinstance(self._input, Path)
        return self._input

    @property
    def output(self) -> Path | None:
        if isinstance(self._output, str):
            object.__setattr__(self, "_output", Path(self._output))
        assert self._output is None or isinstance(self._output, Path)
        return self._output

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def _fields(self) -> tuple[object, ...]:
        return (self.input, self.output, self.status, self.reason, self.variant)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputRecord):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[OutputRecord], tuple[object, ...]]:
        return OutputRecord, self._fields()  # pickle and copy go through __init__

    def __repr__(self) -> str:
        return (
            f"OutputRecord(input={self.input!r}, output={self.output!r}, status={self.status}, "
            f"reason={self.reason!r}, variant={self.variant!r})"
        )


def _text_or_path(path: StrPath) -> str | Path:
    return path if isinstance(path, str | Path) else Path(path)


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

    def path(self, output: StrPath) -> str:
        """The output's path below ``output``, as text (``str(output / key)``)."""
        folder = os.fspath(output)
        return self.key if folder == os.curdir else os.path.join(folder, self.key)


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
        self.inputs = inputs if isinstance(inputs, InputList) else InputList(inputs)
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
        self._formats: dict[str, tuple[str, str]] = {}  # input suffix -> (format, extension)
        self._key_folders: dict[str, str] = {}  # relative folder -> its key prefix ("a/b/")

    def __len__(self) -> int:
        return len(self.inputs) * len(self.variants)

    def job(self, index: int, variant_index: int) -> _Job:
        """Output ``variant_index`` of input ``index``."""
        # Text, not PurePath: this runs for every output (planning, then again in the worker).
        variant = self.variants[variant_index]
        folder, _, base = self.inputs.relative_text(index).rpartition(os.sep)
        pil_format, ext = self._format(index)
        stem = _stem_and_suffix(base)[0]
        name = self.options.name.format(stem=stem, suffix=variant.suffix, ext=ext)
        if _plain_name(name):
            key = self._key_folder(folder, name, index) + name
        else:  # --name gave folders, or an odd name: pathlib decides, as for any path
            relative = PurePath(folder, name)
            _check_inside(relative, self.inputs.path_text(index))
            key = PurePosixPath(*relative.parts).as_posix()
        recipe_key = (variant.suffix, pil_format, ext)
        recipe = self._recipes.get(recipe_key)
        if recipe is None:
            recipe = self._recipes[recipe_key] = _fingerprint([*self._common, *recipe_key])
        return _Job(index, variant, key, recipe, pil_format)

    def _format(self, index: int) -> tuple[str, str]:
        """(Pillow format, extension) of input ``index``'s outputs."""
        requested = canonical_format(self.options.format)
        if requested != "same":
            return files.OUTPUT_FORMATS[requested]
        # With --format same the extension decides until the file is opened; an input whose
        # content disagrees with its extension is still written in the format its name promises.
        suffix = _stem_and_suffix(os.path.basename(self.inputs.path_text(index)))[1]
        known = self._formats.get(suffix)
        if known is None:
            known = self._formats[suffix] = files.output_format(
                files.format_of_suffix(suffix), suffix
            )
        return known

    def _key_folder(self, folder: str, name: str, index: int) -> str:
        """The manifest key's folder part for a relative ``folder``: "" or "a/b/"."""
        prefix = self._key_folders.get(folder)
        if prefix is None:
            relative = PurePath(folder)
            _check_inside(relative / name, self.inputs.path_text(index))
            prefix = "" if not relative.parts else relative.as_posix() + "/"
            self._key_folders[folder] = prefix
        return prefix

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
            for real, index in self._real_inputs()
            if self.inputs.problem(index) is None and _fs.is_inside(real, output_root)
        }
        output_hashes: set[int] = set()
        suspects: set[int] = set()
        for real, _ in self._real_outputs():
            code = hash(real)
            if code in output_hashes or code in input_hashes:
                suspects.add(code)
            output_hashes.add(code)
        if suspects:
            self._confirm(suspects)

    def _real_inputs(self) -> Iterator[tuple[str, int]]:
        real_path = _RealPaths()
        for index in range(len(self.inputs)):
            yield real_path(self.inputs.path_text(index)), index

    def _real_outputs(self) -> Iterator[tuple[str, _Job]]:
        """Every output's real path (its folder resolved, its name joined: a symlink at the
        output's own place is replaced by the rename, never followed); raises for an output
        leaving the output folder."""
        options = self.options
        output_root = os.path.realpath(options.output)
        real_folders: dict[str, str] = {}
        for index in range(len(self.inputs)):
            folder = os.path.dirname(self.inputs.relative_text(index))
            if folder not in real_folders:
                real_folder = os.path.realpath(os.path.join(options.output, folder))
                if os.path.commonpath([real_folder, output_root]) != output_root:
                    raise OutputError(  # e.g. a symlinked sub-folder of -o leading elsewhere
                        f"{options.output / folder} would leave the output folder "
                        f"{options.output} (it resolves to {real_folder})"
                    )
                real_folders[folder] = real_folder
            skip = len(folder) + 1 if folder else 0  # the key's folder part
            for variant_index in range(len(self.variants)):
                job = self.job(index, variant_index)
                # --name may give the name folders of its own
                real = os.path.normpath(os.path.join(real_folders[folder], job.key[skip:]))
                if not _fs.is_inside(real, output_root):
                    raise OutputError(
                        f"output name {job.key} for {self.inputs.path_text(index)} would leave"
                        " the output folder"
                    )
                yield real, job

    def _confirm(self, suspects: set[int]) -> None:
        """The second pass: compare the real paths whose hashes repeated."""
        options = self.options
        inputs = {
            real: self.inputs.path_text(index)
            for real, index in self._real_inputs()
            if self.inputs.problem(index) is None and hash(real) in suspects
        }
        claimed: dict[str, str] = {}
        for real, job in self._real_outputs():
            if hash(real) not in suspects:
                continue
            path = job.path(options.output)
            source_path = self.inputs.path_text(job.index)
            earlier = claimed.setdefault(real, source_path)
            if earlier != source_path:
                raise OutputCollisionError(
                    f"{earlier} and {source_path} would both be written to {path}; "
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


def _stem_and_suffix(name: str) -> tuple[str, str]:
    """``PurePath(name).stem`` and ``.suffix`` for a file name (no separator)."""
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def _plain_name(name: str) -> bool:
    """Whether ``name`` is one path component that pathlib keeps as it is."""
    return (
        bool(name)
        and name not in (os.curdir, os.pardir)
        and os.sep not in name
        and (os.altsep is None or os.altsep not in name)
    )


def _check_inside(relative: PurePath, input_path: str) -> None:
    if relative.is_absolute() or ".." in relative.parts:
        raise OutputError(f"output name {relative} for {input_path} would leave the output folder")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _fingerprint(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


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
    found = _discover.iter_inputs(
        options.inputs, recursive=options.recursive, listed=options.input_paths
    )
    for file in found:
        real = real_path(file.path)
        root_path = file.path.parents[len(file.relative.parts) - 1]
        if root_path not in roots:
            roots[root_path] = os.path.realpath(root_path)
        root = roots[root_path]
        if output != root and _fs.is_inside(output, root) and _fs.is_inside(real, output):
            continue  # the output folder sits inside the folder this input was found in
        if manifest is not None and _fs.is_inside(real, output):
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
            _execute(options, plan, manifest, report, on_record)
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
    inputs = plan.inputs  # read as text below: no Path objects per image
    cwd = os.getcwd()

    def decode(index: int) -> _Decoded | _Failed:
        problem = inputs.problem(index)
        if problem is not None:
            return _Failed(problem)
        try:
            loaded = files.load_image(
                inputs.path_text(index),
                max_pixels=options.max_pixels,
                hint=hint,
                allow_truncated=options.allow_truncated,
            )
            image, full = apply_steps(prefix, loaded.image, _reduced_from(loaded))
        except InputError as error:
            return _Failed(error.reason)
        except ImgprepError as error:
            return _Failed(str(error))
        except Exception as error:  # an op that cannot handle this image: the image's failure
            return _Failed(f"{type(error).__name__}: {error}")
        return _Decoded(image, loaded.icc_profile, loaded.identity, loaded.digest, full)

    # Variants of one input share its decode through the cache. A worker holds at most one
    # input in flight, and at most `buffer` inputs are ahead, so buffer + workers entries mean
    # a decode is never evicted before all its variants have used it.
    decoded: Sequence[_Decoded | _Failed] = smap(decode, range(len(inputs)))
    if len(variants) > 1:
        decoded = add_cache(decoded, cache_size=buffer + workers)

    def produce(variant_index: int, index: int) -> OutputRecord:
        job = plan.job(index, variant_index)
        path = inputs.path_text(index)
        source = _Source(path, _fs.absolute_text(path, cwd), inputs.problem(index))
        return _produce(options, manifest, job, source, decoded, after_augment)

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
            _rebase_in_place(manifest, plan, report)
            manifest.compact()
        except OutputError:
            pass  # only tidying: the journal as it stands is valid, and failures are reported
        finally:
            manifest.close()


@dataclass(frozen=True, slots=True)
class _Source:
    """An input as the per-output code needs it: text, no Path objects."""

    path: str
    absolute: str  # the manifest's name for it
    problem: str | None


def _produce(
    options: RunOptions,
    manifest: Manifest,
    job: _Job,
    file: _Source,
    decoded: Sequence[_Decoded | _Failed],
    after_augment: Sequence[Step],
) -> OutputRecord:
    """One output: skip it when current, else transform its input's decode and write it."""
    suffix = job.variant.suffix
    path = job.path(options.output)
    if (
        not options.force
        and file.problem is None
        # the absolute name: is_current compares it with the manifest's as it is, no getcwd
        and manifest.is_current(job.key, path, file.absolute, job.recipe)
    ):
        return OutputRecord(file.path, path, Status.UP_TO_DATE, variant=suffix)
    source = decoded[job.index]  # decodes now, unless another variant already did
    if isinstance(source, _Failed):
        return OutputRecord(file.path, None, Status.FAILED, source.reason, suffix)
    try:
        image, full = source.image, source.full_size
        if job.variant.op is not None:
            image = job.variant.op(image)
            if full is not None and job.variant.effects.swaps_axes:
                full = (full[1], full[0])
        image, _ = apply_steps(after_augment, image, full)
        written = files.save_image(
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
        _remember(manifest, job, written, file, source)
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


def _rebase_in_place(manifest: Manifest, plan: Plan, report: Report) -> None:
    """An input replaced by its own output (--in-place) is, from now on, that output: every
    output made from it records the replacement as its input, or the next run would see a
    changed input and process the processed image again."""
    if not report.replaced:
        return
    replaced = set(report.replaced)
    for index, file in enumerate(plan.inputs):
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
                    input=_fs.absolute_text(file.path),
                    input_size=identity[0],
                    input_mtime_ns=identity[1],
                    input_digest="",
                    recipe=job.recipe,
                    output_size=written[0],
                    output_mtime_ns=written[1],
                )
            )


def _remember(
    manifest: Manifest, job: _Job, written: tuple[int, int], file: _Source, source: _Decoded
) -> None:
    manifest.record(
        Entry(
            output=job.key,
            input=file.absolute,
            input_size=source.identity[0],
            input_mtime_ns=source.identity[1],
            input_digest=source.digest,
            recipe=job.recipe,
            output_size=written[0],
            output_mtime_ns=written[1],
        )
    )
