"""imgprep._decode: loading bad and hard inputs, EXIF orientation, shrink-on-load."""

from __future__ import annotations

import concurrent.futures
import io
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageStat

from conftest import as_nobody
from corpus import (
    ANIMATED_GIF_FRAMES,
    CMYK_QUADRANT_COLOURS,
    DISCOVERY_PROBLEMS,
    EXPECTED_REASONS,
    MULTIPAGE_TIFF_PAGES,
    ORIENTED_UPRIGHT_SIZE,
    broken_exif,
    cmyk_source,
    gif_with_frame,
    layered_psd,
    make_bad_inputs,
    make_hard_inputs,
    malformed_mpo,
    oriented_upright,
    png_with_bad_animation,
    running_as_root,
    sample,
)
from imgprep import _damage, config, files
from imgprep.errors import ImageTooLargeError, InputError
from imgprep.files import DecodeHint, InputFile


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_hard_inputs(tmp_path_factory.mktemp("hard"))


def mean_abs_diff(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per channel value, in 8-bit levels."""
    assert first.size == second.size and first.mode == second.mode
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / len(first.getbands())


def problems(found: list[InputFile]) -> dict[str, str | None]:
    return {entry.relative.as_posix(): entry.problem for entry in found}


# ---------------------------------------------------------------------------------- bad inputs


LOADER_FAILURES = sorted(
    key
    for key, reason in EXPECTED_REASONS.items()
    if reason is not None and key != "unreadable" and key not in DISCOVERY_PROBLEMS
)


@pytest.mark.parametrize("key", LOADER_FAILURES)
def test_bad_input_fails_with_its_reason(bad: dict[str, Path], key: str) -> None:
    reason = EXPECTED_REASONS[key]
    assert reason is not None
    with pytest.raises(InputError) as caught:
        files.load_image(bad[key])
    assert reason in caught.value.reason
    assert caught.value.path == str(bad[key])
    assert str(caught.value).startswith(f"{bad[key]}: ")


@pytest.mark.parametrize("key", sorted(DISCOVERY_PROBLEMS - {"symlink_loop"}))
def test_discovery_problem_also_fails_in_the_loader(bad: dict[str, Path], key: str) -> None:
    reason = EXPECTED_REASONS[key]
    assert reason is not None
    with pytest.raises(InputError, match=reason):
        files.load_image(bad[key])


def test_data_matching_a_loose_pillow_signature_is_no_image(tmp_path: Path) -> None:
    # Pillow's EMF check is four bytes (01 00 00 00), BMP's two ("BM"), PPM's "P" and a digit:
    # the file is no damaged metafile or bitmap, only data or text that starts the same way
    for name, data in [
        ("data.bin", b"\x01\x00\x00\x00" + bytes(range(256)) * 2),
        ("notes.jpg", b"BM and BMW are brands, not bitmaps\n"),
        ("plan.png", b"P4 is the fourth phase of the plan\n"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as caught:
            files.load_image(tmp_path / name)
        assert caught.value.reason.startswith("not an image Pillow can read"), name


@pytest.mark.parametrize("data", [b"hi\n", b"ab", b"\x00\x01\x02"])
def test_a_file_of_a_few_bytes_is_no_image_not_a_truncated_one(tmp_path: Path, data: bytes) -> None:
    # DIB's signature check unpacks four bytes and raises on fewer: that says "not a DIB", as
    # Image.open takes it, not "truncated image data"
    path = tmp_path / "tiny.png"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        files.load_image(path)
    assert caught.value.reason.startswith("not an image Pillow can read"), caught.value.reason


def test_text_and_html_get_a_hint_of_what_they_are(bad: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"looks like HTML"):
        files.load_image(bad["html_as_jpg"])
    with pytest.raises(InputError, match=r"looks like text"):
        files.load_image(bad["text_as_jpg"])


def test_bomb_is_refused_from_the_header_with_little_memory(bad: dict[str, Path]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError) as caught:
            files.load_image(bad["bomb_png"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # decoding would need 3.6 GB
    assert "60000x60000" in caught.value.reason
    assert "3,600,000,000" in caught.value.reason
    assert f"--max-pixels limit of {config.MAX_PIXELS:,}" in caught.value.reason


def test_max_pixels_boundary_and_none() -> None:
    hopper = sample("hopper.jpg")  # 128 x 128 = 16384 pixels
    assert files.load_image(hopper, max_pixels=16384).image.size == (128, 128)
    with pytest.raises(ImageTooLargeError, match="more than the --max-pixels limit of 16,383"):
        files.load_image(hopper, max_pixels=16383)
    assert files.load_image(hopper, max_pixels=None).image.size == (128, 128)


def test_pillow_global_guards_are_left_alone() -> None:
    files.load_image(sample("hopper.jpg"), max_pixels=10**12, allow_truncated=True)
    assert Image.MAX_IMAGE_PIXELS == config.MAX_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_animated_gif_and_multipage_tiff_give_their_first_frame(bad: dict[str, Path]) -> None:
    gif = files.load_image(bad["animated_gif"])
    with Image.open(bad["animated_gif"]) as first:
        assert first.n_frames == ANIMATED_GIF_FRAMES
        assert mean_abs_diff(gif.image, first.convert("RGB")) == 0
    tiff = files.load_image(bad["multipage_tiff"])
    with Image.open(bad["multipage_tiff"]) as pages:
        assert pages.n_frames == MULTIPAGE_TIFF_PAGES
    assert (tiff.image.size, tiff.image.mode) == ((128, 128), "RGB")  # page 2 is 64x64 L


def test_truncated_jpeg_loads_when_allowed_with_its_top_intact(bad: dict[str, Path]) -> None:
    loaded = files.load_image(bad["truncated_jpeg"], allow_truncated=True)
    full = files.load_image(sample("rocket.jpg")).image
    assert loaded.image.size == full.size == (640, 427)
    top = (0, 0, 640, 100)
    assert mean_abs_diff(loaded.image.crop(top), full.crop(top)) < 1


@pytest.mark.parametrize("key", ["corrupt_scan_jpeg", "bad_crc_png", "zero_byte"])
def test_allow_truncated_does_not_excuse_corruption(bad: dict[str, Path], key: str) -> None:
    with pytest.raises(InputError):
        files.load_image(bad[key], allow_truncated=True)


def test_jpeg_cut_just_before_its_end_marker_is_truncated(tmp_path: Path) -> None:
    data = sample("hopper.jpg").read_bytes()
    assert data.endswith(b"\xff\xd9")
    (tmp_path / "cut.jpg").write_bytes(data[:-2])
    with pytest.raises(InputError, match="truncated image data"):
        files.load_image(tmp_path / "cut.jpg")


def test_png_cut_short_is_truncated(tmp_path: Path) -> None:
    data = sample("camera.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated image data"):
        files.load_image(tmp_path / "cut.png")


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGB", {"progressive": True}),
        ("RGB", {"optimize": True, "subsampling": 0}),
        ("RGB", {"restart_marker_blocks": 1}),  # eight RST markers cycle many times
        ("RGB", {"restart_marker_rows": 2, "progressive": True}),
        ("L", {"quality": 100}),
        ("CMYK", {"progressive": True}),
    ],
)
def test_valid_jpeg_encodings_pass_the_structure_check(
    tmp_path: Path, mode: str, options: dict[str, object]
) -> None:
    photo = Image.open(sample("coffee.png")).convert(mode)
    exif = Image.Exif()
    exif[0x010E] = "caption with \xff bytes \xff\xd9 inside"  # markers inside a header segment
    path = tmp_path / "variant.jpg"
    photo.save(path, exif=exif.tobytes(), comment=b"\xff\xd9", **options)
    loaded = files.load_image(path)
    assert loaded.image.size == (600, 400)


def test_trailing_bytes_after_a_jpeg_are_harmless(tmp_path: Path) -> None:
    (tmp_path / "tail.jpg").write_bytes(sample("hopper.jpg").read_bytes() + b"\0garbage\xff\x00")
    assert files.load_image(tmp_path / "tail.jpg").image.size == (128, 128)


@pytest.mark.parametrize("name", ["hopper.jpg", "chelsea.png"])
@pytest.mark.parametrize("seed", range(4))
def test_random_damage_never_escapes_as_another_exception(
    tmp_path: Path, name: str, seed: int
) -> None:
    rng = random.Random(seed)
    data = bytearray(sample(name).read_bytes())
    for _ in range(20):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path = tmp_path / f"damaged{seed}{Path(name).suffix}"
    path.write_bytes(data[: rng.randrange(len(data) // 2, len(data))])
    # an InputError or a decoded image: any other exception fails the test
    try:
        loaded = files.load_image(path)
    except InputError as error:
        assert error.reason
    else:
        assert loaded.image.size == Image.open(sample(name)).size


def permission_checks(folder: Path) -> dict[str, object]:
    """Load an unreadable and a readable file and list a locked folder, as this process."""
    result: dict[str, object] = {}
    try:
        files.load_image(folder / "unreadable.jpg")
        result["unreadable"] = None
    except InputError as error:
        result["unreadable"] = error.reason
    result["readable"] = list(files.load_image(folder / "readable.jpg").image.size)
    result["listing"] = [
        [str(entry.relative), entry.problem]
        for entry in files.find_inputs([str(folder / "locked")])
    ]
    return result


def test_unreadable_file_and_folder_give_permission_denied() -> None:
    # Root reads mode-000 files and folders, so as root the check runs as user "nobody".
    folder = Path(tempfile.mkdtemp(prefix="imgprep-unreadable-"))
    inputs = folder / "bad"
    try:
        folder.chmod(0o755)
        paths = make_bad_inputs(inputs)
        inputs.chmod(0o755)
        shutil.copyfile(sample("hopper.jpg"), inputs / "readable.jpg")
        (inputs / "readable.jpg").chmod(0o644)
        (inputs / "locked").mkdir()
        (inputs / "locked").chmod(0)
        assert paths["unreadable"] == inputs / "unreadable.jpg"
        if running_as_root():
            result = as_nobody(lambda: permission_checks(inputs))
        else:
            result = permission_checks(inputs)
        assert result == {
            "unreadable": EXPECTED_REASONS["unreadable"],
            "readable": [128, 128],  # the same user reads a normal file: the mode is the cause
            "listing": [[".", "permission denied"]],
        }
    finally:
        (inputs / "locked").chmod(0o755)
        shutil.rmtree(folder)


# --------------------------------------------------------------------------------- hard inputs


def test_every_hard_input_loads(hard: dict[str, Path]) -> None:
    for key, path in hard.items():
        loaded = files.load_image(path)
        assert loaded.image.mode in ("L", "LA", "RGB", "RGBA", "I;16"), key
        assert len(loaded.digest) == 64


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_loads_upright(hard: dict[str, Path], orientation: int) -> None:
    loaded = files.load_image(hard[f"orientation_{orientation}"])
    reference = files.load_image(hard["orientation_1"]).image
    assert loaded.image.size == ORIENTED_UPRIGHT_SIZE
    transposing = orientation >= 5
    stored = ORIENTED_UPRIGHT_SIZE[::-1] if transposing else ORIENTED_UPRIGHT_SIZE
    assert loaded.source_size == loaded.decoded_size == stored
    assert mean_abs_diff(loaded.image, reference) < 2
    assert mean_abs_diff(loaded.image, oriented_upright()) < 3
    assert loaded.image.getexif().get(0x0112) is None


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_decoded_jpeg_is_turned_upright_without_a_copy(
    hard: dict[str, Path], monkeypatch: pytest.MonkeyPatch, orientation: int
) -> None:
    # A copy of a camera-size decode costs as much as a resize step; a single-frame JPEG has
    # let go of its stream after decoding, so it is turned in place.
    copies: list[Image.Image] = []
    copy = Image.Image.copy

    def counting_copy(image: Image.Image) -> Image.Image:
        copies.append(image)
        return copy(image)

    monkeypatch.setattr(Image.Image, "copy", counting_copy)
    loaded = files.load_image(hard[f"orientation_{orientation}"])
    monkeypatch.undo()
    assert copies == []
    assert loaded.image.size == ORIENTED_UPRIGHT_SIZE
    assert mean_abs_diff(loaded.image, oriented_upright()) < 3
    assert getattr(loaded.image, "fp", None) is None  # no stream, so no input bytes, kept


def test_a_multi_frame_input_is_copied_away_from_its_stream(tmp_path: Path) -> None:
    path = tmp_path / "two.gif"
    frames = [Image.new("L", (8, 8), 40), Image.new("L", (8, 8), 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = files.load_image(path)
    with Image.open(path) as stored:
        assert stored.n_frames == 2
    assert not isinstance(loaded.image, ImageFile.ImageFile)  # a plain copy: no stream behind
    assert loaded.image.convert("L").getpixel((0, 0)) == 40


def test_cmyk_jpeg_comes_back_in_its_colours(hard: dict[str, Path]) -> None:
    loaded = files.load_image(hard["cmyk_jpeg"])
    with Image.open(hard["cmyk_jpeg"]) as original:
        assert (original.mode, loaded.image.mode) == ("CMYK", "RGB")
    assert b"Adobe" in hard["cmyk_jpeg"].read_bytes()  # the inverted-CMYK flavour
    for index, colour in enumerate(CMYK_QUADRANT_COLOURS):
        centre = (32 * (index % 2) + 16, 32 * (index // 2) + 16)
        pixel = loaded.image.getpixel(centre)
        assert isinstance(pixel, tuple)
        assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 6, (index, pixel)


def test_cmyk_jpeg_with_a_mismatched_profile_ignores_it(tmp_path: Path) -> None:
    # Only a profile whose colour space is CMYK may convert CMYK pixels (no CMYK profile ships
    # with Pillow or this system, so that path is not exercised here); an RGB profile wrongly
    # embedded in a CMYK file must not be applied: the plain formula gives the right colours.
    with Image.open(sample("rocket.jpg")) as rocket:
        rgb_profile = rocket.info["icc_profile"]
    path = tmp_path / "cmyk_rgb_profile.jpg"
    cmyk_source().convert("CMYK").save(path, quality=95, icc_profile=rgb_profile)
    loaded = files.load_image(path)
    assert loaded.icc_profile == rgb_profile  # reported as found
    for index, colour in enumerate(CMYK_QUADRANT_COLOURS):
        pixel = loaded.image.getpixel((32 * (index % 2) + 16, 32 * (index // 2) + 16))
        assert isinstance(pixel, tuple)
        assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 6


def test_icc_profile_is_kept(hard: dict[str, Path]) -> None:
    loaded = files.load_image(hard["icc_jpeg"])
    with Image.open(sample("rocket.jpg")) as original:
        embedded = original.info["icc_profile"]
    assert loaded.icc_profile == embedded
    assert loaded.icc_profile[16:20] == b"RGB "
    assert "Adobe RGB" in ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(loaded.icc_profile))
    )


def test_sixteen_bit_png_stays_sixteen_bit(hard: dict[str, Path]) -> None:
    loaded = files.load_image(hard["png16"])
    assert loaded.image.mode == "I;16"
    with Image.open(hard["png16"]) as original:
        assert loaded.image.tobytes() == original.convert("I;16").tobytes()
    _, high = loaded.image.getextrema()
    assert high > 255 and (high - 3) % 256 == 0


def test_palette_transparency_becomes_alpha(hard: dict[str, Path]) -> None:
    loaded = files.load_image(hard["palette_transparent_png"])
    with Image.open(hard["palette_transparent_png"]) as original:
        assert (original.mode, loaded.image.mode) == ("P", "RGBA")
        indexes = original.tobytes()
    alphas = loaded.image.getchannel("A").tobytes()
    assert any(index == 0 for index in indexes)
    assert all((alpha == 0) == (index == 0) for index, alpha in zip(indexes, alphas, strict=True))


@pytest.mark.parametrize(("key", "mode"), [("la_png", "LA"), ("rgba_png", "RGBA")])
def test_alpha_modes_are_kept(hard: dict[str, Path], key: str, mode: str) -> None:
    loaded = files.load_image(hard[key])
    assert loaded.image.mode == mode
    with Image.open(hard[key]) as original:
        assert loaded.image.tobytes() == original.tobytes()
    assert loaded.image.getchannel("A").getextrema()[0] < 10


@pytest.mark.parametrize(("key", "size"), [("one_by_one", (1, 1)), ("one_by_5000", (1, 5000))])
def test_extreme_sizes_load(hard: dict[str, Path], key: str, size: tuple[int, int]) -> None:
    assert files.load_image(hard[key]).image.size == size


@pytest.mark.parametrize(
    "name", ["name with spaces.jpg", "ünïcødé.png", "-leading-dash.png", "UPPER.JPG"]
)
def test_awkward_names_are_found_and_loaded(hard: dict[str, Path], name: str) -> None:
    found = problems(files.find_inputs([str(hard[name].parent)]))
    assert found[name] is None
    assert files.load_image(hard[name]).image.size == (128, 128)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("1", "L"), ("P", "RGB"), ("PA", "RGBA"), ("YCbCr", "RGB"), ("I;16B", "I;16"), ("F", "F")],
)
def test_decoded_modes_are_normalised(tmp_path: Path, mode: str, expected: str) -> None:
    # TIFF stores all of these as they are
    source = Image.new(mode, (4, 3))
    if mode == "PA":
        source = Image.new("RGBA", (4, 3), (10, 20, 30, 40)).convert("PA")
    path = tmp_path / "mode.tif"
    source.save(path)
    with Image.open(path) as stored:
        stored_mode = stored.mode
    assert stored_mode == mode  # the file holds the mode under test
    assert files.load_image(path).image.mode == expected


def test_digest_is_sha256_of_the_file(tmp_path: Path) -> None:
    import hashlib

    path = sample("hopper.jpg")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert files.load_image(path).digest == expected
    assert files.file_digest(path) == expected
    assert files.file_digest(tmp_path / "missing.jpg") is None
    assert files.file_digest(tmp_path) is None  # a folder cannot be read as bytes


def test_identity_is_that_of_the_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    shutil.copy(sample("hopper.jpg"), path)
    info = path.stat()
    assert files.load_image(path).identity == (info.st_size, info.st_mtime_ns)
    assert files.load_image(str(path)).identity == files.file_identity(path)


def test_short_reads_still_read_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # A signal can cut a read short; the file must still be read to its end.
    import hashlib

    path = sample("rocket.jpg")
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, count: real_read(fd, min(count, 1000)))
    loaded = files.load_image(path)
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.identity[0] == path.stat().st_size


def test_concurrent_loads_agree_with_sequential_ones() -> None:
    paths = [sample(name) for name in ("rocket.jpg", "hopper.jpg", "coffee.png", "camera.png")]

    def half(size: tuple[int, int]) -> DecodeHint:
        return DecodeHint(size=(size[0] // 2, size[1] // 2))

    jobs: list[tuple[Path, Callable[[tuple[int, int]], DecodeHint | None] | None]] = [
        (path, hint) for path in paths for hint in (None, half)
    ]
    expected = [files.load_image(path, hint=hint).image.tobytes() for path, hint in jobs]
    results: dict[int, bytes] = {}

    def work(index: int) -> None:
        path, hint = jobs[index % len(jobs)]
        results[index] = files.load_image(path, hint=hint).image.tobytes()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4 * len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[index] == expected[index % len(jobs)] for index in range(len(threads)))


# ------------------------------------------------------------------------------ shrink-on-load


def test_draft_picks_the_largest_scale_leaving_enough_pixels() -> None:
    asked: list[tuple[int, int]] = []

    def hint(size: tuple[int, int]) -> DecodeHint:
        asked.append(size)
        return DecodeHint(size=(300, 200))

    loaded = files.load_image(sample("rocket.jpg"), hint=hint)
    assert asked == [(640, 427)]
    assert loaded.source_size == (640, 427)
    assert loaded.decoded_size == loaded.image.size == (320, 214)
    assert loaded.image.mode == "RGB"


def test_draft_grayscale_decodes_luma_directly() -> None:
    loaded = files.load_image(sample("rocket.jpg"), hint=lambda size: DecodeHint("L", (300, 200)))
    assert (loaded.image.mode, loaded.decoded_size) == ("L", (320, 214))  # an RGB JPEG, drafted
    full = files.load_image(sample("rocket.jpg")).image.convert("L").resize((320, 214))
    assert mean_abs_diff(loaded.image, full) <= 2


def test_hint_size_is_in_upright_axes(hard: dict[str, Path]) -> None:
    asked: list[tuple[int, int]] = []

    def hint(size: tuple[int, int]) -> DecodeHint:
        asked.append(size)
        return DecodeHint(size=(48, 32))  # half the upright 96x64

    loaded = files.load_image(hard["orientation_6"], hint=hint)
    assert asked == [(96, 64)]
    assert loaded.source_size == (64, 96)
    assert loaded.decoded_size == (32, 48)  # stored axes, halved
    assert loaded.image.size == (48, 32)  # upright


def test_no_reduction_when_the_hint_asks_for_more_than_half() -> None:
    loaded = files.load_image(sample("rocket.jpg"), hint=lambda size: DecodeHint(size=(400, 200)))
    assert loaded.decoded_size == (640, 427)


def test_hint_returning_none_changes_nothing() -> None:
    assert files.load_image(sample("rocket.jpg"), hint=lambda size: None).decoded_size == (
        640,
        427,
    )


def all_jpegs(hard: dict[str, Path]) -> Iterator[Path]:
    yield sample("rocket.jpg")
    yield sample("hopper.jpg")
    for path in hard.values():
        if path.suffix.lower() == ".jpg":
            yield path


@pytest.mark.parametrize("mode", [None, "L"])
@pytest.mark.parametrize("resample", [Image.Resampling.LANCZOS, Image.Resampling.BICUBIC])
def test_spec_example_draft_then_resize_is_close_to_full_decode(
    mode: str | None, resample: Image.Resampling
) -> None:
    drafted = files.load_image(sample("rocket.jpg"), hint=lambda size: DecodeHint(mode, (300, 200)))
    assert drafted.decoded_size == (320, 214)
    full = files.load_image(sample("rocket.jpg")).image
    reference = full if mode is None else full.convert("L")
    square = (200, 200)
    assert (
        mean_abs_diff(drafted.image.resize(square, resample), reference.resize(square, resample))
        <= 2
    )


@pytest.mark.parametrize("mode", [None, "L"])
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_shrink_on_load_with_twice_the_target_stays_close_to_the_full_decode(
    hard: dict[str, Path], mode: str | None, scale: int
) -> None:
    for path in all_jpegs(hard):
        full = files.load_image(path)
        width, height = full.image.size
        target = (max(1, width // scale), max(1, height // scale))
        ask = (2 * target[0], 2 * target[1])  # a 2x margin, the planner's largest (1/8)
        drafted = files.load_image(path, hint=lambda size, ask=ask: DecodeHint(mode, ask))
        # scale 2 asks for the full size: no reduction; 4 and 8 let the decoder use 1/2, 1/4
        stored_width = full.decoded_size[0]
        assert drafted.decoded_size[0] == -(-stored_width // (scale // 2)), path
        reference = full.image if mode is None else full.image.convert("L")
        # the CMYK JPEG cannot draft to L: the chain's grayscale step converts it afterwards
        small = drafted.image.convert(reference.mode).resize(target, Image.Resampling.LANCZOS)
        expected = reference.resize(target, Image.Resampling.LANCZOS)
        assert mean_abs_diff(small, expected) <= 2, path


def test_formats_other_than_jpeg_decode_in_full(tmp_path: Path) -> None:
    path = tmp_path / "coffee.jp2"
    Image.open(sample("coffee.png")).save(path)
    for source in (path, sample("coffee.png")):
        loaded = files.load_image(source, hint=lambda size: DecodeHint("L", (150, 100)))
        assert loaded.decoded_size == loaded.image.size == (600, 400)
        assert loaded.image.mode == "RGB"


# ------------------------------------------------------------------- every file Pillow reads


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_layered_psd_loads_its_composite_image(tmp_path: Path, count: int) -> None:
    # Pillow's PSD layers are frames 1..n and the composite is what it opens: no seeking
    layers = [((0, 0, 3, 2), (255, 0, 0)), ((2, 1, 6, 4), (0, 0, 255)), ((1, 1, 2, 2), (9, 9, 9))]
    path = tmp_path / "layered.psd"
    path.write_bytes(layered_psd((6, 4), (10, 200, 30), layers[:count]))
    with Image.open(path) as opened:
        assert opened.n_frames == count  # the file really has its layers
    loaded = files.load_image(path)
    assert (loaded.image.mode, loaded.image.size) == ("RGB", (6, 4))
    assert loaded.image.getcolors() == [(24, (10, 200, 30))]
    assert loaded.warnings == ()


def test_a_psd_whose_layers_pillow_cannot_parse_still_gives_its_composite(tmp_path: Path) -> None:
    path = tmp_path / "odd_layer.psd"
    path.write_bytes(layered_psd((6, 4), (10, 200, 30), [((4, 0, 1, 2), (255, 0, 0))]))
    with Image.open(path) as opened, pytest.raises(ValueError, match="negative tile size"):
        opened.n_frames  # noqa: B018 - reading the layers fails
    assert files.load_image(path).image.getcolors() == [(24, (10, 200, 30))]


def two_colour_picture() -> Image.Image:
    """40x20, the left half blue, the right half red: a wrong turn shows in the size and colour."""
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    image.paste((10, 10, 200), (0, 0, 20, 20))
    return image


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [1, 6])
def test_broken_exif_is_dropped_with_a_warning_and_the_pixels_come_out(
    tmp_path: Path, format_name: str, orientation: int
) -> None:
    path = tmp_path / f"broken_exif.{format_name.lower()}"
    two_colour_picture().save(path, format=format_name, exif=broken_exif(orientation))
    with Image.open(path) as opened:
        assert opened.getexif()[0x011A].startswith("72")  # text: Pillow cannot write it back
        with pytest.raises(TypeError):
            opened.getexif().tobytes()
    loaded = files.load_image(path)
    assert loaded.warnings == (_damage.BROKEN_EXIF,)
    # orientation 6 is still applied: the stored 40x20 is shown turned clockwise, 20x40
    expected = (40, 20) if orientation == 1 else (20, 40)
    assert loaded.image.size == expected
    # turned clockwise, the blue left half is the top: the top-left stays blue either way
    top_left = loaded.image.getpixel((2, 2))
    bottom_right = loaded.image.getpixel((expected[0] - 3, expected[1] - 3))
    assert isinstance(top_left, tuple) and isinstance(bottom_right, tuple)
    assert top_left[2] > 150 and bottom_right[0] > 150
    assert loaded.image.getexif().get(0x0112) is None


def test_pillow_warnings_become_the_files_warnings(tmp_path: Path) -> None:
    (tmp_path / "mpo.jpg").write_bytes(malformed_mpo())
    (tmp_path / "apng.png").write_bytes(png_with_bad_animation())
    assert files.load_image(tmp_path / "mpo.jpg").warnings == (
        "damaged MPO index: read as a plain JPEG",
    )
    assert files.load_image(tmp_path / "apng.png").warnings == (
        "damaged APNG animation data: the still image is used",
    )
    # an EXIF text tag whose 100 bytes lie past the end of the block
    entry = struct.pack("<HHII", 0x010E, 2, 100, 4000)
    exif = b"Exif\0\0II*\0" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)
    Image.new("RGB", (8, 8)).save(tmp_path / "short_exif.jpg", exif=exif)
    assert files.load_image(tmp_path / "short_exif.jpg").warnings == (
        "damaged EXIF or TIFF tags skipped",
    )
    assert files.load_image(sample("hopper.jpg")).warnings == ()


def test_unknown_pillow_warnings_are_kept_short() -> None:
    assert _damage.warning_reason("Something odd happened. More detail here") == (
        "Pillow: Something odd happened"
    )
    assert _damage.warning_reason("x" * 300) == "Pillow: " + "x" * 97 + "..."


def test_each_thread_gets_only_its_own_files_warnings(tmp_path: Path) -> None:
    paths = {
        "mpo": tmp_path / "mpo.jpg",
        "apng": tmp_path / "apng.png",
        "clean": tmp_path / "clean.png",
    }
    paths["mpo"].write_bytes(malformed_mpo())
    paths["apng"].write_bytes(png_with_bad_animation())
    Image.new("L", (8, 4)).save(paths["clean"])
    expected = {key: files.load_image(path).warnings for key, path in paths.items()}
    assert all(expected[key] for key in ("mpo", "apng")) and expected["clean"] == ()
    start = threading.Barrier(len(paths))
    seen: dict[str, set[tuple[str, ...]]] = {key: set() for key in paths}

    def work(key: str) -> None:
        start.wait()
        for _ in range(40):
            seen[key].add(files.load_image(paths[key]).warnings)

    threads = [threading.Thread(target=work, args=(key,)) for key in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {key: {warned} for key, warned in expected.items()}


def test_a_failing_files_warnings_leak_nowhere(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = malformed_mpo()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 40])  # warns while opening, then fails
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match="truncated image data"):
            files.load_image(tmp_path / "cut.jpg")
        files.load_image(sample("hopper.jpg"))
    assert leaked == []
    assert capfd.readouterr().err == ""


HOST_PROGRAM = """
import sys, warnings
from PIL import Image
from imgprep import files
filters = list(warnings.filters)
for _ in range(3):  # Python shows a warning once per code location: every file must get it
    print(files.load_image(sys.argv[1]).warnings)
added = [entry for entry in warnings.filters if entry not in filters]
print([(entry[0], entry[2].__name__, entry[3].pattern) for entry in added])
print(warnings.filters[-len(added):] == added)
print(Image.MAX_IMAGE_PIXELS)
try:  # the host program's own Image.open keeps Pillow's bomb guard
    Image.open(sys.argv[2]).load()
except Image.DecompressionBombError:
    print("refused")
"""


def test_warnings_and_limits_in_a_plain_host_program(tmp_path: Path) -> None:
    (tmp_path / "mpo.jpg").write_bytes(malformed_mpo())
    (tmp_path / "bomb.gif").write_bytes(gif_with_frame((10, 10), (20000, 10000)))
    source = str(Path(files.__file__).parents[1])  # the imgprep under test, in the child too
    run = subprocess.run(
        [sys.executable, "-c", HOST_PROGRAM, str(tmp_path / "mpo.jpg"), str(tmp_path / "bomb.gif")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": source},
    )
    assert run.stderr == ""
    assert run.stdout.splitlines() == [
        "('damaged MPO index: read as a plain JPEG',)",
        "('damaged MPO index: read as a plain JPEG',)",
        "('damaged MPO index: read as a plain JPEG',)",
        str([("always", name, r"PIL(\.|$)") for name in ("UserWarning", "RuntimeWarning")]),
        "True",  # appended: the host's own filters come first
        str(Image.MAX_IMAGE_PIXELS),
        "refused",
    ]


@pytest.mark.parametrize("mode", ["I;16B", "I;16"])
def test_sixteen_bit_grey_of_either_byte_order_keeps_its_values(tmp_path: Path, mode: str) -> None:
    values = [0, 20000, 40000, 60000]
    order = "big" if mode == "I;16B" else "little"
    raw = b"".join(value.to_bytes(2, order) for value in values)
    path = tmp_path / "grey16.tif"
    Image.frombytes(mode, (4, 1), raw).save(path)
    with Image.open(path) as stored:
        assert stored.mode == mode
    loaded = files.load_image(path)
    assert loaded.image.mode == "I;16"
    assert list(loaded.image.get_flattened_data()) == values


# ---------------------------------------------------------------------- one limit: imgprep's


def test_max_pixels_above_pillows_own_limit_is_imgprep_s(tmp_path: Path) -> None:
    # a frame of 13400x13400 = 179,560,000 pixels, over Pillow's 2 x MAX_IMAGE_PIXELS
    # (178,956,970), in 40 bytes: Pillow's GIF plugin checks it itself, but --max-pixels rules
    path = tmp_path / "huge_frame.gif"
    path.write_bytes(gif_with_frame((10, 10), (13400, 13400)))
    assert 2 * Image.MAX_IMAGE_PIXELS < 13400 * 13400
    with pytest.raises(InputError) as caught:
        files.load_image(path, max_pixels=10**10)
    assert not isinstance(caught.value, ImageTooLargeError)
    assert caught.value.reason == "truncated image data"  # not refused for its size
    with pytest.raises(ImageTooLargeError, match="inside the file is 179,560,000 pixels"):
        files.load_image(path)  # the default limit still refuses it, in imgprep's words


@pytest.mark.parametrize("kind", ["gif frame", "icon's png"])
def test_max_pixels_applies_to_pictures_inside_the_file(tmp_path: Path, kind: str) -> None:
    # the header says 10x10 or 16x16, but what is decoded is 300x300
    path = tmp_path / "inner"
    if kind == "gif frame":
        path.write_bytes(gif_with_frame((10, 10), (300, 300)))
    else:
        path.write_bytes(icon_around_png(Image.new("RGBA", (300, 300), (1, 2, 3, 255))))
    with pytest.raises(ImageTooLargeError) as caught:
        files.load_image(path, max_pixels=50_000)
    assert caught.value.reason == (
        "a picture inside the file is 90,000 pixels, more than the --max-pixels limit of 50,000"
    )


def icon_around_png(image: Image.Image) -> bytes:
    """An ICO whose directory says 16x16 but whose one entry is a PNG of ``image``'s size."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return icon_around(buffer.getvalue())


def icon_around_png_header(width: int, height: int) -> bytes:
    """An ICO (16x16, says its directory) holding a PNG that declares ``width`` x ``height``
    RGBA pixels, with a damaged start of data behind the header: a bomb of 100 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = b"\x78\x9c" + bytes(range(250, 256)) * 2  # a zlib header, then no valid block
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )
    return icon_around(png)


def icon_around(png: bytes) -> bytes:
    directory = struct.pack("<HHH", 0, 1, 1) + struct.pack(
        "<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 22
    )
    return directory + png


def test_a_bomb_inside_an_icon_is_refused_by_imgprep_s_limit_alone(tmp_path: Path) -> None:
    # Pillow opens an ICO by decoding its picture; the PNG inside declares 20000x10000 = 200
    # million pixels: more than --max-pixels, and more than Pillow's own 2 x MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.ico"
    path.write_bytes(icon_around_png_header(20000, 10000))
    with pytest.raises(ImageTooLargeError) as caught:
        files.load_image(path)
    assert caught.value.reason == (
        "a picture inside the file is 200,000,000 pixels, more than the --max-pixels limit of"
        f" {config.MAX_PIXELS:,}"
    )
    with pytest.raises(InputError) as caught:  # allowed: decoded, and found cut short
        files.load_image(path, max_pixels=10**10)
    assert not isinstance(caught.value, ImageTooLargeError)
    assert caught.value.reason == "truncated image data"


def test_pillow_global_guards_are_left_alone_by_the_own_limit(tmp_path: Path) -> None:
    path = tmp_path / "frame.gif"
    path.write_bytes(gif_with_frame((10, 10), (20000, 10000)))
    with pytest.raises(InputError):
        files.load_image(path, max_pixels=None)
    assert Image.MAX_IMAGE_PIXELS == config.MAX_PIXELS
    with pytest.raises(Image.DecompressionBombError):  # outside load_image: Pillow's own guard
        Image.open(path)


def test_the_limit_is_exact_and_pillow_stays_silent_below_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Pillow's own check runs at half the limit (it refuses above twice its setting): a
    # picture between half and all of --max-pixels passes without Pillow's warning, and the
    # decoded size is held to the exact limit
    path = tmp_path / "inner.ico"
    path.write_bytes(icon_around_png(Image.new("RGBA", (300, 300), (1, 2, 3, 255))))
    loaded = files.load_image(path, max_pixels=90_000)
    assert loaded.image.size == (300, 300)
    assert loaded.warnings == ("icon is not the size its directory says",)  # none of the limit
    with pytest.raises(ImageTooLargeError) as caught:
        files.load_image(path, max_pixels=89_999)
    assert caught.value.reason == (
        "image is 300x300 = 90,000 pixels, more than the --max-pixels limit of 89,999"
    )
    assert capfd.readouterr().err == ""
    assert Image.MAX_IMAGE_PIXELS == config.MAX_PIXELS


def test_threads_with_different_limits_each_keep_their_own(tmp_path: Path) -> None:
    path = tmp_path / "inner.ico"
    path.write_bytes(icon_around_png(Image.new("RGBA", (300, 300), (1, 2, 3, 255))))

    def size_or_refusal(limit: int) -> object:
        try:
            return files.load_image(path, max_pixels=limit).image.size
        except ImageTooLargeError as error:
            return error.reason

    limits = [50_000, 10**6, None] * 20
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(size_or_refusal, limits))
    limit_text = "more than the --max-pixels limit of 50,000"
    refused = f"a picture inside the file is 90,000 pixels, {limit_text}"
    exact = f"image is 300x300 = 90,000 pixels, {limit_text}"
    for limit, result in zip(limits, results, strict=True):
        if limit == 50_000:
            assert result in (refused, exact)  # Pillow's check, or imgprep's after decoding
        else:
            assert result == (300, 300)
    assert Image.MAX_IMAGE_PIXELS == config.MAX_PIXELS
    assert ("ignore", None, Image.DecompressionBombWarning, None, 0) not in warnings.filters


# ------------------------------------------------------------------------------ clear reasons


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def tiff_with_tag(tag: int, value: int | None) -> bytes:
    """A 40x30 grey TIFF with one of its tags set to ``value`` (None: the tag removed)."""
    buffer = io.BytesIO()
    Image.new("L", (40, 30), 128).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    (directory,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, directory)
    for entry in range(directory + 2, directory + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == tag:
            if value is None:
                struct.pack_into("<H", data, entry, 0xFFF0)  # a private tag: ImageWidth gone
            else:
                struct.pack_into("<I", data, entry + 8, value)
    return bytes(data)


def lzw_tiff_with_noise() -> bytes:
    buffer = io.BytesIO()
    Image.open(sample("hopper.jpg")).save(buffer, format="TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    data[8 + 400 : 8 + 1400] = random.Random(3).randbytes(1000)  # inside the strip data
    return bytes(data)


def wmf_header() -> bytes:
    """An Aldus placeable metafile header: Pillow identifies WMF, but decodes it on Windows only."""
    header = struct.pack("<IHhhhhHI", 0x9AC6CDD7, 0, 0, 0, 100, 100, 96, 0)
    checksum = 0
    for (word,) in struct.iter_unpack("<H", header):
        checksum ^= word
    return header + struct.pack("<H", checksum) + struct.pack("<HHHIHIH", 1, 9, 0x300, 100, 0, 0, 0)


def emf_header() -> bytes:
    return (
        struct.pack("<II", 1, 88)
        + struct.pack("<iiii", 0, 0, 99, 99)
        + struct.pack("<iiii", 0, 0, 2000, 2000)
        + b" EMF"
        + bytes(60)
    )


UNSUPPORTED = "unsupported format ({}): Pillow recognises it but cannot decode it"

BROKEN_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "tiff_missing_width": (
        lambda: tiff_with_tag(256, None),
        "corrupt TIFF data (image size missing)",
    ),
    "tiff_rows_per_strip_0": (lambda: tiff_with_tag(278, 0), "corrupt TIFF data (bad tile size)"),
    "tiff_width_0": (
        lambda: tiff_with_tag(256, 0),
        "corrupt TIFF data (no image size or mode in its header)",
    ),
    "tiff_lzw_noise": (lzw_tiff_with_noise, "corrupt TIFF data (damaged compressed data)"),
    "png_huge_text": (
        lambda: (
            sample("camera.png").read_bytes()[:33]
            + png_chunk(b"zTXt", b"note\0\0" + zlib.compress(b"x" * 2_000_000))
            + sample("camera.png").read_bytes()[33:]
        ),
        "PNG text chunks too large to read safely (over Pillow's limit for metadata)",
    ),
    "png_width_0": (
        lambda: (
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0))
            + png_chunk(b"IEND", b"")
        ),
        "corrupt PNG data (no image size or mode in its header)",
    ),
    "jp2_cut": (lambda: jpeg2000_bytes()[:30], "truncated image data"),
    "png_signature_only": (lambda: b"\x89PNG\r\n\x1a\n", "truncated image data"),
    "wmf": (wmf_header, UNSUPPORTED.format("WMF")),
    "emf": (emf_header, UNSUPPORTED.format("WMF")),
    "hdf5_zero_size": (lambda: b"\x89HDF\r\n\x1a\n" + bytes(100), UNSUPPORTED.format("HDF5")),
    "bufr": (lambda: b"BUFR" + bytes(100), UNSUPPORTED.format("BUFR")),
    "grib": (lambda: b"GRIB\0\0\0\x01" + bytes(100), UNSUPPORTED.format("GRIB")),
    "mpeg": (lambda: b"\x00\x00\x01\xb3\x02\x80\x1e\x00" + bytes(20), UNSUPPORTED.format("MPEG")),
}


def jpeg2000_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, format="JPEG2000")
    return buffer.getvalue()


@pytest.mark.parametrize("key", sorted(BROKEN_FILES))
def test_broken_files_get_a_reason_a_user_can_act_on(tmp_path: Path, key: str) -> None:
    build, reason = BROKEN_FILES[key]
    path = tmp_path / f"{key}.bin"
    path.write_bytes(build())
    with pytest.raises(InputError) as caught:
        files.load_image(path)
    assert caught.value.reason == reason


def resize_like_the_planner(size: tuple[int, int]) -> DecodeHint:
    """A hint that, like the planner's, cannot work with an image of no size."""
    if 0 in size:
        raise ValueError("source size must be positive")
    return DecodeHint(size=(max(1, size[0] // 2), max(1, size[1] // 2)))


@pytest.mark.parametrize("key", ["hdf5_zero_size", "tiff_width_0", "png_width_0"])
def test_the_reason_does_not_depend_on_the_steps(tmp_path: Path, key: str) -> None:
    build, reason = BROKEN_FILES[key]
    path = tmp_path / f"{key}.bin"
    path.write_bytes(build())
    for hint in (None, resize_like_the_planner):
        with pytest.raises(InputError) as caught:
            files.load_image(path, hint=hint)
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ValueError("negative seek value -646839898"), "corrupt TIFF data (bad offset)"),
        (OSError("decoder error -2 when reading image file"),
         "corrupt TIFF data (damaged compressed data)"),
        (TypeError("Missing dimensions"), "corrupt TIFF data (image size missing)"),
        (OSError("Expected to read 8 bytes but only got 0."), "truncated image data"),
        (ValueError("tile cannot extend outside image"), "corrupt TIFF data (bad tile size)"),
        (ValueError("negative tile size"), "corrupt TIFF data (bad tile size)"),
        (OSError("cannot find loader for this TIFF file"), UNSUPPORTED.format("TIFF")),
        (OSError("Unsupported BMP compression (232)"),
         "corrupt or unsupported TIFF data (unknown compression)"),
        (TypeError("bad operand type for abs(): 'str'"), "corrupt TIFF data"),
        (KeyError(1000), "corrupt TIFF data"),
        (struct.error("unpack requires a buffer of 4 bytes"), "truncated image data"),
        (EOFError(), "truncated image data"),
    ],
)  # fmt: skip
def test_pillows_messages_map_to_reasons(error: Exception, reason: str) -> None:
    assert _damage.failure_reason(error, "TIFF") == reason
    assert _damage.failure_reason(KeyError(3), "TIFF", header=True) == (
        "corrupt TIFF data (damaged header)"
    )


# every reason load_image gives for a damaged file: its own words, never Python's or Pillow's
KNOWN_REASON = re.compile(
    r"truncated image data"
    r"|not an image Pillow can read( \(looks like (text|HTML)\))?"
    r"|image is \d+x\d+ = [\d,]+ pixels, more than the --max-pixels limit of [\d,]+"
    r"|a picture inside the file is [\d,]+ pixels, more than the --max-pixels limit of [\d,]+"
    r"|unsupported format \([A-Z0-9]+\): Pillow recognises it but cannot decode it"
    r"|PNG text chunks too large to read safely \(over Pillow's limit for metadata\)"
    r"|broken EXIF data dropped"
    r"|corrupt or unsupported [A-Z0-9]+ data \(unknown [a-z ]+\)"
    r"|corrupt [A-Z0-9]+ data( \((damaged header|damaged compressed data|bad tile size|bad offset"
    r"|image size missing|no image size or mode in its header|end of image before any scan"
    r"|restart markers out of order in the scan data|stray marker 0xFF[0-9A-F]{2} in the scan data"
    r"|CRC check failed in the [ -~]{4} chunk)\))?"
)

DAMAGED_FORMATS = ["BMP", "GIF", "ICO", "IM", "JPEG", "JPEG2000", "PCX", "PNG", "PPM", "SGI",
                   "TGA", "TIFF", "WEBP", "QOI", "DDS", "ICNS", "SPIDER"]  # fmt: skip


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")
@pytest.mark.parametrize("format_name", DAMAGED_FORMATS)
def test_damaged_files_of_every_format_fail_in_known_words(
    tmp_path: Path, format_name: str
) -> None:
    photo = Image.open(sample("hopper.jpg")).convert("RGB").resize((40, 30))
    mode = {"SPIDER": "F", "ICO": "RGBA", "ICNS": "RGBA"}.get(format_name, "RGB")
    buffer = io.BytesIO()
    photo.convert(mode).save(buffer, format=format_name)
    data = buffer.getvalue()
    rng = random.Random(format_name)
    reasons: set[str] = set()
    for attempt in range(120):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 2, 4])):
            damaged[rng.randrange(min(len(damaged), 300))] = rng.choice(
                [0, 255, rng.randrange(256)]
            )
        cut = len(damaged) if attempt % 3 else rng.randrange(1, len(damaged))
        path = tmp_path / f"damaged{attempt}"
        path.write_bytes(bytes(damaged[:cut]))
        try:
            files.load_image(path)
        except InputError as error:
            reasons.add(error.reason)
    assert reasons
    unknown = sorted(reason for reason in reasons if not KNOWN_REASON.fullmatch(reason))
    assert unknown == []
