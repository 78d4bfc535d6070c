"""The ``imgprep`` command: parse the command line, call ``pipeline.run``, print the outcome.

Grammar::

    imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]...

Typer 0.26 and later ignore Click's ``chain=True``, so the command is one Typer command whose
global options are parsed by Typer and whose first positional token starts the steps: Click's
``allow_interspersed_args=False`` hands every token from there on to ``steps``. ``steps.py``
cuts them at step names, and each piece is parsed by a Typer command generated from the step
table, so ``imgprep STEP --help`` documents every step and bad values get Typer's messages.

Every error is one line on stderr, ``Error: ...``; exit codes: 0 all good, 1 some input failed,
2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). This is the only module that
imports Typer and tqdm; Pillow and the pipeline are imported after ``--version`` is handled so
that shell one-liners start fast.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from inspect import Parameter, Signature
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperCommand

from imgprep import __version__
from imgprep.config import load_user_defaults
from imgprep.errors import ImgprepError, UsageError

if TYPE_CHECKING:
    from imgprep.pipeline import OutputRecord, Report, RunOptions
    from imgprep.steps import Step, StepDef

__all__ = ["app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143


def _epilog() -> str:
    # "\b" keeps Click from re-wrapping the block.
    from imgprep.steps import STEPS

    width = max(len(_step_usage(d)) for d in STEPS.values())
    lines = [f"  {_step_usage(d):<{width}}  {d.summary}" for d in STEPS.values()]
    return "\n".join(
        [
            "\b",
            "Steps (applied in the order given; 'imgprep STEP --help' shows a step's options):",
            *lines,
            "",
            "\b",
            "Exit codes: 0 all good; 1 some input failed (the others are still done);",
            "2 usage error (nothing written); 130 interrupted; 143 terminated.",
            "",
            "\b",
            "Example:",
            "  imgprep -i photos/ -o prepared/ resize 200x200 --mode cover grayscale \\",
            "      autocontrast --cutoff 3 augment --mirror",
        ]
    )


def _step_usage(definition: StepDef) -> str:
    return " ".join(
        [definition.name, *(p.metavar or p.name.upper() for p in definition.positionals)]
    )


class _PlainCoercion:
    """Typer's value coercion for the plain parameter types used here, without pydantic.

    Typer 0.26+ coerces every non-flag value through a pydantic ``TypeAdapter``, and the first
    one imports pydantic: ~0.1 s, a third of a one-image run. Values of the types this CLI uses
    (bool, str, list[str], int with bounds, Literal choices) are taken as they are or converted
    directly; any other value goes to Typer's own coercion, so errors keep Typer's wording.
    ``tests/test_cli.py`` checks that both agree and that a run does not import pydantic. If a
    Typer release drops the private hook (``_runtime_param``), Typer simply coerces as usual.
    """

    _DELEGATE = object()

    def __init__(self, annotation: Any, info: Any) -> None:
        self._annotation = annotation
        self._min, self._max = info.min, info.max
        self._choices = (
            frozenset(annotation.__args__)
            if getattr(annotation, "__origin__", None) is Literal
            else None
        )

    @classmethod
    def install(cls, params: Sequence[Any]) -> None:
        for param in params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or getattr(param, "_runtime_param", False) is not None:
                continue  # not a Typer parameter, or already set up
            annotation, info = descriptor.annotation, descriptor.parameter_info
            plain = annotation in (bool, str, int, list[str]) or (
                getattr(annotation, "__origin__", None) is Literal
                and all(isinstance(choice, str) for choice in annotation.__args__)
            )
            if plain and info.case_sensitive and not info.clamp:
                param._runtime_param = cls(annotation, info)

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        converted = self._convert(value)
        if converted is self._DELEGATE:
            param._runtime_param = None  # Typer builds its own, checks and words the error
            return param.get_runtime_param().coerce(value, param=param, ctx=ctx)
        return converted

    def _convert(self, value: Any) -> Any:
        annotation = self._annotation
        if annotation is bool:
            return value if isinstance(value, bool) else self._DELEGATE
        if annotation is str:
            return value if isinstance(value, str) else self._DELEGATE
        if annotation == list[str]:
            items = list(value) if isinstance(value, (list, tuple)) else None
            ok = items is not None and all(isinstance(item, str) for item in items)
            return items if ok else self._DELEGATE
        if self._choices is not None:
            return value if isinstance(value, str) and value in self._choices else self._DELEGATE
        if isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
            low_ok = self._min is None or number >= self._min
            high_ok = self._max is None or number <= self._max
            return number if low_ok and high_ok else self._DELEGATE
        return self._DELEGATE


class _PlainCoercionCommand(TyperCommand):
    """A Typer command whose parameters, ``--help`` included, coerce through _PlainCoercion."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _PlainCoercion.install(params)
        return params


class _OneLineErrorsCommand(_PlainCoercionCommand):
    """Reports usage errors as one ``Error: ...`` line (Click prints usage and a blank line),
    and lists the steps under ``--help`` (built on demand: it imports the step table)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[GLOBAL OPTIONS]", "STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]..."]

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        self.epilog = _epilog()
        super().format_epilog(ctx, formatter)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args=args,
                prog_name=prog_name or "imgprep",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except typer.TyperException as error:
            _print_error(error.format_message())
            code = getattr(error, "exit_code", EXIT_USAGE)
        except typer.Abort:
            code = EXIT_SIGINT
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imgprep {__version__}")
        raise typer.Exit()


app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.command(
    cls=_OneLineErrorsCommand,
    context_settings={"allow_interspersed_args": False},
    options_metavar="[GLOBAL OPTIONS]",
)
def imgprep(
    ctx: typer.Context,
    steps: Annotated[
        list[str] | None,
        typer.Argument(metavar="STEP", hidden=True, show_default=False),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "-i",
            "--input",
            metavar="PATH",
            help="An image file, a folder, or a glob pattern (quote it). Repeatable. "
            "'-' reads one path per line from stdin.",
            show_default=False,
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Walk sub-folders of input folders.")
    ] = False,
    output: Annotated[
        str | None,  # not Path: Typer would coerce it through pydantic (see _PlainCoercion)
        typer.Option(
            "-o",
            "--output",
            metavar="DIR",
            help="Output folder, created if missing; sub-folders of inputs are mirrored.",
            show_default=False,
        ),
    ] = None,
    null: Annotated[
        bool,
        typer.Option("--null", "-0", help="With '-i -': paths are NUL-separated (find -print0)."),
    ] = False,
    format: Annotated[
        Literal["same", "png", "jpeg", "webp", "tiff"] | None,
        typer.Option(help="Output format; 'same' keeps each input's.", show_default="same"),
    ] = None,
    quality: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            max=100,
            help="JPEG/WebP quality, 1-100.",
            show_default="the encoder's: JPEG 75, WebP 80",
        ),
    ] = None,
    png_compress_level: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=0,
            max=9,
            help="PNG deflate level 0-9 (zlib-ng): lower is faster and larger.",
            show_default="7, the size of Pillow's default",
        ),
    ] = None,
    optimize: Annotated[
        bool | None,
        typer.Option(
            "--optimize/--no-optimize",
            help="Extra encoder pass for smaller PNG/JPEG files (slower).",
            show_default="no",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            metavar="TEMPLATE",
            help="Output file name; fields {stem}, {suffix} (augment's _mirror...), {ext}.",
            show_default="{stem}{suffix}.{ext}",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "-j", "--workers", metavar="N", min=1, help="Worker threads.", show_default="CPU count"
        ),
    ] = None,
    buffer: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            help="Inputs computed ahead (bounds memory).",
            show_default="2 x workers",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr.",
            show_default="on when stderr is a terminal",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No summary line; errors are still printed.")
    ] = False,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Rebuild outputs even when up to date.")
    ] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop at the first failed input (exit 1).")
    ] = False,
    in_place: Annotated[
        bool,
        typer.Option("--in-place", help="Allow outputs to replace input files (-o equal to -i)."),
    ] = False,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            help="Refuse images whose header declares more pixels (decompression bombs).",
            show_default="89478485, Pillow's",
        ),
    ] = None,
    allow_truncated: Annotated[
        bool,
        typer.Option("--allow-truncated", help="Accept truncated images (missing part gray)."),
    ] = False,
    keep_icc: Annotated[
        bool,
        typer.Option(
            "--keep-icc/--strip-icc",
            help="Keep embedded ICC colour profiles, or convert colours to sRGB and drop them.",
        ),
    ] = True,
    fsync: Annotated[
        bool,
        typer.Option("--fsync", help="fsync each output before renaming it (power-loss safe)."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Prepare folders of images for data sets: resize, grayscale, autocontrast, augment...

    Inputs are read lazily and processed by a pool of worker threads; outputs are written
    atomically, and a re-run only redoes outputs whose input or steps changed.
    """
    try:
        chain = _parse_steps(steps or [])
        defaults = load_user_defaults()
        given = {
            key: value
            for key, value in {
                "format": format,
                "quality": quality,
                "png_compress_level": png_compress_level,
                "name": name,
                "workers": workers,
                "buffer": buffer,
                "max_pixels": max_pixels,
                "optimize": optimize,
            }.items()
            if value is not None
        }
        settings = {**defaults, **given}
        if output is None:
            raise UsageError("missing option -o/--output DIR")
        if not inputs:
            raise UsageError("no input given: use -i PATH (a file, folder or glob; '-' for stdin)")
        if null and "-" not in inputs:
            raise UsageError("--null goes with '-i -' (paths read from stdin)")
        from imgprep import files
        from imgprep.pipeline import RunOptions

        input_paths: list[str] = []
        if "-" in inputs:
            input_paths = files.read_path_list(sys.stdin.buffer, null=null)
        options = RunOptions(
            output=Path(output),
            steps=chain,
            inputs=[spec for spec in inputs if spec != "-"],
            input_paths=input_paths,
            recursive=recursive,
            format=settings["format"],
            quality=settings["quality"],
            png_compress_level=settings["png_compress_level"],
            optimize=settings["optimize"],
            name=settings["name"],
            workers=settings["workers"],
            buffer=settings["buffer"],
            force=force,
            fail_fast=fail_fast,
            in_place=in_place,
            max_pixels=settings["max_pixels"],
            allow_truncated=allow_truncated,
            keep_icc=keep_icc,
            fsync=fsync,
        )
        options.validate()
    except ImgprepError as error:
        _print_error(str(error))
        raise typer.Exit(EXIT_USAGE) from None
    show_progress = sys.stderr.isatty() if progress is None else progress
    raise typer.Exit(_run(options, show_progress=show_progress, quiet=quiet))


def _print_error(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)


def _parse_steps(tokens: list[str]) -> list[Step]:
    """Cut the tokens at step names and let each step's Typer command parse its piece."""
    from imgprep.steps import make_step, split_step_tokens

    chain = []
    for step_name, args in split_step_tokens(tokens):
        command = _step_command(step_name)
        try:
            ctx = command.make_context(f"imgprep {step_name}", list(args))
        except typer.TyperException as error:
            raise UsageError(f"{step_name}: {error.format_message()}") from None
        try:
            chain.append(make_step(step_name, **ctx.params))
        except ImgprepError as error:
            raise UsageError(f"{step_name}: {error}") from None
    return chain


def _step_command(step_name: str) -> Any:
    """A Typer command for one step, generated from its entry in the step table."""
    from imgprep.steps import STEPS

    definition = STEPS[step_name]
    parameters = []
    annotations: dict[str, Any] = {}
    for param in definition.params:
        info: Any
        if param.positional:
            info = typer.Argument(
                metavar=param.metavar or param.name.upper(), help=param.help, show_default=False
            )
        else:
            info = typer.Option(
                param.flag,
                metavar=param.metavar,
                help=param.help,
                show_default=param.default is not None and param.kind is not bool,
            )
        annotation: Any
        if param.choices:
            annotation = Literal[param.choices]
        elif param.parse is not None or param.kind is str:
            annotation = str  # the step table's parser checks it, in make_step
        else:
            annotation = param.kind
        if not param.positional and param.default is None and param.kind is not bool:
            annotation = annotation | None
        annotations[param.name] = Annotated[annotation, info]
        default = Parameter.empty if param.positional else param.default
        if annotation is str and default not in (None, Parameter.empty):
            default = str(default)  # as Typer would coerce it (0.0 -> "0.0"), without pydantic
        if param.kind is bool and default is None:
            default = False
        parameters.append(
            Parameter(
                param.name,
                Parameter.KEYWORD_ONLY,
                default=default,
                annotation=annotations[param.name],
            )
        )

    def callback(**values: Any) -> None:  # parsing only: make_context never invokes it
        pass

    callback.__signature__ = Signature(parameters)  # type: ignore[attr-defined]
    callback.__annotations__ = annotations
    step_app = typer.Typer(
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    step_app.command(
        step_name,
        cls=_PlainCoercionCommand,
        help=definition.description,
        epilog=f"Example: {definition.example}",
    )(callback)
    return typer.main.get_command(step_app)


def _run(options: RunOptions, *, show_progress: bool, quiet: bool) -> int:
    from imgprep.pipeline import run

    bar: Any = None  # a tqdm bar; tqdm is imported only when one is shown
    reported: set[Path] = set()
    received: list[int] = []

    def on_start(total: int) -> None:
        nonlocal bar
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)

    def on_record(record: OutputRecord) -> None:
        if record.failed and record.input not in reported:
            reported.add(record.input)
            message = f"Error: {record.input}: {record.reason}"
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                typer.echo(message, err=True)
        if bar is not None:
            bar.update()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = _install_sigterm(on_sigterm)
    try:
        report: Report = run(options, on_start=on_start, on_record=on_record)
    except ImgprepError as error:
        _print_error(str(error))
        return EXIT_FAILED
    finally:
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


def _install_sigterm(handler: Callable[[int, FrameType | None], None]) -> Any:
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    """Console-script entry point (``imgprep`` and ``python -m imgprep``)."""
    app(prog_name="imgprep")
