"""What a run reports: one ``OutputRecord`` per planned output, counted into a ``Report``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from imgprep._fs import StrPath

__all__ = ["OutputRecord", "Report", "Status"]


class Status(enum.Enum):
    WRITTEN = "written"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


class OutputRecord:
    """What happened to one planned output: ``input`` and ``output`` (None unless written or up
    to date), its ``status``, the ``reason`` of a failure and the ``variant`` suffix. Immutable.
    ``drawn``: what the chain's random steps drew for a written output, by step name
    (``{"random-crop": {"box": (l, t, r, b)}}``); None without random steps, and for outputs
    not made in this run.

    The paths may be given as text; they become ``Path`` objects when first read, so a run that
    only counts its records makes no Path objects for them (Python 3.11's pathlib interns every
    name it parses, and a run's memory should not grow with its number of files).
    """

    __slots__ = ("_input", "_output", "drawn", "reason", "status", "variant")

    _input: Path | str
    _output: Path | str | None
    status: Status
    reason: str | None
    variant: str
    drawn: dict[str, object] | None

    def __init__(
        self,
        input: StrPath,
        output: StrPath | None,
        status: Status,
        reason: str | None = None,
        variant: str = "",
        drawn: dict[str, object] | None = None,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "_input", _text_or_path(input))
        set_field(self, "_output", None if output is None else _text_or_path(output))
        set_field(self, "status", status)
        set_field(self, "reason", reason)
        set_field(self, "variant", variant)
        set_field(self, "drawn", drawn)

    @property
    def input(self) -> Path:
        if isinstance(self._input, str):
            object.__setattr__(self, "_input", Path(self._input))
        assert isinstance(self._input, Path)
        return self._input

    @property
    def output(self) -> Path | None:
        if isinstance(self._output, str):
            object.__setattr__(self, "_output", Path(self._output))
        assert self._output is None or isinstance(self._output, Path)
        return self._output

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def _fields(self) -> tuple[object, ...]:
        return (self.input, self.output, self.status, self.reason, self.variant)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputRecord):
            return NotImplemented
        return self._fields() == other._fields() and self.drawn == other.drawn

    def __hash__(self) -> int:
        return hash(self._fields())  # drawn (a dict) left out: equal records still hash equal

    def __reduce__(self) -> tuple[type[OutputRecord], tuple[object, ...]]:
        return OutputRecord, (*self._fields(), self.drawn)  # pickle and copy: via __init__

    def __repr__(self) -> str:
        return (
            f"OutputRecord(input={self.input!r}, output={self.output!r}, status={self.status}, "
            f"reason={self.reason!r}, variant={self.variant!r}"
            + (f", drawn={self.drawn!r})" if self.drawn is not None else ")")
        )


def _text_or_path(path: StrPath) -> str | Path:
    return path if isinstance(path, str | Path) else Path(path)


@dataclass
class Report:
    """The outcome of a run: counts per status, and each failed input with its reason.

    Records are counted, not kept, so memory stays flat however many files a run has; pass
    ``on_record`` to ``run`` to see every one.
    """

    planned: int = 0
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    failures: list[tuple[Path, str]] = field(default_factory=list)  # once per input, in order
    replaced: list[Path] = field(default_factory=list)  # inputs --in-place overwrote
    elapsed: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False  # --fail-fast

    def add(self, record: OutputRecord) -> bool:
        """Count ``record``; True when it is the first failure of its input."""
        self.counts[record.status] += 1
        if record.failed and (not self.failures or self.failures[-1][0] != record.input):
            # an input's records arrive together: its second failed variant is no new failure
            self.failures.append((record.input, record.reason or "failed"))
            return True
        return False

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def written(self) -> int:
        return self.counts[Status.WRITTEN]

    @property
    def up_to_date(self) -> int:
        return self.counts[Status.UP_TO_DATE]

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    def summary(self) -> str:
        parts = [
            f"{self.written} written",
            f"{self.up_to_date} up to date",
            f"{self.failed} failed",
        ]
        left = self.planned - self.done
        if left and (self.interrupted or self.stopped_early):
            parts.append(f"{left} not done")
        return f"{', '.join(parts)} in {self.elapsed:.1f}s"
