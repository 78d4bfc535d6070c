"""Run a whole preprocessing job, the way the command line does: ``run(RunOptions(...))``.

A run loads the output folder's manifest, gathers and plans (``_plan``: every output named and
checked before anything is written), decides which outputs are up to date (``_uptodate``),
then executes the lazy pipeline in a thread pool for the others (``_execute``; or on a Dask
cluster, ``_dask_executor``), and returns a ``Report``. A run with something to write locks the
output folder first (``_lock``), and with ``--shard`` it runs its shard of the checked plan
(``_shard``) and records into its own manifest part (``_parts``). A dry run lists the plan
instead (``_dryrun``), and ``--prune`` removes orphaned outputs after the run (``_prune``).
Shrink-on-load (``_shrink.decode_hint``) reads the steps' effects to let the JPEG decoder
reduce or go grey. This module is the public face: ``RunOptions``, ``run``, ``Report``,
``OutputRecord`` (its ``Details`` with ``details=True``) and ``Status``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgprep import _dryrun, _fs, _parts, _prune
from imgprep._execute import Runner, execute
from imgprep._lock import FolderLock
from imgprep._plan import Plan, gather_inputs, plan_outputs
from imgprep._records import Details, OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._select import select_inputs
from imgprep._shard import shard_plan
from imgprep._uptodate import UpToDate, up_to_date
from imgprep.errors import UsageError
from imgprep.manifest import Manifest

if TYPE_CHECKING:
    from imgprep._shrink import decode_hint

__all__ = [
    "Details",
    "OutputRecord",
    "Plan",
    "Report",
    "RunOptions",
    "Status",
    "decode_hint",
    "plan_outputs",
    "run",
]


def __getattr__(name: str) -> Any:
    """``decode_hint``, imported when asked for: it brings in Pillow, which a run with nothing
    to do never needs."""
    if name == "decode_hint":
        from imgprep._shrink import decode_hint

        return decode_hint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(
    options: RunOptions,
    *,
    on_start: Callable[[int], None] | None = None,
    on_record: Callable[[OutputRecord], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
    on_planning: Callable[[str, int], None] | None = None,
    on_warning: Callable[[str, str], None] | None = None,
    on_planned: _dryrun.OnPlanned | None = None,
    details: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Report:
    """Run the pipeline. ``on_planning(stage, count)`` is called now and then while planning
    (``"finding inputs"``, files found; ``"checking outputs"``, inputs whose outputs were
    checked against the manifest), ``on_start(n_outputs)`` once planning is done, ``on_record``
    after every output (without it, outputs already up to date are only counted),
    ``on_failure(input, reason)`` once per failed input, ``on_warning(path, reason)`` once per
    warning of an input's decode or of pruning, ``on_wait(message)`` once if another run is
    writing to the output folder and this one waits for it (all from the calling thread).
    ``details``: the records carry their ``Details`` (for a report; a run without it keeps
    nothing per output). ``options.dry_run``: plan and judge as a run does, then
    ``on_planned(word, input, output, reason)`` for each output (see ``_dryrun``) and each
    output ``--prune`` would remove, nothing decoded, hashed, locked or written;
    ``options.prune``: after the run, remove orphaned outputs (``_prune``), each said by
    ``on_planned("PRUNED", "", path, None)``.
    Ctrl-C (KeyboardInterrupt) at any point ends the run early with the report so far
    (``interrupted``); outputs in flight are finished or discarded, never half-written.
    Raises ``ImgprepError`` only for problems of the whole run: ``UsageError`` for an output
    folder that cannot be written, before anything is read; ``OutputError`` for collisions
    and escapes, before anything is written; ``FolderBusyError`` when another run is writing
    to the output folder and ``options.wait`` is false. An input's problem is a record."""
    options.validate()
    _check_output_folder(options.output)
    started = time.monotonic()
    report = Report()
    manifest: Manifest | None = None
    clean = False  # the run ended with no temporary file of its own left behind
    lock = FolderLock(options.output, options.shard, wait=options.wait, on_wait=on_wait)
    try:
        # Read without the lock: a run with nothing to write (a no-op, a dry run) never waits,
        # nor writes the lock or mends the manifest.
        manifest = Manifest.load(options.output, options.shard, writable=False)
        found = None if on_planning is None else functools.partial(on_planning, "finding inputs")
        plan = Plan(options, select_inputs(gather_inputs(options, manifest, found), options))
        checked = (
            None if on_planning is None else functools.partial(on_planning, "checking outputs")
        )
        plan, fresh = _judge(plan, manifest, checked)
        report.planned = len(plan)
        if on_start is not None:
            on_start(report.planned)
        if options.dry_run:
            report.dry_run = _dryrun.list_plan(plan, fresh, on_planned)
        else:
            if fresh.stale_inputs or manifest.outdated() or _prunes(options):
                manifest, fresh = _take_folder(lock, plan, manifest, fresh)
            if plan:
                runner = _runner(options)
                execute(
                    options,
                    plan,
                    manifest,
                    report,
                    on_record,
                    on_failure,
                    fresh,
                    runner,
                    on_warning=on_warning,
                    details=details,
                )
        if options.prune:
            manifest = _prune_outputs(plan, manifest, report, on_planned, on_warning)
        # after Ctrl-C or --fail-fast the next run sweeps all the same: a Dask task may still
        # be writing when the client stops waiting for it
        clean = not (report.interrupted or report.stopped_early)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if manifest is not None:
            manifest.close()
        lock.release(clean=clean)
        report.elapsed = time.monotonic() - started
    return report


def _prunes(options: RunOptions) -> bool:
    """Whether this run removes orphaned outputs: it rewrites the manifest, so it takes the
    folder's lock even when nothing is stale (a folder that does not exist has none)."""
    return options.prune and options.output.is_dir()


def _prune_outputs(
    plan: Plan,
    manifest: Manifest,
    report: Report,
    on_planned: _dryrun.OnPlanned | None,
    on_warning: Callable[[str, str], None] | None,
) -> Manifest:
    """``--prune`` after the run (or listed by a dry run); the manifest as it is then."""
    options = plan.options
    pruned = _pruned_callback(options.dry_run, on_planned, on_warning)
    if not options.dry_run:  # the run's lines are in the file: read it as it is now
        manifest.close()
        manifest = Manifest.load(options.output)  # unsharded, the lock held: parts folded
    _prune.prune(plan, manifest, report, pruned, dry_run=options.dry_run)
    if report.dry_run is not None:
        report.dry_run[_dryrun.WOULD_PRUNE] = report.pruned
    return manifest


def _pruned_callback(
    dry_run: bool,
    on_planned: _dryrun.OnPlanned | None,
    on_warning: Callable[[str, str], None] | None,
) -> _prune.OnPruned:
    """What ``_prune`` reports, as the run's callbacks say it."""
    word = _dryrun.WOULD_PRUNE if dry_run else _dryrun.PRUNED

    def pruned(path: str, held_back: str | None) -> None:
        if held_back is not None:
            if on_warning is not None:
                on_warning(path, held_back)
        elif on_planned is not None:
            on_planned(word, "", path, None)

    return pruned


def _take_folder(
    lock: FolderLock, plan: Plan, manifest: Manifest, fresh: UpToDate
) -> tuple[Manifest, UpToDate]:
    """Make and lock the output folder before writing to it; if another run wrote meanwhile,
    the manifest as it is now and the verdicts it gives."""
    options = plan.options
    _make_output_folder(options.output)
    if _lock(lock, options) or manifest.changed():
        manifest.close()
        manifest = Manifest.load(options.output, options.shard)
        fresh = up_to_date(plan, manifest, force=options.force)
    manifest.claim()
    if lock.unfinished and options.shard is None:
        # a killed run's temporary files go first (not a shard's: its neighbours' are in flight)
        _fs.remove_stale_temp_files(options.output)
    return manifest, fresh


def _lock(lock: FolderLock, options: RunOptions) -> bool:
    """Take the run's locks; an unsharded run then folds the shards' manifest parts into the
    main one (True if it did), a shard lists its own part."""
    lock.acquire()
    if options.shard is None:
        return _parts.fold(options.output)
    _parts.register(options.output, options.shard)
    return False


def _judge(
    plan: Plan, manifest: Manifest, on_progress: Callable[[int], None] | None
) -> tuple[Plan, UpToDate]:
    """Check the whole plan (collisions, escapes, clobbering) and judge the outputs of the run's
    part of it (its shard), in one pass over the outputs when there is no shard."""
    options = plan.options
    if options.shard is None:
        return plan, up_to_date(
            plan, manifest, force=options.force, check=True, on_progress=on_progress
        )
    plan.check()
    mine = shard_plan(plan, options.shard)
    return mine, up_to_date(mine, manifest, force=options.force, on_progress=on_progress)


def _runner(options: RunOptions) -> Runner | None:
    """Where the work runs: None for the thread pool, or on a Dask cluster."""
    if options.executor != "dask":
        return None
    from imgprep._dask_executor import dask_runner  # imports Dask only when it runs

    return dask_runner


def _check_output_folder(folder: Path) -> None:
    """Refuse, before anything is read or written, an output folder no output could go to."""
    problem = _fs.folder_write_problem(folder)
    if problem is not None:
        verb = "write to" if folder.is_dir() else "create"
        raise UsageError(f"cannot {verb} output folder {folder}: {problem}")


def _make_output_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # checked before the run, yet refused by the file system
        reason = _fs.reason_for_os_error(error, folder)
        raise UsageError(f"cannot create output folder {folder}: {reason}") from None
