"""What shell completion offers for the word being typed, read from the two tables.

``suggest(words, incomplete)`` walks the complete words the way the parsers do (global options
and their values, then steps, each with its options and their values) and offers: step names
(with their summaries) where a step may start, a step's options after it, a choice's values,
the global options before the first step, preset names after ``--preset``, the commands
(``inspect``, ``presets``) as the first word. It offers nothing for ``-i``, ``-o``, ``--base``
and the image of ``inspect``: Typer's completion scripts then let the shell complete file
names (bash's ``-o default``, zsh's ``_files``, fish's file completion). Pure and tolerant:
a word it does not know is passed over, never an error. ``cli`` hands it Typer's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from imgprep._commands import INSPECT_OPTIONS
from imgprep._global_options import COMMANDS, GLOBAL_OPTIONS, GlobalOption, Kind
from imgprep._step_model import Param, StepDef
from imgprep._step_table import STEPS
from imgprep.errors import ImgprepError

__all__ = ["suggest"]

Suggestion = tuple[str, str]  # (value, help)

_PATH_KEYS = frozenset({"inputs", "output", "base", "image", "report"})  # the shell completes


def _table(options: Iterable[GlobalOption]) -> dict[str, GlobalOption]:
    return {spelling: option for option in options for spelling in option.spellings}


_GLOBAL, _INSPECT = _table(GLOBAL_OPTIONS), _table(INSPECT_OPTIONS)


@dataclass
class _State:
    """Where the complete words left the parser."""

    table: Mapping[str, GlobalOption]
    wants_image: bool = False  # inspect, before its IMAGE
    pending: GlobalOption | None = None  # a global option waiting for its value
    step: StepDef | None = None  # the step being written (None: still in global options)
    in_steps: bool = False
    step_pending: Param | None = None  # a step option waiting for its value
    filled: int = 0  # positionals of the step given
    used: set[str] = field(default_factory=set)  # options of the step given


def suggest(words: Sequence[str], incomplete: str) -> list[Suggestion]:
    """(value, help) pairs to offer for ``incomplete`` after ``words`` (the complete words
    after ``imgprep``); an empty list lets the shell complete file names."""
    words = [word for word in words if word != "="]  # bash splits --format=png at the "="
    incomplete = "" if incomplete == "=" else incomplete
    if words and words[0] == "presets":
        return []
    state = _State(_GLOBAL)
    if words and words[0] == "inspect":
        state, words = _State(_INSPECT, wants_image=True), words[1:]
    for word in words:
        if state.in_steps:
            _take_step_word(state, word)
        else:
            _take_option_word(state, word)
    found = _offers(state, incomplete, first=not words)
    return [(value, text) for value, text in found if value.startswith(incomplete)]


def _take_option_word(state: _State, word: str) -> None:
    if state.pending is not None:
        state.pending = None
    elif word.startswith("-") and word != "-":
        state.pending = _waiting_option(state.table, word)
    elif state.wants_image:
        state.wants_image = False
    else:
        state.in_steps = True
        _take_step_word(state, word)


def _waiting_option(table: Mapping[str, GlobalOption], word: str) -> GlobalOption | None:
    """The option ``word`` leaves waiting for its value in the next word, if any."""
    if word.startswith("--"):
        spelled, has_value, _ = word.partition("=")
        option = table.get(spelled)
        return option if option and option.kind is not Kind.FLAG and not has_value else None
    for offset, letter in enumerate(word[1:], 2):  # -rq, -j2, -i
        option = table.get("-" + letter)
        if option is None:
            return None
        if option.kind is not Kind.FLAG:
            return option if offset == len(word) else None
    return None


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _take_step_word(state: _State, word: str) -> None:
    if state.step_pending is not None:
        state.step_pending = None
    elif word in STEPS:
        state.step, state.filled, state.used = STEPS[word], 0, set()
    elif state.step is None:
        return
    elif word.startswith("-") and not _is_number(word):
        spelled, has_value, _ = word.partition("=")
        param = state.step.option_named(spelled)
        if param is not None:
            state.used.add(param.flag)
            if param.takes_value and not has_value:
                state.step_pending = param
    else:
        state.filled += 1


def _offers(state: _State, incomplete: str, *, first: bool) -> list[Suggestion]:
    if state.pending is not None:
        return _values_of(state.pending)
    if state.step_pending is not None:
        return [(choice, "") for choice in state.step_pending.choices]
    if not state.in_steps:
        if incomplete.startswith("-"):
            return [(spelling, _first_sentence(o.help)) for spelling, o in state.table.items()]
        if state.wants_image:
            return []
        commands = list(COMMANDS.items()) if first else []
        return commands + _step_names()
    step = state.step
    assert step is not None  # in_steps starts at a step name
    if incomplete.startswith("-") and not _is_number(incomplete):
        return [(p.flag, _first_sentence(p.help)) for p in step.options if p.flag not in state.used]
    missing = [p for p in step.positionals[state.filled :] if p.default is None]
    return [] if missing else _step_names()


def _values_of(option: GlobalOption) -> list[Suggestion]:
    if option.key in _PATH_KEYS:
        return []
    if option.kind is Kind.CHOICE:
        return [(choice, "") for choice in option.choices]
    if option.key == "preset":
        from imgprep.config import load_presets

        try:
            _, presets = load_presets()
        except ImgprepError:  # a broken config file: nothing to offer while typing
            return []
        return [(name, " ".join(preset.words)) for name, preset in presets.items()]
    return []


def _step_names() -> list[Suggestion]:
    return [(name, definition.summary) for name, definition in STEPS.items()]


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + dot.strip() if dot else text
