"""The command line's own parser: global options, help and version requests, step words."""

from __future__ import annotations

import pytest

from imgprep._cmdline import global_spellings, parse_command_line
from imgprep._commands import parse_inspect_line
from imgprep._global_options import GLOBAL_OPTIONS, Kind
from imgprep.config import DEFAULTS
from imgprep.errors import UsageError


def test_global_options_stop_at_the_first_step_word():
    line = parse_command_line(["-i", "a", "-i", "b", "-o", "out", "resize", "64", "-q"])
    assert line.given == {"inputs": ["a", "b"], "output": "out"}
    assert line.step_words == ["resize", "64", "-q"]  # -q after a step is the step's word


def test_short_flags_combine_and_short_values_attach():
    line = parse_command_line(["-rqf", "-j2", "-i-", "-0", "grayscale"])
    assert line.given == {
        "recursive": True,
        "quiet": True,
        "force": True,
        "workers": 2,
        "inputs": ["-"],
        "null": True,
    }


def test_long_options_take_attached_or_next_values_and_negations():
    line = parse_command_line(
        ["--format=jpg", "--quality", "80", "--no-optimize", "--strip-icc", "--progress", "flip"]
    )
    assert line.given == {
        "format": "jpeg",
        "quality": 80,
        "optimize": False,
        "keep_icc": False,
        "progress": True,
    }


@pytest.mark.parametrize(
    ("spelled", "canonical"), [("jpg", "jpeg"), ("TIF", "tiff"), ("png", "png")]
)
def test_format_aliases(spelled, canonical):
    assert parse_command_line(["--format", spelled]).given["format"] == canonical


def test_a_value_starting_with_a_dash_is_still_the_options_value():
    assert parse_command_line(["-o", "-weird-folder"]).given == {"output": "-weird-folder"}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--fromat", "png"], "no global option --fromat; did you mean --format?"),
        (["-z"], "no global option -z (see imgprep --help)"),
        (["-rz"], "no global option -rz"),
        (["-o"], "-o/--output needs a value (DIR)"),
        (["-j", "two"], "-j/--workers must be a whole number of at least 1, not 'two'"),
        (["--buffer", "0"], "--buffer must be a whole number of at least 1, not '0'"),
        (["--png-compress-level", "10"], "--png-compress-level must be a whole number from 0 to 9"),
        (["--max-pixels", "-5"], "--max-pixels must be a whole number of at least 1"),
        (
            ["--format", "gif"],
            "--format must be one of same, png, jpeg, webp, tiff, avif (or jpg, tif)",
        ),
        (["--quiet=1"], "--quiet is a flag and takes no value"),
    ],
)
def test_refusals(words, message):
    with pytest.raises(UsageError) as raised:
        parse_command_line(words)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("words", "help_step"),
    [
        (["--help"], ""),
        (["-h"], ""),
        (["-i", "x", "-h"], ""),
        (["-i", "x", "resize", "--help"], "resize"),
        (["resize", "20", "grayscale", "-h"], "grayscale"),
        (["resize", "20"], None),
    ],
)
def test_help_requests(words, help_step):
    assert parse_command_line(words).help_step == help_step


def test_version_request():
    assert parse_command_line(["-i", "x", "--version"]).version


def test_the_table_is_consistent():
    spellings = [s for option in GLOBAL_OPTIONS for s in option.spellings]
    assert len(spellings) == len(set(spellings)) == len(global_spellings())
    for option in GLOBAL_OPTIONS:
        assert option.help.endswith("."), option.key
        assert (option.kind is Kind.FLAG) == (not option.metavar), option.key
        if option.kind is Kind.FLAG and option.key in DEFAULTS:
            shown = option.flags[0] if DEFAULTS[option.key] else option.negation
            assert option.default == shown, option.key
        elif option.key in DEFAULTS and DEFAULTS[option.key] is not None:
            assert str(DEFAULTS[option.key]) in option.default, option.key


def test_preset_limit_sample_and_seed_are_global_options():
    line = parse_command_line(
        ["--preset", "thumbs", "--limit", "5", "--sample=3", "--seed", "0", "-i", "a", "flip"]
    )
    assert line.given == {"preset": "thumbs", "limit": 5, "sample": 3, "seed": 0, "inputs": ["a"]}
    assert line.step_words == ["flip"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--limit", "0"], "--limit must be a whole number of at least 1, not '0'"),
        (["--sample", "few"], "--sample must be a whole number of at least 1, not 'few'"),
        (["--seed", "-1"], "--seed must be a whole number of at least 0, not '-1'"),
        (["--preset"], "--preset needs a value (NAME)"),
        (["--presets", "x"], "no global option --presets; did you mean --preset?"),
    ],
)
def test_refusals_of_the_new_options(words, message):
    with pytest.raises(UsageError) as raised:
        parse_command_line(words)
    assert str(raised.value).startswith(message)


def test_inspect_line_takes_options_around_the_image_then_steps():
    line = parse_inspect_line(
        ["--height", "64", "photo.jpg", "-o", "sheet.png", "resize", "20", "-o", "x"]
    )
    assert line.given == {"height": 64, "image": "photo.jpg", "output": "sheet.png"}
    assert line.step_words == ["resize", "20", "-o", "x"]  # after a step: the step's words
    assert parse_inspect_line(["--help"]).help_step == ""
    assert parse_inspect_line(["a.jpg", "grayscale", "-h"]).help_step == "grayscale"
    with pytest.raises(UsageError, match=r"inspect has no option --format \(see imgprep inspect"):
        parse_inspect_line(["a.jpg", "--format", "png"])
    with pytest.raises(UsageError, match="--height must be a whole number of at least 16"):
        parse_inspect_line(["--height", "8"])
