"""imgprep._discover: finding inputs in folders, glob patterns and path lists."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path, PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from corpus import DISCOVERY_PROBLEMS, EXPECTED_REASONS, layered_psd, make_bad_inputs, sample
from imgprep import _discover, files
from imgprep.errors import InputError
from imgprep.files import InputFile


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_bad_inputs(tmp_path_factory.mktemp("bad"))


def relatives(found: list[InputFile]) -> list[str]:
    return [entry.relative.as_posix() for entry in found]


def problems(found: list[InputFile]) -> dict[str, str | None]:
    return {entry.relative.as_posix(): entry.problem for entry in found}


# ----------------------------------------------------------------------------------- discovery


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
    listed = _discover.InputList(found)
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
    listed = _discover.InputList(found)
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
    # the table is spelled out (no plugin import at start-up): it must be exactly what the
    # installed Pillow registers for the formats it opens (MPO is opened by the JPEG plugin)
    Image.init()
    opened = {*Image.OPEN, "MPO"}
    readable = {e.lower() for e, f in Image.registered_extensions().items() if f in opened}
    assert readable == files.IMAGE_EXTENSIONS


# (Pillow format, mode) of every format Pillow both writes and reads back (EPS needs
# Ghostscript to read; PDF and PALM are written only), and how imgprep finds each in a folder
WRITABLE_FORMATS = [
    ("BMP", "RGB"), ("DIB", "RGB"), ("GIF", "P"), ("ICO", "RGBA"), ("ICNS", "RGBA"),
    ("IM", "RGB"), ("JPEG", "RGB"), ("JPEG2000", "RGB"), ("MPO", "RGB"), ("MSP", "1"),
    ("PCX", "RGB"), ("PNG", "RGB"), ("PPM", "1"), ("PPM", "L"), ("PPM", "RGB"), ("PPM", "F"),
    ("SGI", "RGB"), ("SGI", "L"), ("SPIDER", "F"), ("TGA", "RGB"), ("TIFF", "RGB"),
    ("WEBP", "RGB"), ("XBM", "1"), ("DDS", "RGB"), ("QOI", "RGB"), ("BLP", "P"), ("AVIF", "RGB"),
]  # fmt: skip
# formats without a signature precise enough to sniff: found by their extension only (a TGA
# header is all small numbers, XBM is C source, a DIB is a bitmap without its file header)
UNSNIFFABLE = frozenset({"TGA", "XBM", "DIB"})


@pytest.fixture(scope="module")
def every_format(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a small image of each format Pillow writes, three times: under its own
    extension, under an extension no table knows (.dat), and with no extension."""
    folder = tmp_path_factory.mktemp("formats")
    picture = Image.open(sample("hopper.jpg")).convert("RGB").resize((24, 16))
    Image.init()
    for format_name, mode in WRITABLE_FORMATS:
        buffer = io.BytesIO()
        picture.convert(mode).save(buffer, format=format_name)
        stem = f"{format_name}_{mode}".replace(";", "")
        registered = [e for e, f in Image.registered_extensions().items() if f == format_name]
        own = registered[0] if registered else ".spi"  # SPIDER registers none
        for name in (stem + own, stem + ".dat", stem):
            (folder / name).write_bytes(buffer.getvalue())
    psd = layered_psd((24, 16), (10, 200, 30), [((0, 0, 8, 8), (255, 0, 0))] * 2)
    for name in ("PSD_RGB.psd", "PSD_RGB.dat", "PSD_RGB"):
        (folder / name).write_bytes(psd)
    # the names the issue met: an IM file as .im1, a SPIDER stack as .spider
    (folder / "frame.im1").write_bytes((folder / "IM_RGB.im").read_bytes())
    (folder / "frame.spider").write_bytes((folder / "SPIDER_F").read_bytes())
    return folder


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")
def test_folders_find_every_file_that_loads_when_named(every_format: Path) -> None:
    found = set(relatives(files.find_inputs([str(every_format)])))
    for path in sorted(every_format.iterdir()):
        files.load_image(path)  # named, every one of them loads
        format_name = path.name.split("_")[0]
        if path.suffix.lower() in files.IMAGE_EXTENSIONS or format_name not in UNSNIFFABLE:
            assert path.name in found, path.name
        else:
            assert path.name not in found, path.name  # documented: see UNSNIFFABLE
    assert {"frame.im1", "frame.spider", "MPO_RGB.mpo"} <= found


def test_sniffing_does_not_take_other_files_for_images(tmp_path: Path) -> None:
    texts = [
        "BM and BMW are not bitmaps\n",
        "P6 is not a pixmap\n",
        "SIMPLE things first\n",
        "Image types we support: PNG\n",
        "icons\n",
        "8BPS? no\n",
        "#define im_width 5\n",  # XBM, deliberately not sniffed
        "name,width,height\nphoto,640,480\n",
        '{"width": 640}\n',
        "%PDF-1.4\n",
        "%!PS-Adobe-3.0\n",
        "/* a C comment */\n",
    ]
    for index, text in enumerate(texts):
        (tmp_path / f"text{index}").write_text(text, encoding="utf-8")
    rng = random.Random(18)
    for index in range(300):
        (tmp_path / f"noise{index}.bin").write_bytes(rng.randbytes(rng.randrange(1, 200)))
    binaries = [
        bytes(200),  # zeros
        b"\xff" * 200,
        b"PK\x03\x04" + bytes(60),  # zip
        b"\x1f\x8b\x08\x00" + bytes(60),  # gzip
        b"\x7fELF\x02\x01\x01" + bytes(60),
        b"\x00\x00\x01\x00" + bytes(60),  # ICO's first bytes, no icon behind them
        b"\x0a\x05\x01" + bytes(60),  # PCX's, with no bits per pixel
    ]
    for index, data in enumerate(binaries):
        (tmp_path / f"binary{index}.dat").write_bytes(data)
    assert files.find_inputs([str(tmp_path)]) == []


def test_glob_relative_to_its_folder_part(photo_tree: Path) -> None:
    found = files.find_inputs([f"{photo_tree}/*.png", f"{photo_tree}/sub/*.png"])
    assert relatives(found) == ["a.png", "d.png"]
    deep = files.find_inputs([f"{photo_tree}/**/*.png"], recursive=True)
    assert relatives(deep) == ["a.png", "sub/d.png"]
    # ** asks for every depth by itself: the same without -r (it used to be a plain *)
    assert relatives(files.find_inputs([f"{photo_tree}/**/*.png"])) == ["a.png", "sub/d.png"]


def test_glob_case_insensitive_extension_filter_and_directory_matches(photo_tree: Path) -> None:
    found = files.find_inputs([f"{photo_tree}/*"])
    # README.txt and notes.md are matched by the pattern but are not images; sub is a folder
    assert relatives(found) == ["C.JPG", "a.png", "b.jpg", "noextension"]
    walked = files.find_inputs([f"{photo_tree}/s*"], recursive=True)
    assert relatives(walked) == ["sub/d.png", "sub/deeper/e.webp"]


def test_glob_without_match_is_empty_and_missing_path_is_a_problem(tmp_path: Path) -> None:
    found = files.find_inputs([f"{tmp_path}/*.png", str(tmp_path / "missing.jpg")])
    assert [entry.problem for entry in found] == ["no such file or directory"]
    assert [entry.relative for entry in found] == [PurePath("missing.jpg")]


def test_glob_extensions_match_any_case_and_double_star_walks(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    for name in ("a.jpg", "B.JPG", "c.Jpg", "d.png", "sub/e.JPG", "sub/deep/f.jpg"):
        Image.new("L", (2, 2)).save(
            tmp_path / name, format="PNG" if name.endswith("png") else "JPEG"
        )
    flat = files.find_inputs([f"{tmp_path}/*.jpg"])
    assert sorted(str(entry.relative) for entry in flat) == ["B.JPG", "a.jpg", "c.Jpg"]
    deep = files.find_inputs([f"{tmp_path}/**/*.jpg"])  # no recursive=True: ** says it
    assert sorted(str(entry.relative) for entry in deep) == [
        "B.JPG",
        "a.jpg",
        "c.Jpg",
        "sub/deep/f.jpg",
        "sub/e.JPG",
    ]


def test_named_file_relative_is_its_name_whatever_the_extension(
    photo_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photo_tree / "sub")
    found = files.find_inputs(["../b.jpg", "../README.txt", "deeper/e.webp"])
    assert relatives(found) == ["b.jpg", "README.txt", "e.webp"]
    assert found[0].path == Path("../b.jpg")  # as given, not resolved


def test_same_real_file_is_listed_once(photo_tree: Path) -> None:
    # once per name: the link is another name (its own output), a.png again is not
    (photo_tree / "link_to_a.png").symlink_to("a.png")
    found = files.find_inputs([str(photo_tree / "a.png"), str(photo_tree), f"{photo_tree}/*.png"])
    assert relatives(found) == ["a.png", "C.JPG", "b.jpg", "link_to_a.png", "noextension"]


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


def test_hard_links_are_listed_under_each_name(photo_tree: Path) -> None:
    # data sets kept with `cp -al` or on deduplicating storage: each name is an input
    os.link(photo_tree / "b.jpg", photo_tree / "sub" / "b_again.jpg")
    os.link(photo_tree / "b.jpg", photo_tree / "b_linked.jpg")
    found = files.find_inputs([str(photo_tree)], recursive=True)
    assert {"b.jpg", "b_linked.jpg", "sub/b_again.jpg"} <= set(relatives(found))
    assert all(entry.problem is None for entry in found)
    # named twice under the same name (a file, then its folder): listed once
    again = files.find_inputs([str(photo_tree / "b_linked.jpg"), str(photo_tree)])
    assert relatives(again).count("b_linked.jpg") == 1 and "b.jpg" in relatives(again)


def test_symlinked_folder_is_walked_once(photo_tree: Path) -> None:
    # once under each path: alias/ and sub/ each get their outputs; a loop is walked never
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
        "sub/d.png",
        "sub/deeper/e.webp",
        "sub/self",
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


# ---------------------------------------------------------------------------------- path lists


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
