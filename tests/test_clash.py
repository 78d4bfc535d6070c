"""Name clashes: --on-collision fail|skip|suffix, the {inext} and {name} fields, the advice."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from conftest import CliResult
from imgprep._discover import Found, InputList
from imgprep.errors import OutputCollisionError, UsageError
from imgprep.pipeline import Plan, RunOptions, Status, run
from imgprep.steps import parse_steps

Cli = Callable[..., CliResult]

SHADES = {"a.jpg": 40, "a.png": 120, "a.bmp": 200, "b.jpg": 80, "a.jpg.png": 160}


def make_inputs(folder: Path, names: list[str]) -> Path:
    """One flat grey image per name, each its own shade (SHADES), so outputs say their input."""
    folder.mkdir()
    for name in names:
        Image.new("L", (12, 8), SHADES[name]).save(folder / name)
    return folder


def shade(path: Path) -> int:
    with Image.open(path) as image:
        return round(sum(image.convert("L").get_flattened_data()) / (12 * 8))


def written(folder: Path) -> dict[str, int]:
    return {path.name: shade(path) for path in sorted(folder.glob("*.png"))}


def test_fail_refuses_the_run_and_names_the_field_that_tells_them_apart(
    cli: Cli, tmp_path: Path
) -> None:
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "a.png", "b.jpg"])
    result = cli("-i", inputs, "-o", tmp_path / "out", "--format", "png", "grayscale")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {inputs / 'a.jpg'} and {inputs / 'a.png'} would both be written to"
        f" {tmp_path / 'out' / 'a.png'}: the field {{inext}} (the input's extension) tells them"
        " apart, e.g. --name '{stem}_{inext}{suffix}.{ext}'; or --on-collision skip (leave out"
        " the inputs that clash) or suffix (add each one's extension to its name)"
    ]
    assert not (tmp_path / "out").exists()
    # the advice works
    named = "{stem}_{inext}{suffix}.{ext}"
    again = cli(
        "-i", inputs, "-o", tmp_path / "out", "--format", "png", "--name", named, "grayscale"
    )
    assert again.exit_code == 0
    assert written(tmp_path / "out") == {"a_jpg.png": 40, "a_png.png": 120, "b_jpg.png": 80}


def test_a_template_without_the_stem_is_told_to_use_it(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "b.jpg"])
    options = RunOptions(output=tmp_path / "out", steps=[], inputs=[str(inputs)], name="v.{ext}")
    with pytest.raises(OutputCollisionError, match=r"the field \{stem\} \(the input's name\)"):
        run(options)


def test_skip_fails_only_the_clashing_inputs_each_with_one_line(cli: Cli, tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "a.png", "a.bmp", "b.jpg"])
    out = tmp_path / "out"
    result = cli(
        "-i", inputs, "-o", out, "--format", "png", "--on-collision", "skip", "grayscale"
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("imgprep: 1 written, 0 up to date, 3 failed")
    advice = "the field {inext} (the input's extension) tells them apart"
    failed = lines[:-1]
    assert [line.split(": ")[1] for line in failed] == [
        str(inputs / name) for name in ("a.bmp", "a.jpg", "a.png")
    ]
    for line in failed:
        assert f"not written: {inputs}/a." in line
        assert f"has the same output {out / 'a.png'}; {advice}" in line
    assert written(out) == {"b.png": 80}


def test_suffix_adds_the_extension_and_goes_round_until_no_name_clashes(tmp_path: Path) -> None:
    # a.jpg -> a.jpg.png would clash with the input a.jpg.png's own output: it is suffixed too
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "a.png", "a.jpg.png", "b.jpg"])
    out = tmp_path / "out"
    options = RunOptions(
        output=out, steps=parse_steps("grayscale"), inputs=[str(inputs)], format="png",
        on_collision="suffix",
    )  # fmt: skip
    report = run(options)
    assert (report.written, report.failed) == (4, 0)
    assert written(out) == {"a.jpg.png": 40, "a.png.png": 120, "a.jpg.png.png": 160, "b.png": 80}
    again = run(options)
    assert (again.up_to_date, again.written) == (4, 0)


def test_suffix_that_cannot_part_them_fails_them_alone(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "b.jpg"])
    (inputs / "sub").mkdir()
    Image.new("L", (12, 8), 80).save(inputs / "sub" / "c.png")
    out = tmp_path / "out"
    records = []
    report = run(
        RunOptions(
            output=out, steps=[], inputs=[str(inputs)], recursive=True, format="png",
            name="same.{ext}", on_collision="suffix",
        ),
        on_record=records.append,
    )  # fmt: skip
    assert (report.written, report.failed) == (1, 2)  # sub/same.png is no clash
    reasons = [record.reason for record in records if record.status is Status.FAILED]
    assert reasons == [
        f"not written: {inputs / 'b.jpg'} has the same output {out / 'same.png'}, even with the"
        " input extensions added; the field {stem} (the input's name) tells them apart",
        f"not written: {inputs / 'a.jpg'} has the same output {out / 'same.png'}, even with the"
        " input extensions added; the field {stem} (the input's name) tells them apart",
    ]
    assert [path.relative_to(out).as_posix() for path in out.rglob("*.png")] == ["sub/same.png"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{name}.{ext}", ["a.jpg.png", "b.png.png", "c.png"]),
        ("{stem}-{inext}.{ext}", ["a-jpg.png", "b-png.png", "c-.png"]),
        ("{stem}{suffix}.{inext}.{ext}", ["a.jpg.png", "b.png.png", "c..png"]),
    ],
)
def test_the_input_name_fields(tmp_path: Path, template: str, expected: list[str]) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.jpg", "b.png"):
        Image.new("L", (4, 4), 9).save(inputs / name, format="PNG" if "png" in name else "JPEG")
    Image.new("L", (4, 4), 9).save(inputs / "c", format="PNG")  # no extension
    out = tmp_path / "out"
    run(RunOptions(output=out, steps=[], inputs=[str(inputs)], format="png", name=template))
    assert sorted(path.relative_to(out).as_posix() for path in out.rglob("*.png")) == expected


def test_unknown_fields_and_choices_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\{stem\}, \{suffix\}, \{ext\}, \{inext\}, \{name\}"):
        RunOptions(output=tmp_path, steps=[], name="{base}.{ext}").validate()
    with pytest.raises(UsageError, match="must be one of fail, skip, suffix, not 'rename'"):
        RunOptions(output=tmp_path, steps=[], on_collision="rename").validate()


def planning_peak(tmp_path: Path, count: int, clash: bool) -> tuple[Plan, int]:
    """Check a plan of ``count`` inputs, half named x.jpg and half x.png (x-2.png: no clash);
    the peak of Python's allocations while checking, in bytes."""
    inputs = InputList()
    for number in range(count // 2):
        for name in (f"{number}.jpg", f"{number}.png" if clash else f"{number}-2.png"):
            inputs.append(Found(str(tmp_path / "in" / name), name))
    options = RunOptions(output=tmp_path / "out", steps=[], format="png", on_collision="suffix")
    plan = Plan(options, inputs)
    tracemalloc.start()
    try:
        plan.check()
        return plan, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_checking_many_inputs_stays_small_with_or_without_clashes(tmp_path: Path) -> None:
    count = 10_000
    plain, plain_peak = planning_peak(tmp_path, count, clash=False)
    assert plain_peak < 20 * count  # bytes: the hash arrays, ~16 bytes an output
    assert not plain.clashes and plain.job(1, 0).key == "0-2.png"
    # every input clashes (x.jpg and x.png): suffixing them costs a byte and an index per
    # input, and confirming each clash on the real paths a few dozen bytes more per output
    clashed, clashed_peak = planning_peak(tmp_path, count, clash=True)
    assert clashed_peak < 200 * count
    assert clashed.job(0, 0).key == "0.jpg.png" and clashed.job(1, 0).key == "0.png.png"
    assert clashed.problem(0) is None and clashed.problem(count - 1) is None


def test_an_input_that_comes_to_clash_fails_though_its_output_is_current(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", ["a.jpg", "b.jpg"])
    out = tmp_path / "out"
    options = RunOptions(
        output=out, steps=[], inputs=[str(inputs)], format="png", on_collision="skip"
    )
    assert run(options).written == 2
    Image.new("L", (12, 8), SHADES["a.png"]).save(inputs / "a.png")  # now a.jpg clashes
    again = run(options)
    assert (again.written, again.up_to_date, again.failed) == (0, 1, 2)
    assert [path.name for path, _ in again.failures] == ["a.jpg", "a.png"]
