"""The words of the commands besides a run, and presets.

``imgprep inspect [OPTIONS] IMAGE [OPTIONS] STEP...`` reads its options from its own table,
``INSPECT_OPTIONS``, with the parser of the global options (``_cmdline.take_options``).

A preset (``[presets.NAME]`` of the config file, read by ``config.load_presets``) is laid under
a line by ``apply_preset``: its settings under the options given, its step words before the
step words given, so the options typed win over the preset, which wins over the top of the
config file. Its chain is parsed on its own first, so a broken one is refused in the preset's
name. ``imgprep presets`` shows each one as the global options and steps it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from imgprep._cmdline import (
    CommandLine,
    Grammar,
    option_for,
    step_help_request,
    take_options,
    whole_number,
)
from imgprep._global_options import GlobalOption, Kind
from imgprep.config import Preset, load_presets
from imgprep.errors import UsageError

if TYPE_CHECKING:
    from imgprep._step_model import Step

__all__ = [
    "INSPECT_OPTIONS",
    "InspectRequest",
    "apply_preset",
    "find_preset",
    "inspect_request",
    "parse_inspect_line",
    "preset_flags",
    "preset_settings",
    "preset_steps",
]

#: ``imgprep inspect`` draws panels at most this high (``--height``).
INSPECT_HEIGHT = 256
INSPECT_USAGE = "imgprep inspect IMAGE -o SHEET.png STEP..."

INSPECT_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        "output",
        ("-o", "--output"),
        "The contact sheet to write, a .png file (its folder is created).",
        Kind.TEXT,
        "SHEET",
    ),
    GlobalOption(
        "height",
        ("--height",),
        "Panels higher than N pixels are scaled down to N (their labels say so).",
        Kind.INT,
        "N",
        minimum=16,
        default=str(INSPECT_HEIGHT),
    ),
    option_for("preset"),
    option_for("max_pixels"),
    option_for("allow_truncated"),
    option_for("help"),
)


_INSPECT = Grammar(
    {spelling: option for option in INSPECT_OPTIONS for spelling in option.spellings},
    "inspect has no option",
    "imgprep inspect --help",
)


def parse_inspect_line(words: Sequence[str]) -> CommandLine:
    """The words after ``imgprep inspect``: ``[OPTIONS] IMAGE [OPTIONS] STEP...``. The first
    word that is not an option or an option's value is the image (``given["image"]``), the
    next one starts the steps; raises ``UsageError``."""
    line = CommandLine()
    position = take_options(line, words, 0, _INSPECT)
    if position < len(words):
        line.given["image"] = words[position]
        position = take_options(line, words, position + 1, _INSPECT)
    line.step_words = list(words[position:])
    if line.help_step is None:
        line.help_step = step_help_request(line.step_words)
    return line


# --- presets ------------------------------------------------------------------------------------


def find_preset(name: str) -> Preset:
    """The preset ``name`` of the user's config file; ``UsageError`` naming the file if none."""
    path, presets = load_presets()
    preset = presets.get(name)
    if preset is not None:
        return preset
    if not presets:
        where = "does not exist" if not path.is_file() else "has no [presets.NAME] table"
        raise UsageError(f"no preset {name!r}: config file {path} {where}")
    from imgprep._step_parse import did_you_mean

    hint = did_you_mean(name, presets) or f"; its presets are {', '.join(presets)}"
    raise UsageError(f"no preset {name!r} in config file {path}{hint}")


def preset_steps(preset: Preset) -> list[Step]:
    """The preset's steps, parsed (imports the image operations); a broken chain is a
    ``UsageError`` naming the file and the preset."""
    from imgprep._step_parse import parse_step_tokens

    try:
        return parse_step_tokens(preset.words)
    except UsageError as error:
        raise UsageError(f"{preset.where}: {error}") from None


def preset_settings(preset: Preset) -> dict[str, Any]:
    """The preset's settings, whole numbers held to the bounds of their options."""
    settings = dict(preset.settings)
    for key, value in settings.items():
        option = option_for(key)
        if option.kind is Kind.INT:
            try:
                whole_number(option, str(value))
            except UsageError as error:
                message = str(error).replace(option.label(), key, 1)
                raise UsageError(f"{preset.where}: {message}") from None
    return settings


def apply_preset(line: CommandLine) -> CommandLine:
    """``line`` with the preset it names (``--preset``) under it: the preset's settings under
    the options given, its step words before the step words given. Nothing to do without
    ``--preset``; a missing or broken preset is a ``UsageError`` naming the file and the
    preset."""
    given = dict(line.given)
    name = given.pop("preset", None)
    if name is None:
        return line
    preset = find_preset(name)
    preset_steps(preset)  # refused here, in the preset's name, rather than mid-chain
    settings = preset_settings(preset)
    return replace(line, given={**settings, **given}, step_words=[*preset.words, *line.step_words])


def preset_flags(settings: dict[str, Any]) -> list[str]:
    """A preset's settings as the global options that give them (``--format png``...)."""
    import shlex

    words: list[str] = []
    for key, value in settings.items():
        option = option_for(key)
        if option.kind is Kind.FLAG:
            flag = option.flags[-1] if value else option.negation
            words += [flag] if flag else []
        else:
            words += [option.flags[-1], shlex.quote(str(value))]
    return words


# --- imgprep inspect ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectRequest:
    """What ``imgprep inspect`` is asked to do, checked."""

    image: str
    output: str
    steps: list[Step]
    height: int
    max_pixels: int | None
    allow_truncated: bool


def inspect_request(line: CommandLine) -> InspectRequest:
    """What an ``inspect`` line (``parse_inspect_line``) asks for: its preset applied, its
    steps parsed, the config file's settings under it; raises ``UsageError``."""
    from imgprep._step_parse import parse_step_tokens
    from imgprep.config import load_user_defaults

    line = apply_preset(line)
    given = {**load_user_defaults(), **line.given}
    image, output = given.get("image"), given.get("output")
    if image is None:
        raise UsageError(f"inspect needs an IMAGE: {INSPECT_USAGE}")
    if output is None:
        raise UsageError(f"missing option -o/--output SHEET (a .png file): {INSPECT_USAGE}")
    if not output.lower().endswith(".png"):
        raise UsageError(f"-o/--output must name a .png file (the sheet is a PNG), not {output!r}")
    steps = parse_step_tokens(line.step_words, global_options=_INSPECT.by_spelling)
    if sum(1 for step in steps if step.variants) > 1:
        raise UsageError("augment may appear once in a chain")
    return InspectRequest(
        image,
        output,
        steps,
        given.get("height", INSPECT_HEIGHT),
        given["max_pixels"],
        bool(given.get("allow_truncated")),
    )
