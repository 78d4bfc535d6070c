"""Running a plan: the lazy pipeline of decodes, variants and writes, in a pool of threads.

For ``resize 200x200 --mode cover grayscale augment --mirror``::

    decoded  = add_cache(smap(decode, range(n)))         # load + steps before augment, once
    variants = [smap(produce(v), range(n)) for v in (original, mirror)]
    groups   = collate(variants)                         # (a.png, a_mirror.png), (b.png, ...
    for group in prefetch(groups, workers, max_buffered=buffer):  # in order, threads ahead
        report(*group)                                   # the consumer does the unbatch

Each pool task is one input; each of its outputs checks the manifest first (an up-to-date
output never decodes its input), then takes its input's decoded image from the cache, applies
its variant and the steps after ``augment``, and encodes and writes the file atomically, all
in the worker thread, so Pillow's GIL-free decode, resample and zlib overlap. Failures are
data: each item returns an ``OutputRecord`` with a status and a reason; only bugs raise.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgprep import _fs, files
from imgprep._plan import Job, Plan, split_at_augment
from imgprep._records import OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._shrink import apply_steps, decode_hint
from imgprep.config import default_workers
from imgprep.errors import ImgprepError, InputError, OutputError
from imgprep.manifest import Entry, Manifest
from imgprep.seq import add_cache, collate, prefetch, smap
from imgprep.steps import Step

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["execute"]


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


def execute(
    options: RunOptions,
    plan: Plan,
    manifest: Manifest,
    report: Report,
    on_record: Callable[[OutputRecord], None] | None,
    on_failure: Callable[[str, str], None] | None = None,
) -> None:
    """Decode, transform and write every planned output; records go into ``report``.

    ``on_record`` sees every record, ``on_failure(input, reason)`` each failed input once, both
    from the calling thread, in plan order."""
    work = _Work(options, plan, manifest)
    workers = options.workers or default_workers()
    buffer = options.buffer or 2 * workers
    count = len(plan.inputs)
    decoded: Sequence[_Decoded | _Failed] = smap(work.decode, range(count))
    if len(work.variants) > 1:
        # Variants of one input share its decode. A worker holds at most one input in flight
        # and at most `buffer` inputs are ahead, so buffer + workers entries mean a decode is
        # never evicted before all its variants have used it.
        decoded = add_cache(decoded, cache_size=buffer + workers)
    work.decoded = decoded
    # One pool task per input: its variants, one after the other in the same worker. (Pooling
    # single outputs of unbatch(collate(...)) would let the worker that computes a collated
    # group make every variant while the others wait for it: -j 2 as slow as -j 1.)
    per_variant = [
        smap(functools.partial(work.produce, v), range(count)) for v in range(len(work.variants))
    ]
    groups = smap(work.finish, range(count), collate(per_variant))

    def take(group: Sequence[OutputRecord]) -> None:
        # Count the whole group before any callback: a callback may raise KeyboardInterrupt,
        # and what is on disk must be counted all the same.
        first_failures = [report.add(record) for record in group]
        report.replaced.extend(
            record.input for record in group if options.in_place and _replaced_its_input(record)
        )
        for record, first_failure in zip(group, first_failures, strict=True):
            if first_failure and on_failure is not None:
                on_failure(str(record.input), record.reason or "failed")
            if on_record is not None:
                on_record(record)

    try:
        with prefetch(groups, workers, max_buffered=buffer) as results:
            for index, group in enumerate(results):
                take(work.finished.pop(index))
                if options.fail_fast and any(record.failed for record in group):
                    report.stopped_early = True
                    break
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        # Inputs that workers finished after the consumer stopped (Ctrl-C, --fail-fast) are on
        # disk and in the manifest: count them too. The pool has been closed by now.
        for index in sorted(work.finished):
            take(work.finished.pop(index))
        _close_manifest(manifest, plan, report)


def _close_manifest(manifest: Manifest, plan: Plan, report: Report) -> None:
    try:
        _rebase_in_place(manifest, plan, report)
        manifest.compact()
    except OutputError:
        pass  # only tidying: the journal as it stands is valid, and failures are reported
    finally:
        manifest.close()


class _Work:
    """What the worker threads share for one run: the steps split at augment, the decode hint,
    the inputs, and the decoded sequence. ``decode``, ``produce`` and ``finish`` run in worker
    threads."""

    def __init__(self, options: RunOptions, plan: Plan, manifest: Manifest) -> None:
        self.options, self.plan, self.manifest = options, plan, manifest
        self.prefix, self.variants, self.after_augment = split_at_augment(options.steps)
        self.hint = decode_hint(options.steps)
        self.inputs = plan.inputs  # read as text: no Path objects per image
        self.cwd = os.getcwd()
        self.decoded: Sequence[_Decoded | _Failed] = ()
        self.finished: dict[int, tuple[OutputRecord, ...]] = {}  # done, not yet consumed

    def decode(self, index: int) -> _Decoded | _Failed:
        """Load input ``index`` and apply the steps before augment."""
        problem = self.inputs.problem(index)
        if problem is not None:
            return _Failed(problem)
        try:
            loaded = files.load_image(
                self.inputs.path_text(index),
                max_pixels=self.options.max_pixels,
                hint=self.hint,
                allow_truncated=self.options.allow_truncated,
            )
            image, full = apply_steps(self.prefix, loaded.image, _reduced_from(loaded))
        except Exception as error:  # this image's failure, whatever raised it
            return _Failed(failure_reason(error))
        return _Decoded(image, loaded.icc_profile, loaded.identity, loaded.digest, full)

    def produce(self, variant_index: int, index: int) -> OutputRecord:
        job = self.plan.job(index, variant_index)
        path = self.inputs.path_text(index)
        source = _Source(path, _fs.absolute_text(path, self.cwd), self.inputs.problem(index))
        return _produce(self.options, self.manifest, job, source, self.decoded, self.after_augment)

    def finish(self, index: int, group: tuple[OutputRecord, ...]) -> tuple[OutputRecord, ...]:
        self.finished[index] = group
        return group


def failure_reason(error: Exception) -> str:
    """The one-line reason an input or output failed, for its record."""
    if isinstance(error, InputError):
        return error.reason  # the record names the input already
    if isinstance(error, ImgprepError):
        return str(error)
    return f"{type(error).__name__}: {error}"  # an op that cannot handle this image


@dataclass(frozen=True, slots=True)
class _Source:
    """An input as the per-output code needs it: text, no Path objects."""

    path: str
    absolute: str  # the manifest's name for it
    problem: str | None


def _produce(
    options: RunOptions,
    manifest: Manifest,
    job: Job,
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
        manifest.record(_entry(job, file.absolute, source.identity, source.digest, written))
    except Exception as error:  # this output's failure, whatever raised it
        return OutputRecord(file.path, None, Status.FAILED, failure_reason(error), suffix)
    return OutputRecord(file.path, path, Status.WRITTEN, variant=suffix)


def _replaced_its_input(record: OutputRecord) -> bool:
    return (
        record.status is Status.WRITTEN
        and record.output is not None
        and os.path.realpath(record.output) == os.path.realpath(record.input)
    )


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
            # no digest: the input is now the output just written, never decoded as one
            manifest.record(_entry(job, _fs.absolute_text(file.path), identity, "", written))


def _entry(
    job: Job,
    input_absolute: str,
    input_identity: tuple[int, int],
    input_digest: str,
    written: tuple[int, int],
) -> Entry:
    """The manifest line for ``job``'s output ``written`` (size, mtime) from that input."""
    return Entry(
        output=job.key,
        input=input_absolute,
        input_size=input_identity[0],
        input_mtime_ns=input_identity[1],
        input_digest=input_digest,
        recipe=job.recipe,
        output_size=written[0],
        output_mtime_ns=written[1],
    )
