"""`imgprep inspect`: a contact sheet whose panels are the stages of one image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps

from imgprep import _inspect, ops
from imgprep.files import load_image
from imgprep.steps import parse_steps

CHAIN = "resize 96x64 --mode cover grayscale autocontrast --cutoff 3"


def by_hand(path: Path) -> list[Image.Image]:
    """The stages of CHAIN in plain Pillow: the decoded input, then each op applied by hand."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    resized = ImageOps.fit(image, (96, 64), Image.Resampling.BICUBIC)  # resize --mode cover
    grey = resized.convert("L")
    return [image, resized, grey, ImageOps.autocontrast(grey, cutoff=3)]


def panels(sheet: Path, image: Path, chain: str, height: int) -> list[Image.Image]:
    """The pictures of the written sheet, cut at the boxes the module lays them out at."""
    rows = _inspect.stage_rows(load_image(image).image, parse_steps(chain), str(image))
    laid_out = _inspect.contact_sheet(rows, height)
    with Image.open(sheet) as written:
        assert written.format == "PNG"
        assert written.tobytes() == laid_out.image.tobytes()  # the sheet is what was laid out
        return [written.crop(box) for box in laid_out.boxes]


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b.convert("RGB")).getbbox() is None


def test_panels_are_the_input_and_each_stage(cli, samples, tmp_path):
    image, sheet = samples / "hopper.jpg", tmp_path / "sheet.png"  # 128x128: shown unscaled
    result = cli("inspect", image, "-o", sheet, *CHAIN.split())
    assert result.exit_code == 0, result
    assert result.stderr == f"imgprep: wrote {sheet} (4 panels)\n"
    shown = panels(sheet, image, CHAIN, 256)
    expected = by_hand(image)
    assert [p.size for p in shown] == [(128, 128), (96, 64), (96, 64), (96, 64)]
    for number, (panel, stage) in enumerate(zip(shown, expected, strict=True)):
        assert same(panel, stage), number


def test_a_large_panel_is_scaled_down_and_says_so(cli, samples, tmp_path):
    image, sheet = samples / "hopper.jpg", tmp_path / "sheet.png"
    assert cli("inspect", "--height", "64", image, "-o", sheet, "flip").exit_code == 0
    shown = panels(sheet, image, "flip", 64)
    with Image.open(image) as opened:
        source = opened.convert("RGB")
    assert same(shown[0], source.resize((64, 64), Image.Resampling.LANCZOS))
    flipped = ops.flip(source).resize((64, 64), Image.Resampling.LANCZOS)
    assert same(shown[1], flipped)
    rows = _inspect.stage_rows(load_image(image).image, parse_steps("flip"), "hopper.jpg")
    scaled = _inspect.contact_sheet(rows, 64)
    assert scaled.scales == (0.5, 0.5)
    assert scaled.labels == (
        ("input hopper.jpg", "128x128 RGB, shown at 50%"),
        ("flip", "128x128 RGB, shown at 50%"),
    )
    assert _inspect.contact_sheet(rows, 256).labels[1] == ("flip", "128x128 RGB")


def test_augment_variants_are_a_last_row(cli, samples, tmp_path):
    image, sheet = samples / "hopper.jpg", tmp_path / "sheet.png"
    chain = "resize 96x64 --mode cover augment --mirror --rotate 90 grayscale"
    assert cli("inspect", image, "-o", sheet, *chain.split()).exit_code == 0
    shown = panels(sheet, image, chain, 256)
    resized = by_hand(image)[1]
    grey = ops.grayscale(resized)
    expected = [
        resized.convert("RGB"),  # input comes first: checked below by its size only
        resized,
        grey,  # the first row: input, resize, then grayscale on the original variant
        grey,
        ops.grayscale(ops.mirror(resized)),
        ops.grayscale(ops.rotate(resized, 90)),
    ]
    assert len(shown) == 6 and shown[0].size == (128, 128)
    for number in range(1, 6):
        assert same(shown[number], expected[number]), number
    rows = _inspect.stage_rows(load_image(image).image, parse_steps(chain), "hopper.jpg")
    assert [len(row) for row in rows] == [3, 3]
    assert [panel.label for panel in rows[1]] == [
        "augment: original, grayscale",
        "augment: _mirror, grayscale",
        "augment: _rot90, grayscale",
    ]
    boxes = _inspect.contact_sheet(rows, 256).boxes
    assert boxes[3][1] > boxes[0][3]  # the variants' row lies below the stages' row


def test_labels_name_the_step_as_typed_and_the_size_and_mode():
    image = Image.new("RGB", (40, 30), "red")
    rows = _inspect.stage_rows(image, parse_steps("resize 20 grayscale"), "red.png")
    assert [panel.label for panel in rows[0]] == ["input red.png", "resize 20x20", "grayscale"]
    assert [(p.image.size, p.image.mode) for p in rows[0]] == [
        ((40, 30), "RGB"),
        ((20, 15), "RGB"),
        ((20, 15), "L"),
    ]


def test_the_sheet_replaces_an_old_one_atomically(cli, samples, tmp_path):
    sheet = tmp_path / "sheets" / "hopper.png"  # the folder is created
    assert cli("inspect", samples / "hopper.jpg", "-o", sheet, "flip").exit_code == 0
    first = sheet.read_bytes()
    assert cli("inspect", samples / "hopper.jpg", "-o", sheet, "grayscale").exit_code == 0
    assert sheet.read_bytes() != first
    assert [p.name for p in sheet.parent.iterdir()] == ["hopper.png"]  # no temporary file left


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "inspect needs an IMAGE: imgprep inspect IMAGE -o SHEET.png STEP..."),
        (["IMAGE", "flip"], "missing option -o/--output SHEET (a .png file)"),
        (["IMAGE", "-o", "OUT.jpg", "flip"], "-o/--output must name a .png file"),
        (["IMAGE", "-o", "OUT.png", "flop"], "unknown step 'flop'; did you mean flip?"),
        (["IMAGE", "-o", "OUT.png", "--format", "png"], "inspect has no option --format"),
        (["IMAGE", "-o", "OUT.png", "augment", "--flip", "augment", "--mirror"], "augment may"),
        (["IMAGE", "-o", "OUT.png", "--preset", "nope"], "no preset 'nope'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, samples, tmp_path, monkeypatch, words, message):
    config = tmp_path / "config.toml"
    config.write_text("[presets.thumbs]\nsteps = 'resize 64'\n")
    monkeypatch.setenv("IMGPREP_CONFIG", str(config))
    image, sheet = str(samples / "hopper.jpg"), str(tmp_path / "OUT")
    words = [{"IMAGE": image}.get(w, w.replace("OUT", sheet)) for w in words]
    result = cli("inspect", *words)
    assert result.exit_code == 2, result
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not any(p.name.startswith("OUT") for p in tmp_path.iterdir())


def test_an_image_that_cannot_be_read_exits_1(cli, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    sheet = tmp_path / "sheet.png"
    result = cli("inspect", broken, "-o", sheet, "flip")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {broken}: ")
    assert result.stderr.count("\n") == 1
    missing = cli("inspect", tmp_path / "missing.jpg", "-o", sheet, "flip")
    assert (missing.exit_code, missing.stderr) == (
        1,
        f"Error: {tmp_path / 'missing.jpg'}: no such file or directory\n",
    )
    assert not sheet.exists()


def test_a_step_failing_on_the_image_exits_1_naming_it(cli, samples, tmp_path):
    result = cli("inspect", samples / "hopper.jpg", "-o", tmp_path / "s.png", "crop", "500x500+0+0")
    assert result.exit_code == 1, result
    assert result.stderr.startswith(f"Error: {samples / 'hopper.jpg'}: crop 500x500+0+0: ")
    assert not (tmp_path / "s.png").exists()


def test_a_preset_gives_inspect_its_first_steps(cli, samples, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("[presets.small]\nsteps = 'resize 64'\n")
    monkeypatch.setenv("IMGPREP_CONFIG", str(config))
    sheet = tmp_path / "sheet.png"
    result = cli("inspect", samples / "hopper.jpg", "-o", sheet, "--preset", "small", "flip")
    assert result.exit_code == 0, result
    shown = panels(sheet, samples / "hopper.jpg", "resize 64 flip", 256)
    assert [p.size for p in shown] == [(128, 128), (64, 64), (64, 64)]


def test_help(cli):
    result = cli("inspect", "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: imgprep inspect [OPTIONS] IMAGE [OPTIONS] [STEP")
    for flag in ("--output", "--height", "--preset", "--max-pixels", "--allow-truncated"):
        assert flag in result.stdout
    step = cli("inspect", "x.jpg", "resize", "--help")
    assert step.exit_code == 0 and step.stdout.startswith("Usage: imgprep resize")
    assert "imgprep inspect IMAGE -o SHEET STEP..." in cli("--help").stdout
