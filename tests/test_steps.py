"""The step table and step-token parsing (the CLI's grammar without Typer)."""

from __future__ import annotations

import pytest
from PIL import Image

from imgprep import ops
from imgprep.errors import UsageError
from imgprep.steps import STEPS, make_step, parse_steps, split_step_tokens


def test_every_step_has_help_and_an_example():
    for name, definition in STEPS.items():
        assert definition.name == name
        assert definition.summary and "\n" not in definition.summary, name
        assert definition.description, name
        assert definition.example.startswith("imgprep ") and f" {name}" in definition.example
        for param in definition.params:
            assert param.help, (name, param.name)


@pytest.mark.parametrize("name", list(STEPS))
def test_each_steps_example_parses(name):
    example = STEPS[name].example
    tokens = example.split()
    start = tokens.index(name)
    [step] = parse_steps(tokens[start:])
    assert step.name == name


def test_split_at_step_names():
    tokens = ["resize", "200x200", "--mode", "cover", "grayscale"]
    tokens += ["autocontrast", "--cutoff", "3", "augment", "--mirror"]
    assert split_step_tokens(tokens) == [
        ("resize", ["--mode", "cover", "--", "200x200"]),
        ("grayscale", []),
        ("autocontrast", ["--cutoff", "3"]),
        ("augment", ["--mirror"]),
    ]


def test_an_option_value_is_never_taken_for_a_step():
    # rotate's positional and augment's --rotate value are numbers; --fill takes the next word
    assert split_step_tokens(["rotate", "-90", "--fill", "white", "flip"]) == [
        ("rotate", ["--fill", "white", "--", "-90"]),
        ("flip", []),
    ]
    assert split_step_tokens(["resize", "--mode=cover", "100", "mirror"]) == [
        ("resize", ["--mode=cover", "--", "100"]),
        ("mirror", []),
    ]


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["200x200"], "expected a step name, not '200x200'"),
        (["grayscale", "200"], "unknown step '200' after 'grayscale'"),
        (["resize", "10", "20"], "unknown step '20' after 'resize'"),
    ],
)
def test_split_errors(tokens, message):
    with pytest.raises(UsageError, match=message):
        split_step_tokens(tokens)


def test_parse_steps_binds_values_and_describes_them_back():
    steps = parse_steps(
        "resize 200x --mode cover --only-shrink autocontrast --cutoff 2.5 rotate -90"
    )
    assert [s.name for s in steps] == ["resize", "autocontrast", "rotate"]
    assert steps[0].option_dict["size"] == ops.Size(200, None)
    assert steps[0].option_dict["only_shrink"] is True
    assert steps[1].option_dict["cutoff"] == 2.5
    assert [s.describe() for s in steps] == [
        "resize 200x --mode cover --only-shrink",
        "autocontrast --cutoff 2.5",
        "rotate -90",
    ]


def test_steps_apply_their_op():
    image = Image.linear_gradient("L").resize((64, 32)).convert("RGB")
    [resize, gray, mirror] = parse_steps("resize 16x16 --mode stretch grayscale mirror")
    result = mirror(gray(resize(image)))
    expected = ops.mirror(ops.grayscale(ops.resize(image, (16, 16), "stretch")))
    assert result.tobytes() == expected.tobytes()


def test_augment_variants_and_suffixes():
    [augment] = parse_steps("augment --rotate 270,90 --flip --mirror")
    assert [v.suffix for v in augment.variants] == ["", "_mirror", "_flip", "_rot90", "_rot270"]
    with pytest.raises(TypeError, match="fans out"):
        augment(Image.new("L", (2, 2)))


def test_recipes_differ_when_options_differ():
    a, b, c = (parse_steps(f"autocontrast --cutoff {x}")[0] for x in ("3", "3.0", "2"))
    assert a.recipe() == b.recipe() != c.recipe()


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("nope", {}, "unknown step 'nope'"),
        ("resize", {}, "step 'resize' needs SIZE"),
        ("resize", {"size": "10", "speed": 3}, "step 'resize' has no option 'speed'"),
        (
            "resize",
            {"size": "10", "mode": "zoom"},
            "--mode must be one of fit, cover, pad, stretch",
        ),
        ("rotate", {"degrees": "nan"}, "degrees must be a finite number"),
        ("augment", {"rotate": "90,90"}, "rotation 90 is given twice"),
    ],
)
def test_make_step_errors(name, values, message):
    with pytest.raises(UsageError, match=message):
        make_step(name, **values)
