"""Which outputs of a plan are up to date: decided while planning, before any thread starts.

A cron job re-runs over a tree where almost nothing changed, so this is most of its work. For
each output it asks the manifest (``Manifest.judge``) with the input's size and mtime from the
walk that found it (``InputList.identity``: no second ``stat``) and one ``stat`` of the output
(none when the manifest has no line for it). Nothing is decoded or hashed here: an input whose
only change is its mtime is ``CHECK``, and the worker that takes it hashes it first
(``Manifest.confirm``), in parallel with the others. Only inputs with an output that is not
``CURRENT`` go to the pool; a run where nothing changed starts no thread.

``up_to_date`` is also the answer a dry run gives, without decoding anything.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable

from imgprep import _plan
from imgprep._plan import Job, Plan
from imgprep.manifest import CURRENT, Manifest

__all__ = ["UpToDate", "up_to_date"]


class UpToDate:
    """The verdict on every output of a plan, one byte each: ``manifest.CURRENT``, ``CHECK``
    (the input's mtime changed, its sha256 decides) or ``STALE``; and the inputs that have work
    left (an output that is not ``CURRENT``), in plan order."""

    def __init__(self, plan: Plan) -> None:
        self.variants = len(plan.variants)
        self._verdicts = bytearray(len(plan))  # zeros: all STALE
        self.stale_inputs = array("I")
        self.current = 0  # outputs CURRENT

    def verdict(self, index: int, variant: int) -> int:
        """The verdict on output ``variant`` of input ``index``."""
        return self._verdicts[index * self.variants + variant]

    def is_current(self, index: int) -> bool:
        """Whether every output of input ``index`` is ``CURRENT``."""
        start = index * self.variants
        return self._verdicts.count(CURRENT, start, start + self.variants) == self.variants

    def redo(self, index: int, verdicts: bytes) -> None:
        """Judge input ``index`` again (its outputs were renamed, or it fails: ``_clash``);
        ``stale_inputs`` is out of date until ``refresh_stale``."""
        start = index * self.variants
        self.current -= self._verdicts.count(CURRENT, start, start + self.variants)
        self._verdicts[start : start + self.variants] = verdicts
        self.current += verdicts.count(CURRENT)

    def refresh_stale(self, inputs: int) -> None:
        """``stale_inputs`` from the verdicts, after ``redo`` (once: one pass over them)."""
        self.stale_inputs = array(
            "I", (index for index in range(inputs) if not self.is_current(index))
        )

    def _set(self, index: int, verdicts: bytes) -> None:
        start = index * self.variants
        self._verdicts[start : start + self.variants] = verdicts
        current = verdicts.count(CURRENT)
        self.current += current
        if current < self.variants:
            self.stale_inputs.append(index)


def up_to_date(
    plan: Plan,
    manifest: Manifest,
    *,
    force: bool = False,
    check: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> UpToDate:
    """The verdict on every output of ``plan`` (``force``: all ``STALE``); reads the manifest
    and stats the outputs it has lines for, decodes and hashes nothing. ``check``: also run
    ``plan.check()``, in the same pass over the outputs. ``on_progress(n)``: ``n`` inputs
    judged, every ``_plan.PROGRESS_EVERY``."""
    fresh = UpToDate(plan)
    if force or not manifest.has_lines():
        if check:
            plan.check()
        fresh.stale_inputs = array("I", range(len(plan.inputs)))
        return fresh
    judge = _Judge(plan, manifest)

    def each_input(index: int, jobs: list[Job]) -> None:
        if on_progress is not None and index % _plan.PROGRESS_EVERY == 0 and index:
            on_progress(index)
        fresh._set(index, judge(index, jobs))

    if check:
        plan.check(each_input)
    else:
        for index in range(len(plan.inputs)):
            each_input(index, plan.jobs(index))
    if plan.clashes:  # --on-collision skip or suffix changed these after they were judged
        for index in plan.clashes.touched():
            fresh.redo(index, judge(index, plan.jobs(index)))
        fresh.refresh_stale(len(plan.inputs))
    return fresh


class _Judge:
    """The verdicts on one input's outputs (text all along: no Path object per file)."""

    def __init__(self, plan: Plan, manifest: Manifest) -> None:
        self.plan, self.inputs, self.manifest = plan, plan.inputs, manifest
        self.output = os.fspath(plan.options.output)
        self.all_stale = bytes(len(plan.variants))

    def __call__(self, index: int, jobs: list[Job]) -> bytes:
        inputs = self.inputs
        if self.plan.problem(index) is not None:
            return self.all_stale  # the worker reports the problem
        identity = inputs.identity_or_stat(index)
        if identity is None:
            return self.all_stale
        name = input_name(inputs.relative_text(index))
        output = self.output
        outputs = [(job.key, job.recipe, job.path(output)) for job in jobs]
        return self.manifest.judge_input(name, identity, outputs)


def input_name(relative: str) -> str:
    """The manifest's name for an input: its path relative to its root, POSIX."""
    return relative if os.sep == "/" else relative.replace(os.sep, "/")
