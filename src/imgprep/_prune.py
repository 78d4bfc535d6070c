"""``--prune``: remove the outputs the manifest has that this run no longer makes.

An output is an orphan when the output folder's manifest has a line for it and the run's
plan does not name it: its input is gone or was renamed, or the chain no longer makes that
name (an augment variant dropped, another format). Only files the manifest records are ever
looked at, so a file imgprep did not write is never touched; and one imgprep wrote but someone
changed since (its size or mtime is not the recorded one) is kept, with a warning. An orphan
that is its own input (written with ``--in-place``) is kept: it may be an input of this run.
Pruned outputs lose their manifest lines too, in one atomic rewrite, and a sub-folder they
leave empty goes (``rmdir``: one with anything left in it stays).

Pruning trusts the plan to cover everything that goes into the output folder, so it is held
back when the plan may not: ``--limit``, ``--sample`` and ``--shard`` are refused before the run
(``RunOptions.validate``), and a run that found no input, could not list a folder or read an
input path, or was interrupted or stopped early, prunes nothing and says why.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from array import array
from collections.abc import Callable

from imgprep import _fs
from imgprep._hashindex import HashIndex
from imgprep._plan import Plan
from imgprep._records import Report
from imgprep.manifest import Entry, Manifest

__all__ = ["orphans", "prune"]

#: ``on_pruned(output_path, reason)``: removed (``reason`` None), or held back and why.
OnPruned = Callable[[str, "str | None"], None]


def orphans(plan: Plan, manifest: Manifest) -> list[Entry]:
    """The manifest's entries for outputs that ``plan`` does not make, in file order."""
    inputs = plan.inputs
    planned = array("q", (hash(job.key) for i in range(len(inputs)) for job in plan.jobs(i)))
    # a hash shared by an orphan and a planned name only keeps the orphan: the safe side
    made = HashIndex(planned).find
    return [entry for entry in manifest.entries() if made(hash(entry.output)) < 0]


def held_back(plan: Plan, report: Report) -> str | None:
    """Why this run must not prune, or None."""
    if report.interrupted or report.stopped_early:
        return "the run did not finish"
    if not len(plan.inputs):
        return "the run found no input"
    problems = sum(plan.inputs.problem(index) is not None for index in range(len(plan.inputs)))
    if problems:
        return (
            f"{problems} input path(s) could not be read, and the outputs of what they hold "
            "would look orphaned"
        )
    return None


def prune(
    plan: Plan, manifest: Manifest, report: Report, on_pruned: OnPruned | None, *, dry_run: bool
) -> None:
    """Remove ``plan``'s orphaned outputs (``dry_run``: only say which) and their lines;
    ``report.pruned`` counts them, ``report.notes`` says why nothing was pruned."""
    why = held_back(plan, report)
    if why is not None:
        report.notes.append(f"not pruned: {why}")
        return
    folder = os.fspath(plan.options.output)
    dropped: list[str] = []
    for entry in orphans(plan, manifest):
        path = os.path.join(folder, *entry.output.split("/"))
        reason = _keep_reason(entry, path)
        if reason is None and not dry_run:
            reason = _remove(path)
        if reason == _GONE:  # deleted by hand: only its line goes
            dropped.append(entry.output)
            continue
        if reason == _OWN_INPUT:  # an input (of this run, maybe): kept, line and all, quietly
            continue
        if reason is None:
            report.pruned += 1
        if on_pruned is not None:
            on_pruned(path, reason)
        if reason is None or reason == _CHANGED:  # the line no longer describes the file
            dropped.append(entry.output)
    if dropped and not dry_run:
        manifest.drop(dropped)
        _remove_emptied_folders(folder, dropped)


_CHANGED = "not pruned: changed since imgprep wrote it"
_GONE = "already gone"
_OWN_INPUT = "written in place over its own input"


def _keep_reason(entry: Entry, path: str) -> str | None:
    """Why the orphan at ``path`` must stay (None: it may go)."""
    if _written_in_place(entry):
        return _OWN_INPUT
    identity = _fs.file_identity(path)
    if identity is None:
        return _GONE
    if identity != (entry.output_size, entry.output_mtime_ns) or os.path.islink(path):
        return _CHANGED
    return None


def _written_in_place(entry: Entry) -> bool:
    """Whether the entry records an input replaced by its own output (``--in-place``): the
    run that wrote it recorded the output as its input, with no digest."""
    written = (entry.output_size, entry.output_mtime_ns)
    return entry.input_sha256 == "" and (entry.input_size, entry.input_mtime_ns) == written


def _remove_emptied_folders(root: str, outputs: list[str]) -> None:
    """Remove the sub-folders of ``root`` that held pruned outputs and are empty now (deepest
    first); a folder with anything left in it stays."""
    folders = {posixpath.dirname(output) for output in outputs}
    parents = {parent for folder in folders for parent in _parents(folder)}
    for folder in sorted(parents, key=lambda name: name.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty (or gone): it stays as it is
            os.rmdir(os.path.join(root, *folder.split("/")))


def _parents(folder: str) -> list[str]:
    """``a/b`` -> ``a/b``, ``a`` (never the root itself, "")."""
    found = []
    while folder:
        found.append(folder)
        folder = posixpath.dirname(folder)
    return found


def _remove(path: str) -> str | None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return _GONE
    except OSError as error:
        return f"not pruned: {_fs.reason_for_os_error(error, path)}"
    return None
