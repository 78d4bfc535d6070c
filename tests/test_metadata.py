"""--keep-metadata: EXIF (camera, dates, GPS; Orientation 1) and XMP kept per output format, and
none of them without it; ICC as --keep-icc says either way; the recipe records the choice.

The sample photos carry no camera or GPS tags (chelsea.png has an EXIF block with Orientation 1
and an XMP packet; the others none), so the camera photo here is the real rocket.jpg, with its
Adobe RGB profile, re-saved with an EXIF block and an XMP packet built in the test.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image

from corpus import broken_exif, sample
from imgprep import _damage, files

MAKE, MODEL, DATETIME, ORIENTATION = 0x010F, 0x0110, 0x0132, 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_ORIGINAL, PIXEL_X, PIXEL_Y, COLOR_SPACE = 0x9003, 0xA002, 0xA003, 0xA001
GPS = {1: "N", 2: (52.0, 30.0, 12.5), 3: "E", 4: (13.0, 24.0, 0.0)}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'dc:source="imgprep-test-packet" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)
FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp", "tiff": "tif"}


def camera_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL] = "Canon", "Canon EOS 5D Mark IV"
    exif[DATETIME], exif[ORIENTATION] = "2021:06:01 12:30:00", orientation
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATE_ORIGINAL] = "2021:06:01 12:29:58"
    sub[PIXEL_X], sub[PIXEL_Y] = 640, 427  # the input's size: wrong for any resized output
    exif.get_ifd(GPS_IFD).update(GPS)
    return exif


@pytest.fixture
def camera_photo(tmp_path: Path) -> Path:
    """rocket.jpg (640x427, Adobe RGB) as a camera writes it turned: Orientation 6, camera,
    dates, GPS, and an XMP packet that also says 6."""
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(sample("rocket.jpg")) as rocket:
        rocket.save(
            folder / "cam.jpg",
            quality=95,
            exif=camera_exif().tobytes(),
            xmp=XMP,
            icc_profile=rocket.info["icc_profile"],
        )
    return folder / "cam.jpg"


def adobe_rgb() -> bytes:
    with Image.open(sample("rocket.jpg")) as rocket:
        profile = rocket.info["icc_profile"]
    assert isinstance(profile, bytes) and b"Adobe RGB" in profile
    return profile


def xmp_of(image: Image.Image) -> bytes:
    packet = image.info.get("xmp", b"")
    return packet.encode() if isinstance(packet, str) else packet


def assert_camera_tags_kept(image: Image.Image) -> None:
    exif = image.getexif()
    assert (exif.get(MAKE), exif.get(MODEL)) == ("Canon", "Canon EOS 5D Mark IV")
    assert exif.get(DATETIME) == "2021:06:01 12:30:00"
    assert exif.get(ORIENTATION) == 1  # the pixels are upright already
    sub = exif.get_ifd(EXIF_IFD)
    assert sub.get(DATE_ORIGINAL) == "2021:06:01 12:29:58"
    assert PIXEL_X not in sub and PIXEL_Y not in sub
    assert dict(exif.get_ifd(GPS_IFD)) == GPS


@pytest.mark.parametrize("format_name", FORMATS)
def test_keep_metadata_writes_camera_date_gps_and_xmp_in_every_format(
    cli, camera_photo: Path, tmp_path: Path, format_name: str
) -> None:
    out = tmp_path / "out"
    result = cli("-i", camera_photo, "-o", out, "--format", format_name, "--keep-metadata",
                 "resize", "100")  # fmt: skip
    assert result.exit_code == 0, result
    with Image.open(out / f"cam.{FORMATS[format_name]}") as written:
        assert written.size == (67, 100)  # turned upright: the stored 640x427 stands
        assert_camera_tags_kept(written)
        packet = xmp_of(written)
        assert b"imgprep-test-packet" in packet
        assert b"tiff:Orientation" not in packet  # Pillow removed it when it turned the pixels
        assert written.info.get("icc_profile") == adobe_rgb()  # ICC as --keep-icc says


@pytest.mark.parametrize("format_name", FORMATS)
def test_without_keep_metadata_no_exif_and_no_xmp_are_written(
    cli, camera_photo: Path, tmp_path: Path, format_name: str
) -> None:
    out = tmp_path / "out"
    for steps in ((), ("resize", "100")):  # no step at all: the decoded image's info unused
        result = cli("-i", camera_photo, "-o", out, "-f", "--format", format_name, *steps)
        assert result.exit_code == 0, result
        with Image.open(out / f"cam.{FORMATS[format_name]}") as written:
            exif = written.getexif()
            assert not {MAKE, MODEL, DATETIME, ORIENTATION, EXIF_IFD, GPS_IFD} & set(exif)
            assert xmp_of(written) == b""
            assert written.info.get("icc_profile") == adobe_rgb()  # kept, as before


@pytest.mark.parametrize("icc", ["--keep-icc", "--strip-icc"])
def test_keep_metadata_with_strip_icc_keeps_exif_and_converts_colours(
    cli, tmp_path: Path, icc: str
) -> None:
    # an Adobe RGB camera photo: its EXIF ColorSpace says "uncalibrated" (65535)
    folder = tmp_path / "in"
    folder.mkdir()
    exif = camera_exif(orientation=1)
    exif.get_ifd(EXIF_IFD)[COLOR_SPACE] = 65535
    with Image.open(sample("rocket.jpg")) as rocket:
        rocket.save(folder / "cam.jpg", exif=exif.tobytes(), icc_profile=adobe_rgb())
    out = tmp_path / "out"
    result = cli("-i", folder, "-o", out, "--format", "png", "--keep-metadata", icc)
    assert result.exit_code == 0, result
    with Image.open(out / "cam.png") as written:
        assert_camera_tags_kept(written)
        colour_space = written.getexif().get_ifd(EXIF_IFD)[COLOR_SPACE]
        if icc == "--strip-icc":  # converted to sRGB: no profile, and the EXIF says sRGB
            assert "icc_profile" not in written.info and colour_space == 1
        else:
            assert written.info["icc_profile"] == adobe_rgb() and colour_space == 65535


def test_a_real_png_keeps_its_exif_and_xmp(cli, tmp_path: Path) -> None:
    # chelsea.png (CC0) carries an EXIF block (Orientation 1) and an XMP packet of its own
    with Image.open(sample("chelsea.png")) as chelsea:
        original_xmp = xmp_of(chelsea)
    assert b"xmpmeta" in original_xmp
    out = tmp_path / "out"
    result = cli("-i", sample("chelsea.png"), "-o", out, "--keep-metadata", "--format", "jpeg",
                 "resize", "200")  # fmt: skip
    assert result.exit_code == 0, result
    with Image.open(out / "chelsea.jpg") as written:
        assert written.getexif().get(ORIENTATION) == 1
        assert xmp_of(written) == original_xmp


def test_a_tiff_input_gives_its_descriptive_tags_not_its_layout(
    cli, camera_photo: Path, tmp_path: Path
) -> None:
    # a TIFF's EXIF is its whole first IFD: width, strips, compression... describe the input
    tiff = tmp_path / "tiffs" / "cam.tif"
    tiff.parent.mkdir()
    with Image.open(camera_photo) as photo:
        photo.save(tiff, exif=camera_exif(orientation=1).tobytes())
    out = tmp_path / "out"
    for format_name in ("jpeg", "tiff"):
        result = cli("-i", tiff.parent, "-o", out, "--keep-metadata", "--format", format_name)
        assert result.exit_code == 0, result
        with Image.open(out / f"cam.{FORMATS[format_name]}") as written:
            assert_camera_tags_kept(written)
            if format_name == "jpeg":
                layout = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317}
                assert not layout & set(written.getexif())


def test_a_compressed_tiff_keeps_the_first_ifd_only(camera_photo: Path, tmp_path: Path) -> None:
    # Pillow's libtiff writer fails a whole file given sub-IFDs: the Exif and GPS ones go
    loaded = files.load_image(camera_photo, keep_metadata=True)
    image = loaded.image.copy()
    image.info["compression"] = "tiff_lzw"  # as a TIFF input decoded with it carries it
    out = tmp_path / "out.tif"
    files.save_image(image, out, format="TIFF", metadata=loaded.metadata)
    with Image.open(out) as written:
        assert written.info["compression"] == "tiff_lzw"
        exif = written.getexif()
        assert (exif.get(MAKE), exif.get(DATETIME), exif.get(ORIENTATION)) == (
            "Canon",
            "2021:06:01 12:30:00",
            1,
        )
        assert not exif.get_ifd(GPS_IFD)
        assert b"imgprep-test-packet" in xmp_of(written)


def test_formats_without_room_for_metadata_write_the_image_without_it(
    cli, camera_photo: Path, tmp_path: Path
) -> None:
    folder = camera_photo.parent
    with Image.open(camera_photo) as photo:
        photo.save(folder / "cam2.bmp")
        photo.save(folder / "cam3.gif")
    out = tmp_path / "out"
    result = cli("-i", folder, "-o", out, "--keep-metadata")  # --format same
    assert result.exit_code == 0, result
    for name in ("cam2.bmp", "cam3.gif"):
        with Image.open(out / name) as written:
            assert not written.getexif()
    with Image.open(out / "cam.jpg") as written:
        assert_camera_tags_kept(written)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_broken_exif_block_stays_dropped_with_keep_metadata(
    tmp_path: Path, orientation: int
) -> None:
    path = tmp_path / "broken.jpg"
    Image.new("RGB", (40, 20), "blue").save(path, exif=broken_exif(orientation), xmp=XMP)
    loaded = files.load_image(path, keep_metadata=True)
    assert loaded.warnings == (_damage.BROKEN_EXIF,)
    assert loaded.metadata is not None and loaded.metadata.exif is None
    assert loaded.metadata.xmp is not None and b"imgprep-test-packet" in loaded.metadata.xmp
    assert loaded.image.size == ((40, 20) if orientation == 1 else (20, 40))
    out = tmp_path / "out.jpg"
    files.save_image(loaded.image, out, format="JPEG", metadata=loaded.metadata)
    with Image.open(out) as written:
        # no EXIF block. The XMP said 6: applied when the EXIF said 6 too (and removed by
        # Pillow), overruled by an EXIF 1 (and set to 1 here: a viewer must not turn the output
        # by it now that the EXIF is gone); getexif reports an XMP orientation as a tag
        assert not written.info.get("exif")
        assert dict(written.getexif()) in ({}, {ORIENTATION: 1})
        assert b'tiff:Orientation="6"' not in xmp_of(written)
        assert b"imgprep-test-packet" in xmp_of(written)


def test_an_exif_block_without_orientation_that_cannot_be_written_is_dropped(
    tmp_path: Path,
) -> None:
    # no orientation: decoding never writes the block back, so only keeping it finds it broken
    text_resolution = struct.pack("<HHI", 0x011A, 2, 4) + b"72\0\0"  # ASCII, not RATIONAL
    block = b"Exif\0\0II*\0" + struct.pack("<IH", 8, 1) + text_resolution + struct.pack("<I", 0)
    path = tmp_path / "broken.png"
    Image.new("RGB", (8, 8)).save(path, exif=block)
    assert files.load_image(path).warnings == ()  # nothing to turn: nothing to warn about
    loaded = files.load_image(path, keep_metadata=True)
    assert loaded.warnings == (_damage.BROKEN_EXIF,)
    assert loaded.metadata is not None and loaded.metadata.exif is None


def test_keep_metadata_is_part_of_the_recipe(cli, camera_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runs = [(), ("--keep-metadata",), ("--keep-metadata",), ("--strip-metadata",)]
    written = []
    for options in runs:
        result = cli("-i", camera_photo.parent, "-o", out, *options, "resize", "64")
        assert result.exit_code == 0, result
        found = re.search(r"(\d+) written, (\d+) up to date", result.stderr)
        assert found is not None, result.stderr
        written.append(int(found.group(1)))
        with Image.open(out / "cam.jpg") as image:
            assert (image.getexif().get(MAKE) == "Canon") == ("--keep-metadata" in options)
    assert written == [1, 1, 0, 1]


def test_the_recipe_of_a_run_without_the_new_options_is_unchanged(tmp_path: Path) -> None:
    # outputs made before --keep-metadata and --depth existed stay up to date by default
    from imgprep._plan import Plan
    from imgprep.pipeline import RunOptions
    from imgprep.steps import parse_steps

    photo = tmp_path / "a.jpg"
    shutil.copy2(sample("hopper.jpg"), photo)
    found = files.find_inputs([str(photo)])

    def recipe(**given: object) -> str:
        options = RunOptions(output=tmp_path / "o", steps=parse_steps("resize 64"), **given)
        return Plan(options, found).job(0, 0).recipe

    plain = recipe()
    assert recipe(keep_metadata=False, depth="keep") == plain
    assert len({plain, recipe(keep_metadata=True), recipe(depth="8"), recipe(depth="16")}) == 4


def test_exif_too_large_for_a_jpeg_fails_that_output_with_a_reason(cli, tmp_path: Path) -> None:
    # a PNG's eXIf chunk has no 64 KiB limit; a JPEG's APP1 segment has
    exif = camera_exif(orientation=1)
    exif.get_ifd(EXIF_IFD)[0x9286] = b"ASCII\0\0\0" + b"x" * 70000  # UserComment
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (16, 16), "red").save(folder / "big.png", exif=exif.tobytes())
    Image.new("RGB", (16, 16), "red").save(folder / "small.png", exif=camera_exif(1).tobytes())
    out = tmp_path / "out"
    result = cli("-i", folder, "-o", out, "--format", "jpeg", "--keep-metadata")
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert line.endswith(
        "big.jpg: the input's EXIF block (70,300 bytes) is larger than a JPEG can hold "
        "(65,533 bytes): write PNG, WebP or TIFF, or leave out --keep-metadata"
    )
    assert sorted(path.name for path in out.iterdir() if not path.name.startswith(".")) == [
        "small.jpg"
    ]
    again = cli("-i", folder, "-o", tmp_path / "png", "--format", "png", "--keep-metadata")
    assert again.exit_code == 0
    with Image.open(tmp_path / "png" / "big.png") as written:
        assert_camera_tags_kept(written)


def test_the_interoperability_ifd_is_kept_and_the_decoded_exif_is_left_alone(
    tmp_path: Path,
) -> None:
    exif = camera_exif(orientation=6)
    exif.get_ifd(EXIF_IFD)[0xA005] = {1: "R98"}  # InteroperabilityIndex: DCF basic (sRGB)
    path = tmp_path / "interop.jpg"
    Image.new("RGB", (20, 10), "green").save(path, exif=exif.tobytes())
    loaded = files.load_image(path, keep_metadata=True)
    assert loaded.metadata is not None and loaded.metadata.exif is not None
    kept = Image.Exif()
    kept.load(loaded.metadata.exif)
    assert dict(kept.get_ifd(0xA005)) == {1: "R98"}
    assert kept[ORIENTATION] == 1
    # the decoded image carries no orientation, as without --keep-metadata: never turned twice
    assert ORIENTATION not in loaded.image.getexif()
    assert loaded.image.size == (10, 20)
