"""Run one command and measure it: wall time, CPU time and peak memory of its process tree.

CPU and peak RSS come from ``os.wait4`` on the direct child. On Linux the rusage it returns
covers the child plus every descendant it waited for, so for an ``xargs -P2`` pipeline CPU time
is the whole tree's and ``ru_maxrss`` is the largest single process in it (not the sum).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float  # user + system of the child tree
    peak_mib: float  # largest ru_maxrss of a single process in the tree


class CommandFailed(RuntimeError):
    pass


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Measurement:
    """Run ``argv`` to completion; raise CommandFailed (with its stderr tail) on a non-zero exit."""
    # stderr goes to a file, not a pipe: a chatty command could fill a pipe and block.
    with tempfile.TemporaryFile() as error_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=error_file,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            error_file.seek(0)
            tail = error_file.read().decode(errors="replace").strip().splitlines()[-5:]
            raise CommandFailed(f"exit {process.returncode} from {argv[0]}: " + " | ".join(tail))
    return Measurement(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
    )


def median_of(measurements: Sequence[Measurement]) -> Measurement:
    """Per-column medians (each column on its own, as benchmark tables usually report)."""
    return Measurement(
        wall_s=statistics.median(m.wall_s for m in measurements),
        cpu_s=statistics.median(m.cpu_s for m in measurements),
        peak_mib=statistics.median(m.peak_mib for m in measurements),
    )
