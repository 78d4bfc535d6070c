"""Run a whole preprocessing job, the way the command line does: ``run(RunOptions(...))``.

A run loads the output folder's manifest, gathers and plans (``_plan``: every output named and
checked before anything is written), decides which outputs are up to date (``_uptodate``),
then executes the lazy pipeline in a thread pool for the others (``_execute``), and returns a
``Report``. Shrink-on-load (``_shrink.decode_hint``) reads the
steps' effects to let the JPEG decoder reduce or go grey. This module is the public face:
``RunOptions``, ``run``, ``Report``, ``OutputRecord`` (its ``Details`` with ``details=True``)
and ``Status``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from imgprep import _dryrun, _fs, _prune, files
from imgprep._execute import execute
from imgprep._plan import Plan, gather_inputs, plan_outputs
from imgprep._records import Details, OutputRecord, Report, Status
from imgprep._run_options import RunOptions
from imgprep._select import select_inputs
from imgprep._shrink import decode_hint
from imgprep._uptodate import up_to_date
from imgprep.errors import UsageError
from imgprep.manifest import Manifest

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
) -> Report:
    """Run the pipeline. ``on_planning(stage, count)`` is called now and then while planning
    (``"finding inputs"``, files found; ``"checking outputs"``, inputs whose outputs were
    checked against the manifest), ``on_start(n_outputs)`` once planning is done, ``on_record``
    after every output (without it, outputs already up to date are only counted),
    ``on_failure(input, reason)`` once per failed input, ``on_warning(path, reason)`` once per
    warning of an input's decode or of pruning (all from the calling thread). ``details``: the
    records carry their ``Details`` (for a report; a run without it keeps nothing per output).
    ``options.dry_run``: plan and judge as a run does, then ``on_planned(word, input, output,
    reason)`` for each output (see ``_dryrun``) and each output ``--prune`` would remove,
    nothing decoded, hashed or written; ``options.prune``: after the run, remove orphaned
    outputs (``_prune``), each said by ``on_planned("PRUNED", "", path, None)``.
    Ctrl-C (KeyboardInterrupt) at any point ends the run early with the report so far
    (``interrupted``); outputs in flight are finished or discarded, never half-written.
    Raises ``ImgprepError`` only for problems of the whole run: ``UsageError`` for an output
    folder that cannot be written, before anything is read; ``OutputError`` for collisions
    and escapes, before anything is written. An input's problem is a record."""
    options.validate()
    _check_output_folder(options.output)
    started = time.monotonic()
    report = Report()
    manifest: Manifest | None = None
    try:
        manifest = Manifest.load(options.output, read_only=options.dry_run)
        found = None if on_planning is None else functools.partial(on_planning, "finding inputs")
        plan = Plan(options, select_inputs(gather_inputs(options, manifest, found), options))
        checked = (
            None if on_planning is None else functools.partial(on_planning, "checking outputs")
        )
        # plan.check() (collisions, escapes, clobbering) in the same pass over the outputs
        fresh = up_to_date(plan, manifest, force=options.force, check=True, on_progress=checked)
        report.planned = len(plan)
        if on_start is not None:
            on_start(report.planned)
        pruned = _pruned_callback(options.dry_run, on_planned, on_warning)
        if options.dry_run:
            report.dry_run = _dryrun.list_plan(plan, fresh, on_planned)
        elif plan:
            _make_output_folder(options.output)
            if fresh.stale_inputs:  # a killed run's temporary files go before anything is
                files.remove_stale_temp_files(options.output)  # written (a walk of -o)
            execute(
                options,
                plan,
                manifest,
                report,
                on_record,
                on_failure,
                fresh,
                on_warning=on_warning,
                details=details,
            )
        if options.prune:
            if not options.dry_run:  # the run's lines are in the file: read it as it is now
                manifest.close()
                manifest = Manifest.load(options.output)
            _prune.prune(plan, manifest, report, pruned, dry_run=options.dry_run)
            if report.dry_run is not None:
                report.dry_run[_dryrun.WOULD_PRUNE] = report.pruned
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if manifest is not None:
            manifest.close()
        report.elapsed = time.monotonic() - started
    return report


def _pruned_callback(
    dry_run: bool,
    on_planned: _dryrun.OnPlanned | None,
    on_warning: Callable[[str, str], None] | None,
) -> _prune.OnPruned:
    """What ``_prune`` reports, as the run's callbacks say it."""
    word = _dryrun.WOULD_PRUNE if dry_run else "PRUNED"

    def pruned(path: str, held_back: str | None) -> None:
        if held_back is not None:
            if on_warning is not None:
                on_warning(path, held_back)
        elif on_planned is not None:
            on_planned(word, "", path, None)

    return pruned


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
