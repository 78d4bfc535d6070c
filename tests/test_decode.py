"""imgprep._decode: loading bad and hard inputs, EXIF orientation, shrink-on-load."""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
import threading
import tracemalloc
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
    cmyk_source,
    make_bad_inputs,
    make_hard_inputs,
    oriented_upright,
    running_as_root,
    sample,
)
from imgprep import config, files
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
