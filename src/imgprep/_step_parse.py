"""The one parser of step words: ``resize 200x200 --mode cover grayscale`` -> ``[Step, Step]``.

The command line and ``steps.parse_steps`` both use it, so a chain means the same in a shell,
a preset and Python. A word starts a new step when it is a step name and not the value of the
option before it; ``rotate -90`` is an angle, not an option, because it is a number. Every
refusal is one ``UsageError`` naming the step, the option and what is allowed, with the
nearest name when a word looks misspelt.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from imgprep._step_model import Param, RandomOp, Step, StepDef
from imgprep._step_table import STEPS
from imgprep.errors import UsageError

__all__ = ["did_you_mean", "make_step", "parse_step_tokens"]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"; did you mean resize?"`` when a name is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _unknown_step(word: str, after: str | None) -> UsageError:
    where = f"unknown step {word!r}" + (f" after {after!r}" if after else "")
    hint = did_you_mean(word, STEPS)
    return UsageError(where + (hint or f"; steps are: {', '.join(STEPS)}"))


def _is_number(token: str) -> bool:
    """A number, or numbers separated by commas (``-90``, ``-5,20``): a value, not an option."""
    try:
        for part in token.split(","):
            float(part)
    except ValueError:
        return False
    return True


class _Words:
    """The words of one step as they arrive: options (with their text) and positionals."""

    def __init__(self, definition: StepDef) -> None:
        self.definition = definition
        self.values: dict[str, str | bool] = {}
        self.positionals: list[str] = []
        self.pending: Param | None = None  # an option waiting for its value


def parse_step_tokens(tokens: Sequence[str], *, global_options: Collection[str] = ()) -> list[Step]:
    """Parse step words into bound steps. ``global_options``: spellings of the command's own
    options, so one given after a step is refused with the right advice."""
    chain: list[_Words] = []
    for token in tokens:
        current = chain[-1] if chain else None
        if current is not None and current.pending is not None:
            current.values[current.pending.name] = token
            current.pending = None
        elif token in STEPS:
            chain.append(_Words(STEPS[token]))
        elif current is None:
            raise _unknown_step(token, None)
        elif token.startswith("-") and not _is_number(token):
            _take_option(current, token, global_options, first=chain[0].definition.name)
        elif len(current.positionals) < len(current.definition.positionals):
            current.positionals.append(token)
        else:
            raise _unknown_step(token, current.definition.name)
    if chain and chain[-1].pending is not None:
        words = chain[-1]
        assert words.pending is not None
        raise UsageError(
            f"{words.definition.name} {words.pending.flag}: {_needs_value(words.pending)}"
        )
    return [_bind(words) for words in chain]


def _take_option(words: _Words, token: str, global_options: Collection[str], first: str) -> None:
    definition = words.definition
    spelled, has_value, text = token.partition("=")
    param = definition.option_named(spelled)
    if param is None:
        if spelled in global_options:
            raise UsageError(
                f"{spelled} is a global option: global options go before the first step "
                f"({first}), e.g. imgprep {spelled} ... {first} ..."
            )
        flags = [p.flag for p in definition.options]
        hint = did_you_mean(spelled, flags)
        listed = f"; its options are {', '.join(flags)}" if flags else "; it takes no options"
        raise UsageError(f"{definition.name}: no option {spelled}{hint or listed}")
    if param.kind is bool:
        if has_value:
            raise UsageError(f"{definition.name} {param.flag}: is a flag and takes no value")
        words.values[param.name] = True
    elif has_value:
        words.values[param.name] = text
    else:
        words.pending = param


def _needs_value(param: Param) -> str:
    if param.choices:
        return f"needs a value, one of {', '.join(param.choices)}"
    return f"needs a value ({param.metavar or param.kind.__name__})"


def _bind(words: _Words) -> Step:
    definition = words.definition
    values: dict[str, Any] = dict(words.values)
    for param, text in zip(definition.positionals, words.positionals, strict=False):
        values[param.name] = text
    return make_step(definition.name, **values)


def make_step(name: str, **values: Any) -> Step:
    """Build the step ``name`` from its parameter values: text as typed (parsed here) or values
    already parsed. Missing options take their defaults; every refusal is a ``UsageError``."""
    definition = STEPS.get(name)
    if definition is None:
        raise _unknown_step(name, None)
    known = {p.name: p for p in definition.params}
    for key in values:
        if key not in known:
            hint = did_you_mean(key, known)
            raise UsageError(f"step {name!r} has no option {key!r}{hint}")
    bound: list[tuple[str, Any]] = []
    for param in definition.params:
        value = values.get(param.name, param.default)
        if param.positional and value is None:
            raise UsageError(f"{name}: missing {param.label} ({param.help})")
        if isinstance(value, str):
            value = _convert(definition, param, value)
        bound.append((param.name, value))
    bound_values = dict(bound)
    try:
        built = definition.build(**bound_values)
    except UsageError as error:
        raise UsageError(f"{name}: {error}") from None
    effects = definition.effects_of(bound_values)
    if definition.fans_out:
        assert isinstance(built, tuple)
        return Step(definition, tuple(bound), effects, variants=built)
    assert not isinstance(built, tuple)
    if isinstance(built, RandomOp):
        return Step(definition, tuple(bound), effects, apply=built.apply, draw=built.draw)
    return Step(definition, tuple(bound), effects, apply=built)


def _convert(definition: StepDef, param: Param, text: str) -> Any:
    where = f"{definition.name} {param.label}"
    if param.choices and text not in param.choices:
        hint = did_you_mean(text, param.choices)
        raise UsageError(f"{where}: must be one of {', '.join(param.choices)}, not {text!r}{hint}")
    try:
        if param.parse is not None:
            return param.parse(text)
        if param.kind in (int, float):
            try:
                return param.kind(text)
            except ValueError:
                raise UsageError(f"must be a number, not {text!r}") from None
    except UsageError as error:
        raise UsageError(f"{where}: {error}") from None
    return text
