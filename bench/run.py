"""``make bench``: imgprep side by side with the floor and the anchors, in one run.

Builds the corpora, installs the anchors (see setup_anchors.py), then runs every command
round-robin (run 1 of each, then run 2 of each, ...) into a fresh empty output folder, checks
each command's outputs, and prints and writes medians, ratios and PASS/MISS per target.

    .venv/bin/python bench/run.py              # full run, writes docs/benchmarks.md (~15-20 min)
    .venv/bin/python bench/run.py --quick      # smoke run (< 3 min), writes bench/.work/
    .venv/bin/python bench/run.py --quick --only seed:imgprep-j2 --only overheads
                                               # only those rows (no start-up, no cron scale)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cron_scale
import dask_executor
import memory_ceiling
from corpus import build_corpus
from measure import GNU_TIME, CommandFailed, Measurement, run_measured
from report import (
    RowResult,
    Target,
    ratio_target,
    render_markdown,
    render_stdout,
    rows_table,
    targets_table,
    value_target,
)
from setup_anchors import Anchors, prepare_anchors, versions
from verify_outputs import WrongOutput, check_outputs

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
IMGPREP = ROOT / ".venv" / "bin" / "imgprep"
PYTHON = Path(sys.executable)
SMALL_BUFFER, LARGE_BUFFER = 4, 32
TUTORIAL_STEPS = ["grayscale", "autocontrast", "--cutoff", "3", "augment", "--mirror"]


@dataclass
class Workload:
    name: str
    folder: Path
    size: tuple[int, int]

    @property
    def size_text(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"

    @property
    def stems(self) -> list[str]:
        return [path.stem for path in sorted(self.folder.glob("*.jpg"))]


@dataclass
class Row:
    result: RowResult
    workload: Workload
    argv: Callable[[Path], list[str]]  # output folder -> command
    stems: list[str]
    check_ops: bool = True
    max_runs: int = 1_000
    writes: bool = True  # False: a dry run, whose output folder must stay empty


@dataclass
class Plan:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _relative(argv: list[str], output: Path) -> str:
    """The command as documented: repository-relative paths, OUT for the output folder."""
    shown = []
    for part in argv:
        if part == str(output):
            part = "OUT"
        elif part.startswith(str(ROOT) + os.sep):
            part = os.path.relpath(part, ROOT)
        shown.append(part)
    return shlex.join(shown)


def _add(
    plan: Plan,
    key: str,
    label: str,
    workload: Workload,
    argv: Callable[[Path], list[str]],
    *,
    section: str | None = None,
    stems: list[str] | None = None,
    check_ops: bool = True,
    max_runs: int = 1_000,
    note: str = "",
    writes: bool = True,
) -> None:
    stems = workload.stems if stems is None else stems
    all_files = len(workload.stems)
    placeholder = WORK / "out" / "OUT"
    result = RowResult(
        key=f"{section or workload.name}:{key}",
        label=label,
        workload=section or workload.name,
        command=_relative(argv(placeholder), placeholder),
        files=len(stems),
        scale=all_files / len(stems),
        note=note,
    )
    plan.rows.append(Row(result, workload, argv, stems, check_ops, max_runs, writes))


def imgprep_argv(
    workload: Workload, workers: int, *extra: str, steps: list[str] | None = None
) -> Callable[[Path], list[str]]:
    chain = ["resize", workload.size_text, "--mode", "cover", *TUTORIAL_STEPS]

    def argv(output: Path) -> list[str]:
        return [
            str(IMGPREP),
            *("-i", str(workload.folder), "-o", str(output), "--format", "png", "--no-progress"),
            *("-j", str(workers), *extra),
            *(chain if steps is None else steps),
        ]

    return argv


def random_chain(workload: Workload) -> list[str]:
    """The random augmentation row's chain (bench/pillow_random_pool.py does the same ops)."""
    jitter = ["jitter", "--brightness", "0.3", "--contrast", "0.3"]
    return ["random-crop", workload.size_text, *jitter, "grayscale", "augment", "--mirror"]


def script_argv(
    python: Path, script: str, workload: Workload, size: str, *extra: str
) -> Callable[[Path], list[str]]:
    def argv(output: Path) -> list[str]:
        folders = [str(workload.folder), str(output)]
        return [str(python), str(BENCH / script), *folders, "--size", size, *extra]

    return argv


def xargs_argv(per_file_script: str, list_file: Path, size: str) -> Callable[[Path], list[str]]:
    def argv(output: Path) -> list[str]:
        shell_script = str(BENCH / per_file_script)
        return [
            "xargs",
            "-d",
            "\\n",
            "-P2",
            "-n1",
            "-a",
            str(list_file),
            "sh",
            shell_script,
            str(output),
            size,
        ]

    return argv


def _list_file(workload: Workload, stems: list[str]) -> Path:
    path = WORK / "lists" / f"{workload.name}_{len(stems)}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{workload.folder / stem}.jpg\n" for stem in stems))
    return path


def plan_rows(
    seed: Workload,
    many: Workload,
    large: Workload,
    anchors: Anchors,
    vips_cli_files: int,
    memory_runs: int,
) -> Plan:
    plan = Plan(notes=list(anchors.notes))
    bench_python = anchors.bench_python
    for workload in (seed, large):
        size = workload.size_text
        floor = script_argv(PYTHON, "floor.py", workload, size)
        _add(
            plan,
            "floor",
            "floor: draft('L') decode + cover resize + 2 PNG writes, 2 threads",
            workload,
            floor,
            check_ops=False,
        )
        _add(
            plan,
            "floor-zlib-ng",
            "floor, PNGs deflated by zlib-ng as imgprep does ³",
            workload,
            script_argv(PYTHON, "floor.py", workload, size, "--png-writer", "imgprep"),
            check_ops=False,
        )
        _add(plan, "imgprep-j2", "**imgprep -j 2**", workload, imgprep_argv(workload, 2))
        pool = script_argv(PYTHON, "pillow_pool.py", workload, size)
        _add(plan, "pool", "Pillow ThreadPoolExecutor(2) with draft('L')", workload, pool)
        if bench_python is not None:
            seqtools_tutorial = script_argv(
                bench_python, "seqtools_tutorial.py", workload, str(workload.size[0])
            )
            _add(
                plan,
                "seqtools",
                "SeqTools tutorial's final pipeline (prefetch, 2 threads)",
                workload,
                seqtools_tutorial,
            )
        if workload is seed:
            add_random_rows(plan, workload)
            _add(plan, "imgprep-j1", "imgprep -j 1", workload, imgprep_argv(workload, 1))
            _add_overheads(plan, seed, many, memory_runs)
            naive = script_argv(PYTHON, "pillow_naive.py", workload, size)
            _add(plan, "naive", "naive single-thread Pillow loop (no draft)", workload, naive)
        if anchors.imagemagick:
            argv = xargs_argv("imagemagick_one.sh", _list_file(workload, workload.stems), size)
            _add(
                plan,
                "imagemagick",
                "ImageMagick `convert -define jpeg:size` x2, `xargs -P2` ²",
                workload,
                argv,
            )
        if bench_python is not None:
            pyvips = script_argv(bench_python, "pyvips_pool.py", workload, size)
            _add(plan, "pyvips", "pyvips thumbnail + ops, 2 threads", workload, pyvips)
        if anchors.vips_cli and workload is seed:
            subset = workload.stems[:vips_cli_files]
            argv = xargs_argv("vips_cli_one.sh", _list_file(workload, subset), size)
            _add(
                plan,
                "vips-cli",
                "vips CLI tools (vipsthumbnail + 6 vips calls), `xargs -P2` ²",
                workload,
                argv,
                stems=subset,
            )
    _add(
        plan,
        "imgprep-many",
        f"imgprep -j 2 on {len(many.stems)} files",
        many,
        imgprep_argv(many, 2),
        section="memory",
        max_runs=memory_runs,
    )
    # --buffer at -j 2 defaults to about 4; against a much larger buffer, on the large workload
    # where each image is big (a 1000x750 draft decode, 512x512 outputs), memory stays the same:
    # what is computed ahead is each input's records, its images are dropped when it is done
    for buffer in SMALL_BUFFER, LARGE_BUFFER:
        _add(
            plan,
            f"imgprep-buffer{buffer}",
            f"imgprep -j 2 --buffer {buffer} (large workload)",
            large,
            imgprep_argv(large, 2, "--buffer", str(buffer)),
            section="memory",
            max_runs=memory_runs,
        )
    return plan


def add_random_rows(plan: Plan, workload: Workload) -> None:
    """Random augmentation: imgprep's random-crop + jitter against the same ops in a
    hand-written Pillow pool (outputs are random crops: only names, sizes and modes checked)."""
    steps = random_chain(workload)
    _add(
        plan,
        "imgprep-random",
        "imgprep -j 2, `random-crop` + `jitter` ⁴",
        workload,
        imgprep_argv(workload, 2, steps=steps),
        check_ops=False,
    )
    pool = script_argv(PYTHON, "pillow_random_pool.py", workload, workload.size_text)
    _add(
        plan,
        "pool-random",
        "Pillow ThreadPoolExecutor(2), the same random ops ⁴",
        workload,
        pool,
        check_ops=False,
    )


def _add_overheads(plan: Plan, seed: Workload, many: Workload, memory_runs: int) -> None:
    """What --report costs on the seed workload (next to imgprep -j 2, in the same rounds), and
    a --dry-run over the 4x corpus into an empty folder against the real run of it."""
    report = WORK / "report.jsonl"  # outside OUT: the output check counts OUT's files
    _add(
        plan,
        "imgprep-j2-report",
        "imgprep -j 2 --report FILE",
        seed,
        imgprep_argv(seed, 2, "--report", str(report)),
        section="overheads",
    )
    _add(
        plan,
        "imgprep-dry-run",
        f"imgprep -j 2 --dry-run on {len(many.stems)} files (empty output folder)",
        many,
        imgprep_argv(many, 2, "--dry-run"),
        section="overheads",
        max_runs=memory_runs,
        writes=False,
    )


def compile_bytecode() -> None:
    """Byte-compile imgprep and the bench scripts, as ``pip install`` does for an installed
    package. The project is installed editable, and where PYTHONDONTWRITEBYTECODE is set (this
    machine sets it) every start would otherwise compile imgprep's modules again (~50 ms)."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", ROOT / "src", BENCH],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def warm_page_cache(folders: list[Path]) -> None:
    """Read every input once, so the first command of round 1 does not pay for cold files."""
    for folder in folders:
        for path in folder.iterdir():
            path.read_bytes()


def run_rounds(plan: Plan, runs: int) -> None:
    for round_number in range(1, runs + 1):
        print(f"-- round {round_number}/{runs}", flush=True)
        for row in plan.rows:
            result = row.result
            if result.error or len(result.runs) >= min(runs, row.max_runs):
                continue
            output = WORK / "out" / result.key.replace(":", "_")
            shutil.rmtree(output, ignore_errors=True)
            output.mkdir(parents=True)
            try:
                measured = run_measured(row.argv(output))
                if not row.writes:
                    if any(output.iterdir()):
                        raise WrongOutput(f"a dry run wrote into {output}")
                    result.runs.append(measured)
                    print(f"   {result.key:<24} wall {measured.wall_s:7.2f} s", flush=True)
                    continue
                sizes = check_outputs(output, row.stems, row.workload.size, check_ops=row.check_ops)
            except (CommandFailed, WrongOutput, OSError) as error:
                result.error = str(error)
                print(f"   {result.key}: FAILED {error}", flush=True)
                continue
            finally:
                shutil.rmtree(output, ignore_errors=True)
            result.runs.append(measured)
            result.output_bytes, result.pixel_bytes = sizes.file_bytes, sizes.pixel_bytes
            print(
                f"   {result.key:<24} wall {measured.wall_s:7.2f} s  cpu {measured.cpu_s:7.2f} s  "
                f"peak {measured.peak_mib:6.1f} MiB",
                flush=True,
            )


@dataclass
class Startup:
    version: list[Measurement] = field(default_factory=list)
    one_image: list[Measurement] = field(default_factory=list)
    bare_python: list[Measurement] = field(default_factory=list)
    error: str | None = None
    import_profile: list[str] = field(default_factory=list)

    @staticmethod
    def median_wall(runs: list[Measurement]) -> float | None:
        return statistics.median(m.wall_s for m in runs) if runs else None


def measure_startup(tiny: Path, version_runs: int, image_runs: int) -> Startup:
    startup = Startup()
    output = WORK / "out" / "startup"
    one_image = imgprep_argv(Workload("tiny", tiny, (200, 200)), 1)
    try:
        for _ in range(version_runs):
            startup.version.append(run_measured([str(IMGPREP), "--version"]))
            startup.bare_python.append(run_measured([str(PYTHON), "-c", "pass"]))
        for _ in range(image_runs):
            shutil.rmtree(output, ignore_errors=True)
            output.mkdir(parents=True)
            startup.one_image.append(run_measured(one_image(output)))
            check_outputs(output, ["hopper"], (200, 200), check_ops=False)
    except (CommandFailed, WrongOutput, OSError) as error:
        startup.error = str(error)
    finally:
        shutil.rmtree(output, ignore_errors=True)
    startup.import_profile = import_profile()
    return startup


def import_profile(top: int = 6) -> list[str]:
    """The slowest imports of ``imgprep --version`` (``python -X importtime``, cumulative ms).

    Modules at most two levels down (imgprep.cli and what it imports directly), so the heavy
    third-party packages show by name.
    """
    result = subprocess.run(
        [str(PYTHON), "-X", "importtime", str(IMGPREP), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    entries = []
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        depth = (len(parts[2]) - len(parts[2].lstrip()) - 1) // 2
        if depth <= 1 and int(parts[1]) >= 1000:
            entries.append((int(parts[1]), parts[2].strip()))
    entries.sort(reverse=True)
    return [f"{name} {micros / 1000:.0f} ms" for micros, name in entries[:top]]


def machine_description() -> list[str]:
    cpu_model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return [
        f"- CPUs: {cores} (nproc), {cpu_model}",
        f"- RAM: {memory}",
        f"- OS: {platform.platform()}",
    ]


def _find(plan: Plan, key: str) -> RowResult | None:
    return next((row.result for row in plan.rows if row.result.key == key), None)


def _peak(row: RowResult | None) -> float | None:
    middle = row.median if row else None
    return middle.peak_mib if middle else None


def evaluate_targets(plan: Plan, startup: Startup) -> list[Target]:
    targets: list[Target] = []
    for workload in ("seed", "large"):
        imgprep = _find(plan, f"{workload}:imgprep-j2")
        targets += [
            ratio_target(
                f"{workload}: imgprep -j 2 within 1.10x of the floor",
                imgprep,
                _find(plan, f"{workload}:floor"),
                1.10,
                most=True,
            ),
            ratio_target(
                f"{workload}: imgprep ahead of the Pillow pool (< 1.00x)",
                imgprep,
                _find(plan, f"{workload}:pool"),
                1.0,
                most=True,
            ),
            ratio_target(
                f"{workload}: SeqTools tutorial / imgprep >= 1.6x",
                _find(plan, f"{workload}:seqtools"),
                imgprep,
                1.6,
                most=False,
            ),
            ratio_target(
                f"{workload}: ImageMagick / imgprep >= 5x",
                _find(plan, f"{workload}:imagemagick"),
                imgprep,
                5.0,
                most=False,
            ),
        ]
    targets.append(
        ratio_target(
            "seed: random-crop + jitter: imgprep within 1.10x of the Pillow pool",
            _find(plan, "seed:imgprep-random"),
            _find(plan, "seed:pool-random"),
            1.10,
            most=True,
        )
    )
    targets.append(
        ratio_target(
            "seed: imgprep -j 1 / -j 2 >= 1.8x",
            _find(plan, "seed:imgprep-j1"),
            _find(plan, "seed:imgprep-j2"),
            1.8,
            most=False,
        )
    )
    targets += [
        ratio_target(
            "seed: --report costs at most 3% (imgprep -j 2 --report / imgprep -j 2)",
            _find(plan, "overheads:imgprep-j2-report"),
            _find(plan, "seed:imgprep-j2"),
            1.03,
            most=True,
        ),
        ratio_target(
            "4x corpus: --dry-run at most 10% of the real run",
            _find(plan, "overheads:imgprep-dry-run"),
            _find(plan, "memory:imgprep-many"),
            0.10,
            most=True,
        ),
    ]
    seed_peak = _peak(_find(plan, "seed:imgprep-j2"))
    many_peak = _peak(_find(plan, "memory:imgprep-many"))
    small_buffer_peak = _peak(_find(plan, f"memory:imgprep-buffer{SMALL_BUFFER}"))
    large_buffer_peak = _peak(_find(plan, f"memory:imgprep-buffer{LARGE_BUFFER}"))
    targets.append(value_target("seed: imgprep peak RSS <= 64 MiB", seed_peak, 64, "MiB"))
    flatness = many_peak / seed_peak if many_peak and seed_peak else None
    targets.append(
        value_target("memory flat: peak RSS 4x files / 1x files <= 1.05", flatness, 1.05, "x")
    )
    bounded = (
        large_buffer_peak / small_buffer_peak if small_buffer_peak and large_buffer_peak else None
    )
    name = f"--buffer holds no images: peak RSS --buffer {LARGE_BUFFER} / --buffer {SMALL_BUFFER}"
    targets.append(value_target(f"{name} <= 1.05 (large)", bounded, 1.05, "x"))
    targets.append(
        value_target(
            "start-up: imgprep --version <= 0.15 s", startup.median_wall(startup.version), 0.15, "s"
        )
    )
    targets.append(
        value_target(
            "start-up: one small image end to end <= 0.3 s",
            startup.median_wall(startup.one_image),
            0.3,
            "s",
        )
    )
    return targets


def headline(plan: Plan) -> list[str]:
    """One sentence a README can quote: imgprep -j 2 on the seed workload against the others."""
    imgprep = _find(plan, "seed:imgprep-j2")
    mine = imgprep.median if imgprep else None
    if mine is None:
        return ["imgprep -j 2 was not measured on the seed workload."]
    parts = []
    for key, name in (
        ("floor", "the floor"),
        ("pool", "the hand-written Pillow pool"),
        ("seqtools", "the SeqTools tutorial"),
        ("imagemagick", "ImageMagick"),
    ):
        other = _find(plan, f"seed:{key}")
        theirs = other.median if other else None
        if theirs is not None:
            parts.append(f"{theirs.wall_s / mine.wall_s:.2f}x the speed of {name}")
    lines = [
        f"imgprep -j 2 prepares the seed workload ({imgprep.files} photos -> "
        f"{2 * imgprep.files} PNGs) in {mine.wall_s:.2f} s: " + ", ".join(parts) + "."
    ]
    # Most of that lead is imgprep's PNG writer; its distance to a floor that uses the same
    # writer is everything else imgprep does (manifest, checks, atomic writes, start-up).
    own = []
    for workload in ("seed", "large"):
        ours, floor = (
            _find(plan, f"{workload}:imgprep-j2"),
            _find(plan, f"{workload}:floor-zlib-ng"),
        )
        if ours and floor and ours.median and floor.median:
            own.append(f"{ours.median.wall_s / floor.median.wall_s:.2f}x on {workload}")
    if own:
        lines += [
            "",
            "Against a floor that writes its PNGs with imgprep's zlib-ng writer, imgprep takes "
            + " and ".join(own)
            + ": that is the cost of everything else it does (manifest, damage checks, atomic "
            "writes, start-up).",
        ]
    return lines


def startup_lines(startup: Startup) -> list[str]:
    def line(label: str, runs: list[Measurement]) -> str:
        wall = startup.median_wall(runs)
        return f"| {label} | {len(runs)} | {'not measured' if wall is None else f'{wall:.3f}'} |"

    lines = [
        "| command | runs | median wall s |",
        "| --- | ---: | ---: |",
        line("`.venv/bin/python -c pass` (the interpreter alone, for scale)", startup.bare_python),
        line("`imgprep --version`", startup.version),
        line("one small image end to end (hopper.jpg 128x128, tutorial steps)", startup.one_image),
    ]
    if startup.error:
        lines.append(f"\nStart-up measurement failed: {startup.error}")
    if startup.import_profile:
        lines.append(
            "\nSlowest top-level imports of `imgprep --version` "
            "(`python -X importtime`, cumulative): " + ", ".join(startup.import_profile) + "."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, help="runs per command (default 5; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="small corpora, one run: a smoke test")
    parser.add_argument("--seed-files", type=int, help="seed workload files (default 1000)")
    parser.add_argument("--large-files", type=int, help="large workload files (default 60)")
    parser.add_argument(
        "--vips-cli-files", type=int, help="subset for the slow vips CLI row (default 100)"
    )
    parser.add_argument(
        "--output", type=Path, help="markdown file to write (default docs/benchmarks.md)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="KEY",
        help="only the rows whose key contains KEY (repeatable; e.g. overheads, seed:imgprep-j2); "
        "skips start-up and cron scale, writes under bench/.work/",
    )
    args = parser.parse_args()
    # a plain `kill` unwinds like Ctrl-C, so the running command's process group is ended too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    quick = args.quick
    runs = args.runs or (1 if quick else 5)
    seed_files = args.seed_files or (120 if quick else 1000)
    # 60, not the issue's ~100: ImageMagick alone needs ~0.45 s per 12 MP file, and 5 rounds of
    # everything must fit in ~20 minutes on 2 cores.
    large_files = args.large_files or (6 if quick else 60)
    vips_cli_files = min(args.vips_cli_files or (12 if quick else 100), seed_files)
    version_runs, image_runs = (5, 3) if quick else (20, 10)
    memory_runs = min(runs, 2)  # RSS hardly varies; the 4x-files run is the longest of all
    output_file = args.output or (
        WORK / "benchmarks-quick.md" if quick or args.only else ROOT / "docs" / "benchmarks.md"
    )
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[1]

    if not IMGPREP.exists():
        raise SystemExit(f"{IMGPREP} is missing: run `make` targets that install the project first")
    if args.only:  # imgprep's own rows: the anchors are neither installed nor run
        anchors = Anchors(False, False, None, ["--only: anchors not set up"])
    else:
        anchors = prepare_anchors(WORK / "venv")
    if not GNU_TIME.exists():
        raise SystemExit(f"{GNU_TIME} (Debian package `time`) is needed to measure peak RSS")
    corpus = build_corpus(
        ROOT / "sample_images", WORK / "corpus", seed_files, 4 * seed_files, large_files
    )
    seed = Workload("seed", corpus.seed, (200, 200))
    many = Workload("seed-many", corpus.seed_many, (200, 200))
    large = Workload("large", corpus.large, (512, 512))
    plan = plan_rows(seed, many, large, anchors, vips_cli_files, memory_runs)
    if args.only:
        plan.rows = [row for row in plan.rows if any(key in row.result.key for key in args.only)]
    compile_bytecode()
    warm_page_cache([corpus.seed, corpus.seed_many, corpus.large])
    run_rounds(plan, runs)
    print("-- start-up", flush=True)
    startup = Startup() if args.only else measure_startup(corpus.tiny, version_runs, image_runs)
    targets = evaluate_targets(plan, startup)
    # its own section, bench/cron_scale.py: re-runs over 10,000 and 100,000 generated inputs
    sizes = [] if args.only else [10_000] if quick else [10_000, 100_000]
    cron = cron_scale.measure(sizes, min(runs, cron_scale.ROUNDS))
    targets += cron_scale.targets(cron)
    # its own section, bench/memory_ceiling.py: files declaring 81 Mpx, -j 2 and -j 8
    memory_files, memory_side = (4, 4000) if quick else (8, 9000)
    memory = memory_ceiling.measure(memory_files, memory_side, "1536M", min(runs, 3))
    targets += memory_ceiling.targets(memory)
    # its own section, bench/dask_executor.py: the seed workload on a 2-worker LocalCluster
    dask = dask_executor.measure(corpus.seed, min(runs, 3))
    targets += dask_executor.targets(dask)

    rows = [row.result for row in plan.rows]
    print()
    print(render_stdout(rows, targets))
    for row in rows:
        if row.error:
            plan.notes.append(f"`{row.key}` failed and is not in the medians: {row.error}")
    elapsed = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    load_after = os.getloadavg()[1]
    sections = document_sections(plan, rows, targets, startup, seed, large)
    after_startup = [title for title, _ in sections].index("Start-up") + 1
    sections.insert(after_startup, ("Cron scale", cron_scale.section(cron)))
    memory_section = memory_ceiling.section(memory, memory_files, memory_side)
    sections.insert(after_startup + 1, ("Memory ceiling", memory_section))
    sections.insert(after_startup + 1, ("Dask executor", dask_executor.section(dask)))
    markdown = render_markdown(
        header=document_header(started, elapsed, runs, quick, anchors, (load_before, load_after)),
        sections=sections,
    )
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(markdown)
    print(f"\nwrote {output_file} ({elapsed / 60:.1f} min)")


def document_header(
    started: datetime.datetime,
    elapsed: float,
    runs: int,
    quick: bool,
    anchors: Anchors,
    load: tuple[float, float],
) -> list[str]:
    kind = "QUICK smoke run (small corpora; figures not comparable)" if quick else "full run"
    header = [
        "# imgprep benchmarks",
        "",
        f"Written by `make bench` (`bench/run.py`), {kind}, on {started:%Y-%m-%d %H:%M} UTC; "
        f"took {elapsed / 60:.1f} min. Every command ran {runs} time(s), interleaved round-robin "
        "(run 1 of every command, then run 2, ...), each into a fresh empty output folder, and its "
        "outputs were checked (count, size, mode L, mirror and autocontrast on one pair); the "
        "tables show medians. Corpus files are in the page cache (warm) for every command.",
        "",
        f"Load average (5 min) before the run {load[0]:.2f}, after it {load[1]:.2f}: anything "
        "else running on the machine shares its cores, so compare the ratios measured in one run "
        "rather than absolute times across runs or with the issue's reference figures.",
        "",
        "## Machine and versions",
        "",
        *machine_description(),
    ]
    header += [f"- {name}: {value}" for name, value in versions(anchors, IMGPREP).items()]
    return header


def document_sections(
    plan: Plan,
    rows: list[RowResult],
    targets: list[Target],
    startup: Startup,
    seed: Workload,
    large: Workload,
) -> list[tuple[str, list[str]]]:
    def section(name: str) -> list[RowResult]:
        return [row for row in rows if row.workload == name]

    seed_floor, large_floor = _find(plan, "seed:floor"), _find(plan, "large:floor")
    seed_text = (
        f"{len(seed.stems)} JPEGs (quality 90) from the 6 sample photos, each scaled to 640 px "
        "wide "
        "(rocket is 640x427 already; astronaut, camera and hopper become 640x640, hopper upscaled "
        "5x from 128x128; coffee and chelsea 640x427), repeated with distinct names -> cover "
        "resize 200x200, grayscale, autocontrast cutoff 3, plus a mirrored copy: "
        f"{2 * len(seed.stems)} PNGs."
    )
    large_text = (
        f"{len(large.stems)} camera-size 4000x3000 JPEGs, **upscaled** from the sample photos "
        "(so they compress and decode like smooth photos, not like real 12 MP camera noise) -> "
        f"the same steps at 512x512: {2 * len(large.stems)} PNGs."
    )
    memory_text = [
        "Peak RSS of imgprep (MiB): 4x the files (flatness), and a small against a large "
        "`--buffer` on the large workload; the default runs from the tables above for reference.",
        "",
        *rows_table(
            [
                dataclasses.replace(
                    r, label=f"imgprep -j 2 ({r.workload} workload, default buffer)"
                )
                for r in rows
                if r.key in {"seed:imgprep-j2", "large:imgprep-j2"}
            ]
            + section("memory"),
            None,
        ),
    ]
    overheads_text = [
        "`--report` on the seed workload, in the same rounds as `imgprep -j 2` above; "
        "`--dry-run` over the 4x corpus into an empty folder (it lists every output as "
        "WOULD-WRITE, writes nothing; the run is checked to leave the folder empty) next to the "
        "real run of that corpus.",
        "",
        *rows_table(
            [r for r in rows if r.key in {"seed:imgprep-j2", "memory:imgprep-many"}]
            + section("overheads"),
            None,
        ),
    ]
    commands = ["Paths are relative to the repository; OUT is a fresh empty folder per run.", ""]
    commands += [f"- {row.key}: `{row.command}`" for row in rows]
    notes = [
        "- imgprep and the bench scripts are byte-compiled first (`compileall`, what `pip "
        "install` does): the project is installed editable, and this machine sets "
        "PYTHONDONTWRITEBYTECODE, so each start would otherwise compile imgprep again (~50 ms).",
        "- CPU s is user + system time of the whole process tree (`os.wait4` on the child); peak "
        "MiB is `ru_maxrss` of the largest single process in that tree. For the `xargs -P2` rows "
        "that is the largest single convert/vips process, not the sum of the two running at once.",
        "- ¹ The vips CLI row runs on the first files of the corpus only (it spawns 7 processes "
        "per input); its wall and CPU are scaled up to the full corpus and marked.",
        "- ² `xargs -P2 -n1` runs one shell script per input (`bench/imagemagick_one.sh`, "
        "`bench/vips_cli_one.sh`). ImageMagick: two `convert` calls per input (image, then "
        "`-flop` mirror), `-define jpeg:size=WxH -resize WxH^ -gravity center -extent WxH "
        "-colorspace Gray -contrast-stretch 3%x3% -strip`, ImageMagick's own threading left at "
        "its default. vips CLI: `vipsthumbnail --smartcrop centre` (shrink-on-load), `vips "
        "colourspace b-w`, `vips percent 3` and `97`, `vips linear --uchar` to stretch that "
        "range to 0..255, `vips copy` and `vips flip horizontal` to PNG.",
        "- The floor decodes with `draft('L', size)` (the JPEG decoder's DCT scaling straight to "
        "grayscale), resizes (cover, bicubic) and writes the same image twice: no autocontrast, "
        "no mirror, and Pillow's PNG writer. imgprep is held to 1.10x of it, and runs below it "
        "because its own PNG writer deflates faster (³). The floor is not a hard lower bound even "
        "for the Pillow rows: the Pillow pool does more work yet lands within noise of it, "
        "because PNG encoding, about three quarters of the CPU time of every Pillow row, runs at "
        "a speed that depends on the pixels, and these unstretched images encode a little slower "
        "than the autocontrasted ones.",
        "- ³ imgprep deflates PNG pixels with zlib-ng at level 7, where its files are no larger "
        'than Pillow\'s default (zlib level 6) ones; see docs/cli.md, "Encoder trade-offs". The '
        "other Python rows write with Pillow's `Image.save` at its defaults, so the issue's "
        "floor and the Pillow pool pay zlib's slower deflate. The `floor-zlib-ng` row is the "
        "floor with imgprep's writer (`floor.py --png-writer imgprep`), for imgprep's own "
        "overhead. The "
        "output column gives the outputs' total size and, in brackets, their compressed pixels "
        "(IDAT payloads): the Pillow rows also carry the inputs' 2.6 KiB RGB ICC profile in every "
        "grey PNG, which imgprep drops as not matching grey pixels; compare the bracketed figures "
        "for compression.",
        "- SeqTools: the tutorial's final code (smap/add_cache/collate/unbatch/prefetch with 2 "
        "threads) plus a save loop; its crop-box typo `(left, 1, h, h)` is fixed to the intended "
        "square, which costs the same. It decodes at full size (the tutorial uses no draft).",
        "- pyvips: `thumbnail(crop='centre')`, `colourspace('b-w')`, percentile stretch, "
        "`fliphor`, PNG with strip; 2 Python threads, `VIPS_CONCURRENCY=1` each.",
        "- ⁴ Random augmentation (issue 15): imgprep's `random-crop WxH jitter --brightness 0.3 "
        "--contrast 0.3 grayscale augment --mirror` against `bench/pillow_random_pool.py`, the "
        "same ops by hand (torchvision's RandomResizedCrop box, crop + bilinear resize, "
        "ImageEnhance brightness and contrast in a random order, grayscale, mirror) in a "
        "ThreadPoolExecutor(2) writing with Pillow's PNG writer as the other Pillow rows do. Both "
        "decode in full: at 640 px the smallest box --scale allows leaves no room for a reduced "
        "decode. The crops are random, so only the outputs' names, sizes and modes are checked.",
        "- GraphicsMagick (optional in the issue) is not benchmarked.",
        *[f"- {note}" for note in plan.notes],
    ]
    return [
        ("Headline", headline(plan)),
        ("Targets", targets_table(targets)),
        ("Seed workload", [seed_text, "", *rows_table(section("seed"), seed_floor)]),
        ("Large workload", [large_text, "", *rows_table(section("large"), large_floor)]),
        ("Memory", memory_text),
        ("Overheads of --report and --dry-run", overheads_text),
        ("Start-up", startup_lines(startup)),
        ("Exact commands", commands),
        ("Notes", notes),
    ]


if __name__ == "__main__":
    main()
