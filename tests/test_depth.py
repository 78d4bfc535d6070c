"""Bit depth: one rule for scaling between depths (``ops.to_depth``, docs/cli.md "Bit depth"),
``--depth 8|16|keep`` at writing, what each format stores, and the usage errors.

Known values on every deep mode (I;16, I;16B, I, F), then the same through real files Pillow
writes (16-bit PNG, big-endian 16-bit TIFF, 32-bit integer and float TIFFs) and the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from imgprep import files, ops

SIXTEEN = [0, 128, 129, 385, 386, 32767, 32768, 32896, 65534, 65535]
SIXTEEN_TO_8 = [0, 0, 1, 1, 2, 127, 128, 128, 255, 255]  # floor(v / 257 + 1/2)
INTEGER = [-5, 0, 129, 32896, 65535, 70000, 2**31 - 1]
INTEGER_TO_16 = [0, 0, 129, 32896, 65535, 65535, 65535]  # clipped to 0..65535
INTEGER_TO_8 = [0, 0, 1, 128, 255, 255, 255]
FLOAT = [-1.0, 0.0, 0.49, 0.5, 1.0, 127.5, 254.4, 254.6, 255.0, 1000.0, float("inf"), float("nan")]
FLOAT_TO_8 = [0, 0, 0, 1, 1, 128, 254, 255, 255, 255, 255, 0]  # clipped to 0..255, rounded
FLOAT_TO_16 = [0, 0, 126, 129, 257, 32768, 65381, 65432, 65535, 65535, 65535, 0]  # x257


def row(mode: str, values: list[int] | list[float]) -> Image.Image:
    """A 1-pixel-high image of ``values``; I;16B is built from big-endian bytes."""
    if mode == "I;16B":
        data = b"".join(int(value).to_bytes(2, "big") for value in values)
        return Image.frombytes("I;16B", (len(values), 1), data)
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    return image


def pixels(image: Image.Image) -> list[float]:
    return [image.getpixel((x, 0)) for x in range(image.width)]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mode", "values", "to_8", "to_16"),
    [
        ("I;16", SIXTEEN, SIXTEEN_TO_8, SIXTEEN),
        ("I;16B", SIXTEEN, SIXTEEN_TO_8, SIXTEEN),
        ("I", INTEGER, INTEGER_TO_8, INTEGER_TO_16),
        ("F", FLOAT, FLOAT_TO_8, FLOAT_TO_16),
    ],
)
def test_every_deep_mode_scales_by_the_rule(
    mode: str, values: list[float], to_8: list[int], to_16: list[int]
) -> None:
    source = row(mode, values)
    assert source.mode == mode
    eight, sixteen = ops.to_depth(source, 8), ops.to_depth(source, 16)
    assert (eight.mode, pixels(eight)) == ("L", to_8)
    assert (sixteen.mode, pixels(sixteen)) == ("I;16", to_16)


def test_eight_bit_grey_widens_by_257_and_comes_back() -> None:
    every_level = row("L", list(range(256)))
    wide = ops.to_depth(every_level, 16)
    assert pixels(wide) == [257 * level for level in range(256)]  # 255 -> 65535
    assert pixels(ops.to_depth(wide, 8)) == list(range(256))
    bilevel = row("L", [0, 255]).convert("1")
    assert pixels(ops.to_depth(bilevel, 8)) == [0, 255]
    assert pixels(ops.to_depth(bilevel, 16)) == [0, 65535]


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=64))
def test_sixteen_to_eight_is_the_nearest_level(values: list[int]) -> None:
    eight = pixels(ops.to_depth(row("I;16", values), 8))
    assert eight == [(2 * value + 257) // 514 for value in values]  # floor(v / 257 + 1/2)
    assert all(abs(value - 257 * level) <= 128 for value, level in zip(values, eight, strict=True))


def test_colour_has_no_sixteen_bit_mode_and_other_depths_are_refused() -> None:
    with pytest.raises(ops.OpError, match="16-bit samples are grey only"):
        ops.to_depth(Image.new("RGB", (2, 2)), 16)
    with pytest.raises(ValueError, match="depth must be 8 or 16 bits, not 12"):
        ops.to_depth(Image.new("L", (2, 2)), 12)
    rgb = Image.new("RGB", (2, 2), (1, 2, 3))
    assert ops.to_depth(rgb, 8).getpixel((0, 0)) == (1, 2, 3)  # 8-bit already: a copy


def test_convert_l_uses_the_same_rule() -> None:
    assert pixels(ops.convert(row("I;16", SIXTEEN), "l")) == SIXTEEN_TO_8
    assert pixels(ops.convert(row("F", FLOAT), "l")) == FLOAT_TO_8


# --- real files written by Pillow, through the command line ---------------------------------


@pytest.fixture
def deep_files(tmp_path: Path) -> Path:
    """One file per deep mode, as Pillow writes them, each with its own known values."""
    folder = tmp_path / "deep"
    folder.mkdir()
    row("I;16", SIXTEEN).save(folder / "g16.png")
    row("I;16B", SIXTEEN).save(folder / "g16b.tif")
    row("I", INTEGER).save(folder / "g32.tif")
    row("F", FLOAT).save(folder / "gfloat.tif")
    for name, mode in (("g16.png", "I;16"), ("g16b.tif", "I;16B"), ("g32.tif", "I")):
        with Image.open(folder / name) as written:
            assert written.mode == mode
    with Image.open(folder / "gfloat.tif") as written:
        assert written.mode == "F"
    return folder


# name -> (values kept by --depth keep in TIFF, --depth 8, --depth 16)
EXPECTED = {
    "g16.png": ("I;16", SIXTEEN, SIXTEEN_TO_8, SIXTEEN),
    "g16b.tif": ("I;16", SIXTEEN, SIXTEEN_TO_8, SIXTEEN),
    "g32.tif": ("I", INTEGER, INTEGER_TO_8, INTEGER_TO_16),
    "gfloat.tif": ("F", FLOAT, FLOAT_TO_8, FLOAT_TO_16),
}


def read(path: Path) -> tuple[str, list[float]]:
    with Image.open(path) as image:
        return image.mode, pixels(image)


def same_values(found: list[float], expected: list[float]) -> bool:
    return all(
        (a != a and b != b) or a == b or abs(a - b) < 1e-4 * max(1.0, abs(b))
        for a, b in zip(found, expected, strict=True)
    )


@pytest.mark.parametrize("depth", ["keep", "8", "16"])
def test_depth_in_tiff_through_the_cli(cli, deep_files: Path, tmp_path: Path, depth: str) -> None:
    out = tmp_path / "out"
    result = cli("-i", deep_files, "-o", out, "--format", "tiff", "--depth", depth)
    assert result.exit_code == 0, result
    for name, (kept_mode, kept, to_8, to_16) in EXPECTED.items():
        mode, found = read(out / (name.rsplit(".", 1)[0] + ".tif"))
        expected_mode, expected = {
            "keep": (kept_mode, kept),
            "8": ("L", to_8),
            "16": ("I;16", to_16),
        }[depth]
        assert mode == expected_mode, name
        assert same_values(found, expected), (name, found)


@pytest.mark.parametrize(
    ("format_name", "depth", "mode"),
    [
        ("png", "keep", "I;16"),  # PNG holds 16-bit grey: I and F become 16-bit
        ("png", "16", "I;16"),
        ("png", "8", "L"),
        ("jpeg", "keep", "L"),  # JPEG holds 8 bits only
        ("jpeg", "8", "L"),
        ("webp", "keep", "RGB"),  # WebP stores grey as three equal channels
    ],
)
def test_depth_in_png_jpeg_and_webp_through_the_cli(
    cli, deep_files: Path, tmp_path: Path, format_name: str, depth: str, mode: str
) -> None:
    out = tmp_path / "out"
    result = cli("-i", deep_files, "-o", out, "--format", format_name, "--depth", depth)
    assert result.exit_code == 0, result
    extension = {"png": "png", "jpeg": "jpg", "webp": "webp"}[format_name]
    for name, (_, _, to_8, to_16) in EXPECTED.items():
        found_mode, found = read(out / f"{name.rsplit('.', 1)[0]}.{extension}")
        assert found_mode == mode, name
        if format_name == "png":
            assert found == (to_16 if mode == "I;16" else to_8), name
        else:  # lossy: a one-row ramp stays within a few levels (WebP: of each channel)
            grey = [value[0] if isinstance(value, tuple) else value for value in found]
            assert all(abs(a - b) <= 6 for a, b in zip(grey, to_8, strict=True)), (name, found)


def test_depth_sixteen_widens_grey_and_leaves_colour_8_bit(cli, samples: Path, tmp_path) -> None:
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "--format", "png", "--depth", "16", "resize", "32")
    assert result.exit_code == 0, result
    with Image.open(samples / "camera.png") as grey, Image.open(out / "camera.png") as wide:
        assert wide.mode == "I;16"
        expected = grey.resize(wide.size, Image.Resampling.BICUBIC, reducing_gap=None)
        assert wide.getpixel((0, 0)) == 257 * expected.getpixel((0, 0))  # type: ignore[operator]
    with Image.open(out / "coffee.png") as colour:
        assert colour.mode == "RGB"  # Pillow has no 16-bit colour


def test_depth_sixteen_with_format_same_keeps_8_bit_formats_8_bit(
    cli, samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "--depth", "16", "convert", "l")
    assert result.exit_code == 0, result
    assert read(out / "camera.png")[0] == "I;16"
    assert read(out / "hopper.jpg")[0] == "L"


@pytest.mark.parametrize("format_name", ["jpeg", "jpg", "webp"])
def test_depth_sixteen_in_an_8_bit_format_is_a_usage_error(
    cli, samples: Path, tmp_path: Path, format_name: str
) -> None:
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "--format", format_name, "--depth", "16", "grayscale")
    assert result.exit_code == 2
    canonical = "jpeg" if format_name == "jpg" else format_name
    assert result.stderr == (
        f"Error: --depth 16 cannot be written as --format {canonical}, which holds 8 bits a "
        "sample: use --format png or tiff, or --depth 8\n"
    )
    assert not out.exists()  # refused before anything is written


def test_an_unknown_depth_is_a_usage_error(cli, samples: Path, tmp_path: Path) -> None:
    result = cli("-i", samples, "-o", tmp_path / "out", "--depth", "12", "grayscale")
    assert result.exit_code == 2
    assert result.stderr == "Error: --depth must be one of 8, 16, keep, not '12'\n"
    assert not (tmp_path / "out").exists()


def test_changing_the_depth_rewrites_the_outputs(cli, deep_files: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summaries = []
    for depth in ("keep", "8", "8", "keep"):
        result = cli("-i", deep_files, "-o", out, "--format", "png", "--depth", depth)
        summaries.append(result.stderr.split(",")[0].split(": ")[-1])
    assert summaries == ["4 written", "4 written", "0 written", "4 written"]
    assert read(out / "g16.png") == ("I;16", SIXTEEN)


def test_save_image_writes_the_depth_asked_for(tmp_path: Path) -> None:
    source = row("I;16", SIXTEEN)
    for depth, mode, values in (("keep", "I;16", SIXTEEN), ("8", "L", SIXTEEN_TO_8)):
        path = tmp_path / f"{depth}.png"
        files.save_image(source, path, format="PNG", depth=depth)
        assert read(path) == (mode, values)
    files.save_image(row("L", [0, 128, 255]), tmp_path / "wide.tif", format="TIFF", depth="16")
    assert read(tmp_path / "wide.tif") == ("I;16", [0, 32896, 65535])


@pytest.mark.parametrize("pillow_format", ["PNG", "TIFF", "JPEG2000", "JPEG", "WEBP", "GIF", "BMP"])
def test_the_formats_named_sixteen_bit_are_the_ones_written_with_sixteen_bits(
    tmp_path: Path, pillow_format: str
):
    """--depth 16 is refused for a format by its name alone (``_formats``, no Pillow), so that
    name list must say what the encoder does: keep 16-bit grey, or not."""
    from imgprep._formats import SIXTEEN_BIT_FORMATS

    path = tmp_path / f"out.{pillow_format.lower()}"
    files.save_image(row("I;16", SIXTEEN), path, format=pillow_format, depth="16")
    with Image.open(path) as written:
        kept = written.mode.startswith("I;16") or written.mode == "I"
    assert kept == (pillow_format in SIXTEEN_BIT_FORMATS)
