"""Builds the bad and hard input files the issues list, from the real photos in sample_images/.

Other test modules use it as ``from corpus import make_bad_inputs, make_hard_inputs``::

    bad = make_bad_inputs(tmp_path / "bad")    # {"zero_byte": Path, ...}
    hard = make_hard_inputs(tmp_path / "hard")  # {"cmyk_jpeg": Path, ...}

``EXPECTED_REASONS`` says, for each bad input, the substring of the failure reason imgprep gives
(``None``: the input is processed, e.g. an animated GIF gives its first frame). Most failures
come from ``files.load_image``; the ones in ``DISCOVERY_PROBLEMS`` already come from
``files.find_inputs`` (as ``InputFile.problem``). Every hard input must load and save.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import zlib
from pathlib import Path

from PIL import Image

SAMPLE_IMAGES = Path(__file__).resolve().parent.parent / "sample_images"

# substring of the reason for each bad input; None: processed (documented behaviour)
EXPECTED_REASONS: dict[str, str | None] = {
    "zero_byte": "empty file (0 bytes)",
    "text_as_jpg": "not an image Pillow can read",
    "html_as_jpg": "not an image Pillow can read",
    "truncated_jpeg": "truncated image data",
    "corrupt_scan_jpeg": "corrupt JPEG data",
    "bad_crc_png": "CRC check failed",
    "bomb_png": "--max-pixels",
    "animated_gif": None,  # loads its first frame (of ANIMATED_GIF_FRAMES)
    "multipage_tiff": None,  # loads its first page (of MULTIPAGE_TIFF_PAGES)
    "dir_named_jpg": "is a directory",  # when not recursing (with -r it is walked: empty)
    "dangling_symlink": "broken symbolic link",
    "symlink_loop": "symbolic link loop",  # under -r only (a directory, not an image)
    # Only for a user other than root: root reads a mode-000 file anyway.
    "unreadable": "permission denied",
}
# bad inputs that find_inputs already reports (InputFile.problem); load_image reports the rest
DISCOVERY_PROBLEMS = frozenset({"dir_named_jpg", "dangling_symlink", "symlink_loop"})

# the colours of the four quadrants of the CMYK JPEG, as RGB (top-left, top-right,
# bottom-left, bottom-right); each quadrant is 32x32 pixels
CMYK_QUADRANT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (200, 30, 40),
    (30, 160, 60),
    (40, 70, 190),
    (230, 210, 120),
)
ANIMATED_GIF_FRAMES = 3
MULTIPAGE_TIFF_PAGES = 2
BOMB_SIZE = (60000, 60000)

# EXIF orientation -> the transpose that turns the upright picture into the stored one
# (the inverse of what a viewer applies: 6 is shown rotated 90 degrees clockwise)
_STORE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
ORIENTED_UPRIGHT_SIZE = (96, 64)  # landscape, so a wrong transpose shows in the size


def sample(name: str) -> Path:
    """The path of one of the sample photos."""
    return SAMPLE_IMAGES / name


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _bomb_png() -> bytes:
    """A valid-looking PNG whose header declares 60000x60000 grey pixels: 3.6 GB decoded.

    Only a few rows of data follow (a real bomb would be a long run of zeros compressing
    ~1000:1); the decoder must never be reached, so the rest does not matter.
    """
    width, height = BOMB_SIZE
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def _bad_crc_png() -> bytes:
    """coffee.png with one byte of its first image data chunk changed, its CRC left as it was."""
    data = bytearray(sample("coffee.png").read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 100] ^= 0x55
    return bytes(data)


def _corrupt_scan_jpeg() -> bytes:
    """rocket.jpg with 3000 bytes of its scan data overwritten by noise (a bad disk sector)."""
    data = bytearray(sample("rocket.jpg").read_bytes())
    scan = data.index(b"\xff\xda")
    noise = random.Random(20240611).randbytes(3000)
    data[scan + 2000 : scan + 5000] = noise
    return bytes(data)


def _animated_gif(path: Path) -> None:
    base = Image.open(sample("hopper.jpg")).convert("RGB")
    frames = [base.rotate(90 * index) for index in range(ANIMATED_GIF_FRAMES)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100)


def _multipage_tiff(path: Path) -> None:
    first = Image.open(sample("hopper.jpg")).convert("RGB")
    second = Image.open(sample("camera.png")).resize((64, 64))
    first.save(path, format="TIFF", save_all=True, append_images=[second])


def make_bad_inputs(folder: Path) -> dict[str, Path]:
    """Create each bad input of the issue list in ``folder``; return them by key.

    See ``EXPECTED_REASONS`` for what each must give. ``symlink_loop`` is a folder holding a
    link to its parent (``folder`` itself), so walking ``folder`` recursively meets the loop.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rocket = sample("rocket.jpg").read_bytes()
    paths = {
        "zero_byte": folder / "zero_byte.jpg",
        "text_as_jpg": folder / "text_as.jpg",
        "html_as_jpg": folder / "html_as.jpg",
        "truncated_jpeg": folder / "truncated.jpg",
        "corrupt_scan_jpeg": folder / "corrupt_scan.jpg",
        "bad_crc_png": folder / "bad_crc.png",
        "bomb_png": folder / "bomb.png",
        "animated_gif": folder / "animated.gif",
        "multipage_tiff": folder / "multipage.tif",
        "dir_named_jpg": folder / "dir_named.jpg",
        "dangling_symlink": folder / "dangling.jpg",
        "symlink_loop": folder / "symlink_loop",
        "unreadable": folder / "unreadable.jpg",
    }
    paths["zero_byte"].write_bytes(b"")
    paths["text_as_jpg"].write_text("These are my holiday notes, not a photo.\n", encoding="utf-8")
    paths["html_as_jpg"].write_text(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        "<body><h1>Not Found</h1></body></html>\n",
        encoding="utf-8",
    )
    paths["truncated_jpeg"].write_bytes(rocket[: len(rocket) * 6 // 10])
    paths["corrupt_scan_jpeg"].write_bytes(_corrupt_scan_jpeg())
    paths["bad_crc_png"].write_bytes(_bad_crc_png())
    paths["bomb_png"].write_bytes(_bomb_png())
    _animated_gif(paths["animated_gif"])
    _multipage_tiff(paths["multipage_tiff"])
    paths["dir_named_jpg"].mkdir()
    paths["dangling_symlink"].symlink_to("no-such-target.jpg")
    paths["symlink_loop"].mkdir()
    (paths["symlink_loop"] / "parent").symlink_to("..", target_is_directory=True)
    shutil.copyfile(sample("hopper.jpg"), paths["unreadable"])
    paths["unreadable"].chmod(0)
    return paths


def _oriented_jpeg(upright: Image.Image, orientation: int) -> bytes:
    """A JPEG whose pixels are stored so that applying ``orientation`` shows ``upright``."""
    transpose = _STORE_FOR_ORIENTATION[orientation]
    stored = upright if transpose is None else upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def oriented_upright() -> Image.Image:
    """The upright picture every ``orientation_N`` input must load as (chelsea, shrunk)."""
    return Image.open(sample("chelsea.png")).convert("RGB").resize(ORIENTED_UPRIGHT_SIZE)


def cmyk_source() -> Image.Image:
    """The RGB picture the CMYK JPEG is made from: four flat quadrants of known colours."""
    image = Image.new("RGB", (64, 64))
    for index, colour in enumerate(CMYK_QUADRANT_COLOURS):
        left, top = 32 * (index % 2), 32 * (index // 2)
        image.paste(colour, (left, top, left + 32, top + 32))
    return image


def make_hard_inputs(folder: Path) -> dict[str, Path]:
    """Create each hard-but-valid input of the issue list in ``folder``; return them by key.

    Every one must load, come out upright and in the right colours, and save.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def add(key: str, name: str) -> Path:
        paths[key] = folder / name
        return paths[key]

    # Pillow writes CMYK JPEGs with an Adobe marker and inverted samples, like Photoshop
    cmyk_source().convert("CMYK").save(add("cmyk_jpeg", "cmyk.jpg"), quality=95)
    shutil.copyfile(sample("rocket.jpg"), add("icc_jpeg", "adobe_rgb.jpg"))

    # 16-bit grey with values far above 255 and odd low bits, so a silent 8-bit trip shows
    camera = Image.open(sample("camera.png")).convert("L").resize((128, 128))
    wide = camera.point(lambda value: value * 256 + 3, mode="I")
    wide.convert("I;16").save(add("png16", "grey16.png"))

    chelsea = Image.open(sample("chelsea.png")).convert("RGB").resize((150, 100))
    palette = chelsea.quantize(64)
    palette.info["transparency"] = 0
    palette.save(add("palette_transparent_png", "palette_transparent.png"), transparency=0)

    alpha = Image.linear_gradient("L").resize((128, 128))
    grey_alpha = camera.copy()
    grey_alpha.putalpha(alpha)
    grey_alpha.save(add("la_png", "grey_alpha.png"))
    colour_alpha = Image.open(sample("astronaut.png")).convert("RGB").resize((128, 128))
    colour_alpha.putalpha(alpha)
    colour_alpha.save(add("rgba_png", "colour_alpha.png"))

    upright = oriented_upright()
    for orientation in range(1, 9):
        add(f"orientation_{orientation}", f"orientation_{orientation}.jpg").write_bytes(
            _oriented_jpeg(upright, orientation)
        )

    Image.new("RGB", (1, 1), (12, 34, 56)).save(add("one_by_one", "one_by_one.png"))
    Image.linear_gradient("L").resize((1, 5000)).save(add("one_by_5000", "one_by_5000.png"))

    hopper = Image.open(sample("hopper.jpg"))
    shutil.copyfile(sample("hopper.jpg"), add("name with spaces.jpg", "name with spaces.jpg"))
    hopper.save(add("ünïcødé.png", "ünïcødé.png"))
    hopper.save(add("-leading-dash.png", "-leading-dash.png"))
    shutil.copyfile(sample("hopper.jpg"), add("UPPER.JPG", "UPPER.JPG"))
    return paths


def running_as_root() -> bool:
    """Whether permission bits are ignored for this process (root reads mode-000 files)."""
    return os.geteuid() == 0


# ------------------------------------------------------------- odd files built byte by byte
# Pillow cannot write these (layered PSDs, broken EXIF, oversized GIF frames, warnings), so
# they are put together here from their formats' specifications.


def _pascal_padded(name: bytes) -> bytes:
    raw = bytes([len(name)]) + name
    return raw + b"\0" * (-len(raw) % 4)


def layered_psd(
    size: tuple[int, int],
    composite: tuple[int, int, int],
    layers: list[tuple[tuple[int, int, int, int], tuple[int, int, int]]],
) -> bytes:
    """An 8-bit RGB Photoshop file: its composite (merged) image one flat colour, then
    ``layers`` as ((left, top, right, bottom), colour) in its layer and mask section.

    The layout (Adobe's "Photoshop File Formats Specification"): a 26-byte header, colour mode
    data and image resources (both empty here), the layer and mask information (the layer
    count, one record per layer with its box, channels, blend mode and name, then every
    layer's channel data, each channel with its own compression word), and the composite image
    data (one compression word, then the planes R, G, B, uncompressed).
    """
    width, height = size
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    records = b""
    channel_data = b""
    for index, ((left, top, right, bottom), colour) in enumerate(layers):
        samples = max(0, right - left) * max(0, bottom - top)
        records += struct.pack(">iiiiH", top, left, bottom, right, 3)
        for channel in range(3):
            records += struct.pack(">hI", channel, 2 + samples)
        extra = struct.pack(">II", 0, 0) + _pascal_padded(b"layer %d" % index)
        records += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", len(extra)) + extra
        for channel in range(3):
            channel_data += b"\0\0" + bytes([colour[channel]]) * samples
    layer_info = struct.pack(">h", len(layers)) + records + channel_data
    layer_info += b"\0" * (len(layer_info) % 2)
    layer_and_mask = struct.pack(">I", len(layer_info)) + layer_info + struct.pack(">I", 0)
    planes = b"".join(bytes([value]) * (width * height) for value in composite)
    return (
        header
        + struct.pack(">II", 0, 0)  # no colour mode data, no image resources
        + struct.pack(">I", len(layer_and_mask))
        + layer_and_mask
        + b"\0\0"  # the composite is uncompressed
        + planes
    )


def broken_exif(orientation: int) -> bytes:
    """An EXIF block with an orientation and an XResolution given as the text "72" (ASCII),
    where the standard says RATIONAL: Pillow reads it, but cannot write it back."""
    entries = [
        struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0),  # SHORT
        struct.pack("<HHI", 0x011A, 2, 4) + b"72\0\0",  # ASCII, 4 bytes inline
    ]
    directory = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + directory


def gif_with_frame(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF whose logical screen is ``screen`` and whose only frame declares ``frame`` (a
    frame may be larger than the screen: Pillow then grows the image), with almost no pixel
    data behind it: a few dozen bytes on disk."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + b"\x02\x02\x4c\x01\x00;"  # LZW: clear, one code, end


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def malformed_mpo() -> bytes:
    """A JPEG with an MPF (multi-picture) segment whose index lacks the number of pictures:
    Pillow warns "Image appears to be a malformed MPO file" and reads it as a plain JPEG."""
    jpeg = _jpeg_bytes(Image.new("RGB", (16, 8), (20, 120, 220)))
    index = b"MPF\0II*\0" + struct.pack("<I", 8) + struct.pack("<HI", 0, 0)  # no entries
    segment = b"\xff\xe2" + struct.pack(">H", 2 + len(index)) + index
    return jpeg[:2] + segment + jpeg[2:]


def png_with_bad_animation() -> bytes:
    """A PNG with an animation control chunk claiming 0 frames: Pillow warns "Invalid APNG"
    and reads the still image."""
    buffer = io.BytesIO()
    Image.new("L", (8, 4), 99).save(buffer, format="PNG")
    data = buffer.getvalue()
    after_header = 8 + 8 + 13 + 4  # signature, IHDR's length, type, payload, CRC
    control = _png_chunk(b"acTL", struct.pack(">II", 0, 0))
    return data[:after_header] + control + data[after_header:]
