"""``make bench`` section "Dask executor": the seed workload on the thread pool and on Dask.

Each round runs, one after the other, each into a fresh output folder:

1. ``imgprep -j 2`` (the local thread pool) over the seed workload;
2. the same with ``--executor dask --scheduler local -j 2``: a LocalCluster of 2 worker
   processes started for the run, the work in batches of about a second;
3. and 4. both again over 2 of the inputs (``--limit 2``): what a run costs besides its images.

The target: the Dask run within 1.3x of the local one. The task overhead per input is what the
Dask run adds per input once its fixed cost (cluster start and stop) is taken out:
``((dask - dask on 2) - (local - local on 2)) / (files - 2)``. Outputs are checked as the other
rows' are. Wall and peak RSS (of the largest process) are medians over the rounds.

    .venv/bin/python bench/dask_executor.py --files 120 --rounds 1   # a small run
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from corpus import build_corpus
from measure import CommandFailed, Measurement, run_measured
from report import Target, value_target
from verify_outputs import WrongOutput, check_outputs

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
IMGPREP = ROOT / ".venv" / "bin" / "imgprep"
STEPS = "resize 200x200 --mode cover grayscale autocontrast --cutoff 3 augment --mirror".split()
DASK = ["--executor", "dask", "--scheduler", "local"]
RUNS = {
    "local": ("imgprep -j 2 (threads)", []),
    "dask": ("imgprep -j 2 --executor dask --scheduler local", DASK),
    "local-2": ("threads, 2 inputs (`--limit 2`)", ["--limit", "2"]),
    "dask-2": ("Dask, 2 inputs (`--limit 2`)", [*DASK, "--limit", "2"]),
}


@dataclass
class Results:
    files: int
    runs: dict[str, list[Measurement]] = field(default_factory=dict)
    error: str = ""

    def wall(self, key: str) -> float | None:
        found = self.runs.get(key)
        return statistics.median(m.wall_s for m in found) if found else None

    def peak(self, key: str) -> float | None:
        found = self.runs.get(key)
        return statistics.median(m.peak_mib for m in found) if found else None


def _argv(folder: Path, output: Path, extra: list[str]) -> list[str]:
    words = ["-q", "-i", str(folder), "-o", str(output), "--format", "png", "-j", "2"]
    return [str(IMGPREP), *words, *extra, *STEPS]


def dask_installed() -> bool:
    python = IMGPREP.parent / "python"
    done = subprocess.run([python, "-c", "import distributed"], capture_output=True, check=False)
    return done.returncode == 0


def measure(folder: Path, rounds: int) -> Results:
    """Round-robin over ``RUNS`` on the seed workload in ``folder``."""
    stems = sorted(path.stem for path in folder.glob("*.jpg"))
    results = Results(len(stems))
    if not dask_installed():
        results.error = "Dask is not installed in .venv (pip install 'imgprep[dask]')"
        return results
    for number in range(1, rounds + 1):
        print(f"-- dask executor, round {number}/{rounds}", flush=True)
        for key, (_, extra) in RUNS.items():
            output = WORK / "out" / f"dask_{key}"
            shutil.rmtree(output, ignore_errors=True)
            output.mkdir(parents=True)
            try:
                measured = run_measured(_argv(folder, output, extra))
                wanted = stems[:2] if key.endswith("-2") else stems
                check_outputs(output, wanted, (200, 200), check_ops=True)
            except (CommandFailed, WrongOutput, OSError) as error:
                results.error = f"{key}: {error}"
                return results
            results.runs.setdefault(key, []).append(measured)
    return results


def overhead_per_input(results: Results) -> float | None:
    walls = [results.wall(key) for key in ("dask", "dask-2", "local", "local-2")]
    if any(wall is None for wall in walls) or results.files <= 2:
        return None
    dask, dask_2, local, local_2 = (wall or 0.0 for wall in walls)
    return ((dask - dask_2) - (local - local_2)) / (results.files - 2)


def targets(results: Results) -> list[Target]:
    local, dask = results.wall("local"), results.wall("dask")
    ratio = dask / local if dask and local else None
    return [value_target("seed: --executor dask (2 workers) / local pool <= 1.3x", ratio, 1.3, "x")]


def section(results: Results) -> list[str]:
    """The "Dask executor" section of docs/benchmarks.md."""
    lines = [
        f"The seed workload ({results.files} photos -> {2 * results.files} PNGs) on the local "
        "thread pool and as tasks on a LocalCluster of 2 worker processes started for the run, "
        "then both on 2 of the inputs (their fixed cost). Medians over the rounds "
        "(`bench/dask_executor.py`).",
        "",
    ]
    if results.error:
        return [*lines, f"Not measured: {results.error}."]
    lines += ["| run | wall s | peak RSS MiB |", "| --- | ---: | ---: |"]
    for key, (label, _) in RUNS.items():
        wall, peak = results.wall(key), results.peak(key)
        lines.append(f"| {label} | {wall:.2f} | {peak:.0f} |" if wall and peak else f"| {label} |")
    local, dask, local_2, dask_2 = (results.wall(key) for key in RUNS)
    overhead = overhead_per_input(results)
    if local and dask and local_2 and dask_2 and overhead is not None:
        lines += [
            "",
            f"Dask / local: {dask / local:.2f}x. Fixed cost of the cluster (start and stop): "
            f"{dask_2 - local_2:.2f} s. Task overhead per input, the fixed cost taken out: "
            f"{overhead * 1000:.1f} ms.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000, help="seed workload files")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", ROOT / "src", ROOT / "bench"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    corpus = build_corpus(ROOT / "sample_images", WORK / "dask-corpus", args.files, args.files, 1)
    results = measure(corpus.seed, args.rounds)
    lines = ["# Dask executor", "", *section(results), ""]
    lines += [f"- {t.verdict} {t.name}: {t.measured}" for t in targets(results)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
