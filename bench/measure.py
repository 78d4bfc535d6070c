"""Run one command and measure it: wall time, CPU time and peak memory of its process tree.

Wall time is the parent's clock around the child; CPU time (user + system) comes from ``os.wait4``,
whose rusage on Linux covers the child and every descendant it waited for.

Peak RSS cannot come from that same ``wait4``: Linux folds the high-water RSS of the memory a
process had *before* ``exec`` into ``ru_maxrss``, and a child forked from this Python process
starts as a copy of it (100+ MiB here), so every command would show the parent's size. Instead
each command runs under GNU ``time``, a small C program that forks it from its own tiny address
space and reports ``%M``, the ``ru_maxrss`` of its ``wait4``: the largest single process of the
tree (for an ``xargs -P2`` pipeline the largest one convert/vips process, not the sum).
"""

from __future__ import annotations

import os
import signal
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


GNU_TIME = Path("/usr/bin/time")


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Measurement:
    """Run ``argv`` to completion; raise CommandFailed (with its stderr tail) on a non-zero exit."""
    # stderr goes to a file, not a pipe: a chatty command could fill a pipe and block.
    with tempfile.TemporaryFile() as error_file, tempfile.NamedTemporaryFile("r") as rss_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(GNU_TIME), "--format=%M", f"--output={rss_file.name}", *argv],
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=error_file,
            start_new_session=True,  # its own process group: an interrupt can end the whole tree
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            os.killpg(process.pid, signal.SIGTERM)
            os.waitpid(process.pid, 0)
            raise
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            error_file.seek(0)
            tail = error_file.read().decode(errors="replace").strip().splitlines()[-5:]
            raise CommandFailed(f"exit {process.returncode} from {argv[0]}: " + " | ".join(tail))
        # GNU time writes "Command exited ..." lines first when there is something to say
        peak_kib = int(rss_file.read().split()[-1])
    return Measurement(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mib=peak_kib / 1024,
    )


def median_of(measurements: Sequence[Measurement]) -> Measurement:
    """Per-column medians (each column on its own, as benchmark tables usually report)."""
    return Measurement(
        wall_s=statistics.median(m.wall_s for m in measurements),
        cpu_s=statistics.median(m.cpu_s for m in measurements),
        peak_mib=statistics.median(m.peak_mib for m in measurements),
    )
