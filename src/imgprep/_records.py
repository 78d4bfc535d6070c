"""What a run reports: one ``OutputRecord`` per planned output, counted into a ``Report``.

A record carries the facts every caller needs (paths, status, reason, the input's decode
warnings) and, only when the caller asks for them (``--report``, ``-v``), its ``Details``:
sizes, bytes, orientation, decode scale and time. A run that asks for none makes none, so a
cron run over many files keeps nothing per output.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from imgprep._fs import StrPath, file_identity

__all__ = ["Details", "OutputRecord", "Report", "Status"]


class Status(enum.Enum):
    WRITTEN = "written"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Details:
    """What a report says about one output beyond its status; None where not known (an output
    already up to date is not decoded: only its bytes are known).

    ``input_size`` is the size the input file stores (before EXIF orientation),
    ``orientation`` the EXIF orientation applied (1: none), ``decode_scale`` the scale the
    decoder reduced to (1.0 full, 0.25 for a JPEG decoded at 1/4), ``seconds`` the worker's
    time for this output (the first output of an input also pays for its decode)."""

    input_bytes: int | None = None
    output_bytes: int | None = None
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    orientation: int | None = None
    decode_scale: float | None = None
    seconds: float | None = None

    @classmethod
    def joined(
        cls,
        source: Details | None,
        written: Details | None,
        *,
        input_bytes: int | None = None,
        seconds: float | None = None,
    ) -> Details:
        """One output's details from its input's side (``source``: what the decode found) and
        its output's (``written``: what was written); ``input_bytes`` when ``source`` has none.
        Built field by field: this runs for every output of a reported run."""
        have = source or _UNKNOWN
        out = written or _UNKNOWN
        return cls(
            input_bytes=input_bytes if have.input_bytes is None else have.input_bytes,
            output_bytes=out.output_bytes,
            input_size=have.input_size,
            output_size=out.output_size,
            orientation=have.orientation,
            decode_scale=have.decode_scale,
            seconds=seconds,
        )

    @classmethod
    def up_to_date(cls, output: StrPath, input_bytes: int | None) -> Details:
        """An output already up to date, whose input was not decoded: only the bytes of the
        output file (a stat) and of its input are known."""
        identity = file_identity(output)
        return cls(input_bytes=input_bytes, output_bytes=None if identity is None else identity[0])


_UNKNOWN = Details()


class OutputRecord:
    """What happened to one planned output: ``input`` and ``output`` (None unless written or up
    to date), its ``status``, the ``reason`` of a failure and the ``variant`` suffix; the
    ``warnings`` of its input's decode (problems that let the pixels come out), the random
    parameters ``drawn`` for it (None when nothing random), and its ``details`` (None unless
    the run was asked for them). Immutable.

    The paths may be given as text; they become ``Path`` objects when first read, so a run that
    only counts its records makes no Path objects for them (Python 3.11's pathlib interns every
    name it parses, and a run's memory should not grow with its number of files).
    """

    __slots__ = ("_input", "_output", "details", "drawn", "reason", "status", "variant", "warnings")

    _input: Path | str
    _output: Path | str | None
    status: Status
    reason: str | None
    variant: str
    warnings: tuple[str, ...]
    drawn: dict[str, object] | None
    details: Details | None

    def __init__(
        self,
        input: StrPath,
        output: StrPath | None,
        status: Status,
        reason: str | None = None,
        variant: str = "",
        warnings: tuple[str, ...] = (),
        drawn: dict[str, object] | None = None,
        details: Details | None = None,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "_input", _text_or_path(input))
        set_field(self, "_output", None if output is None else _text_or_path(output))
        set_field(self, "status", status)
        set_field(self, "reason", reason)
        set_field(self, "variant", variant)
        set_field(self, "warnings", warnings)
        set_field(self, "drawn", drawn)
        set_field(self, "details", details)

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
    def input_text(self) -> str:
        """``input`` as text, without making a Path (a report writes many)."""
        return str(self._input)

    @property
    def output_text(self) -> str | None:
        return None if self._output is None else str(self._output)

    def with_details(self, details: Details) -> OutputRecord:
        """This record with ``details``."""
        fields = (self.reason, self.variant, self.warnings, self.drawn)
        return OutputRecord(self._input, self._output, self.status, *fields, details=details)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def _fields(self) -> tuple[object, ...]:
        return (
            *self._key(),
            self.warnings,
            self.drawn,
            self.details,
        )

    def _key(self) -> tuple[object, ...]:
        return (self.input, self.output, self.status, self.reason, self.variant)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"OutputRecord is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputRecord):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._key())  # `drawn` is a dict: equal records still hash alike

    def __reduce__(self) -> tuple[type[OutputRecord], tuple[object, ...]]:
        return OutputRecord, self._fields()  # pickle and copy go through __init__

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (
                ("warnings", self.warnings),
                ("drawn", self.drawn),
                ("details", self.details),
            )
            if value
        )
        return (
            f"OutputRecord(input={self.input!r}, output={self.output!r}, status={self.status}, "
            f"reason={self.reason!r}, variant={self.variant!r}{extra})"
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
    pruned: int = 0  # outputs --prune removed (or, in a dry run, would remove)
    notes: list[str] = field(default_factory=list)  # about the whole run ("not pruned: ...")
    # a dry run: how many outputs each of its words lists ("WOULD-WRITE": 3, ...); None else
    dry_run: dict[str, int] | None = None

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
        if self.dry_run is not None:
            return self._dry_run_summary(self.dry_run)
        parts = [
            f"{self.written} written",
            f"{self.up_to_date} up to date",
            f"{self.failed} failed",
        ]
        left = self.planned - self.done
        if left and (self.interrupted or self.stopped_early):
            parts.append(f"{left} not done")
        if self.pruned:
            parts.append(f"{self.pruned} pruned")
        return f"{', '.join(parts)} in {self.elapsed:.1f}s"

    def _dry_run_summary(self, counts: dict[str, int]) -> str:
        parts = [
            f"{counts.get('WOULD-WRITE', 0)} to write",
            f"{counts.get('UP-TO-DATE', 0)} up to date",
        ]
        for word, text in (("WOULD-CHECK", "to check"), ("WOULD-FAIL", "would fail")):
            if counts.get(word):
                parts.append(f"{counts[word]} {text}")
        if self.pruned:
            parts.append(f"{self.pruned} to prune")
        return f"dry run: {', '.join(parts)} (nothing written) in {self.elapsed:.1f}s"
