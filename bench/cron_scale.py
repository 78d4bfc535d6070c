"""``make bench`` section "cron scale": re-runs over 10,000 and 100,000 small inputs.

A cron job re-runs imgprep over a tree where almost nothing changed. For each corpus (64x64
JPEGs, 1000 per folder, generated once and cached under bench/.work/cron/), a first run into a
fresh output folder (the tutorial chain at 32x32: 2 PNGs per input), then ROUNDS rounds over
the done folder, each one after the other:

1. ``sync``, so no re-run is timed while earlier writes reach the disk;
2. a no-op re-run (nothing changed), a dry run over the done folder and the floor beside
   them, in turn, SIDE_BY_SIDE times each. The floor is ``find`` over the inputs and outputs
   (size and mtime of every file) plus reading the manifest line by line with ``json.loads``,
   the least any re-run must do;
3. a re-run after touching 1% of the inputs (new mtime, same bytes: nothing to write);
4. a re-run after editing another 1% of the inputs (new bytes: their outputs are rewritten);
5. the edited inputs' own work: a first run over them alone (``-i -`` listing them) into a
   fresh folder.

The edits are then undone and their outputs written again by a run that is not measured, so
the next round starts from a done folder too. Rounds are cheap (the first run of 100,000
inputs takes minutes; a round takes half a minute), so there are enough of them for medians
that hold on a noisy machine. Every imgprep run's summary is checked (what it wrote and found
up to date). Wall time and peak RSS (GNU time) are medians over all the runs.

    .venv/bin/python bench/cron_scale.py            # 10,000 and 100,000 inputs, 5 rounds
    .venv/bin/python bench/cron_scale.py --quick    # 10,000 inputs only
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from measure import CommandFailed, Measurement, run_measured
from report import Target, value_target

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "cron"
IMGPREP = ROOT / ".venv" / "bin" / "imgprep"
PYTHON = ROOT / ".venv" / "bin" / "python"
MANIFEST = ".imgprep-manifest.jsonl"
PER_FOLDER = 1000
SIZE, QUALITY, SOURCES = 64, 90, 64
STEPS = "resize 32x32 --mode cover grayscale autocontrast --cutoff 3 augment --mirror".split()
FRACTION = 100  # touch and edit one input in this many
SIDE_BY_SIDE = 3  # no-op re-runs, dry runs and floors a round, taken in turn
ROUNDS = 5
Step = Callable[[], "Measurement"]
SCENARIOS = (
    "first run",
    "no-op re-run",
    "dry run",
    "floor",
    "touched 1%",
    "edited 1%",
    "edited alone",
)
LABELS = {
    "dry run": "`--dry-run` over the done folder (every output listed UP-TO-DATE)",
    "floor": "floor: `find` + `json.loads` of every manifest line",
    "edited alone": "the edited 1% alone, into a fresh folder (their own work)",
}
SUMMARY = re.compile(r"imgprep: (\d+) written, (\d+) up to date, (\d+) failed")
DRY_SUMMARY = re.compile(r"imgprep: dry run: (\d+) to write, (\d+) up to date")
# Reads the manifest the way any re-run must at least: every line, parsed.
FLOOR_READ = "import json,sys\nfor line in open(sys.argv[1], 'rb'): json.loads(line)"


# ----------------------------------------------------------------------------------- corpus


def _sources() -> list[bytes]:
    """SOURCES distinct 64x64 JPEGs: crops of the sample photos at different places."""
    from PIL import Image, ImageOps

    photos = []
    for path in sorted((ROOT / "sample_images").iterdir()):
        if path.suffix in (".png", ".jpg"):
            with Image.open(path) as opened:
                photos.append(ImageOps.exif_transpose(opened).convert("RGB"))
    sources = []
    for number in range(SOURCES):
        photo = photos[number % len(photos)]
        step = number // len(photos) + 1
        box_size = min(photo.size) // 2
        left = (photo.width - box_size) * step // (SOURCES // len(photos) + 2)
        top = (photo.height - box_size) * step // (SOURCES // len(photos) + 2)
        crop = photo.crop((left, top, left + box_size, top + box_size))
        buffer = io.BytesIO()
        crop.resize((SIZE, SIZE), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=QUALITY)
        sources.append(buffer.getvalue())
    return sources


def input_path(folder: Path, index: int) -> Path:
    return folder / f"d{index // PER_FOLDER:03d}" / f"{index:06d}.jpg"


@dataclass
class Corpus:
    count: int
    folder: Path
    sources: list[bytes]

    def source_of(self, index: int) -> bytes:
        return self.sources[index % len(self.sources)]

    def picked(self, offset: int) -> list[int]:
        """One input in FRACTION, starting at ``offset``."""
        return list(range(offset % FRACTION, self.count, FRACTION))


def build_corpus(count: int) -> Corpus:
    """The corpus of ``count`` inputs, generated once (a stamp records what was made)."""
    folder = WORK / f"inputs_{count}"
    sources = _sources()
    recipe: dict[str, object] = {"count": count, "size": SIZE, "quality": QUALITY}
    recipe |= {"per_folder": PER_FOLDER, "sources": [len(data) for data in sources]}
    stamp = WORK / f"inputs_{count}.json"  # beside the corpus: no file in it but the inputs
    corpus = Corpus(count, folder, sources)
    if stamp.exists() and json.loads(stamp.read_text()) == recipe:
        _undo_edits(corpus)
        return corpus
    print(f"   generating {count} inputs in {folder} ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    for index in range(count):
        path = input_path(folder, index)
        if index % PER_FOLDER == 0:
            path.parent.mkdir(parents=True)
        path.write_bytes(corpus.source_of(index))
    stamp.write_text(json.dumps(recipe))
    return corpus


def _edits_file(corpus: Corpus) -> Path:
    return WORK / f"edited_{corpus.count}.json"


def _edit(corpus: Corpus, indices: list[int], output: Path) -> Measurement:
    """Give ``indices`` new bytes (another source's, remembered so they can be undone), then
    measure the re-run: their outputs, and only theirs, are rewritten."""
    _edits_file(corpus).write_text(json.dumps(indices))
    for index in indices:
        input_path(corpus.folder, index).write_bytes(corpus.source_of(index + 1))
    rewritten = 2 * len(indices)
    return _run_imgprep(corpus, output, (rewritten, 2 * corpus.count - rewritten))


def _undo_edits(corpus: Corpus) -> None:
    edits = _edits_file(corpus)
    if edits.exists():
        for index in json.loads(edits.read_text()):
            input_path(corpus.folder, index).write_bytes(corpus.source_of(index))
        edits.unlink()


def _touch(corpus: Corpus, indices: list[int], output: Path) -> Measurement:
    """New mtimes for ``indices``, same bytes, then measure the re-run: nothing is written."""
    later = time.time_ns() + 1_000_000_000
    for index in indices:
        os.utime(input_path(corpus.folder, index), ns=(later, later))
    return _run_imgprep(corpus, output, (0, 2 * corpus.count))


# ----------------------------------------------------------------------------------- runs


class WrongCounts(RuntimeError):
    """imgprep wrote, or found up to date, other counts than the scenario expects."""


@dataclass
class Scenario:
    runs: list[Measurement] = field(default_factory=list)
    error: str | None = None

    def median(self, attribute: str) -> float | None:
        values = [getattr(run, attribute) for run in self.runs]
        return statistics.median(values) if values else None


def _words(folder: Path, output: Path, listed: bool = False) -> list[str]:
    """imgprep's words: over the whole corpus (``-r -i``), or the files listed on stdin."""
    given = ["-i", "-", "--base", str(folder)] if listed else ["-r", "-i", str(folder)]
    words = [*given, "-o", str(output), "--format", "png", "--no-progress", "-j", "2", *STEPS]
    return [str(IMGPREP), *words]


def _imgprep(
    corpus: Corpus, output: Path, log: Path, listed: Path | None = None, *extra: str
) -> list[str]:
    """imgprep's command line, its stderr sent to ``log`` (exec: the same process is measured);
    ``listed``: a file listing the inputs (``-i -``), else the whole corpus (``-r -i``);
    ``extra``: global options added first."""
    program, *words = _words(corpus.folder, output, listed is not None)
    words = [program, *extra, *words]
    script = 'log=$1; list=$2; shift 2; exec "$@" <"$list" 2>"$log"'
    return ["sh", "-c", script, "sh", str(log), str(listed or os.devnull), *words]


def _floor(corpus: Corpus, output: Path) -> list[str]:
    script = 'find "$0" "$1" -printf "%s %T@\\n" >/dev/null && exec "$2" -c "$3" "$1/$4"'
    return ["sh", "-c", script, str(corpus.folder), str(output), str(PYTHON), FLOOR_READ, MANIFEST]


def _run_imgprep(
    corpus: Corpus,
    output: Path,
    expected: tuple[int, int],
    listed: Path | None = None,
    dry_run: bool = False,
) -> Measurement:
    """One measured run; ``dry_run``: with ``--dry-run`` (its listing goes to /dev/null)."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        extra = ("--dry-run",) if dry_run else ()
        measured = run_measured(_imgprep(corpus, output, Path(log.name), listed, *extra))
        text = log.read()
    found = (DRY_SUMMARY if dry_run else SUMMARY).search(text)
    counts = tuple(int(group) for group in found.groups()) if found else None
    if counts is not None and dry_run:
        counts = (*counts, 0)
    if counts != (*expected, 0):
        raise WrongCounts(f"expected {expected} written and up to date; got {text[-300:]!r}")
    return measured


def _edited_alone(corpus: Corpus, edited: list[int]) -> Measurement:
    """The edited inputs' own work: a first run over them alone, into a fresh folder."""
    output = WORK / f"out_{corpus.count}_alone"
    listing = WORK / f"edited_{corpus.count}.list"
    listing.write_text("".join(f"{input_path(corpus.folder, index)}\n" for index in edited))
    shutil.rmtree(output, ignore_errors=True)
    try:
        return _run_imgprep(corpus, output, (2 * len(edited), 0), listing)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def _sync() -> Measurement:
    """The first run's outputs on disk before the re-runs are timed: a cron job re-runs long
    after the last run's writes, not while the kernel is still writing them back."""
    return run_measured(["sync"])


def _measured(corpus: Corpus, results: dict[str, Scenario], name: str, measure_it: Step) -> bool:
    """Run one scenario into ``results``; False (the error noted) if it failed."""
    try:
        measured = measure_it()
    except (CommandFailed, WrongCounts) as error:  # reported, not in the medians
        results[name].error = str(error)
        print(f"   {corpus.count:>6} {name:<14} FAILED {error}", flush=True)
        return False
    if name != "sync":
        results[name].runs.append(measured)
        print(
            f"   {corpus.count:>6} {name:<14} wall {measured.wall_s:7.2f} s  "
            f"peak {measured.peak_mib:6.1f} MiB",
            flush=True,
        )
    return True


def run_round(corpus: Corpus, number: int, results: dict[str, Scenario], output: Path) -> bool:
    """One round of re-runs over ``output``, a folder the first run made; after it the edits
    are undone and their outputs written again (not measured), so the next round starts from
    a done folder too. False if a run failed: the folder is then not known to be done."""
    outputs = 2 * corpus.count
    edited = corpus.picked(number + FRACTION // 2)
    side_by_side: list[tuple[str, Step]] = [
        ("no-op re-run", lambda: _run_imgprep(corpus, output, (0, outputs))),
        ("dry run", lambda: _run_imgprep(corpus, output, (0, outputs), dry_run=True)),
        ("floor", lambda: run_measured(_floor(corpus, output))),
    ]
    steps: list[tuple[str, Step]] = [
        ("sync", _sync),
        *side_by_side * SIDE_BY_SIDE,  # each ratio's terms in turn, under the same noise
        ("touched 1%", lambda: _touch(corpus, corpus.picked(number), output)),
        ("edited 1%", lambda: _edit(corpus, edited, output)),
        ("edited alone", lambda: _edited_alone(corpus, edited)),
    ]
    try:
        if not all(_measured(corpus, results, name, step) for name, step in steps):
            return False
    finally:
        _undo_edits(corpus)
    rewritten = 2 * len(edited)  # the undone edits: their outputs are stale again
    _run_imgprep(corpus, output, (rewritten, outputs - rewritten))
    return True


def measure(counts: list[int], rounds: int) -> dict[int, dict[str, Scenario]]:
    """``rounds`` rounds over each corpus in turn; one first run into a fresh folder (and a
    new one after a round that failed), then the rounds re-run over the done folder."""
    corpora = [build_corpus(count) for count in counts]
    results = {count: {name: Scenario() for name in SCENARIOS} for count in counts}
    done = dict.fromkeys(counts, False)
    try:
        for number in range(rounds):
            print(f"-- cron scale, round {number + 1}/{rounds}", flush=True)
            for corpus in corpora:
                output, scenarios = WORK / f"out_{corpus.count}", results[corpus.count]
                if not done[corpus.count]:
                    shutil.rmtree(output, ignore_errors=True)
                    first = partial(_run_imgprep, corpus, output, (2 * corpus.count, 0))
                    if not _measured(corpus, scenarios, "first run", first):
                        continue
                done[corpus.count] = run_round(corpus, number, scenarios, output)
    finally:
        for corpus in corpora:
            _undo_edits(corpus)
            shutil.rmtree(WORK / f"out_{corpus.count}", ignore_errors=True)
    return results


# ----------------------------------------------------------------------------------- report


def _cell(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(results: dict[int, dict[str, Scenario]]) -> list[str]:
    lines = [
        "| inputs (outputs) | run | wall s | peak MiB | wall vs floor | runs |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for count, scenarios in results.items():
        floor = scenarios["floor"].median("wall_s")
        for name in SCENARIOS:
            scenario = scenarios[name]
            wall = scenario.median("wall_s")
            versus = f"{wall / floor:.2f}x" if wall is not None and floor else ""
            label = LABELS.get(name, name)
            if scenario.error:
                label += f" (a run failed: {scenario.error[:200]})"
            lines.append(
                f"| {count:,} ({2 * count:,}) | {label} | {_cell(wall)} "
                f"| {_cell(scenario.median('peak_mib'), 1)} | {versus} | {len(scenario.runs)} |"
            )
    return lines


def targets(results: dict[int, dict[str, Scenario]]) -> list[Target]:
    found: list[Target] = []
    for count, scenarios in results.items():
        noop = scenarios["no-op re-run"].median("wall_s")
        floor = scenarios["floor"].median("wall_s")
        alone = scenarios["edited alone"].median("wall_s")
        edited = scenarios["edited 1%"].median("wall_s")
        prefix = f"cron {count:,}"
        if count <= 10_000:
            found.append(value_target(f"{prefix}: no-op re-run <= 1.0 s", noop, 1.0, "s"))
            ratio = noop / floor if noop and floor else None
            found.append(value_target(f"{prefix}: no-op re-run / floor <= 3x", ratio, 3.0, "x"))
        else:
            found.append(value_target(f"{prefix}: no-op re-run <= 8 s", noop, 8.0, "s"))
        dry = scenarios["dry run"].median("wall_s")
        ratio = dry / noop if dry and noop else None
        found.append(value_target(f"{prefix}: dry run / no-op re-run <= 1.25x", ratio, 1.25, "x"))
        for name in ("no-op re-run", "first run"):
            peak = scenarios[name].median("peak_mib")
            found.append(value_target(f"{prefix}: {name} peak RSS <= 64 MiB", peak, 64, "MiB"))
        if alone and noop and edited:
            budget = noop + alone
            name = f"{prefix}: edited 1% <= no-op + the edited inputs alone ({budget:.2f} s)"
            found.append(value_target(name, edited / budget, 1.0, "x"))
    return found


def section(results: dict[int, dict[str, Scenario]]) -> list[str]:
    """The "Cron scale" section of docs/benchmarks.md."""
    command = shlex.join(["imgprep", *_words(Path("IN"), Path("OUT"))[1:]])
    return [
        f"Generated corpora of {SIZE}x{SIZE} JPEGs ({PER_FOLDER} a folder, made once and cached "
        f"in bench/.work/cron/), the tutorial chain at 32x32, 2 PNGs an input: `{command}`. A "
        "first run into a fresh folder, then rounds over the done folder, each one after the "
        f"other: `sync`, a no-op re-run, a dry run and the floor in turn ({SIDE_BY_SIDE} of each), "
        "a re-run after touching 1% of the inputs (new mtime, same bytes: nothing written), one "
        "after editing another 1% (their outputs rewritten), and those edited inputs alone into "
        "a fresh folder (`-i -` listing them: their own work, start-up included); the edits are "
        "then undone and their outputs written again, unmeasured. The floor is "
        "what any re-run must at least do: `find IN OUT -printf '%s %T@'` (size and mtime of "
        "every input and output) and `json.loads` of every manifest line, in a fresh Python. "
        "Wall and peak RSS are medians over all the runs (`bench/cron_scale.py`).",
        "",
        *table(results),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 inputs only")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--counts", type=int, nargs="*", help="corpus sizes (default 10k 100k)")
    parser.add_argument("--output", type=Path, help="markdown file (default bench/.work/)")
    args = parser.parse_args()
    counts = args.counts or ([10_000] if args.quick else [10_000, 100_000])
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", ROOT / "src", ROOT / "bench"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = measure(counts, args.rounds)
    lines = ["# cron scale", "", *section(results), ""]
    lines += [f"- {t.verdict} {t.name}: {t.measured}" for t in targets(results)]
    print("\n".join(lines))
    output = args.output or WORK / "cron-scale.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
