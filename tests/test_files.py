"""imgprep.files: discovery, loading (bad and hard inputs, shrink-on-load), atomic saving."""

from __future__ import annotations

import errno
import io
import os
import random
import re
import shutil
import tempfile
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st
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
from imgprep.errors import ImageTooLargeError, InputError, OutputError, UsageError
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


def relatives(found: list[InputFile]) -> list[str]:
    return [entry.relative.as_posix() for entry in found]


def problems(found: list[InputFile]) -> dict[str, str | None]:
    return {entry.relative.as_posix(): entry.problem for entry in found}


# ------------------------------------------------------------------------------- discovery


@pytest.fixture
def photo_tree(tmp_path: Path) -> Path:
    """A folder of inputs mixed with things that are not inputs."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    jpeg = sample("hopper.jpg").read_bytes()
    for name in ("b.jpg", "a.png", "C.JPG", "sub/d.png", "sub/deeper/e.webp"):
        (root / name).write_bytes(jpeg)
    (root / "README.txt").write_text("not an image\n", encoding="utf-8")
    (root / "notes.md").write_text("# notes\n", encoding="utf-8")
    (root / "noextension").write_bytes(jpeg)  # found by its first bytes
    (root / ".hidden.jpg").write_bytes(jpeg)
    (root / f".b.jpg.0123abcd{files.TEMP_SUFFIX}").write_bytes(jpeg)  # a killed run's leftover
    return root


def test_directory_is_walked_sorted_with_sniffing_and_without_subfolders(photo_tree: Path) -> None:
    found = files.find_inputs([str(photo_tree)])
    assert relatives(found) == ["C.JPG", "a.png", "b.jpg", "noextension"]
    assert all(entry.problem is None for entry in found)
    assert found[0].path == photo_tree / "C.JPG"


def test_input_list_gives_back_what_was_found(photo_tree: Path, tmp_path: Path) -> None:
    (tmp_path / "x.jpg").mkdir()
    found = [
        *files.find_inputs([str(photo_tree), str(tmp_path / "missing.jpg")], recursive=True),
        files.InputFile(Path("a/b/c.jpg"), PurePath("b/c.jpg")),
        files.InputFile(Path("a/b/c.jpg"), PurePath("elsewhere/c.jpg")),  # not the path's end
        files.InputFile(Path("a/xc.jpg"), PurePath("c.jpg"), "odd"),  # a suffix, not a part
        files.InputFile(Path("folder"), PurePath(), "permission denied"),
    ]
    listed = files.InputList(found)
    assert len(listed) == len(found)
    assert list(listed) == found
    assert listed[-1] == found[-1] and listed[1:3] == found[1:3]
    assert [listed[i].problem for i in range(len(found))] == [f.problem for f in found]
    for index in [*range(len(found)), -1, -len(found)]:  # the text accessors agree
        assert listed.path_text(index) == str(found[index].path)
        assert listed.relative_text(index) == str(found[index].relative)
        assert listed.problem(index) == found[index].problem
    for outside in (len(found), -len(found) - 1):
        for read in (listed.__getitem__, listed.path_text, listed.relative_text, listed.problem):
            with pytest.raises(IndexError):
                read(outside)


@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(["a", "b", "photos", ".", "x y", "é"]), max_size=3),
            st.lists(st.sampled_from(["c.jpg", "d", "sub", "e.tar.gz"]), min_size=1, max_size=3),
        ),
        max_size=8,
    )
)
def test_input_list_round_trips_any_path_and_relative(entries: list) -> None:
    found = [
        files.InputFile(Path(*root, *relative), PurePath(*relative)) for root, relative in entries
    ]
    listed = files.InputList(found)
    assert list(listed) == found
    assert [listed.relative_text(i) for i in range(len(found))] == [str(f.relative) for f in found]


def test_recursive_walk_mirrors_subfolders(photo_tree: Path) -> None:
    found = files.find_inputs([str(photo_tree)], recursive=True)
    assert relatives(found) == [
        "C.JPG",
        "a.png",
        "b.jpg",
        "noextension",
        "sub/d.png",
        "sub/deeper/e.webp",
    ]


def test_image_extensions_are_lower_case_and_what_pillow_opens() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp"} <= (
        files.IMAGE_EXTENSIONS
    )
    assert all(ext.startswith(".") and ext == ext.lower() for ext in files.IMAGE_EXTENSIONS)
    assert ".txt" not in files.IMAGE_EXTENSIONS
    assert ".pdf" not in files.IMAGE_EXTENSIONS  # Pillow writes PDF but cannot read it
    # the table is spelled out (no plugin import at start-up): every entry must be one the
    # installed Pillow opens, and the common ones must all be there
    Image.init()
    readable = {e.lower() for e, f in Image.registered_extensions().items() if f in Image.OPEN}
    assert readable >= files.IMAGE_EXTENSIONS


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [(".JPG", "JPEG"), (".jpeg", "JPEG"), (".png", "PNG"), (".tif", "TIFF"), (".webp", "WEBP"),
     (".gif", "GIF"), (".bmp", "BMP"), (".psd", ""), ("", "")],
)  # fmt: skip
def test_format_of_suffix_agrees_with_pillow(suffix: str, expected: str) -> None:
    assert files.format_of_suffix(suffix) == expected
    if expected:
        Image.init()
        assert Image.registered_extensions()[suffix.lower()] == expected


def test_glob_relative_to_its_folder_part(photo_tree: Path) -> None:
    found = files.find_inputs([f"{photo_tree}/*.png", f"{photo_tree}/sub/*.png"])
    assert relatives(found) == ["a.png", "d.png"]
    deep = files.find_inputs([f"{photo_tree}/**/*.png"], recursive=True)
    assert relatives(deep) == ["a.png", "sub/d.png"]
    # without recursion ** is a plain *: one level only
    shallow = files.find_inputs([f"{photo_tree}/**/*.png"])
    assert relatives(shallow) == ["sub/d.png"]


def test_glob_case_insensitive_extension_filter_and_directory_matches(photo_tree: Path) -> None:
    found = files.find_inputs([f"{photo_tree}/*"])
    # README.txt and notes.md are matched by the pattern but are not images; sub is a folder
    assert relatives(found) == ["C.JPG", "a.png", "b.jpg", "noextension"]
    walked = files.find_inputs([f"{photo_tree}/s*"], recursive=True)
    assert relatives(walked) == ["sub/d.png", "sub/deeper/e.webp"]


def test_glob_without_match_and_missing_path_are_problems(tmp_path: Path) -> None:
    found = files.find_inputs([f"{tmp_path}/*.png", str(tmp_path / "missing.jpg")])
    assert [entry.problem for entry in found] == ["no file matches", "no such file or directory"]
    assert [entry.relative for entry in found] == [PurePath("*.png"), PurePath("missing.jpg")]


def test_named_file_relative_is_its_name_whatever_the_extension(
    photo_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photo_tree / "sub")
    found = files.find_inputs(["../b.jpg", "../README.txt", "deeper/e.webp"])
    assert relatives(found) == ["b.jpg", "README.txt", "e.webp"]
    assert found[0].path == Path("../b.jpg")  # as given, not resolved


def test_same_real_file_is_listed_once(photo_tree: Path) -> None:
    (photo_tree / "link_to_a.png").symlink_to("a.png")
    found = files.find_inputs([str(photo_tree / "a.png"), str(photo_tree), f"{photo_tree}/*.png"])
    assert relatives(found) == ["a.png", "C.JPG", "b.jpg", "noextension"]


def test_bad_entries_come_back_with_problems(bad: dict[str, Path]) -> None:
    folder = bad["zero_byte"].parent
    flat = problems(files.find_inputs([str(folder)]))
    assert flat["dir_named.jpg"] == "is a directory"
    assert flat["dangling.jpg"] == "broken symbolic link"
    assert "symlink_loop" not in flat  # a plain folder: skipped without -r
    assert flat["zero_byte.jpg"] is None  # discovery does not read files; loading fails later
    deep = problems(files.find_inputs([str(folder)], recursive=True))
    assert deep["symlink_loop/parent"] == "symbolic link loop"
    assert "dir_named.jpg" not in deep  # walked (it is empty), not reported
    for key in DISCOVERY_PROBLEMS:
        expected = EXPECTED_REASONS[key]
        assert expected is not None
        assert expected in (flat | deep).values()


def test_symlinked_folder_is_walked_once(photo_tree: Path) -> None:
    (photo_tree / "alias").symlink_to("sub", target_is_directory=True)
    (photo_tree / "sub" / "self").symlink_to(".", target_is_directory=True)
    found = files.find_inputs([str(photo_tree)], recursive=True)
    assert relatives(found) == [
        "C.JPG",
        "a.png",
        "alias/d.png",
        "alias/deeper/e.webp",
        "alias/self",
        "b.jpg",
        "noextension",
    ]
    assert problems(found)["alias/self"] == "symbolic link loop"


def test_fifo_with_image_name_is_a_problem_and_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    os.mkfifo(tmp_path / "pipe")
    found = files.find_inputs([str(tmp_path), str(tmp_path / "pipe")])
    assert [(str(e.relative), e.problem) for e in found] == [
        ("pipe.jpg", "not a regular file"),
        ("pipe", "not a regular file"),
    ]
    with pytest.raises(InputError, match="not a regular file"):
        files.load_image(tmp_path / "pipe.jpg")


def test_link_to_itself_is_a_loop(tmp_path: Path) -> None:
    (tmp_path / "self.jpg").symlink_to("self.jpg")
    assert problems(files.find_inputs([str(tmp_path)])) == {"self.jpg": "symbolic link loop"}
    with pytest.raises(InputError, match="symbolic link loop"):
        files.load_image(tmp_path / "self.jpg")


# --------------------------------------------------------------------------- path lists


def test_read_path_list_lines() -> None:
    stream = io.BytesIO(b"a.jpg\r\n\n  \nsub dir/b c.png\nlast.png")
    assert files.read_path_list(stream) == ["a.jpg", "sub dir/b c.png", "last.png"]


def test_read_path_list_nul_separated_keeps_newlines_in_names() -> None:
    stream = io.BytesIO(b"odd\nname.jpg\0plain.png\0\0")
    assert files.read_path_list(stream, null=True) == ["odd\nname.jpg", "plain.png"]


@given(st.lists(st.binary(min_size=1).filter(lambda raw: b"\0" not in raw and raw.strip())))
def test_read_path_list_round_trips_any_file_name_bytes(names: list[bytes]) -> None:
    stream = io.BytesIO(b"\0".join(names))
    assert [os.fsencode(path) for path in files.read_path_list(stream, null=True)] == names


# ------------------------------------------------------------------------ bad inputs


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
    assert gif.frames == ANIMATED_GIF_FRAMES
    with Image.open(bad["animated_gif"]) as first:
        assert mean_abs_diff(gif.image, first.convert("RGB")) == 0
    tiff = files.load_image(bad["multipage_tiff"])
    assert tiff.frames == MULTIPAGE_TIFF_PAGES
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


# ----------------------------------------------------------------------- hard inputs


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
    assert loaded.frames == 2
    assert not isinstance(loaded.image, ImageFile.ImageFile)  # a plain copy: no stream behind
    assert loaded.image.convert("L").getpixel((0, 0)) == 40


def test_cmyk_jpeg_comes_back_in_its_colours(hard: dict[str, Path]) -> None:
    loaded = files.load_image(hard["cmyk_jpeg"])
    assert (loaded.decoded_mode, loaded.image.mode) == ("CMYK", "RGB")
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
    assert (loaded.decoded_mode, loaded.image.mode) == ("P", "RGBA")
    with Image.open(hard["palette_transparent_png"]) as original:
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
    loaded = files.load_image(path)
    assert loaded.decoded_mode == stored_mode
    assert loaded.image.mode == expected


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


# --------------------------------------------------------------------- shrink-on-load


def test_draft_picks_the_largest_scale_leaving_enough_pixels() -> None:
    asked: list[tuple[int, int]] = []

    def hint(size: tuple[int, int]) -> DecodeHint:
        asked.append(size)
        return DecodeHint(size=(300, 200))

    loaded = files.load_image(sample("rocket.jpg"), hint=hint)
    assert asked == [(640, 427)]
    assert loaded.source_size == (640, 427)
    assert loaded.decoded_size == loaded.image.size == (320, 214)
    assert loaded.decoded_mode == "RGB"


def test_draft_grayscale_decodes_luma_directly() -> None:
    loaded = files.load_image(sample("rocket.jpg"), hint=lambda size: DecodeHint("L", (300, 200)))
    assert (loaded.decoded_mode, loaded.image.mode, loaded.decoded_size) == ("L", "L", (320, 214))
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
        ask = (2 * target[0], 2 * target[1])  # the margin DecodeHint's docstring recommends
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


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize(
    ("requested", "input_format", "suffix", "expected"),
    [
        ("same", "JPEG", ".JPG", ("JPEG", "jpg")),
        ("same", "JPEG", ".jpeg", ("JPEG", "jpeg")),
        ("same", "MPO", ".jpg", ("JPEG", "jpg")),
        ("same", "PNG", ".png", ("PNG", "png")),
        ("same", "TIFF", ".TIFF", ("TIFF", "tiff")),
        ("same", "GIF", "", ("GIF", "gif")),
        ("same", "JPEG", "", ("JPEG", "jpg")),
        ("same", "PSD", ".psd", ("PNG", "png")),  # Pillow reads PSD but cannot write it
        ("same", "PCD", ".pcd", ("PNG", "png")),
        ("png", "JPEG", ".jpg", ("PNG", "png")),
        ("JPEG", "PNG", ".png", ("JPEG", "jpg")),
        ("jpg", "PNG", ".png", ("JPEG", "jpg")),
        ("webp", "PNG", ".png", ("WEBP", "webp")),
        ("tiff", "PNG", ".png", ("TIFF", "tif")),
        ("tif", "PNG", ".png", ("TIFF", "tif")),
    ],
)
def test_output_format(
    requested: str, input_format: str, suffix: str, expected: tuple[str, str]
) -> None:
    assert files.output_format(requested, input_format, suffix) == expected


def test_unknown_output_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"format must be one of same, png, .*, not 'bmpx'"):
        files.output_format("bmpx", "PNG", ".png")


SAVE_MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"]
SAVED_MODE = {
    "PNG": dict(
        zip(
            SAVE_MODES,
            ["1", "L", "LA", "P", "RGBA", "RGB", "RGBA", "RGB", "I;16", "I;16", "I;16", "RGB"],
            strict=True,
        )
    ),
    "JPEG": dict(
        zip(
            SAVE_MODES,
            ["L", "L", "L", "RGB", "RGB", "RGB", "RGB", "CMYK", "L", "L", "L", "RGB"],
            strict=True,
        )
    ),
    "WEBP": dict(
        zip(
            SAVE_MODES,
            [
                "RGB",
                "RGB",
                "RGBA",
                "RGBA",
                "RGBA",
                "RGB",
                "RGBA",
                "RGB",
                "RGB",
                "RGB",
                "RGB",
                "RGB",
            ],
            strict=True,
        )
    ),
    "TIFF": dict(
        zip(
            SAVE_MODES,
            ["1", "L", "LA", "P", "RGBA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "RGB"],
            strict=True,
        )
    ),
}


@pytest.mark.parametrize("format_name", sorted(SAVED_MODE))
@pytest.mark.parametrize("mode", SAVE_MODES)
def test_every_format_and_mode_saves(tmp_path: Path, format_name: str, mode: str) -> None:
    source = Image.new("RGBA", (6, 4), (200, 100, 50, 128)).convert(mode)
    target = tmp_path / f"out.{format_name.lower()}"
    files.save_image(source, target, format=format_name)
    with Image.open(target) as saved:
        assert saved.format == format_name
        assert saved.mode == SAVED_MODE[format_name][mode]
        assert saved.size == (6, 4)
        saved.load()
    assert os.listdir(tmp_path) == [target.name]


def test_sixteen_bit_is_scaled_not_clipped_for_eight_bit_formats(tmp_path: Path) -> None:
    source = Image.new("I;16", (2, 1))
    source.putpixel((0, 0), 257 * 100)
    source.putpixel((1, 0), 65535)
    files.save_image(source, tmp_path / "out.webp", format="WEBP", quality=100)
    with Image.open(tmp_path / "out.webp") as saved:
        values = [saved.getpixel((x, 0)) for x in range(2)]
    assert values[1] == (255, 255, 255)
    assert isinstance(values[0], tuple) and abs(values[0][0] - 100) <= 3


def test_float_is_stretched_to_sixteen_bit_png(tmp_path: Path) -> None:
    files.save_image(Image.new("F", (1, 1), 100.0), tmp_path / "f.png", format="PNG")
    with Image.open(tmp_path / "f.png") as saved:
        assert (saved.mode, saved.getpixel((0, 0))) == ("I;16", 25700)


def test_jpeg_composites_alpha_over_white(tmp_path: Path) -> None:
    clear = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    files.save_image(clear, tmp_path / "clear.jpg", format="JPEG")
    with Image.open(tmp_path / "clear.jpg") as saved:
        assert saved.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_quality_and_compression_reach_the_encoder(tmp_path: Path) -> None:
    photo = Image.open(sample("coffee.png")).convert("RGB")
    files.save_image(photo, tmp_path / "low.jpg", format="JPEG", quality=20)
    files.save_image(photo, tmp_path / "default.jpg", format="JPEG")
    direct = io.BytesIO()
    photo.save(direct, format="JPEG")  # Pillow's default quality
    assert (tmp_path / "default.jpg").read_bytes() == direct.getvalue()
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "default.jpg").stat().st_size
    files.save_image(photo, tmp_path / "fast.png", format="PNG", png_compress_level=0)
    files.save_image(photo, tmp_path / "small.png", format="PNG", png_compress_level=9)
    assert (tmp_path / "small.png").stat().st_size < (tmp_path / "fast.png").stat().st_size


@pytest.fixture(scope="module")
def adobe_rgb_profile() -> bytes:
    with Image.open(sample("rocket.jpg")) as rocket:
        profile = rocket.info["icc_profile"]
    assert isinstance(profile, bytes)
    return profile


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_icc_attached_when_the_colour_space_matches(
    tmp_path: Path, adobe_rgb_profile: bytes, format_name: str
) -> None:
    rgb = Image.new("RGB", (8, 8), (10, 200, 30))
    files.save_image(rgb, tmp_path / "rgb", format=format_name, icc_profile=adobe_rgb_profile)
    with Image.open(tmp_path / "rgb") as saved:
        assert saved.info.get("icc_profile") == adobe_rgb_profile
    grey = Image.new("L", (8, 8), 100)
    files.save_image(grey, tmp_path / "grey", format=format_name, icc_profile=adobe_rgb_profile)
    with Image.open(tmp_path / "grey") as saved:
        assert not saved.info.get("icc_profile")


@pytest.mark.parametrize("format_name", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_only_the_icc_argument_counts(
    tmp_path: Path, adobe_rgb_profile: bytes, format_name: str
) -> None:
    with Image.open(sample("rocket.jpg")) as rocket:
        photo = rocket.convert("RGB")
    assert photo.info.get("icc_profile") == adobe_rgb_profile  # Pillow carries it along
    files.save_image(photo, tmp_path / "stripped", format=format_name, icc_profile=None)
    with Image.open(tmp_path / "stripped") as saved:
        assert not saved.info.get("icc_profile")


def test_format_without_icc_gets_srgb_pixels(tmp_path: Path, adobe_rgb_profile: bytes) -> None:
    green = Image.new("RGB", (4, 4), (0, 255, 0))
    files.save_image(green, tmp_path / "green.bmp", format="BMP", icc_profile=adobe_rgb_profile)
    with Image.open(tmp_path / "green.bmp") as saved:
        pixel = saved.getpixel((0, 0))
    # Adobe RGB's green lies outside sRGB: clipped to sRGB green, red/blue pulled to 0
    expected = ImageCms.profileToProfile(
        green,
        ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_profile)),
        ImageCms.createProfile("sRGB"),
    )
    assert expected is not None
    assert pixel == expected.getpixel((0, 0))


def test_save_creates_parent_folders_and_respects_umask(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.png"
    files.save_image(Image.new("L", (2, 2)), target, format="PNG")
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_temporary_file_is_beside_the_target_with_the_agreed_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spying_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        seen.append((os.fspath(source), os.fspath(target)))
        assert Path(source).stat().st_size > 0  # complete before the rename
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spying_replace)
    files.save_image(Image.new("L", (2, 2)), tmp_path / "out.png", format="PNG")
    [(source, target)] = seen
    assert Path(source).parent == tmp_path and target == str(tmp_path / "out.png")
    assert re.fullmatch(r"\.out\.png\.[0-9a-f]{8}\.imgprep-tmp", Path(source).name)
    assert os.listdir(tmp_path) == ["out.png"]


@pytest.fixture(params=["in memory", "streamed"])
def encoding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a saving test both ways: small images encode in memory, large ones stream."""
    if request.param == "streamed":
        monkeypatch.setattr(files, "ENCODE_IN_MEMORY_MAX_BYTES", 0)
    return str(request.param)


def test_failing_encoder_leaves_nothing(tmp_path: Path, encoding: str) -> None:
    with pytest.raises(OutputError, match=r"out\.xyz: cannot encode the image"):
        files.save_image(Image.new("L", (2, 2)), tmp_path / "out.xyz", format="NO-SUCH-FORMAT")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("format_name", ["PNG", "JPEG", "TIFF"])
def test_in_memory_and_streamed_outputs_are_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format_name: str
) -> None:
    with Image.open(sample("rocket.jpg")) as photo:
        image = photo.convert("RGB")
    in_memory = files.save_image(image, tmp_path / "memory", format=format_name)
    monkeypatch.setattr(files, "ENCODE_IN_MEMORY_MAX_BYTES", 0)
    streamed = files.save_image(image, tmp_path / "stream", format=format_name)
    assert (tmp_path / "memory").read_bytes() == (tmp_path / "stream").read_bytes()
    for name, identity in (("memory", in_memory), ("stream", streamed)):
        info = (tmp_path / name).stat()
        assert identity == (info.st_size, info.st_mtime_ns)  # what the manifest records


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
        (errno.EIO, "input/output error"),
    ],
)
@pytest.mark.parametrize("stage", ["encode", "write", "rename"])
def test_os_failure_gives_a_clear_error_and_keeps_the_old_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    reason: str,
    stage: str,
    encoding: str,
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"previous complete output")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    if stage == "write":  # the disk fills up under the file's first write

        class FullDisk(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: object) -> int:
                fail()
                return 0

        real_write = os.write
        monkeypatch.setattr(
            os, "write", lambda fd, data: fail() if fd > 2 else real_write(fd, data)
        )
        monkeypatch.setattr(os, "fdopen", lambda fd, *args, **kwargs: io.BufferedWriter(FullDisk()))
    elif stage == "encode":
        real_save = ImageFile._save

        def half_then_fail(im: Image.Image, fp: io.BufferedWriter, *args: object) -> None:
            fp.write(zlib.compress(b"partial rows", 0)[:9])  # the start of real pixel data
            fail()

        assert real_save is not None
        monkeypatch.setattr(ImageFile, "_save", half_then_fail)
    else:
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError) as caught:
        files.save_image(Image.new("RGB", (8, 8)), target, format="PNG")
    assert str(caught.value) == f"{target}: {reason}"
    assert os.listdir(tmp_path) == ["out.png"]
    assert target.read_bytes() == b"previous complete output"


def test_output_folder_that_is_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(OutputError, match="taken"):
        files.save_image(Image.new("L", (2, 2)), tmp_path / "taken" / "x.png", format="PNG")


def test_save_refuses_a_link_leading_out_of_the_root(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    image = Image.new("L", (2, 2))
    for target in (out / "sub" / "x.png", out / "sub" / "new" / "deeper" / "x.png"):
        with pytest.raises(OutputError, match="would leave the output folder"):
            files.save_image(image, target, format="PNG", root=out)
    assert list(elsewhere.iterdir()) == []
    files.save_image(image, out / "a" / "x.png", format="PNG", root=out)  # inside: fine
    files.save_image(image, out / "sub" / "x.png", format="PNG")  # without root: unchecked
    assert [p.name for p in elsewhere.iterdir()] == ["x.png"]


def test_interrupt_during_save_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ImageFile, "_save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.save_image(Image.new("RGB", (8, 8)), tmp_path / "out.png", format="PNG")
    assert os.listdir(tmp_path) == []


def test_fsync_save_writes_the_same_bytes(tmp_path: Path, encoding: str) -> None:
    image = Image.open(sample("hopper.jpg"))
    files.save_image(image, tmp_path / "a.png", format="PNG", fsync=True)
    files.save_image(image, tmp_path / "b.png", format="PNG")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    stale = [
        tmp_path / f".a.png.0123abcd{files.TEMP_SUFFIX}",
        tmp_path / "sub" / f".b.jpg.deadbeef{files.TEMP_SUFFIX}",
    ]
    kept = [tmp_path / "a.png", tmp_path / "sub" / "b.jpg", tmp_path / "notes.imgprep-tmp.txt"]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert files.remove_stale_temp_files(tmp_path) == sorted(stale)
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in stale)
    assert files.remove_stale_temp_files(tmp_path) == []
    assert files.remove_stale_temp_files(tmp_path / "missing") == []


# ----------------------------------------------------------------------- text files


@pytest.mark.parametrize(
    "given", ["a.jpg", "photos/2024/a b.jpg", "./x/../y.png", "/abs/p.jpg", "//net/p", ".", "é/ü"]
)
@pytest.mark.parametrize("cwd", ["/", "tmp"])
def test_absolute_text_is_pathlibs_absolute(
    given: str, cwd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/" if cwd == "/" else tmp_path)
    normal = str(Path(given))  # what InputList holds
    assert files.absolute_text(normal) == str(Path(given).absolute())
    assert files.absolute_text(Path(given)) == str(Path(given).absolute())


def test_text_round_trip_and_identity(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "manifest.json"
    assert files.read_text(path) is None
    assert files.file_identity(path) is None
    files.write_text_atomic(path, "héllo\n")
    assert files.read_text(path) == "héllo\n"
    size, mtime_ns = files.file_identity(path) or (0, 0)
    assert size == len("héllo\n".encode())
    assert mtime_ns == path.stat().st_mtime_ns
    files.write_text_atomic(path, "second")
    assert files.read_text(path) == "second"
    assert sorted(os.listdir(path.parent)) == ["manifest.json"]


def test_write_text_atomic_failure_keeps_the_old_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.json"
    files.write_text_atomic(path, "old")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OutputError, match="no space left on device"):
        files.write_text_atomic(path, "new")
    assert files.read_text(path) == "old"
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_append_line_from_eight_threads_keeps_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "log" / "events.jsonl"

    def writer(number: int) -> None:
        for index in range(200):
            files.append_line(path, f"{number}:{index}:" + chr(65 + number) * 2000)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = files.read_text(path)
    assert text is not None and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 8 * 200
    expected = {f"{n}:{i}:" + chr(65 + n) * 2000 for n in range(8) for i in range(200)}
    assert set(lines) == expected


def test_line_log_keeps_one_file_open_and_lines_whole_across_threads(tmp_path: Path) -> None:
    log = files.LineLog(tmp_path / "new" / "events.jsonl")
    fds_before = len(os.listdir("/proc/self/fd"))

    def writer(number: int) -> None:
        for index in range(200):
            log.append(f"{number}:{index}:" + chr(65 + number) * 2000)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(os.listdir("/proc/self/fd")) == fds_before + 1  # one descriptor for all lines
    log.close()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    log.append("after close")  # opens the file again
    log.close()
    lines = (files.read_text(log.path) or "").splitlines()
    assert len(lines) == 8 * 200 + 1 and lines[-1] == "after close"
    assert len(set(lines)) == len(lines)
    assert all(
        len(line) == len(line.split(":")[0]) + len(line.split(":")[1]) + 2002 for line in lines[:-1]
    )


def test_line_log_names_the_file_when_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    log = files.LineLog(tmp_path / "file" / "events.jsonl")
    with pytest.raises(OutputError, match=r"file/events.jsonl: "):
        log.append("x")


def test_append_line_refuses_newlines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not contain a newline"):
        files.append_line(tmp_path / "log", "two\nlines")
