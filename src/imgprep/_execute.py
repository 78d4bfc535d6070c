"""Running a plan: the lazy pipeline of decodes, variants and writes, in a pool of threads.

For ``resize 200x200 --mode cover grayscale augment --mirror``::

    decoded  = add_cache(smap(decode, range(n)))         # load + steps before augment, once
    variants = [smap(produce(v), range(n)) for v in (original, mirror)]
    groups   = collate(variants)                         # (a.png, a_mirror.png), (b.png, ...
    for group in prefetch(groups, workers, max_buffered=buffer):  # in order, threads ahead
        report(*group)                                   # the consumer does the unbatch

Which outputs are up to date is decided before (``_uptodate``): only inputs with an output
that is not go to the pool, and ``range(n)`` above runs over them; the others are counted in
order between them. Each pool task is one input; for each of its outputs that is not current
(an input whose mtime alone changed is hashed first: same bytes, nothing to do), it takes its
input's decoded image from the cache, applies its variant and the steps after ``augment``, and
encodes and writes the file atomically, all in the worker thread, so Pillow's GIL-free decode,
resample and zlib overlap. Failures are data: each item returns an ``OutputRecord`` with a
status and a reason; only bugs raise.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgprep import files
from imgprep._budget import MemoryBudget, peak_bytes
from imgprep._damage import pixel_limit
from imgprep._discover import InputList
from imgprep._draws import INPUT_STAGE, Draws, merged, variant_stage
from imgprep._plan import Job, Plan, split_at_augment
from imgprep._records import Details, OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._shrink import apply_steps, decode_hint
from imgprep._uptodate import UpToDate, input_name, up_to_date
from imgprep.config import default_max_memory, default_workers
from imgprep.errors import ImgprepError, InputError, OutputError
from imgprep.manifest import CHECK, CURRENT, Entry, Manifest, read_input
from imgprep.seq import add_cache, collate, prefetch, smap
from imgprep.steps import Step

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["execute"]


@dataclass
class _Decoded:
    image: Image | None  # None once the input's outputs are done (a cache may hold this)
    icc_profile: bytes | None
    identity: tuple[int, int]
    digest: str
    full_size: tuple[int, int] | None  # set while `image` is a reduced decode (shrink-on-load)
    drawn: dict[str, object] | None = None  # what random steps before augment drew
    metadata: files.Metadata | None = None  # EXIF and XMP, with --keep-metadata
    warnings: tuple[str, ...] = ()
    facts: Details | None = None  # for a report: the input's sizes, orientation, decode scale


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
    fresh: UpToDate | None = None,
    *,
    on_warning: Callable[[str, str], None] | None = None,
    details: bool = False,
) -> None:
    """Decode, transform and write every planned output that is not up to date (``fresh``,
    judged here when not given); records go into ``report``.

    ``on_record`` sees every record, ``on_failure(input, reason)`` each failed input once,
    ``on_warning(input, reason)`` each warning of an input's decode once, all from the calling
    thread, in plan order. Without ``on_record`` the outputs already up to date are only
    counted: no record is made for them. ``details``: records carry their ``Details``."""
    if fresh is None:
        fresh = up_to_date(plan, manifest, force=options.force)
    work = _Work(options, plan, manifest, fresh, details)
    workers = options.workers or default_workers()
    buffer = options.buffer or 2 * workers
    take = _Taker(options, plan, report, on_record, on_failure)
    take.on_warning, take.details = on_warning, details
    try:
        if fresh.stale_inputs:  # a run where nothing changed starts no thread
            # pixel_limit: Pillow's checks in the steps too (crop) follow --max-pixels
            with (
                pixel_limit(options.max_pixels),
                prefetch(work.groups(workers, buffer), workers, max_buffered=buffer) as results,
            ):
                for position, group in enumerate(results):
                    take.current_until(fresh.stale_inputs[position])
                    take(work.finished.pop(position))
                    if options.fail_fast and any(record.failed for record in group):
                        report.stopped_early = True
                        break
        if not report.stopped_early:
            take.current_until(len(plan.inputs))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        # Inputs that workers finished after the consumer stopped (Ctrl-C, --fail-fast) are on
        # disk and in the manifest: count them too. The pool has been closed by now.
        for position in sorted(work.finished):
            take(work.finished.pop(position))
        work.budget.close()  # inputs still waiting for memory in the background give up
        _close_manifest(manifest, plan, report)


class _Taker:
    """The consumer's side: counts records, calls back, notes inputs replaced in place."""

    def __init__(
        self,
        options: RunOptions,
        plan: Plan,
        report: Report,
        on_record: Callable[[OutputRecord], None] | None,
        on_failure: Callable[[str, str], None] | None,
    ) -> None:
        self.options, self.plan, self.report = options, plan, report
        self.on_record, self.on_failure = on_record, on_failure
        self.on_warning: Callable[[str, str], None] | None = None
        self.details = False  # up-to-date records carry what is known without decoding
        self.next_input = 0  # inputs before this one are counted

    def __call__(self, group: Sequence[OutputRecord]) -> None:
        """The records of one input that went to the pool (the next after those counted)."""
        self._count(group)
        self.next_input += 1

    def _count(self, group: Sequence[OutputRecord]) -> None:
        # Count the whole group before any callback: a callback may raise KeyboardInterrupt,
        # and what is on disk must be counted all the same.
        report = self.report
        first_failures = [report.add(record) for record in group]
        report.replaced.extend(
            record.input
            for record in group
            if self.options.in_place and _replaced_its_input(record)
        )
        if self.on_warning is not None:
            # an input's outputs share its decode, so its warnings: each is said once
            for reason in dict.fromkeys(w for record in group for w in record.warnings):
                self.on_warning(str(group[0].input), reason)
        for record, first_failure in zip(group, first_failures, strict=True):
            if first_failure and self.on_failure is not None:
                self.on_failure(str(record.input), record.reason or "failed")
            if self.on_record is not None:
                self.on_record(record)

    def current_until(self, stop: int) -> None:
        """Count the inputs from ``next_input`` up to ``stop``: every output of theirs is up to
        date (a record each only for ``on_record``)."""
        start = self.next_input
        if stop <= start:
            return
        self.next_input = stop
        if self.on_record is None:
            self.report.counts[Status.UP_TO_DATE] += (stop - start) * len(self.plan.variants)
            return
        inputs, output = self.plan.inputs, self.options.output
        for index in range(start, stop):
            path = inputs.path_text(index)
            size = _input_bytes(inputs, index) if self.details else None
            records = []
            for job in self.plan.jobs(index):
                written = job.path(output)
                facts = None
                if self.details:
                    facts = Details.joined(None, Details.of_output(written), input_bytes=size)
                suffix = job.variant.suffix
                records.append(
                    OutputRecord(path, written, Status.UP_TO_DATE, None, suffix, details=facts)
                )
            self._count(records)


def _input_bytes(inputs: InputList, index: int) -> int | None:
    """An input's size from the walk that found it (a stat when it has none)."""
    identity = inputs.identity(index) or files.file_identity(inputs.path_text(index))
    return None if identity is None else identity[0]


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
    the inputs, the verdicts, and the decoded sequence. The pool sees only the inputs with work
    left (``fresh.stale_inputs``): its positions index that array. ``decode``, ``produce`` and
    ``finish`` run in worker threads."""

    def __init__(
        self,
        options: RunOptions,
        plan: Plan,
        manifest: Manifest,
        fresh: UpToDate,
        details: bool = False,
    ) -> None:
        self.options, self.plan, self.manifest, self.fresh = options, plan, manifest, fresh
        self.details = details  # time each output and give its records their Details
        self.prefix, self.variants, self.after_augment = split_at_augment(options.steps)
        self.hint = decode_hint(options.steps)
        self.inputs = plan.inputs  # read as text: no Path objects per image
        self.stale = fresh.stale_inputs
        self.decoded: Sequence[_Decoded | _Failed] = ()
        self.finished: dict[int, tuple[OutputRecord, ...]] = {}  # done, not yet consumed
        self.read: dict[int, tuple[str, tuple[int, int]] | None] = {}  # CHECK: sha256, identity
        # --max-memory: what each input in flight reserved before decoding, given back when
        # its outputs are written (and its decode, which a cache may keep, dropped)
        self.budget = MemoryBudget(options.max_memory or default_max_memory())
        self.reserved: dict[int, tuple[int, _Decoded | None]] = {}

    def groups(self, workers: int, buffer: int) -> Sequence[tuple[OutputRecord, ...]]:
        """One item per input with work left: the records of its outputs (lazy)."""
        count = len(self.stale)
        decoded: Sequence[_Decoded | _Failed] = smap(self.decode, range(count))
        if len(self.variants) > 1:
            # Variants of one input share its decode. A worker holds at most one input in
            # flight and at most `buffer` inputs are ahead, so buffer + workers entries mean a
            # decode is never evicted before all its variants have used it.
            decoded = add_cache(decoded, cache_size=buffer + workers)
        self.decoded = decoded
        # One pool task per input: its variants, one after the other in the same worker.
        # (Pooling single outputs of unbatch(collate(...)) would let the worker that computes a
        # collated group make every variant while the others wait for it: -j 2 as slow as -j 1.)
        per_variant = [
            smap(functools.partial(self.produce, v), range(count))
            for v in range(len(self.variants))
        ]
        return smap(self.finish, range(count), collate(per_variant))

    def decode(self, position: int) -> _Decoded | _Failed:
        """Load the input at ``position`` and apply the steps before augment."""
        index = self.stale[position]
        problem = self.plan.problem(index)  # also a collision it is left out for
        if problem is not None:
            return _Failed(problem)
        try:
            loaded = files.load_image(
                self.inputs.path_text(index),
                max_pixels=self.options.max_pixels,
                hint=self.hint,
                allow_truncated=self.options.allow_truncated,
                keep_metadata=self.options.keep_metadata,
                on_size=functools.partial(self._reserve, position),
            )
            name = input_name(self.inputs.relative_text(index))
            draws = Draws(self.options.seed, name, INPUT_STAGE)
            image, full = apply_steps(self.prefix, loaded.image, _reduced_from(loaded), draws)
        except Exception as error:  # this image's failure, whatever raised it
            return _Failed(failure_reason(error))
        facts = _input_facts(loaded) if self.details else None
        decoded = _Decoded(
            image,
            loaded.icc_profile,
            loaded.identity,
            loaded.digest,
            full,
            drawn=draws.drawn or None,
            metadata=loaded.metadata,
            warnings=loaded.warnings,
            facts=facts,
        )
        self.reserved[position] = (self.reserved.get(position, (0, None))[0], decoded)
        return decoded

    def _reserve(self, position: int, size: tuple[int, int], mode: str, file_bytes: int) -> None:
        """Wait until the memory input ``position`` needs is free (``load_image``'s on_size)."""
        needed = peak_bytes(size, mode, file_bytes, self.options.steps)
        self.budget.reserve(needed)
        self.reserved[position] = (needed, None)

    def produce(self, variant_index: int, position: int) -> OutputRecord:
        started = time.perf_counter() if self.details else 0.0
        index = self.stale[position]
        job = self.plan.job(index, variant_index)
        path = self.inputs.path_text(index)
        source = _Source(path, input_name(self.inputs.relative_text(index)))
        verdict = self.fresh.verdict(index, variant_index)
        if verdict == CURRENT or (verdict == CHECK and self._same_bytes(position, job, source)):
            output = job.path(self.options.output)
            record = OutputRecord(path, output, Status.UP_TO_DATE, variant=job.variant.suffix)
            decoded = None
        else:
            decoded = self.decoded[position]  # decodes now, unless another variant already did
            record = _produce(
                self.options, self.manifest, job, source, decoded, self.after_augment, self.details
            )
        if not self.details:
            return record
        return self._detailed(record, job, decoded, time.perf_counter() - started)

    def _detailed(
        self, record: OutputRecord, job: Job, decoded: _Decoded | _Failed | None, seconds: float
    ) -> OutputRecord:
        """``record`` with its ``Details``: an output up to date only gives its file's bytes
        and its input's (nothing was decoded), the others the decode's facts and the time."""
        if record.status is Status.UP_TO_DATE:
            output = Details.of_output(job.path(self.options.output))
            size = _input_bytes(self.inputs, job.index)
            return record.with_details(Details.joined(None, output, input_bytes=size))
        source = decoded.facts if isinstance(decoded, _Decoded) else None
        size = None if source is not None else _input_bytes(self.inputs, job.index)
        joined = Details.joined(source, record.details, input_bytes=size, seconds=seconds)
        return record.with_details(joined)

    def _same_bytes(self, position: int, job: Job, source: _Source) -> bool:
        """A ``CHECK`` output: is its input's sha256 the recorded one (read once per input)?"""
        if position not in self.read:
            self.read[position] = read_input(source.path)
        read = self.read[position]
        return read is not None and self.manifest.confirm(job.key, source.name, read)

    def finish(self, position: int, group: tuple[OutputRecord, ...]) -> tuple[OutputRecord, ...]:
        self.finished[position] = group
        self.read.pop(position, None)
        needed, decoded = self.reserved.pop(position, (0, None))
        if decoded is not None:
            decoded.image = None
        self.budget.release(needed)
        return group


def _input_facts(loaded: files.LoadedImage) -> Details:
    """What a report says about a decoded input."""
    stored, decoded = loaded.source_size, loaded.decoded_size
    return Details(
        input_bytes=loaded.identity[0],
        input_size=stored,
        orientation=loaded.orientation,
        decode_scale=decoded[0] / stored[0] if stored[0] else 1.0,
    )


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
    name: str  # the manifest's name for it: its path relative to its root, POSIX


def _produce(
    options: RunOptions,
    manifest: Manifest,
    job: Job,
    file: _Source,
    source: _Decoded | _Failed,
    after_augment: Sequence[Step],
    details: bool = False,
) -> OutputRecord:
    """One output that is not up to date: transform its input's decode and write it
    (``details``: the record says what was written)."""
    suffix = job.variant.suffix
    path = job.path(options.output)
    if isinstance(source, _Failed):
        return OutputRecord(file.path, None, Status.FAILED, source.reason, suffix)
    warned = source.warnings
    try:
        image, full = source.image, source.full_size
        assert image is not None, "an input's decode is dropped only after all its outputs"
        if job.variant.op is not None:
            image = job.variant.op(image)
            if full is not None and job.variant.effects.swaps_axes:
                full = (full[1], full[0])
        draws = Draws(options.seed, file.name, variant_stage(suffix))
        image, _ = apply_steps(after_augment, image, full, draws)
        written = files.save_image(
            image,
            path,
            format=job.pil_format,
            quality=options.quality,
            png_compress_level=options.png_compress_level,
            optimize=options.optimize,
            icc_profile=source.icc_profile,
            embed_icc=options.keep_icc,
            metadata=source.metadata,
            depth=options.depth,
            fsync=options.fsync,
            lossless=options.lossless,
        )
        manifest.record(_entry(job, file.name, source.identity, source.digest, written))
    except Exception as error:  # this output's failure, whatever raised it
        reason = failure_reason(error)
        return OutputRecord(file.path, None, Status.FAILED, reason, suffix, warned)
    made = Details(output_bytes=written[0], output_size=image.size) if details else None
    drawn = merged(source.drawn, draws.drawn)
    return OutputRecord(
        file.path, path, Status.WRITTEN, None, suffix, warned, drawn=drawn, details=made
    )


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
    replaced = {os.fspath(path) for path in report.replaced}
    inputs = plan.inputs
    for index in range(len(inputs)):
        path = inputs.path_text(index)
        if path not in replaced:
            continue
        identity = files.file_identity(path)
        name = input_name(inputs.relative_text(index))
        for job in plan.jobs(index):
            written = files.file_identity(manifest.path.parent / job.key)
            if identity is None or written is None:
                continue
            # no digest: the input is now the output just written, never decoded as one
            entry = _entry(job, name, identity, "", written)
            manifest.record(entry, again=True)  # this run recorded that output already


def _entry(
    job: Job,
    input_name: str,
    input_identity: tuple[int, int],
    input_digest: str,
    written: tuple[int, int],
) -> Entry:
    """The manifest line for ``job``'s output ``written`` (size, mtime) from that input."""
    return Entry(
        output=job.key,
        input=input_name,
        input_size=input_identity[0],
        input_mtime_ns=input_identity[1],
        input_sha256=input_digest,
        recipe=job.recipe,
        output_size=written[0],
        output_mtime_ns=written[1],
    )
