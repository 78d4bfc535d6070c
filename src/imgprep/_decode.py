"""Loading inputs: reading the bytes once, decoding them safely, turning them upright.

Every failure about one input is raised as ``InputError(path, reason)`` with a short human
reason. No other exception type escapes for a bad file (``MemoryError`` and
``KeyboardInterrupt`` aside), so the pipeline can report it and go on.

Thread safety: ``load_image`` runs in several threads at once. It never changes Pillow's module
globals (``ImageFile.LOAD_TRUNCATED_IMAGES``, ``Image.MAX_IMAGE_PIXELS``): the pixel limit is
checked here per call, before decoding, and truncated JPEGs are recovered per call by closing
the data stream (see ``load_image``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps

from imgprep import config
from imgprep._colour import icc_colour_space, profile_to_srgb, standard_mode
from imgprep._fs import StrPath, reason_for_os_error
from imgprep.errors import ImageTooLargeError, InputError
from imgprep.ops import auto_orient

__all__ = ["DecodeHint", "LoadedImage", "load_image"]

# Pillow's preinit() registers JPEG, PNG, GIF, BMP and PPM in a few milliseconds; importing
# its other ~40 plugins (Image.init) costs 50-100 ms, more than a whole run on one small image.
# So the rest are loaded on the first file that needs them, once, under a lock: Pillow's lazy
# plugin registration is not meant to race between worker threads.
Image.preinit()
_ALL_PLUGINS_LOCK = threading.Lock()
_all_plugins_loaded = False


def _load_all_plugins() -> None:
    global _all_plugins_loaded
    with _ALL_PLUGINS_LOCK:
        if not _all_plugins_loaded:
            Image.init()
            _all_plugins_loaded = True


@dataclass(frozen=True)
class DecodeHint:
    """What the first steps of a chain let the decoder skip.

    ``mode="L"`` decodes a JPEG straight to grayscale; ``size`` is the smallest (width, height),
    in upright axes (after EXIF orientation), that the decoder may reduce to (JPEG: the largest
    of the 1/2, 1/4, 1/8 DCT scalings that keeps at least ``size``; other formats decode in
    full).

    How far above the final size ``size`` stays is the caller's choice: it decides how close
    the result comes to resizing a full decode. imgprep's planner, ``pipeline.decode_hint``,
    takes the margins from its ``_REDUCING_GAPS`` table: 1/2 with no margin (the reduced image
    only has to cover the target), 1/4 with a 1.4x margin, 1/8 with a 2x margin (libjpeg's 1/8
    keeps only each block's average and aliases on fine detail).
    """

    mode: str | None = None
    size: tuple[int, int] | None = None


@dataclass
class LoadedImage:
    """A decoded input and what the pipeline needs to know about it.

    ``image`` is upright (EXIF orientation applied and its tag removed), loaded, the first
    frame, in a working mode (L, LA, RGB, RGBA, I;16, I or F). ``icc_profile`` is the input's
    embedded profile as found (for a CMYK input converted to RGB it is the CMYK profile, which
    ``save_image`` then drops because its colour space no longer matches). ``digest`` (sha256
    hex) and ``identity`` (size, ``st_mtime_ns``) describe the bytes that were decoded, both
    taken from the one open file they were read from. ``source_size`` is the size the file
    stores, ``decoded_size`` the one the decoder gave (smaller after a JPEG draft), both in the
    stored axes (before EXIF orientation).
    """

    image: Image.Image
    icc_profile: bytes | None
    digest: str
    identity: tuple[int, int]
    source_size: tuple[int, int]
    decoded_size: tuple[int, int]


_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # these swap width and height


def _read_input_bytes(path: StrPath) -> tuple[bytes, tuple[int, int]]:
    """The file's bytes and its ``(size, st_mtime_ns)`` taken from the same open file.

    Plain ``os`` calls, no file object: open, fstat, usually one read, close. Each call lets
    another thread take the GIL, and this runs once per image.
    """
    # O_NONBLOCK: opening a fifo must not wait for a writer; it is refused just below.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise InputError(path, reason_for_os_error(error, path)) from error
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, "not a regular file")
        os.set_blocking(fd, True)
        # To the end, whatever the size said: a signal can cut a read short, and the file may
        # grow. Asking one byte past the size lets the usual case end with one more, empty read.
        chunks: list[bytes] = []
        received = 0
        while chunk := os.read(fd, max(info.st_size + 1 - received, 1 << 16)):
            chunks.append(chunk)
            received += len(chunk)
        data = b"".join(chunks)
        if len(data) != info.st_size:  # it changed while being read: describe what was read
            info = os.fstat(fd)
        return data, (info.st_size, info.st_mtime_ns)
    except OSError as error:
        raise InputError(path, reason_for_os_error(error, path)) from error
    finally:
        os.close(fd)


def _open_header(data: bytes) -> ImageFile.ImageFile | None:
    """Identify ``data`` and read its header, like ``Image.open`` minus its global pixel guard.

    ``Image.open`` checks ``Image.MAX_IMAGE_PIXELS`` (a process-wide setting) and warns or
    raises before the caller sees the size; imgprep applies its own per-call ``max_pixels``
    instead, so it asks each registered format plugin directly, in Pillow's own order.
    """
    prefix = data[:16]
    stream = io.BytesIO(data)
    tried: set[str] = set()
    for load_more in (False, True):  # the common formats first, then every plugin
        if load_more:
            _load_all_plugins()
        for format_name in list(Image.ID):
            if format_name in tried:
                continue
            tried.add(format_name)
            factory, accept = Image.OPEN[format_name]
            if accept is not None:
                verdict = accept(prefix)
                if not verdict or isinstance(verdict, str):
                    continue
            stream.seek(0)
            try:
                return factory(stream, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # the same exceptions Image.open treats as "not this format"
    return None


def _unreadable_reason(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not an image Pillow can read (looks like HTML)"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "not an image Pillow can read"
    return "not an image Pillow can read (looks like text)"


# Inside JPEG entropy-coded data a 0xFF byte is followed by 0x00 (stuffing), 0xFF (fill) or a
# restart marker; any other byte after 0xFF is a marker and ends the scan.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff]")
# markers legal between the scans of a (progressive or multi-scan) JPEG
_JPEG_BETWEEN_SCANS = frozenset(
    {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)},
)


def _jpeg_damage(data: bytes) -> str | None:
    """A reason when a JPEG's structure is broken, else ``None``.

    libjpeg decodes corrupt scan data into garbage with only a warning, which Pillow does not
    pass on, so the structure is checked here: segments must chain from SOI to the first scan,
    scans may only be followed by the markers allowed between scans or EOI, restart markers must
    count 0..7 in order, and EOI must be present. Bit errors that keep this structure intact
    (a flipped bit in the Huffman data) decode silently: no available decoder reports them.
    """
    if not data.startswith(b"\xff\xd8"):
        return None  # not a plain JPEG (e.g. a JPEG inside another container): Pillow decides
    position = 2
    size = len(data)
    # header segments up to the first scan
    while True:
        position = data.find(b"\xff", position)
        while 0 <= position < size - 1 and data[position + 1] == 0xFF:
            position += 1
        if position < 0 or position + 4 > size:
            return "truncated image data"
        marker = data[position + 1]
        if marker == 0xD9:
            return "corrupt JPEG data (end of image before any scan)"
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
        if marker == 0xDA:
            break
    expected_restart = 0
    while True:
        match = _JPEG_MARKER.search(data, position)
        if match is None:
            return "truncated image data"
        marker = data[match.start() + 1]
        position = match.end()
        if 0xD0 <= marker <= 0xD7:
            if marker - 0xD0 != expected_restart:
                return "corrupt JPEG data (restart markers out of order in the scan data)"
            expected_restart = (expected_restart + 1) % 8
            continue
        if marker == 0xD9:
            return None
        if marker not in _JPEG_BETWEEN_SCANS:
            return f"corrupt JPEG data (stray marker 0xFF{marker:02X} in the scan data)"
        if position + 2 > size:
            return "truncated image data"
        (length,) = struct.unpack_from(">H", data, position)
        position += length
        expected_restart = 0


def _png_damage(data: bytes) -> str | None:
    """A reason when a PNG's chunks are broken (bad CRC, cut short), else ``None``.

    Pillow skips the CRC of image data chunks, and zlib may inflate a damaged stream without
    complaint, so every chunk's CRC is checked here (zlib.crc32 runs at memory speed).
    """
    position = 8
    size = len(data)
    while position + 8 <= size:
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length + 4
        if end > size:
            return "truncated image data"
        (stored_crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[position + 4 : end - 4]) != stored_crc:
            name = kind.decode("latin-1")
            return f"corrupt PNG data (CRC check failed in the {name} chunk)"
        if kind == b"IEND":
            return None
        position = end
    return "truncated image data"


def _structural_damage(data: bytes, format_name: str) -> str | None:
    if format_name == "JPEG":
        return _jpeg_damage(data)
    if format_name == "PNG":
        return _png_damage(data)
    return None


def _decode_reason(error: Exception, format_name: str) -> str:
    message = str(error)
    if "truncated" in message or isinstance(error, EOFError):
        return "truncated image data"
    if isinstance(error, Image.DecompressionBombError):
        return f"image is too large to decode safely ({message})"
    if format_name == "PNG" and isinstance(error, SyntaxError):
        return f"corrupt PNG data ({message})"
    detail = message or type(error).__name__
    return f"corrupt {format_name} data ({detail})"


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not make a decodable image fail
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_hint(image: ImageFile.ImageFile, hint: DecodeHint, orientation: int) -> None:
    """Let the decoder reduce the image, as ``hint`` allows; hint sizes are in upright axes."""
    size = hint.size
    if size is not None and orientation in _TRANSPOSING_ORIENTATIONS:
        size = (size[1], size[0])
    if image.format in ("JPEG", "MPO"):
        mode = hint.mode if hint.mode == "L" else None
        if mode is not None or size is not None:
            # draft() only ever picks a scale that keeps at least the requested size
            image.draft(mode, size)
    # Other formats decode in full. JPEG 2000 could decode a lower resolution level
    # (Jpeg2KImageFile.reduce), but its wavelet low-pass band differs from a proper resize by a
    # mean of 5.4 levels at 1/2 and 8.3 at 1/4 (measured on coffee.png), far above the 2 levels
    # allowed, so it is not used.


def _upright(image: ImageFile.ImageFile, frames: int) -> Image.Image:
    """The decoded image turned upright, in place when nothing else can read it.

    ``auto_orient`` returns a copy, which for an upright camera JPEG is a full-size copy made
    only to be dropped (0.4 ms a 12 MP file at 1/4 scale). After ``load`` a single-frame JPEG
    has let go of its stream (Pillow sets ``fp`` to ``None``; its plugin keeps no second one),
    so it is ours alone, holds no reference to the input's bytes, and is turned in place.
    Other formats may keep their stream for ``seek`` (PNG, GIF, TIFF, MPO): they get the copy,
    which lets the stream and the bytes behind it go.
    """
    if image.format == "JPEG" and frames == 1 and image.fp is None:
        ImageOps.exif_transpose(image, in_place=True)
        return image
    return auto_orient(image)


def _without_orientation_tag(image: Image.Image) -> Image.Image:
    """Drop an orientation tag that needed no transpose (1), so the image is plainly upright."""
    exif = image.getexif()
    if _EXIF_ORIENTATION in exif:
        del exif[_EXIF_ORIENTATION]
        image.info["exif"] = exif.tobytes()
    return image


def _cmyk_to_rgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    """CMYK pixels in RGB: through the embedded profile when it is a CMYK one, else (no
    profile, one of another colour space, an unusable one) by Pillow's plain formula."""
    if profile is not None and icc_colour_space(profile) == b"CMYK":
        converted = profile_to_srgb(image, profile, "RGB")
        if converted is not None:
            return converted
    return image.convert("RGB")


def _working_mode(image: Image.Image, profile: bytes | None) -> Image.Image:
    """Convert decoded modes to the few that imgprep's operations handle (``standard_mode``),
    with the input's profile for CMYK."""
    if image.mode == "CMYK":
        return _cmyk_to_rgb(image, profile)
    if image.mode == "LAB":
        # Unlike standard_mode (and saving), which give RGB: decoding has always given LAB
        # inputs (CIELab TIFFs) an opaque alpha band, kept so that their outputs do not change.
        return image.convert("RGBA")
    return standard_mode(image)


def load_image(
    path: StrPath,
    *,
    max_pixels: int | None = config.MAX_PIXELS,
    hint: Callable[[tuple[int, int]], DecodeHint | None] | None = None,
    allow_truncated: bool = False,
) -> LoadedImage:
    """Read and decode one input; raise ``InputError(path, reason)`` for any bad file.

    The file's bytes are read once (they give the digest, then are decoded from memory). The
    header is read first: more than ``max_pixels`` pixels raises ``ImageTooLargeError`` before
    any pixel is decoded. ``hint(upright_size)`` may then let the decoder reduce (JPEG draft).
    JPEG and PNG structure is checked (corrupt scan data, CRCs) because the decoders accept
    some damage silently. Truncated data is an error unless ``allow_truncated``; then a
    truncated JPEG is decoded with its missing part grey (other formats stay an error: Pillow
    only tolerates their truncation through a process-wide switch, which is never flipped).
    Multi-frame files give their first frame.
    """
    data, identity = _read_input_bytes(path)
    if not data:
        raise InputError(path, "empty file (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    try:
        return _decode(path, data, digest, identity, max_pixels, hint, allow_truncated)
    except (InputError, MemoryError, RecursionError):
        raise
    except Exception as error:
        # Pillow's plugins raise many types for damaged files (OSError, SyntaxError, ValueError,
        # struct.error, IndexError, ...); each is this one file's problem, not imgprep's bug.
        raise InputError(path, _decode_reason(error, "image")) from error


def _decode(
    path: StrPath,
    data: bytes,
    digest: str,
    identity: tuple[int, int],
    max_pixels: int | None,
    hint: Callable[[tuple[int, int]], DecodeHint | None] | None,
    allow_truncated: bool,
) -> LoadedImage:
    image = _open_checked(path, data, max_pixels, allow_truncated)
    width, height = image.size
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        image.seek(0)
    orientation = _orientation(image)
    decode_hint = None
    if hint is not None:
        upright = (height, width) if orientation in _TRANSPOSING_ORIENTATIONS else (width, height)
        decode_hint = hint(upright)
    if decode_hint is not None:
        _apply_hint(image, decode_hint, orientation)
    icc_profile = image.info.get("icc_profile") or None
    profile = icc_profile if isinstance(icc_profile, bytes) else None
    image = _load_pixels(path, data, image, decode_hint, orientation, allow_truncated)
    decoded_size = image.size
    oriented = _without_orientation_tag(_upright(image, frames))
    return LoadedImage(
        image=_working_mode(oriented, profile),
        icc_profile=profile,
        digest=digest,
        identity=identity,
        source_size=(width, height),
        decoded_size=decoded_size,
    )


def _open_checked(
    path: StrPath, data: bytes, max_pixels: int | None, allow_truncated: bool
) -> ImageFile.ImageFile:
    """The image with its header read, once it passed the pixel limit and the damage checks."""
    image = _open_header(data)
    if image is None:
        raise InputError(path, _unreadable_reason(data))
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            path,
            f"image is {width}x{height} = {width * height:,} pixels, more than the"
            f" --max-pixels limit of {max_pixels:,}",
        )
    damage = _structural_damage(data, image.format or "unknown")
    if damage is not None and not (allow_truncated and damage == "truncated image data"):
        raise InputError(path, damage)
    return image


def _load_pixels(
    path: StrPath,
    data: bytes,
    image: ImageFile.ImageFile,
    hint: DecodeHint | None,
    orientation: int,
    allow_truncated: bool,
) -> ImageFile.ImageFile:
    """Decode the pixels of ``image`` (opened from ``data``); with ``allow_truncated``, a
    truncated JPEG is opened again and decoded with its missing part grey."""
    format_name = image.format or "unknown"
    try:
        image.load()
    except OSError as error:
        reason = _decode_reason(error, format_name)
        if not (allow_truncated and reason == "truncated image data" and format_name == "JPEG"):
            raise InputError(path, reason) from error
        # An EOI marker after the cut makes libjpeg finish the scan, filling the rest grey.
        reopened = _open_header(data + b"\xff\xd9")
        if reopened is None:
            raise InputError(path, reason) from error
        if hint is not None:
            _apply_hint(reopened, hint, orientation)
        reopened.load()
        return reopened
    return image
