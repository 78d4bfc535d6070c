"""The command line's grammar: the one parser of ``argv``, over the global option table
(``_global_options``) and the steps' (``_step_table``).

    imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]...

Global options are read up to the first word that is not an option or an option's value;
from there on the words are steps, parsed by ``_step_parse`` (the parser ``parse_steps``
uses). Both tables are data: ``_help`` renders them and the docs tests read them.

Why imgprep parses its own words instead of letting Typer do it: Typer 0.26 and later coerce
every option value through pydantic, which costs ~0.15 s per start here, half of a one-image
run; and Typer ignores Click's ``chain=True``, so a chain of steps is not a Typer grammar
anyway. Typer runs the program (``cli.app``), hands these words over through its public
``Context.args``, and provides the test runner and the exit handling.

``Grammar`` and ``take_options`` read another command's options the same way (``_commands``:
``imgprep inspect``). This module imports no Pillow: ``--version`` and ``--help`` answer before
any image library is loaded; the steps are parsed (which imports ``ops``) only for a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imgprep._global_options import GLOBAL_OPTIONS, HELP_FLAGS, GlobalOption, Kind
from imgprep.config import (
    canonical_format,
    format_bytes,
    parse_byte_size,
)
from imgprep.errors import UsageError

__all__ = [
    "CommandLine",
    "Grammar",
    "global_spellings",
    "option_for",
    "parse_command_line",
    "step_help_request",
    "take_options",
    "whole_number",
]

_BY_SPELLING: dict[str, GlobalOption] = {
    spelling: option for option in GLOBAL_OPTIONS for spelling in option.spellings
}
_BY_KEY: dict[str, GlobalOption] = {option.key: option for option in GLOBAL_OPTIONS}


def option_for(key: str) -> GlobalOption:
    """The global option that sets ``key`` (``"max_pixels"`` -> ``--max-pixels``)."""
    return _BY_KEY[key]


@dataclass(frozen=True)
class Grammar:
    """The options one command reads (by spelling), and how a refusal points at its help."""

    by_spelling: dict[str, GlobalOption]
    unknown: str  # "no global option"
    see: str  # "imgprep --help"


_GLOBAL = Grammar(_BY_SPELLING, "no global option", "imgprep --help")


@dataclass
class CommandLine:
    """What the words asked for: the settings given (only those given), the step words, and
    whether help (``help_step``: "" for the global help, else a step name) or the version was
    asked for."""

    given: dict[str, Any] = field(default_factory=dict)
    step_words: list[str] = field(default_factory=list)
    help_step: str | None = None
    version: bool = False


def parse_command_line(words: Sequence[str]) -> CommandLine:
    """Split ``words`` into global settings and step words; raises ``UsageError``.

    The step words are returned unparsed (parsing them imports the image operations); help
    and version requests are recognised anywhere, so they answer even on a broken line.
    """
    line = CommandLine()
    position = take_options(line, words, 0, _GLOBAL)
    line.step_words = list(words[position:])
    if line.help_step is None:
        line.help_step = step_help_request(line.step_words)
    return line


def take_options(line: CommandLine, words: Sequence[str], position: int, grammar: Grammar) -> int:
    """Read the options of ``grammar`` from ``words[position]`` on into ``line``; return the
    position of the first word that is not an option or an option's value."""
    while position < len(words):
        word = words[position]
        if word == "-" or not word.startswith("-"):
            break
        position = _take_global(line, words, position, grammar)
    return position


def _take_global(
    line: CommandLine, words: Sequence[str], position: int, grammar: Grammar = _GLOBAL
) -> int:
    """Read the option at ``words[position]``; return the position of the next word."""
    word = words[position]
    if word.startswith("--"):
        spelled, has_value, text = word.partition("=")
        option = _option(spelled, None, grammar)
        return _set(line, option, spelled, text if has_value else None, words, position)
    # -j2, -i-: a short option with its value attached; -rq: short flags together
    letters = word[1:]
    for offset, letter in enumerate(letters):
        spelled = "-" + letter
        option = _option(spelled, word, grammar)
        if option.kind is not Kind.FLAG:
            attached = letters[offset + 1 :]
            return _set(line, option, spelled, attached or None, words, position)
        _set(line, option, spelled, None, words, position)
    return position + 1


def _option(spelled: str, word: str | None = None, grammar: Grammar = _GLOBAL) -> GlobalOption:
    option = grammar.by_spelling.get(spelled)
    if option is not None:
        return option
    from imgprep._step_parse import did_you_mean  # imports no image library

    shown = word or spelled
    hint = did_you_mean(spelled, grammar.by_spelling) if spelled.startswith("--") else ""
    raise UsageError(f"{grammar.unknown} {shown}{hint} (see {grammar.see})")


def _set(
    line: CommandLine,
    option: GlobalOption,
    spelled: str,
    attached: str | None,
    words: Sequence[str],
    position: int,
) -> int:
    if option.kind is Kind.FLAG:
        if attached is not None:
            raise UsageError(f"{spelled} is a flag and takes no value")
        if option.key == "help":
            line.help_step = ""
        elif option.key == "version":
            line.version = True
        else:
            line.given[option.key] = spelled != option.negation
        return position + 1
    if attached is None:
        if position + 1 >= len(words):
            raise UsageError(f"{option.label()} needs a value ({option.metavar})")
        attached, position = words[position + 1], position + 1
    value = _convert(option, attached)
    if option.kind is Kind.LIST:
        line.given.setdefault(option.key, []).append(value)
    else:
        line.given[option.key] = value
    return position + 1


def _convert(option: GlobalOption, text: str) -> Any:
    if option.kind is Kind.INT:
        return whole_number(option, text)
    if option.kind is Kind.CHOICE:
        return canonical_format(text) if option.key == "format" else _choice(option, text)
    if option.kind is Kind.SIZE:
        return _byte_size(option, text)
    return shard_value(text) if option.key == "shard" else text


def shard_value(text: str) -> tuple[int, int]:
    """``--shard K/N`` as ``(K, N)``, with 1 <= K <= N."""
    k, slash, n = text.strip().partition("/")
    numbers = slash and f"{k}{n}".isascii() and k.isdigit() and n.isdigit()
    if numbers and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise UsageError(
        f"--shard must be K/N, two whole numbers with 1 <= K <= N (such as 2/8), not {text!r}"
    )


def _byte_size(option: GlobalOption, text: str) -> int:
    try:
        value = parse_byte_size(text)
    except ValueError:
        value = 0
    if value < (option.minimum or 1):
        raise UsageError(
            f"{option.label()} must be a size such as 512M or 2G (at least "
            f"{format_bytes(option.minimum or 1)}), not {text!r}"
        )
    return value


def _choice(option: GlobalOption, text: str) -> str:
    if text not in option.choices:
        raise UsageError(
            f"{option.label()} must be one of {', '.join(option.choices)}, not {text!r}"
        )
    return text


def whole_number(option: GlobalOption, text: str) -> int:
    """``text`` as the whole number ``option`` takes, within its bounds; else ``UsageError``."""
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in "+-" else stripped
    low, high = option.minimum, option.maximum
    if high is not None and low is not None:
        rule = f"a whole number from {low} to {high}"
    elif low is not None:
        rule = f"a whole number of at least {low}"
    else:
        rule = "a whole number"
    # str.isdigit also accepts superscripts and other digits that int() refuses
    if not digits or not digits.isascii() or not digits.isdigit():
        raise UsageError(f"{option.label()} must be {rule}, not {text!r}")
    value = int(stripped)
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{option.label()} must be {rule}, not {text!r}")
    return value


def step_help_request(step_words: Sequence[str]) -> str | None:
    """The step whose ``--help`` is asked for (``resize 200 --help``), if any."""
    if not any(word in HELP_FLAGS for word in step_words):
        return None
    from imgprep._step_table import STEPS  # imports the image operations: only for help

    current = ""
    for word in step_words:
        if word in HELP_FLAGS:
            return current
        if word in STEPS:
            current = word
    return current


def global_spellings() -> frozenset[str]:
    """Every spelling of every global option (for the step parser's advice)."""
    return frozenset(_BY_SPELLING)
