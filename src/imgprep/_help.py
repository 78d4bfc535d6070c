"""The help texts, rendered from the tables: ``imgprep --help``, ``imgprep STEP --help`` and
the short usage a bare ``imgprep`` prints. Nothing here is written by hand per option or step,
so help cannot drift from what the parser accepts (the docs tests hold docs/cli.md to it)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from imgprep._commands import INSPECT_OPTIONS
from imgprep._global_options import COMMANDS, GLOBAL_OPTIONS, GlobalOption, Kind
from imgprep._step_model import Param, StepDef, format_value

__all__ = [
    "GRAMMAR",
    "INSPECT_GRAMMAR",
    "global_help",
    "inspect_help",
    "presets_help",
    "presets_listing",
    "short_usage",
    "step_help",
]

GRAMMAR = "imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]..."
INSPECT_GRAMMAR = "imgprep inspect [OPTIONS] IMAGE [OPTIONS] [STEP [STEP OPTIONS]]..."
COMMAND_USAGE = {"inspect": "inspect IMAGE -o SHEET STEP...", "presets": "presets"}
WIDTH = 100
EXIT_CODES = (
    "Exit codes: 0 all good; 1 some input failed (the others are still done);\n"
    "2 usage error (nothing written); 130 interrupted; 143 terminated."
)
EXAMPLE = (
    "Example:\n"
    "  imgprep -i photos/ -o prepared/ resize 200x200 --mode cover grayscale \\\n"
    "      autocontrast --cutoff 3 augment --mirror"
)
DESCRIPTION = (
    "Prepare folders of images for data sets: resize, grayscale, autocontrast, augment...\n\n"
    "Inputs are read lazily and processed by a pool of worker threads; outputs are written "
    "atomically, and a re-run only redoes outputs whose input or steps changed."
)


def _rows(rows: Iterable[tuple[str, str]]) -> list[str]:
    """Two columns, the second wrapped; a long first column puts the text on the next line."""
    rows = list(rows)
    width = min(max((len(left) for left, _ in rows), default=0), 30)
    lines: list[str] = []
    for left, text in rows:
        wrapped = textwrap.wrap(text, WIDTH - width - 6) or [""]
        if len(left) > width:
            lines.append(f"  {left}")
            lines.extend(f"  {'':{width}}  {line}" for line in wrapped)
        else:
            lines.append(f"  {left:{width}}  {wrapped[0]}")
            lines.extend(f"  {'':{width}}  {line}" for line in wrapped[1:])
    return lines


def _paragraphs(text: str) -> list[str]:
    return [
        line
        for paragraph in text.split("\n\n")
        for line in [
            *textwrap.wrap(paragraph, WIDTH - 2, initial_indent="  ", subsequent_indent="  "),
            "",
        ]
    ]


def _global_left(option: GlobalOption) -> str:
    spelled = ", ".join(option.flags)
    if option.negation:
        spelled += f" / {option.negation}"
    if option.kind is Kind.CHOICE:
        return f"{spelled} [{'|'.join(option.choices)}]"
    return f"{spelled} {option.metavar}" if option.metavar else spelled


def _global_text(option: GlobalOption) -> str:
    return f"{option.help} [default: {option.default}]" if option.default else option.help


def _positional_usage(param: Param) -> str:
    """``SIZE``, or ``[GEOMETRY]`` for a positional that may be left out (it has a default)."""
    return param.label if param.default is None else f"[{param.label}]"


def step_usage(definition: StepDef) -> str:
    return " ".join([definition.name, *map(_positional_usage, definition.positionals)])


def global_help(steps: dict[str, StepDef]) -> str:
    step_rows = [(step_usage(d), d.summary) for d in steps.values()]
    lines = [
        f"Usage: {GRAMMAR}",
        "",
        *_paragraphs(DESCRIPTION),
        "Global options (before the first step):",
        *_rows((_global_left(o), _global_text(o)) for o in GLOBAL_OPTIONS),
        "",
        "Steps (applied in the order given; 'imgprep STEP --help' shows a step's options):",
        *_rows(step_rows),
        "",
        "Commands (first on the line; 'imgprep COMMAND --help' says more):",
        *_rows((f"imgprep {COMMAND_USAGE[name]}", text) for name, text in COMMANDS.items()),
        "",
        EXIT_CODES,
        "",
        EXAMPLE,
    ]
    return "\n".join(lines) + "\n"


def short_usage(steps: dict[str, StepDef]) -> str:
    """What a bare ``imgprep`` prints: the grammar, the steps, and where to read more."""
    lines = [
        f"Usage: {GRAMMAR}",
        "",
        "Steps:",
        *_rows((step_usage(d), d.summary) for d in steps.values()),
        "",
        "Try 'imgprep --help' for the global options, 'imgprep STEP --help' for a step's.",
        "Try 'imgprep inspect --help' to see one image after each step of a chain.",
    ]
    return "\n".join(lines) + "\n"


def _param_left(param: Param) -> str:
    if param.positional:
        return param.label
    if param.kind is bool:
        return param.flag
    if param.choices:
        return f"{param.flag} [{'|'.join(param.choices)}]"
    return f"{param.flag} {param.metavar or param.kind.__name__.upper()}"


def _param_text(param: Param) -> str:
    if param.default is None or param.kind is bool:
        return param.help
    return f"{param.help} [default: {format_value(param.default)}]"


def step_help(definition: StepDef) -> str:
    usage = " ".join(
        [
            f"imgprep {definition.name}",
            "[OPTIONS]" if definition.options else "",
            *map(_positional_usage, definition.positionals),
        ]
    ).replace("  ", " ")
    lines = [f"Usage: {usage}", "", *_paragraphs(definition.description)]
    if definition.positionals:
        lines += ["Arguments:", *_rows((_param_left(p), p.help) for p in definition.positionals)]
        lines.append("")
    options = [(_param_left(p), _param_text(p)) for p in definition.options]
    options.append(("-h, --help", "Show this message and exit."))
    lines += ["Options:", *_rows(options), "", f"Example: {definition.example}"]
    return "\n".join(lines) + "\n"


INSPECT_DESCRIPTION = (
    "Compute one image through the steps, as a run would, and write a contact sheet PNG: the "
    "input and the image after each step side by side, each labelled with the step as typed "
    "and the size and mode of its image. With augment, a last row shows every variant's "
    "output. Only this image is read, and nothing but the sheet is written.\n\n"
    "The first word that is not an option is the image, the next one starts the steps."
)
INSPECT_EXAMPLE = (
    "imgprep inspect photos/rocket.jpg -o sheet.png resize 200x200 --mode cover grayscale "
    "autocontrast --cutoff 3"
)


def inspect_help() -> str:
    """``imgprep inspect --help``."""
    lines = [
        f"Usage: {INSPECT_GRAMMAR}",
        "",
        *_paragraphs(INSPECT_DESCRIPTION),
        "Options:",
        *_rows((_global_left(o), _global_text(o)) for o in INSPECT_OPTIONS),
        "",
        "Exit codes: 0 sheet written; 1 the image cannot be read or a step fails on it;",
        "2 usage error (nothing written).",
        "",
        f"Example: {INSPECT_EXAMPLE}",
    ]
    return "\n".join(lines) + "\n"


def presets_help() -> str:
    """``imgprep presets --help``."""
    text = (
        "List the presets of the config file, each as the global options and steps it "
        "stands for. A preset is a [presets.NAME] table of the config file; "
        "'imgprep --preset NAME -i IN -o OUT [STEP...]' runs it."
    )
    return "\n".join(["Usage: imgprep presets", "", *_paragraphs(text)]).rstrip() + "\n"


def presets_listing(path: object, presets: list[tuple[str, str]]) -> str:
    """``imgprep presets``: each preset's name and what it stands for."""
    if not presets:
        return f"No presets in {path} (see imgprep presets --help).\n"
    return "\n".join([f"Presets in {path}:", *_rows(presets)]) + "\n"
