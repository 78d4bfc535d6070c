"""``make bench`` section "memory ceiling": files that declare 80 million pixels, -j 2 and -j 8.

Each file is a PNG of a few hundred bytes whose header declares 9000x9000 RGB pixels (81
million, under --max-pixels) and holds only a few rows: Pillow allocates the whole image and
decodes the rest black, so each input really takes ~320 MiB while it is worked on. The folder
is run with ``-j 2`` and ``-j 8`` under ``--max-memory``; the peak RSS (GNU time) must stay
within the ceiling plus 64 MiB in both, as imgprep promises whatever the inputs and workers.
One run without a ceiling worth the name (``--max-memory 64G``) shows what it prevents.

    .venv/bin/python bench/memory_ceiling.py                     # 8 files, 3 rounds
    .venv/bin/python bench/memory_ceiling.py --files 3 --side 3000 --ceiling 200M --rounds 1
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from measure import CommandFailed, run_measured
from report import Target, value_target

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "memory"
IMGPREP = ROOT / ".venv" / "bin" / "imgprep"
STEPS = ["resize", "256", "grayscale"]
OVERHEAD_MIB = 64
WORKERS = (2, 8)
UNBOUNDED = "64G"  # the contrast run: a ceiling no input reaches


@dataclass
class Case:
    """One way of running the folder, and its peaks over the rounds."""

    workers: int
    ceiling: str
    peaks: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def label(self) -> str:
        return f"-j {self.workers} --max-memory {self.ceiling}"

    def median(self) -> float | None:
        return statistics.median(self.peaks) if self.peaks else None


def declaring_png(side: int) -> bytes:
    """A PNG whose header declares ``side`` x ``side`` RGB pixels, with four rows of data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side * 3 + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def build_folder(files: int, side: int) -> Path:
    folder = WORK / f"{files}x{side}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        data = declaring_png(side)
        for number in range(files):
            (folder / f"declares{number:02d}.png").write_bytes(data)
    return folder


def words(folder: Path, output: Path, workers: int, ceiling: str) -> list[str]:
    return [
        str(IMGPREP), "-i", str(folder), "-o", str(output), "--no-progress", "-q",
        "-j", str(workers), "--max-memory", ceiling, *STEPS,
    ]  # fmt: skip


def run_case(case: Case, folder: Path, files: int) -> None:
    output = WORK / "out"
    shutil.rmtree(output, ignore_errors=True)
    try:
        measured = run_measured(words(folder, output, case.workers, case.ceiling))
        written = len(list(output.glob("*.png")))
        if written != files:
            raise CommandFailed(f"{written} outputs written, not {files}")
        case.peaks.append(measured.peak_mib)
    except CommandFailed as error:
        case.error = str(error)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def measure(files: int, side: int, ceiling: str, rounds: int) -> list[Case]:
    folder = build_folder(files, side)
    cases = [Case(workers, ceiling) for workers in WORKERS]
    cases.append(Case(max(WORKERS), UNBOUNDED))
    for number in range(rounds):
        print(f"-- memory ceiling, round {number + 1}/{rounds}", flush=True)
        for case in cases:
            run_case(case, folder, files)
    return cases


def ceiling_mib(ceiling: str) -> float:
    from imgprep.config import parse_byte_size  # the installed imgprep's reading of SIZE

    return parse_byte_size(ceiling) / (1 << 20)


def targets(cases: list[Case]) -> list[Target]:
    found = []
    for case in cases:
        if case.ceiling == UNBOUNDED:
            continue
        limit = ceiling_mib(case.ceiling) + OVERHEAD_MIB
        name = f"memory: {case.label} peak RSS <= {limit:.0f} MiB (ceiling + {OVERHEAD_MIB})"
        found.append(value_target(name, case.median(), limit, "MiB"))
    return found


def section(cases: list[Case], files: int, side: int) -> list[str]:
    """The "Memory ceiling" section of docs/benchmarks.md."""
    ceiling = cases[0].ceiling
    command = shlex.join(["imgprep", *words(Path("IN"), Path("OUT"), 8, ceiling)[1:]])
    lines = [
        f"{files} PNGs of a few hundred bytes, each declaring {side}x{side} RGB pixels "
        f"({side * side / 1e6:.0f} million; Pillow allocates the whole image and decodes the "
        f"missing rows black, so each input takes ~{side * side * 4 / (1 << 20):.0f} MiB while "
        f"it is worked on), `{command}` with `-j 2` and `-j 8`; the last row has no ceiling an "
        "input reaches, to show what the ceiling prevents. Peak RSS (GNU time) is the median "
        "over the rounds (`bench/memory_ceiling.py`).",
        "",
        "| run | peak MiB | runs |",
        "| --- | ---: | ---: |",
    ]
    for case in cases:
        median = case.median()
        label = case.label + (f" (a run failed: {case.error[:200]})" if case.error else "")
        peak = "" if median is None else f"{median:.1f}"
        lines.append(f"| {label} | {peak} | {len(case.peaks)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--side", type=int, default=9000, help="declared width and height")
    parser.add_argument("--ceiling", default="1536M", help="--max-memory of the checked runs")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", ROOT / "src"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cases = measure(args.files, args.side, args.ceiling, args.rounds)
    lines = ["# memory ceiling", "", *section(cases, args.files, args.side), ""]
    lines += [f"- {t.verdict} {t.name}: {t.measured}" for t in targets(cases)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
