"""``--shard K/N``: the inputs one run of a job array takes, by a stable hash of their names.

An input belongs to shard ``sha256(name) mod N + 1``, where ``name`` is its path relative to
its input root in POSIX form (the name the manifest records, and the one its outputs get below
``-o``). So the N shards of one job array split the inputs with no overlap and no gap,
whatever order each run lists or finds them in, on whichever host, and an input keeps its
shard from run to run. ``sha256``, not Python's ``hash``, which changes from one process to
the next. The plan is checked whole before the shard is cut out of it: a collision between
an input of this shard and one of another is refused by every shard, and with
``--on-collision skip`` or ``suffix`` every shard fails or renames the inputs the whole plan
does.
"""

from __future__ import annotations

import hashlib

from imgprep._plan import Plan
from imgprep._uptodate import input_name

__all__ = ["shard_of", "shard_plan"]


def shard_of(name: str, count: int) -> int:
    """The shard (1 to ``count``) of the input named ``name`` (relative to its root, POSIX)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def shard_plan(plan: Plan, shard: tuple[int, int]) -> Plan:
    """The part of ``plan`` whose inputs fall in ``shard`` ``(K, N)``, in the plan's order."""
    k, n = shard
    inputs = plan.inputs
    kept = [
        index
        for index in range(len(inputs))
        if shard_of(input_name(inputs.relative_text(index)), n) == k
    ]
    mine = Plan(plan.options, inputs.subset(kept, plan.problem))  # with clashes' failures
    mine.clashes = plan.clashes.subset(kept)  # and renames
    return mine
