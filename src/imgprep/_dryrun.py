"""What a dry run says: one word per planned output, from the plan and the up-to-date verdicts.

A dry run plans exactly as a run does (``_plan``: inputs, names, collisions, escapes) and
judges every output against the manifest (``_uptodate``), then lists instead of executing:
nothing is decoded, hashed or written. The words:

- ``WOULD-WRITE``: the output would be written (new, changed, or ``--force``);
- ``UP-TO-DATE``: the manifest proves it current, nothing to do;
- ``WOULD-CHECK``: only the input's mtime changed; the run hashes it and writes the output only
  if its bytes changed (a dry run does not hash);
- ``WOULD-FAIL``: planning already knows the input cannot be read (a broken link, a folder that
  cannot be listed, a path outside ``--base``), or ``--on-collision skip`` leaves it out;
- ``WOULD-PRUNE``: with ``--prune``, an output the run would remove (``_prune``).

Costs what a no-op re-run costs plus one line per output: the jobs of each input are made once
more, nothing else per output (no record, no ``Path``).
"""

from __future__ import annotations

from collections.abc import Callable

from imgprep._plan import Plan
from imgprep._uptodate import UpToDate
from imgprep.manifest import CHECK, CURRENT, STALE

__all__ = [
    "PRUNED",
    "UP_TO_DATE",
    "WORDS",
    "WOULD_CHECK",
    "WOULD_FAIL",
    "WOULD_PRUNE",
    "WOULD_WRITE",
    "OnPlanned",
    "list_plan",
]

WOULD_WRITE, UP_TO_DATE, WOULD_CHECK = "WOULD-WRITE", "UP-TO-DATE", "WOULD-CHECK"
WOULD_FAIL, WOULD_PRUNE = "WOULD-FAIL", "WOULD-PRUNE"
PRUNED = "PRUNED"  # what a real run's --prune says of an output it removed
WORDS = (WOULD_WRITE, UP_TO_DATE, WOULD_CHECK, WOULD_FAIL, WOULD_PRUNE)
_FOR_VERDICT = {STALE: WOULD_WRITE, CURRENT: UP_TO_DATE, CHECK: WOULD_CHECK}

#: ``on_planned(word, input, output, reason)``: one listed output (``input`` is "" for a
#: pruned one, ``reason`` is None but for ``WOULD-FAIL`` and a prune that is held back).
OnPlanned = Callable[[str, str, str, "str | None"], None]


def list_plan(plan: Plan, fresh: UpToDate, on_planned: OnPlanned | None) -> dict[str, int]:
    """Say the word of every output of ``plan``, in plan order; return how many got each."""
    counts = dict.fromkeys(WORDS, 0)
    inputs, output = plan.inputs, plan.options.output
    for index in range(len(inputs)):
        problem = plan.problem(index)  # unreadable, or left out by --on-collision skip
        path = inputs.path_text(index)
        for variant, job in enumerate(plan.jobs(index)):
            word = (
                WOULD_FAIL if problem is not None else _FOR_VERDICT[fresh.verdict(index, variant)]
            )
            counts[word] += 1
            if on_planned is not None:
                on_planned(word, path, job.path(output), problem)
    return counts
