"""The ``imgprep`` command: read the words, call ``pipeline.run``, print the outcome.

    imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]...

Typer runs the program and hands every word over untouched through its public
``Context.args``; ``_cmdline`` parses them against the global option table and
``_step_parse`` against the step table (why imgprep parses its own words is said there), and
``_help`` renders help from the same tables.

Every error is one line on stderr, ``Error: ...``; exit codes: 0 all good, 1 some input failed,
2 usage error (nothing written), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). This is
the only module that imports Typer and tqdm; Pillow and the pipeline are imported after
``--version`` and ``--help`` are answered, so shell one-liners start fast.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from imgprep._cmdline import CommandLine, global_spellings, parse_command_line
from imgprep._version import __version__
from imgprep.errors import ImgprepError, UsageError

if TYPE_CHECKING:
    from imgprep.pipeline import OutputRecord, Report, RunOptions

__all__ = ["app", "main", "run_command_line"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143

# Settings of the command line itself, not of a run.
_CLI_ONLY = ("null", "progress", "quiet")

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],  # -h and --help are imgprep's own words, per step too
    }
)
def imgprep(ctx: typer.Context) -> None:
    """Prepare folders of images for data sets (see imgprep --help)."""
    raise typer.Exit(run_command_line(ctx.args))


def main() -> None:
    """Console-script entry point (``imgprep`` and ``python -m imgprep``)."""
    app(prog_name="imgprep")


def run_command_line(words: Sequence[str]) -> int:
    """Do what the words ask; return the exit code. Every refusal is one ``Error:`` line."""
    try:
        line = parse_command_line(words)
        answered = _answer_help_or_version(line, words)
        if answered is not None:
            return answered
        options, cli_only = _run_options(line)
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGINT
    quiet = bool(cli_only.get("quiet"))
    progress = cli_only.get("progress")
    show_progress = (not quiet and sys.stderr.isatty()) if progress is None else bool(progress)
    return _run(options, show_progress=show_progress, quiet=quiet)


def _answer_help_or_version(line: CommandLine, words: Sequence[str]) -> int | None:
    if line.version:
        typer.echo(f"imgprep {__version__}")
        return EXIT_OK
    if line.help_step is None and words:
        return None
    from imgprep import _help
    from imgprep._step_table import STEPS

    if not words:  # a bare `imgprep`: what it is and how to ask for more, as a usage error
        typer.echo(_help.short_usage(STEPS), err=True, nl=False)
        return EXIT_USAGE
    if line.help_step:
        typer.echo(_help.step_help(STEPS[line.help_step]), nl=False)
    else:
        typer.echo(_help.global_help(STEPS), nl=False)
    return EXIT_OK


def _run_options(line: CommandLine) -> tuple[RunOptions, dict[str, Any]]:
    """The run the words describe, checked, with the user's config file as defaults."""
    from imgprep._step_parse import parse_step_tokens

    given = dict(line.given)
    cli_only = {key: given.pop(key) for key in _CLI_ONLY if key in given}
    steps = parse_step_tokens(line.step_words, global_options=global_spellings())
    output = given.pop("output", None)
    if output is None:
        raise UsageError("missing option -o/--output DIR")
    inputs = given.pop("inputs", [])
    if not inputs:
        raise UsageError("no input given: use -i PATH (a file, folder or glob; '-' for stdin)")
    null = bool(cli_only.get("null"))
    if "-" not in inputs:
        for spelled, given_key in (("--null", null), ("--base", "base" in given)):
            if given_key:
                raise UsageError(f"{spelled} goes with '-i -' (paths read from stdin)")
    from imgprep.files import read_path_list
    from imgprep.pipeline import RunOptions

    options = RunOptions.from_settings(
        output=Path(output),
        steps=steps,
        inputs=[spec for spec in inputs if spec != "-"],
        input_paths=read_path_list(sys.stdin.buffer, null=null) if "-" in inputs else [],
        **given,
    )
    options.validate()
    return options, cli_only


def _print_error(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)


def _run(options: RunOptions, *, show_progress: bool, quiet: bool) -> int:
    from imgprep.pipeline import run

    bar: Any = None  # a tqdm bar; tqdm is imported only when one is shown
    received: list[int] = []
    planning = _PlanningBar()

    def on_start(total: int) -> None:
        nonlocal bar
        planning.close()
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)

    def on_failure(path: str, reason: str) -> None:
        message = f"Error: {path}: {reason}"
        if bar is not None:
            bar.write(message, file=sys.stderr)
        else:
            typer.echo(message, err=True)

    def on_record(record: OutputRecord) -> None:
        if bar is not None:
            bar.update()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = _install_sigterm(on_sigterm)
    try:
        # without a bar no on_record: the outputs already up to date are then only counted
        shown: dict[str, Any] = {"on_record": on_record, "on_planning": planning}
        shown = shown if show_progress else {}
        report: Report = run(options, on_start=on_start, on_failure=on_failure, **shown)
    except UsageError as error:  # the run cannot start as asked: nothing was written
        _print_error(str(error))
        return EXIT_USAGE
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_FAILED
    finally:
        planning.close()
        if bar is not None:
            bar.close()
        _restore_sigterm(previous)
    if report.planned == 0:
        typer.echo("imgprep: no input images found", err=True)
    elif not quiet or report.interrupted:
        typer.echo(f"imgprep: {report.summary()}", err=True)
    if report.interrupted:
        return EXIT_SIGTERM if received else EXIT_SIGINT
    return EXIT_FAILED if report.failures else EXIT_OK


PLANNING_BAR_AFTER = 1.0  # seconds of planning before a progress bar shows it


class _PlanningBar:
    """``on_planning`` for a progress bar that appears once planning has taken a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.bar: Any = None

    def __call__(self, stage: str, count: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < PLANNING_BAR_AFTER:
                return
            from tqdm import tqdm

            self.bar = tqdm(
                desc=stage, unit=" files", file=sys.stderr, dynamic_ncols=True, leave=False
            )
        if self.bar.desc != stage:
            self.bar.reset()
            self.bar.set_description_str(stage)  # shown now, whatever the refresh rate
        self.bar.update(count - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _install_sigterm(handler: Callable[[int, FrameType | None], None]) -> Any:
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
