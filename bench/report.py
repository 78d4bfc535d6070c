"""Turn measured rows into the stdout table and ``docs/benchmarks.md``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from measure import Measurement, median_of


@dataclass
class RowResult:
    key: str
    label: str
    workload: str  # the section it belongs to: "seed", "large" or "memory"
    command: str  # exact command, paths relative to the repository, OUT = fresh output folder
    files: int  # inputs processed per run
    scale: float = 1.0  # > 1: measured on a subset, wall and CPU extrapolated by this factor
    note: str = ""
    runs: list[Measurement] = field(default_factory=list)
    error: str | None = None
    output_bytes: int | None = None  # outputs of the last run: files on disk
    pixel_bytes: int | None = None  # ... of which compressed pixels (PNG IDAT payloads)

    @property
    def output_cell(self) -> str:
        if self.output_bytes is None or self.pixel_bytes is None:
            return ""
        files, pixels = (
            count * self.scale / (1 << 20) for count in (self.output_bytes, self.pixel_bytes)
        )
        return f"{files:.1f} ({pixels:.1f})"

    @property
    def median(self) -> Measurement | None:
        if not self.runs:
            return None
        middle = median_of(self.runs)
        return Measurement(middle.wall_s * self.scale, middle.cpu_s * self.scale, middle.peak_mib)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: could not be measured

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]


def ratio_target(
    name: str,
    numerator: RowResult | None,
    denominator: RowResult | None,
    limit: float,
    *,
    most: bool,
) -> Target:
    """``numerator.wall / denominator.wall`` held to ``<= limit`` (most) or ``>= limit``."""
    top = numerator.median if numerator else None
    bottom = denominator.median if denominator else None
    if top is None or bottom is None or bottom.wall_s == 0:
        return Target(name, "not measured", None)
    ratio = top.wall_s / bottom.wall_s
    passed = ratio <= limit if most else ratio >= limit
    measured = f"{ratio:.2f}x ({top.wall_s:.2f} s / {bottom.wall_s:.2f} s)"
    assert numerator is not None and denominator is not None
    # The same round's runs ran one after the other: their ratios show how much the machine
    # moved during the run (the verdict stays on the medians).
    scale = numerator.scale / denominator.scale
    pairs = zip(numerator.runs, denominator.runs, strict=False)
    per_round = [a.wall_s / b.wall_s * scale for a, b in pairs if b.wall_s > 0]
    if len(per_round) > 1:
        measured += f"; rounds {min(per_round):.2f}-{max(per_round):.2f}x"
    return Target(name, measured, passed)


def value_target(name: str, value: float | None, limit: float, unit: str) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(
        name, f"{value:.3f} {unit}" if unit == "s" else f"{value:.2f} {unit}", value <= limit
    )


def _cell(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def rows_table(rows: Sequence[RowResult], floor: RowResult | None) -> list[str]:
    floor_wall = floor.median.wall_s if floor and floor.median else None
    lines = [
        "| command | files | wall s | CPU s | peak MiB | output MiB (pixels) | wall vs floor "
        "| runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        label = row.label + (
            f" ¹ (measured on {row.files} files, x{row.scale:g})" if row.scale != 1 else ""
        )
        middle = row.median
        if middle is None:
            lines.append(
                f"| {label} | {row.files} | skipped: {row.error or 'not run'} | | | | | 0 |"
            )
            continue
        versus = f"{middle.wall_s / floor_wall:.2f}x" if floor_wall else ""
        files = round(row.files * row.scale)
        lines.append(
            f"| {label} | {files} | {_cell(middle.wall_s)} | {_cell(middle.cpu_s)} "
            f"| {_cell(middle.peak_mib, 1)} | {row.output_cell} | {versus} | {len(row.runs)} |"
        )
    return lines


def targets_table(targets: Sequence[Target]) -> list[str]:
    lines = ["| target | measured | result |", "| --- | --- | --- |"]
    lines += [f"| {t.name} | {t.measured} | **{t.verdict}** |" for t in targets]
    return lines


def render_markdown(
    *,
    header: Sequence[str],
    sections: Sequence[tuple[str, Sequence[str]]],
) -> str:
    lines = list(header)
    for title, body in sections:
        lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"


def render_stdout(rows: Sequence[RowResult], targets: Sequence[Target]) -> str:
    lines = [f"{'command':<58} {'files':>6} {'wall s':>8} {'CPU s':>8} {'MiB':>7} runs"]
    for row in rows:
        middle = row.median
        label = f"[{row.workload}] {row.label}"[:58]
        if middle is None:
            lines.append(f"{label:<58} skipped: {row.error or 'not run'}")
            continue
        lines.append(
            f"{label:<58} {round(row.files * row.scale):>6} {middle.wall_s:>8.2f} "
            f"{middle.cpu_s:>8.2f} {middle.peak_mib:>7.1f} {len(row.runs):>4}"
        )
    lines.append("")
    lines += [f"{t.verdict:<5} {t.name}: {t.measured}" for t in targets]
    return "\n".join(lines)
