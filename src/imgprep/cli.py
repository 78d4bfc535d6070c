"""The ``imgprep`` command: read the words, call ``pipeline.run``, print the outcome.

    imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]...

Typer runs the program and hands every word over untouched through its public
``Context.args``; ``_cmdline`` parses them against the global option table and
``_step_parse`` against the step table (why imgprep parses its own words is said there), and
``_help`` renders help from the same tables. Two first words are commands of their own:
``imgprep inspect`` (a contact sheet of one image's stages, ``_inspect``) and ``imgprep
presets``. Shell completion answers Typer's protocol (``_IMGPREP_COMPLETE``) with
``_completion``, through a command built only when a shell asks.

Every error is one line on stderr, ``Error: ...``; exit codes: 0 all good, 1 some input failed,
2 usage error (nothing written), 75 another run is writing to the output folder and
``--no-wait`` was given, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). This is
the only module that imports Typer and tqdm; Pillow and the pipeline are imported after
``--version`` and ``--help`` are answered, so shell one-liners start fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from imgprep._cmdline import CommandLine, global_spellings, parse_command_line
from imgprep._global_options import COMMANDS, HELP_FLAGS
from imgprep._version import __version__
from imgprep.errors import FolderBusyError, ImgprepError, UsageError

if TYPE_CHECKING:
    from imgprep._commands import InspectRequest
    from imgprep._runlog import RunLog
    from imgprep.pipeline import OutputRecord, Report, RunOptions

__all__ = ["app", "main", "run_command_line"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143
EXIT_BUSY = 75  # EX_TEMPFAIL (sysexits.h): --no-wait, and another run holds the output folder

# Settings of the command line itself, not of a run.
_CLI_ONLY = ("null", "progress", "quiet", "report", "verbose")

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
_CONTEXT_SETTINGS: dict[str, Any] = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": [],  # -h and --help are imgprep's own words, per step too
}
COMPLETE_VAR = "_IMGPREP_COMPLETE"  # set by the shell completion scripts (Typer's)


@app.command(context_settings=_CONTEXT_SETTINGS)
def imgprep(ctx: typer.Context) -> None:
    """Prepare folders of images for data sets (see imgprep --help)."""
    raise typer.Exit(run_command_line(ctx.args))


def main() -> None:
    """Console-script entry point (``imgprep`` and ``python -m imgprep``)."""
    if os.environ.get(COMPLETE_VAR):  # a shell's completion script asks what to offer
        _completion_command()(prog_name="imgprep")  # prints the offers and exits
        return
    app(prog_name="imgprep")


def run_command_line(words: Sequence[str]) -> int:
    """Do what the words ask; return the exit code. Every refusal is one ``Error:`` line."""
    if words and words[0] in COMMANDS:  # imgprep inspect ..., imgprep presets
        return _COMMAND_RUNNERS[words[0]](words[1:])
    try:
        line = parse_command_line(words)
        answered = _answer_help_or_version(line, words)
        if answered is not None:
            return answered
        options, cli_only = _run_options(line)
        quiet = bool(cli_only.get("quiet"))
        lines = _Lines()
        log = _run_log(cli_only, quiet, words, lines)
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGINT
    progress = cli_only.get("progress")
    show_progress = (not quiet and sys.stderr.isatty()) if progress is None else bool(progress)
    screen = _Screen(options, show_progress=show_progress, quiet=quiet, log=log, lines=lines)
    return _run(options, screen)


def _run_log(cli_only: dict[str, Any], quiet: bool, words: Sequence[str], lines: _Lines) -> RunLog:
    """The report file, -v and the dry run's listing (``_runlog``); opens the report file."""
    from imgprep._runlog import RunLog

    verbose = bool(cli_only.get("verbose"))
    if verbose and quiet:
        raise UsageError("-v/--verbose and -q/--quiet ask for opposite things: give one")
    return RunLog(
        cli_only.get("report"),
        verbose=verbose,
        quiet=quiet,
        command=["imgprep", *words],
        say=lines.say,
    )


class _Lines:
    """imgprep's own lines on stderr (``Error:``, ``Warning:``, -v's): above the progress bar
    while one shows, never glued to it."""

    def __init__(self) -> None:
        self.bar: Any = None  # the tqdm bar showing, if any; tqdm is imported only to show one

    def say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            typer.echo(line, err=True)


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
    from imgprep._commands import apply_preset
    from imgprep._step_parse import parse_step_tokens

    line = apply_preset(line)  # --preset NAME: its settings and steps under the words given
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
    from imgprep._discover import read_path_list
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


def _run(options: RunOptions, screen: _Screen) -> int:
    from imgprep._chatter import c_stderr_as_lines
    from imgprep.pipeline import run

    log = screen.log
    received: list[int] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = _install_sigterm(on_sigterm)
    try:
        # What C libraries write to descriptor 2 (libtiff), as whole lines of imgprep's. Not
        # with Dask: its worker processes would inherit the pipe and keep it open after the run.
        local = options.executor == "threads"
        with c_stderr_as_lines(screen.on_chatter) if local else contextlib.nullcontext():
            report: Report = run(options, **screen.callbacks())
    except FolderBusyError as error:  # --no-wait, and another run holds the folder
        screen.say(f"Error: {error}")  # above the progress bar, if one shows by now
        log.finish(None, EXIT_BUSY, options.seed, str(error))
        return EXIT_BUSY
    except ImgprepError as error:  # the run cannot start as asked: nothing was written
        screen.say(f"Error: {error}")
        code = EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAILED
        log.finish(None, code, options.seed, str(error))
        return code
    finally:
        screen.close()
        _restore_sigterm(previous)
    code = _exit_code(report, bool(received))
    _print_summary(report, screen.quiet, options.shard)
    log.finish(report, code, options.seed)
    return code


class _Screen:
    """What a command-line run shows as it goes: the planning bar, then the progress bar (only
    with ``show_progress``), ``Error:`` and ``Warning:`` lines above it, and each record to
    ``log`` (the report and -v)."""

    def __init__(
        self, options: RunOptions, *, show_progress: bool, quiet: bool, log: RunLog, lines: _Lines
    ):
        self.options, self.show_progress, self.quiet, self.log = options, show_progress, quiet, log
        self.lines, self.say = lines, lines.say  # the progress bar, once shown, is lines.bar
        self.planning = _PlanningBar()

    def callbacks(self) -> dict[str, Any]:
        """What ``pipeline.run`` is given. Without a bar, a report or -v, no ``on_record``:
        the outputs already up to date are then only counted."""
        given: dict[str, Any] = {
            "on_start": self.on_start,
            "on_failure": self.on_failure,
            "on_warning": self.on_warning,
            "on_planned": self.log.planned,
            "details": self.log.wants_records,
        }
        if self.show_progress:
            given["on_planning"] = self.planning
        if self.show_progress or self.log.wants_records:
            given["on_record"] = self.on_record
        if not self.quiet:
            given["on_wait"] = self.on_wait
        return given

    def on_wait(self, message: str) -> None:  # another run holds the output folder
        self.say(f"imgprep: {message}")

    def on_start(self, total: int) -> None:
        self.planning.close()
        if self.show_progress and not self.options.dry_run:  # a dry run lists: nothing made
            from tqdm import tqdm

            self.lines.bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)

    def on_failure(self, path: str, reason: str) -> None:
        self.say(f"Error: {path}: {reason}")

    def on_warning(self, path: str, reason: str) -> None:
        if not self.quiet:
            self.say(f"Warning: {path}: {reason}")

    def on_chatter(self, line: str) -> None:
        from imgprep._chatter import labelled

        if not self.quiet:
            self.say(labelled(line))

    def on_record(self, record: OutputRecord) -> None:
        if self.lines.bar is not None:
            self.lines.bar.update()
        self.log.record(record)

    def close(self) -> None:
        self.planning.close()
        if self.lines.bar is not None:
            self.lines.bar.close()
            self.lines.bar = None


def _exit_code(report: Report, terminated: bool) -> int:
    if report.interrupted:
        return EXIT_SIGTERM if terminated else EXIT_SIGINT
    from imgprep._dryrun import WOULD_FAIL  # loaded with the run already

    would_fail = report.dry_run is not None and report.dry_run.get(WOULD_FAIL, 0) > 0
    return EXIT_FAILED if report.failures or would_fail else EXIT_OK


def _print_summary(report: Report, quiet: bool, shard: tuple[int, int] | None) -> None:
    if not quiet:
        for note in report.notes:
            typer.echo(f"Warning: {note}", err=True)
    if report.planned == 0:
        where = "found" if shard is None else "in shard {}/{}".format(*shard)
        typer.echo(f"imgprep: no input images {where}", err=True)
    elif not quiet or report.interrupted:
        typer.echo(f"imgprep: {report.summary()}", err=True)


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


# --- imgprep inspect, imgprep presets -----------------------------------------------------------


def _inspect_command(words: Sequence[str]) -> int:
    """``imgprep inspect [OPTIONS] IMAGE [OPTIONS] STEP...``: write a contact sheet of the
    stages of one image (see ``_inspect``)."""
    from imgprep import _commands, _help

    try:
        line = _commands.parse_inspect_line(words)
        if line.help_step == "":
            typer.echo(_help.inspect_help(), nl=False)
            return EXIT_OK
        if line.help_step:
            from imgprep._step_table import STEPS

            typer.echo(_help.step_help(STEPS[line.help_step]), nl=False)
            return EXIT_OK
        request = _commands.inspect_request(line)
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_USAGE
    try:
        panels = _write_sheet(request)
    except ImgprepError as error:  # the image cannot be read, a step fails on it, a full disk
        _print_error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_SIGINT
    typer.echo(f"imgprep: wrote {request.output} ({panels} panels)", err=True)
    return EXIT_OK


def _write_sheet(request: InspectRequest) -> int:
    """Compute ``request``'s stages, write its sheet atomically; return the panel count."""
    from imgprep import _inspect, files

    loaded = files.load_image(
        request.image, max_pixels=request.max_pixels, allow_truncated=request.allow_truncated
    )
    rows = _inspect.stage_rows(loaded.image, request.steps, request.image)
    sheet = _inspect.contact_sheet(rows, request.height)
    files.save_image(sheet.image, request.output, format="PNG")
    return len(sheet.boxes)


def _presets_command(words: Sequence[str]) -> int:
    """``imgprep presets``: each preset of the config file and what it stands for; a broken
    one is an ``Error:`` line (and exit 2), the others are still listed."""
    from imgprep import _commands, _help
    from imgprep.config import load_presets

    if any(word in HELP_FLAGS for word in words):
        typer.echo(_help.presets_help(), nl=False)
        return EXIT_OK
    try:
        if words:
            raise UsageError(f"presets takes no words, not {words[0]!r} (see imgprep presets -h)")
        path, presets = load_presets()
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_USAGE
    listed: list[tuple[str, str]] = []
    broken = 0
    for preset in presets.values():
        try:
            steps = [step.describe() for step in _commands.preset_steps(preset)]
            flags = _commands.preset_flags(_commands.preset_settings(preset))
        except UsageError as error:
            _print_error(str(error))
            broken += 1
            continue
        listed.append((preset.name, " ".join([*flags, *steps]) or "(nothing)"))
    typer.echo(_help.presets_listing(path, listed), nl=False)
    return EXIT_USAGE if broken else EXIT_OK


_COMMAND_RUNNERS: dict[str, Callable[[Sequence[str]], int]] = {
    "inspect": _inspect_command,
    "presets": _presets_command,
}


# --- shell completion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Offer:
    """One completion, as Typer's completion classes read one (Click's ``CompletionItem``)."""

    value: str
    help: str | None = None
    type: str = "plain"


def _completion_command() -> Callable[..., Any]:
    """The command that answers a shell's completion script, Typer's own way.

    Built only when ``_IMGPREP_COMPLETE`` is set, so a run declares nothing. Its class offers
    ``_completion.suggest`` for every word (Click would send a word starting with ``-`` to the
    command's own options, which imgprep does not declare), and the words typed so far reach
    it untouched in ``Context.args``. ``add_completion=True`` makes Typer register its bash,
    zsh, fish and PowerShell scripts; its ``--install-completion`` and ``--show-completion``
    options are dropped: they are not imgprep's, and Typer would coerce them through pydantic
    at every TAB.
    """
    from typer.core import TyperCommand

    from imgprep._completion import suggest

    class Completing(TyperCommand):
        def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:  # a typer.Context
            return [_Offer(value, text or None) for value, text in suggest(ctx.args, incomplete)]

    completing = typer.Typer(add_completion=True, rich_markup_mode=None)
    completing.command(cls=Completing, context_settings=_CONTEXT_SETTINGS)(imgprep)
    command = typer.main.get_command(completing)
    dropped = ("install_completion", "show_completion")
    command.params = [param for param in command.params if param.name not in dropped]
    return command
