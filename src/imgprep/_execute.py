"""Running a plan: the inputs with work left, in a pool of threads (or, through
``_dask_executor``, on a Dask cluster), counted in plan order.

For ``resize 200x200 --mode cover grayscale augment --mirror``::

    groups = smap(process, range(n))                     # one input: decode once, each variant
    for group in prefetch(groups, workers, max_buffered=buffer):  # in order, threads ahead
        report(*group)                                   # the consumer does the unbatch

Which outputs are up to date is decided before (``_uptodate``): only inputs with an output
that is not go to the pool, and ``range(n)`` above runs over them; the others are counted in
order between them. Each pool task is one input, ``_process.process_input``: decode once,
every variant not current, atomic writes, all in the worker thread, so Pillow's GIL-free
decode, resample and zlib overlap. ``prefetch`` keeps at most ``--buffer`` inputs ahead, in
order; the consumer here counts their records, calls back, and stops early on Ctrl-C or
``--fail-fast``, counting what the workers finished meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from imgprep import _fs
from imgprep._plan import Plan
from imgprep._records import Details, OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._uptodate import UpToDate, input_name, up_to_date
from imgprep.config import default_workers
from imgprep.errors import OutputError
from imgprep.manifest import Manifest

if TYPE_CHECKING:
    from imgprep._process import Work

__all__ = ["Runner", "execute", "local_pool"]

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
    *,
    on_warning: Callable[[str, str], None] | None = None,
    details: bool = False,
) -> None:
    """Decode, transform and write every planned output that is not up to date (``fresh``,
    judged here when not given); records go into ``report``. ``runner``: where the inputs with
    work left are computed (default: ``local_pool``, threads of this process).

    ``on_record`` sees every record, ``on_failure(input, reason)`` each failed input once,
    ``on_warning(input, reason)`` each warning of an input's decode once, all from the calling
    thread, in plan order. Without ``on_record`` the outputs already up to date are only
    counted: no record is made for them. ``details``: records carry their ``Details``."""
    if fresh is None:
        fresh = up_to_date(plan, manifest, force=options.force)
    take = _Taker(options, plan, report, on_record, on_failure)
    take.on_warning, take.details = on_warning, details
    try:
        if fresh.stale_inputs:  # a run where nothing changed starts no thread
            _compute(take, manifest, fresh, runner or local_pool)
        if not report.stopped_early:
            take.current_until(len(plan.inputs))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        _close_manifest(manifest, plan, report)


def _compute(take: _Taker, manifest: Manifest, fresh: UpToDate, runner: Runner) -> None:
    """The inputs with work left, computed by ``runner`` and counted in plan order, the
    up-to-date ones between them."""
    # Pillow and the codecs come in with these: a run with nothing to do never imports them
    from imgprep._damage import pixel_limit
    from imgprep._process import Work

    options, report = take.options, take.report
    work = Work(options, take.plan, manifest, fresh, take.details)
    try:
        # pixel_limit: Pillow's checks in the steps too (crop) follow --max-pixels
        with pixel_limit(options.max_pixels), runner(work) as results:
            for position, group in enumerate(results):
                take.current_until(fresh.stale_inputs[position])
                take(work.finished.pop(position))
                if options.fail_fast and any(record.failed for record in group):
                    report.stopped_early = True
                    break
    finally:
        # Inputs that workers finished after the consumer stopped (Ctrl-C, --fail-fast) are on
        # disk and in the manifest: count them too. The pool has been closed by now.
        for position in sorted(work.finished):
            take(work.finished.pop(position))
        work.chain.budget.close()  # inputs still waiting for memory in the background give up


def local_pool(work: Work) -> AbstractContextManager[Iterable[tuple[OutputRecord, ...]]]:
    """The run's inputs with work left, computed ahead in a pool of threads."""
    from imgprep.seq import prefetch, smap

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
            size = inputs.size_or_stat(index) if self.details else None
            records = []
            for job in self.plan.jobs(index):
                written = job.path(output)
                facts = Details.up_to_date(written, size) if self.details else None
                suffix = job.variant.suffix
                records.append(
                    OutputRecord(path, written, Status.UP_TO_DATE, None, suffix, details=facts)
                )
            self._count(records)


def _close_manifest(manifest: Manifest, plan: Plan, report: Report) -> None:
    try:
        _rebase_in_place(manifest, plan, report)
        manifest.compact()
    except OutputError:
        pass  # only tidying: the journal as it stands is valid, and failures are reported
    finally:
        manifest.close()


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
    from imgprep._process import entry_for  # this run had work: imported already

    replaced = {os.fspath(path) for path in report.replaced}
    inputs = plan.inputs
    for index in range(len(inputs)):
        path = inputs.path_text(index)
        if path not in replaced:
            continue
        identity = _fs.file_identity(path)
        name = input_name(inputs.relative_text(index))
        for job in plan.jobs(index):
            written = _fs.file_identity(manifest.path.parent / job.key)
            if identity is None or written is None:
                continue
            # no digest: the input is now the output just written, never decoded as one
            entry = entry_for(job.key, job.recipe, name, identity, "", written)
            manifest.record(entry, again=True)  # this run recorded that output already
