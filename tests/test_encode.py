"""imgprep._encode: output formats, mode adaptation, ICC profiles, atomic saving."""

from __future__ import annotations

import errno
import io
import os
import re
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from corpus import sample
from imgprep import _encode, files
from imgprep.errors import OutputError

# ------------------------------------------------------------------------------ output formats


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


@pytest.mark.parametrize(
    ("input_format", "suffix", "expected"),
    [
        ("JPEG", ".JPG", ("JPEG", "jpg")),
        ("JPEG", ".jpeg", ("JPEG", "jpeg")),
        ("MPO", ".jpg", ("JPEG", "jpg")),
        ("PNG", ".png", ("PNG", "png")),
        ("TIFF", ".TIFF", ("TIFF", "tiff")),
        ("GIF", "", ("GIF", "gif")),
        ("JPEG", "", ("JPEG", "jpg")),
        ("PSD", ".psd", ("PNG", "png")),  # Pillow reads PSD but cannot write it
        ("PCD", ".pcd", ("PNG", "png")),
    ],
)
def test_output_format_for_same(input_format: str, suffix: str, expected: tuple[str, str]) -> None:
    assert files.output_format(input_format, suffix) == expected


def test_output_formats_name_the_pillow_format_and_extension() -> None:
    assert files.OUTPUT_FORMATS == {
        "png": ("PNG", "png"),
        "jpeg": ("JPEG", "jpg"),
        "webp": ("WEBP", "webp"),
        "tiff": ("TIFF", "tif"),
        "avif": ("AVIF", "avif"),
    }


# -------------------------------------------------------------------------------------- saving


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
        monkeypatch.setattr(_encode, "ENCODE_IN_MEMORY_MAX_BYTES", 0)
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
    monkeypatch.setattr(_encode, "ENCODE_IN_MEMORY_MAX_BYTES", 0)
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
    elif stage == "encode":  # Pillow's PNG writer, through its public registry of writers

        def half_then_fail(im: Image.Image, fp: io.BufferedWriter, *args: object) -> None:
            # a PNG's signature, then the start of real pixel data
            fp.write(b"\x89PNG\r\n\x1a\n" + zlib.compress(b"partial rows", 0)[:9])
            fail()

        monkeypatch.setitem(Image.SAVE, "PNG", half_then_fail)
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


def test_interrupt_during_save_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(Image.SAVE, "PNG", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.save_image(Image.new("RGB", (8, 8)), tmp_path / "out.png", format="PNG")
    assert os.listdir(tmp_path) == []


def test_fsync_save_writes_the_same_bytes(tmp_path: Path, encoding: str) -> None:
    image = Image.open(sample("hopper.jpg"))
    files.save_image(image, tmp_path / "a.png", format="PNG", fsync=True)
    files.save_image(image, tmp_path / "b.png", format="PNG")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


# ------------------------------------------------------------------------- TIFF compression


@pytest.mark.parametrize("compression", ["group4", "group3"])
def test_a_fax_tiff_comes_out_with_format_same(tmp_path: Path, compression: str) -> None:
    # a bilevel fax decodes to 8-bit grey, which group3/group4 cannot hold ("encoder error -2")
    fax = Image.new("1", (64, 32), 1)
    fax.paste(0, (8, 8, 40, 24))
    fax.save(tmp_path / "fax.tif", compression=compression)
    loaded = files.load_image(tmp_path / "fax.tif")
    assert loaded.image.mode == "L" and loaded.image.info["compression"] == compression
    format_name, extension = files.output_format("TIFF", ".tif")
    files.save_image(loaded.image, tmp_path / f"out.{extension}", format=format_name)
    with Image.open(tmp_path / "out.tif") as saved:
        assert saved.info["compression"] == "tiff_adobe_deflate"  # lossless, holds L
        assert saved.tobytes() == fax.convert("L").tobytes()


@pytest.mark.parametrize(
    ("mode", "kept", "written"),
    [
        ("1", "group4", "group4"),  # still bilevel: the fax compression fits
        ("1", "tiff_ccitt", "tiff_ccitt"),
        ("L", "group3", "tiff_adobe_deflate"),
        ("RGB", "jpeg", "jpeg"),
        ("L", "tiff_jpeg", "jpeg"),  # old-style JPEG is written new-style (Pillow's rule)
        ("I;16", "jpeg", "tiff_adobe_deflate"),  # JPEG holds 8-bit samples only
        ("F", "jpeg", "tiff_adobe_deflate"),
        ("RGB", "tiff_lzw", "tiff_lzw"),
        ("F", "packbits", "packbits"),
        ("RGBA", "tiff_sgilog", "tiff_adobe_deflate"),  # read, never written
        ("RGB", None, "raw"),
        ("RGB", 3, "raw"),  # a BMP's compression number is not a TIFF one
    ],
)
def test_tiff_keeps_the_input_compression_where_it_fits(
    tmp_path: Path, mode: str, kept: str | int | None, written: str
) -> None:
    image = Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode)
    if kept is not None:
        image.info["compression"] = kept
    files.save_image(image, tmp_path / "out.tif", format="TIFF")
    with Image.open(tmp_path / "out.tif") as saved:
        assert saved.info["compression"] == written
        assert saved.mode == mode
        saved.load()


@pytest.mark.parametrize("format_name", ["PNG", "TIFF"])
def test_big_endian_sixteen_bit_grey_saves_its_values(tmp_path: Path, format_name: str) -> None:
    # Pillow converts I;16B to I;16 through 8-bit L: 20000 would come out as 255
    values = [0, 20000, 40000, 60000]
    source = Image.frombytes("I;16B", (4, 1), b"".join(v.to_bytes(2, "big") for v in values))
    files.save_image(source, tmp_path / "out", format=format_name)
    with Image.open(tmp_path / "out") as saved:
        assert list(saved.convert("I").get_flattened_data()) == values
