"""What a run tells as it goes, besides the progress bar: the JSON Lines report (``--report``),
one human line per output (``-v``), the dry run's listing and the pruned outputs.

The report is one JSON object per line, written and flushed as each output is counted, so a
``kill -9`` leaves every finished line readable; its fields are documented in docs/cli.md
("The run report"). The last object (``"status": "summary"``) has the run's totals, the
imgprep version, the seed and the full command. Pure formatting and writing: the CLI decides
where stderr lines go (above a progress bar) and passes ``say``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from imgprep._dryrun import PRUNED
from imgprep._fs import reason_for_os_error
from imgprep._records import Details, OutputRecord, Report, Status
from imgprep._version import __version__
from imgprep.errors import UsageError

__all__ = ["RunLog", "planned_line", "record_object", "verbose_line"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_NOTHING_KNOWN = Details()  # a record made without details: every field null


def _status(status: Status) -> str:
    return status.value.replace(" ", "-")  # "up to date" -> "up-to-date"


def record_object(record: OutputRecord) -> dict[str, Any]:
    """The report's object for one output (fields unknown for it are null; sizes are
    ``[width, height]``, as JSON writes a tuple)."""
    details = record.details or _NOTHING_KNOWN
    seconds = details.seconds
    line: dict[str, Any] = {
        "status": _status(record.status),
        "input": record.input_text,
        "output": record.output_text,
        "variant": record.variant,
        "error": record.reason,
        "input_size": details.input_size,
        "output_size": details.output_size,
        "input_bytes": details.input_bytes,
        "output_bytes": details.output_bytes,
        "orientation": details.orientation,
        "decode_scale": details.decode_scale,
        "seconds": None if seconds is None else round(seconds, 6),
        "warnings": record.warnings,
    }
    if record.drawn is not None:
        line["drawn"] = record.drawn
    return line


def planned_object(word: str, input: str, output: str, reason: str | None) -> dict[str, Any]:
    """The report's object for one line of a dry run, or one pruned output."""
    return {
        "status": word.lower(),
        "input": input or None,
        "output": output,
        "error": reason,
    }


def planned_line(word: str, input: str, output: str, reason: str | None) -> str:
    """``WOULD-WRITE in -> out``, ``WOULD-FAIL in -> out: reason``, ``WOULD-PRUNE out``."""
    if not input:
        return f"{word} {output}"
    return f"{word} {input} -> {output}" + (f": {reason}" if reason else "")


def verbose_line(record: OutputRecord) -> str:
    """``-v``'s line for one output: what happened, and what was measured."""
    word = _status(record.status).upper()
    if record.status is Status.FAILED:
        return f"{word} {record.input_text}: {record.reason or 'failed'}"
    line = f"{word} {record.input_text} -> {record.output_text}"
    details = record.details
    if details is None or record.status is not Status.WRITTEN:
        return line
    facts = []
    if details.input_size and details.output_size:
        facts.append(f"{_size(details.input_size)} -> {_size(details.output_size)}")
    if details.decode_scale and details.decode_scale < 1:
        facts.append(f"decoded at 1/{round(1 / details.decode_scale)}")
    if details.orientation and details.orientation != 1:
        facts.append(f"EXIF orientation {details.orientation}")
    if details.output_bytes is not None:
        facts.append(f"{details.output_bytes:,} bytes")
    if details.seconds is not None:
        facts.append(f"{details.seconds:.3f}s")
    return f"{line} ({', '.join(facts)})" if facts else line


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class RunLog:
    """The report file (``report_to``: a path, ``-`` for stdout, None for none), the ``-v``
    lines and the listing, for one run. ``say`` prints one line on stderr."""

    def __init__(
        self,
        report_to: str | None,
        *,
        verbose: bool,
        quiet: bool,
        command: Sequence[str],
        say: Callable[[str], None],
    ) -> None:
        self.verbose, self.quiet, self.command = verbose, quiet, list(command)
        self.say = say
        self.to_stdout = report_to == "-"
        self._file: IO[str] | None = None
        self._stdout_open = True
        if report_to == "-":
            self._file = sys.stdout
        elif report_to is not None:
            try:
                self._file = open(report_to, "w", encoding="utf-8")  # noqa: SIM115 closed by finish
            except OSError as error:
                reason = reason_for_os_error(error, report_to)
                raise UsageError(f"cannot write the report {report_to}: {reason}") from None

    @property
    def wants_records(self) -> bool:
        """Whether every output's record, with its details, is needed."""
        return self.verbose or self._file is not None

    def _write(self, value: dict[str, Any]) -> None:
        if self._file is not None:
            try:
                self._file.write(_ENCODER.encode(value) + "\n")
                self._file.flush()  # a kill -9 leaves every line written so far whole
            except OSError as error:  # a full disk, or `--report - | head` that stopped reading
                self._report_lost(error)

    def _report_lost(self, error: OSError) -> None:
        """The report can no longer be written: say so once and let the run go on (its outputs
        and manifest do not depend on the report)."""
        lost, self._file = self._file, None
        if lost is sys.stdout:
            _silence_stdout()
            where = "-"
        elif lost is not None:
            where = lost.name
            with contextlib.suppress(OSError):
                lost.close()
        self.say(
            f"Warning: --report {where}: {reason_for_os_error(error, where)}; the rest of the"
            " report is not written (the run goes on)"
        )

    def _print(self, line: str) -> None:
        """A listing line on stdout; a reader that went away (``| head``) stops the listing."""
        if self._stdout_open:
            try:
                sys.stdout.write(line + "\n")
            except BrokenPipeError:
                _silence_stdout()
                self._stdout_open = False

    def record(self, record: OutputRecord) -> None:
        self._write(record_object(record))
        if self.verbose:
            self.say(verbose_line(record))

    def planned(self, word: str, input: str, output: str, reason: str | None) -> None:
        """A dry run's line (stdout, unless the report goes there) or a pruned output (stderr,
        unless ``-q``)."""
        if self._file is not None:  # a dry run lists every output: no object without a report
            self._write(planned_object(word, input, output, reason))
        if word == PRUNED:
            if not self.quiet:
                self.say(planned_line(word, input, output, reason))
        elif not self.to_stdout and self._stdout_open:
            self._print(planned_line(word, input, output, reason))

    def finish(
        self, report: Report | None, exit_code: int, seed: int, error: str | None = None
    ) -> None:
        """The last object: the run's totals (``report`` None when the run never started)."""
        summary: dict[str, Any] = {"status": "summary"}
        if report is not None:
            summary |= {
                "planned": report.planned,
                "written": report.written,
                "up_to_date": report.up_to_date,
                "failed": report.counts[Status.FAILED],
                "failed_inputs": report.failed,
                "not_done": report.planned - report.done if report.dry_run is None else 0,
                "pruned": report.pruned if report.dry_run is None else 0,  # else WOULD-PRUNE
                "interrupted": report.interrupted,
                "dry_run": report.dry_run,
                "seconds": round(report.elapsed, 3),
            }
        summary |= {
            "exit_code": exit_code,
            "error": error,
            "version": __version__,
            "seed": seed,
            "command": self.command,
        }
        self._write(summary)
        if self._file is not None and self._file is not sys.stdout:
            self._file.close()
        self._file = None


def _silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that nothing more, not even the
    interpreter's last flush at exit, fails on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
