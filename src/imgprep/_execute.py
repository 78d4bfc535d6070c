"""Running a plan: the per-input work, in a pool of threads (or, through ``_dask_executor``,
on a Dask cluster).

For ``resize 200x200 --mode cover grayscale augment --mirror``::

    groups = smap(process, range(n))                     # one input: decode once, each variant
    for group in prefetch(groups, workers, max_buffered=buffer):  # in order, threads ahead
        report(*group)                                   # the consumer does the unbatch

Which outputs are up to date is decided before (``_uptodate``): only inputs with an output
that is not go to the pool, and ``range(n)`` above runs over them; the others are counted in
order between them. Each pool task is one input, ``process_input``: for each of its outputs
that is not current (an input whose mtime alone changed is hashed first: same bytes, nothing
to do), it decodes the input once (the steps before ``augment`` included), applies the
variant and the steps after ``augment``, and encodes and writes the file atomically, all in
the worker thread, so Pillow's GIL-free decode, resample and zlib overlap. ``process_input``
takes its input as an ``InputWork`` (text, picklable) and records manifest lines into a
``Sink``, so a Dask worker runs the very same function on a batch. Failures are data: each
output gets an ``OutputRecord`` with a status and a reason; only bugs raise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from imgprep import files
from imgprep._plan import Plan, split_at_augment
from imgprep._records import OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._shrink import apply_steps, decode_hint
from imgprep._uptodate import UpToDate, input_name, up_to_date
from imgprep.config import default_workers
from imgprep.errors import ImgprepError, InputError, OutputError
from imgprep.manifest import CHECK, CURRENT, Entry, Manifest, read_input
from imgprep.seq import prefetch, smap
from imgprep.steps import Variant

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Chain",
    "InputWork",
    "OutputWork",
    "Runner",
    "Sink",
    "Work",
    "execute",
    "failure_reason",
    "process_input",
]


@dataclass(frozen=True, slots=True)
class OutputWork:
    """One output of an input, as the per-input code needs it: its manifest key, recipe,
    format, path (text) and the verdict planning gave it (``CURRENT``, ``CHECK``, ``STALE``)."""

    key: str
    recipe: str
    pil_format: str
    path: str
    verdict: int


@dataclass(frozen=True, slots=True)
class InputWork:
    """One input with work left: its path (text), its manifest name (relative to its root,
    POSIX), the problem discovery found, and its outputs, one per variant. Picklable: this is
    what a Dask task carries."""

    path: str
    name: str
    problem: str | None
    outputs: tuple[OutputWork, ...]


class Chain:
    """What every input of a run shares: the options, the steps split at augment, the hint."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.prefix, self.variants, self.after_augment = split_at_augment(options.steps)
        self.hint = decode_hint(options.steps)


class Sink(Protocol):
    """Where the per-input code records manifest lines (a ``Manifest``, or a Dask task's list,
    which the client appends), and confirms an input whose mtime alone changed."""

    def record(self, entry: Entry) -> None: ...

    def confirm(self, output: str, input_name: str, read: tuple[str, tuple[int, int]]) -> bool: ...


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


def process_input(chain: Chain, item: InputWork, sink: Sink) -> tuple[OutputRecord, ...]:
    """Every output of one input, in variant order: up to date, written or failed. The input
    is decoded once, and only if an output needs it; a ``CHECK`` input is hashed once."""
    decoded: _Decoded | _Failed | None = None
    read: tuple[str, tuple[int, int]] | bool | None = False  # False: not hashed yet
    records = []
    for variant, output in zip(chain.variants, item.outputs, strict=True):
        current = output.verdict == CURRENT
        if output.verdict == CHECK:
            read = read_input(item.path) if read is False else read
            current = isinstance(read, tuple) and sink.confirm(output.key, item.name, read)
        if current:
            records.append(
                OutputRecord(item.path, output.path, Status.UP_TO_DATE, variant=variant.suffix)
            )
            continue
        if decoded is None:
            decoded = _decode(chain, item)
        records.append(_produce(chain, sink, item, variant, output, decoded))
    return tuple(records)


def _decode(chain: Chain, item: InputWork) -> _Decoded | _Failed:
    """Load the input and apply the steps before augment."""
    if item.problem is not None:
        return _Failed(item.problem)
    try:
        loaded = files.load_image(
            item.path,
            max_pixels=chain.options.max_pixels,
            hint=chain.hint,
            allow_truncated=chain.options.allow_truncated,
        )
        image, full = apply_steps(chain.prefix, loaded.image, _reduced_from(loaded))
    except Exception as error:  # this image's failure, whatever raised it
        return _Failed(failure_reason(error))
    return _Decoded(image, loaded.icc_profile, loaded.identity, loaded.digest, full)


#: How a run's inputs with work left are computed: given the ``Work``, a context manager
#: yielding each one's records in order (and leaving in ``Work.finished`` those done but not
#: yet yielded when it exits early). ``local_pool`` is the thread pool.
Runner = Callable[["Work"], AbstractContextManager[Iterable[tuple[OutputRecord, ...]]]]


def execute(
    options: RunOptions,
    plan: Plan,
    manifest: Manifest,
    report: Report,
    on_record: Callable[[OutputRecord], None] | None,
    on_failure: Callable[[str, str], None] | None = None,
    fresh: UpToDate | None = None,
    runner: Runner | None = None,
) -> None:
    """Decode, transform and write every planned output that is not up to date (``fresh``,
    judged here when not given); records go into ``report``. ``runner``: where the inputs with
    work left are computed (default: ``local_pool``, threads of this process).

    ``on_record`` sees every record, ``on_failure(input, reason)`` each failed input once, both
    from the calling thread, in plan order. Without ``on_record`` the outputs already up to
    date are only counted: no record is made for them."""
    if fresh is None:
        fresh = up_to_date(plan, manifest, force=options.force)
    work = Work(options, plan, manifest, fresh)
    take = _Taker(options, plan, report, on_record, on_failure)
    try:
        if fresh.stale_inputs:  # a run where nothing changed starts no thread
            with (runner or local_pool)(work) as results:
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
        _close_manifest(manifest, plan, report)


def local_pool(work: Work) -> AbstractContextManager[Iterable[tuple[OutputRecord, ...]]]:
    """The run's inputs with work left, computed ahead in a pool of threads."""
    workers = work.options.workers or default_workers()
    buffer = work.options.buffer or 2 * workers
    groups = smap(work.process, range(len(work.stale)))
    return prefetch(groups, workers, max_buffered=buffer)


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
            self._count(
                [
                    OutputRecord(
                        path, job.path(output), Status.UP_TO_DATE, None, job.variant.suffix
                    )
                    for job in self.plan.jobs(index)
                ]
            )


def _close_manifest(manifest: Manifest, plan: Plan, report: Report) -> None:
    try:
        _rebase_in_place(manifest, plan, report)
        manifest.compact()
    except OutputError:
        pass  # only tidying: the journal as it stands is valid, and failures are reported
    finally:
        manifest.close()


class Work:
    """What the workers share for one run: the chain, the plan, the verdicts, the manifest.
    The pool sees only the inputs with work left (``fresh.stale_inputs``): its positions
    index that array. ``process`` runs in worker threads."""

    def __init__(self, options: RunOptions, plan: Plan, manifest: Manifest, fresh: UpToDate):
        self.options, self.plan, self.manifest, self.fresh = options, plan, manifest, fresh
        self.chain = Chain(options)
        self.stale = fresh.stale_inputs
        self.finished: dict[int, tuple[OutputRecord, ...]] = {}  # done, not yet consumed

    def item(self, position: int, output: str | None = None) -> InputWork:
        """The input at ``position`` as ``process_input`` takes it; ``output``: the output
        folder to name its outputs in (default: the run's, as given)."""
        index = self.stale[position]
        inputs, verdict = self.plan.inputs, self.fresh.verdict
        folder = os.fspath(self.options.output) if output is None else output
        outputs = tuple(
            OutputWork(job.key, job.recipe, job.pil_format, job.path(folder), verdict(index, v))
            for v, job in enumerate(self.plan.jobs(index))
        )
        name = input_name(inputs.relative_text(index))
        return InputWork(inputs.path_text(index), name, inputs.problem(index), outputs)

    def process(self, position: int) -> tuple[OutputRecord, ...]:
        group = process_input(self.chain, self.item(position), self.manifest)
        self.finished[position] = group
        return group


def failure_reason(error: Exception) -> str:
    """The one-line reason an input or output failed, for its record."""
    if isinstance(error, InputError):
        return error.reason  # the record names the input already
    if isinstance(error, ImgprepError):
        return str(error)
    return f"{type(error).__name__}: {error}"  # an op that cannot handle this image


def _produce(
    chain: Chain,
    sink: Sink,
    item: InputWork,
    variant: Variant,
    output: OutputWork,
    source: _Decoded | _Failed,
) -> OutputRecord:
    """One output that is not up to date: transform its input's decode and write it."""
    suffix, options = variant.suffix, chain.options
    if isinstance(source, _Failed):
        return OutputRecord(item.path, None, Status.FAILED, source.reason, suffix)
    try:
        image, full = source.image, source.full_size
        if variant.op is not None:
            image = variant.op(image)
            if full is not None and variant.effects.swaps_axes:
                full = (full[1], full[0])
        image, _ = apply_steps(chain.after_augment, image, full)
        written = files.save_image(
            image,
            output.path,
            format=output.pil_format,
            quality=options.quality,
            png_compress_level=options.png_compress_level,
            optimize=options.optimize,
            icc_profile=source.icc_profile,
            embed_icc=options.keep_icc,
            fsync=options.fsync,
        )
        identity, digest = source.identity, source.digest
        sink.record(_entry(output.key, output.recipe, item.name, identity, digest, written))
    except Exception as error:  # this output's failure, whatever raised it
        return OutputRecord(item.path, None, Status.FAILED, failure_reason(error), suffix)
    return OutputRecord(item.path, output.path, Status.WRITTEN, variant=suffix)


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
            entry = _entry(job.key, job.recipe, name, identity, "", written)
            manifest.record(entry, again=True)  # this run recorded that output already


def _entry(
    key: str,
    recipe: str,
    input_name: str,
    input_identity: tuple[int, int],
    input_digest: str,
    written: tuple[int, int],
) -> Entry:
    """The manifest line for output ``key`` made by ``recipe`` from that input, written with
    (size, mtime) ``written``."""
    return Entry(
        output=key,
        input=input_name,
        input_size=input_identity[0],
        input_mtime_ns=input_identity[1],
        input_sha256=input_digest,
        recipe=recipe,
        output_size=written[0],
        output_mtime_ns=written[1],
    )
