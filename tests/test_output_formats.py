"""--lossless (WebP) and --format avif: the written files decode to the pixels asked for, and
what a format cannot do is refused before anything is written."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageStat, features

from conftest import SAMPLES
from imgprep import files
from imgprep.errors import UsageError
from imgprep.steps import parse_steps


def rgba_photo() -> Image.Image:
    with Image.open(SAMPLES / "coffee.png") as source:
        image = source.convert("RGBA").resize((80, 60))
    image.putalpha(image.convert("L"))  # every alpha level, 0 included
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_lossless_webp_decodes_to_exactly_the_pixels_written(tmp_path, mode):
    image = rgba_photo().convert(mode)
    files.save_image(image, tmp_path / "a.webp", format="WEBP", lossless=True)
    with Image.open(tmp_path / "a.webp") as written:
        assert written.mode == mode
        assert written.tobytes() == image.tobytes()  # colour under alpha 0 kept too (exact)


def test_lossless_run_writes_the_chains_pixels_and_lossy_does_not(samples, tmp_path, cli):
    chain = ["resize", "64"]
    assert (
        cli(
            "-i",
            samples / "coffee.png",
            "-o",
            tmp_path / "l",
            "--format",
            "webp",
            "--lossless",
            *chain,
        ).exit_code
        == 0
    )
    assert (
        cli(
            "-i", samples / "coffee.png", "-o", tmp_path / "q", "--format", "webp", *chain
        ).exit_code
        == 0
    )
    with Image.open(samples / "coffee.png") as source:  # a PNG: no reduced decode
        expected = parse_steps("resize 64")[0](source.convert("RGB"))
    with (
        Image.open(tmp_path / "l" / "coffee.webp") as lossless,
        Image.open(tmp_path / "q" / "coffee.webp") as lossy,
    ):
        assert lossless.tobytes() == expected.tobytes()
        assert lossy.convert("RGB").tobytes() != expected.tobytes()


def test_lossless_changes_the_recipe_so_a_rerun_rebuilds(samples, tmp_path, cli):
    base = ["-i", samples / "rocket.jpg", "-o", tmp_path / "o", "--format", "webp"]
    assert cli(*base, "resize", "64").exit_code == 0
    again = cli(*base, "--lossless", "resize", "64")
    assert again.stderr.startswith("imgprep: 1 written, 0 up to date")


@pytest.mark.parametrize("format", ["same", "png", "jpeg", "tiff", "avif"])
def test_lossless_with_another_format_is_refused(samples, tmp_path, cli, format):
    result = cli(
        "-i", samples, "-o", tmp_path / "o", "--format", format, "--lossless", "resize", "64"
    )
    assert result.exit_code == 2
    assert f"--lossless applies to --format webp only, not --format {format}" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not features.check_module("avif"), reason="this Pillow has no AVIF plugin")
def test_avif_outputs_decode_close_to_the_chains_pixels(samples, tmp_path, cli):
    result = cli(
        "-i",
        samples / "coffee.png",
        "-o",
        tmp_path / "o",
        "--format",
        "avif",
        "--quality",
        "90",
        "resize",
        "128",
    )
    assert result.exit_code == 0, result
    with Image.open(samples / "coffee.png") as source:
        expected = parse_steps("resize 128")[0](source.convert("RGB"))
    with Image.open(tmp_path / "o" / "coffee.avif") as written:
        assert written.format == "AVIF" and written.size == expected.size
        difference = ImageStat.Stat(ImageChops.difference(written.convert("RGB"), expected)).mean
        assert sum(difference) / 3 < 3.0


def test_avif_without_the_plugin_is_a_usage_error_naming_the_reason(
    samples, tmp_path, cli, monkeypatch
):
    real = features.check_module
    monkeypatch.setattr(
        features, "check_module", lambda name: False if name == "avif" else real(name)
    )
    result = cli("-i", samples, "-o", tmp_path / "o", "--format", "avif", "resize", "64")
    assert result.exit_code == 2
    assert "--format avif: the installed Pillow" in result.stderr
    assert (
        "built without AVIF support (PIL.features.check_module('avif') is False)" in result.stderr
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(UsageError):
        files.check_format_available("avif")
    files.check_format_available("png")  # always there


@pytest.mark.skipif(not features.check_module("avif"), reason="this Pillow has no AVIF plugin")
def test_format_same_keeps_an_avif_input_avif(tmp_path, cli):
    (tmp_path / "in").mkdir()
    with Image.open(SAMPLES / "coffee.png") as source:
        source.convert("RGB").save(tmp_path / "in" / "coffee.avif", quality=90)
    result = cli("-i", tmp_path / "in", "-o", tmp_path / "out", "resize", "64")
    assert result.exit_code == 0, result
    with Image.open(tmp_path / "out" / "coffee.avif") as written:
        assert (written.format, written.size) == ("AVIF", (64, 43))
