"""Loading inputs: reading the bytes once, decoding them safely, turning them upright.

Every failure about one input is raised as ``InputError(path, reason)`` with a short human
reason (``_damage`` words them). No other exception type escapes for a bad file
(``MemoryError`` and ``KeyboardInterrupt`` aside), so the pipeline can report it and go on.
Problems that still let the pixels come out (a broken EXIF block, Pillow's warnings about the
file) are ``LoadedImage.warnings``.

Thread safety: ``load_image`` runs in several threads at once. It never changes
``ImageFile.LOAD_TRUNCATED_IMAGES``: truncated JPEGs are recovered per call by closing the
data stream (see ``load_image``). The pixel limit is checked here per call, on the header's
size before decoding and on the decoded size after; Pillow's own checks of pictures inside a
file follow ``Image.MAX_IMAGE_PIXELS``, which ``_damage.pixel_limit`` sets from the limits of
the calls running (the largest) and puts back after the last. Pillow's warnings are caught
per call, for the thread running ``load_image`` only (``_damage.pillow_guarded``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps

from imgprep import _damage, config
from imgprep._colour import icc_colour_space, profile_to_srgb, standard_mode
from imgprep._damage import (
    BROKEN_EXIF,
    NO_SIZE,
    TRUNCATED,
    bomb_reason,
    failure_reason,
    structural_damage,
    too_large_reason,
    warning_reason,
)
from imgprep._fs import StrPath, read_with_identity
from imgprep._identify import NotOpened, is_stub, load_stub, open_header
from imgprep._metadata import Metadata, read_metadata
from imgprep.errors import ImageTooLargeError, ImgprepError, InputError
from imgprep.ops import auto_orient

__all__ = ["DecodeHint", "LoadedImage", "load_image"]


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
    frame (a PSD's composite image, not its layers), in a working mode (L, LA, RGB, RGBA,
    I;16, I or F). ``icc_profile`` is the input's
    embedded profile as found (for a CMYK input converted to RGB it is the CMYK profile, which
    ``save_image`` then drops because its colour space no longer matches). ``digest`` (sha256
    hex) and ``identity`` (size, ``st_mtime_ns``) describe the bytes that were decoded, both
    taken from the one open file they were read from. ``source_size`` is the size the file
    stores, ``decoded_size`` the one the decoder gave (smaller after a JPEG draft), both in the
    stored axes (before EXIF orientation). ``warnings`` are short reasons, in the order met, for
    problems that did not stop the pixels coming out ("broken EXIF data dropped", "damaged EXIF
    or TIFF tags skipped", ...): the caller reports them with the path. ``metadata`` is the
    EXIF and XMP to write with the outputs, read only when ``load_image`` is asked to keep them
    (``None`` otherwise). ``orientation`` is the EXIF orientation that was applied (1..8; 1
    when there was none).
    """

    image: Image.Image
    icc_profile: bytes | None
    digest: str
    identity: tuple[int, int]
    source_size: tuple[int, int]
    decoded_size: tuple[int, int]
    warnings: tuple[str, ...] = ()
    metadata: Metadata | None = None
    orientation: int = 1


_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # these swap width and height


def _orientation(image: Image.Image) -> tuple[int, str | None]:
    """The EXIF orientation (1 when absent or not 1..8), and a warning when Pillow cannot read
    the EXIF block at all: it is dropped then (``_turn_upright`` warns about a block it can read
    but not write back)."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:
        image.info.pop("exif", None)
        image.info.pop("Raw profile type exif", None)
        exif = image.getexif()  # the cached, partly read block: it parses nothing again
        for tag in list(exif):
            del exif[tag]
        return 1, BROKEN_EXIF
    return (value if isinstance(value, int) and 1 <= value <= 8 else 1), None


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


def _turn_upright(image: ImageFile.ImageFile) -> tuple[Image.Image, str | None]:
    """The decoded image turned upright by its EXIF orientation, the tag removed (also a tag 1,
    so the output is plainly upright), and a warning when the EXIF block cannot be written back
    without the tag (a tag of the wrong type, such as XResolution given as text): it is dropped.

    Pillow writes the block back itself while turning, and would fail there; so the block is
    taken out of ``info`` first and written back here, once, whatever Pillow did.

    ``auto_orient`` returns a copy, which for an upright camera JPEG is a full-size copy made
    only to be dropped (0.4 ms a 12 MP file at 1/4 scale). After ``load`` a single-frame JPEG
    has let go of its stream (Pillow sets ``fp`` to ``None``; its plugin keeps no second one),
    so it is ours alone, holds no reference to the input's bytes, and is turned in place.
    Other formats may keep their stream for ``seek`` (PNG, GIF, TIFF, MPO): they get the copy,
    which lets the stream and the bytes behind it go.
    """
    key = "exif" if "exif" in image.info else "Raw profile type exif"  # the latter: old PNGs
    raw = image.info.pop(key, None)
    exif = image.getexif()  # cached by _orientation: the block as read, with the tag
    had_tag = _EXIF_ORIENTATION in exif
    upright: Image.Image = image
    if image.format == "JPEG" and image.fp is None:
        ImageOps.exif_transpose(image, in_place=True)
    else:
        upright = auto_orient(image)
    if raw is None or not had_tag:
        if raw is not None:
            upright.info[key] = raw
        return upright, None
    exif.pop(_EXIF_ORIENTATION, None)
    try:
        upright.info["exif"] = exif.tobytes()
    except Exception:
        return upright, BROKEN_EXIF
    return upright, None


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
    keep_metadata: bool = False,
    on_size: Callable[[tuple[int, int], str, int], None] | None = None,
) -> LoadedImage:
    """Read and decode one input; raise ``InputError(path, reason)`` for any bad file.

    The file's bytes are read once (they give the digest, then are decoded from memory). The
    header is read first: more than ``max_pixels`` pixels raises ``ImageTooLargeError`` before
    any pixel is decoded, and so does any larger picture Pillow meets inside the file (a GIF
    frame beyond its screen, an icon's embedded PNG): ``max_pixels`` is the only limit, Pillow's
    own ``MAX_IMAGE_PIXELS`` does not apply here. ``hint(upright_size)`` may then let the
    decoder reduce (JPEG draft). JPEG and PNG structure is checked (corrupt scan data, CRCs)
    because the decoders accept some damage silently. Truncated data is an error unless
    ``allow_truncated``; then a truncated JPEG is decoded with its missing part grey (other
    formats stay an error: Pillow only tolerates their truncation through a process-wide
    switch, which is never flipped). ``on_size(size, mode, file_bytes)`` is called once the
    size and mode the decoder will give are known (after the header and any reduction), before
    any pixel is decoded: it may wait (for memory) or raise an ``ImgprepError``, which fails the
    input with its message. Multi-frame files give their first frame; a layered PSD
    its composite image. Pillow's warnings about the file become ``LoadedImage.warnings``
    (never printed; for a file that fails they are dropped: the reason says enough).
    ``keep_metadata``: also read the EXIF and XMP to write with the outputs
    (``LoadedImage.metadata``; see ``_metadata``).
    """
    data, identity = read_with_identity(path)
    if not data:
        raise InputError(path, "empty file (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    with _damage.pillow_guarded(max_pixels) as caught:
        try:
            loaded = _decode(path, data, max_pixels, hint, allow_truncated, keep_metadata, on_size)
        except (InputError, MemoryError, RecursionError):
            raise
        except Image.DecompressionBombError as error:  # a picture inside, beyond the header
            raise ImageTooLargeError(path, bomb_reason(error, max_pixels)) from None
        except ImgprepError as error:  # from the hint: a plain sentence already
            raise InputError(path, str(error)) from error
        except Exception as error:
            # Pillow's plugins raise many types for damaged files (OSError, SyntaxError,
            # ValueError, struct.error, IndexError, ...): each is this one file's problem.
            raise InputError(path, failure_reason(error, "image")) from error
    warnings = dict.fromkeys([*map(warning_reason, caught), *loaded.warnings])
    loaded.digest, loaded.identity, loaded.warnings = digest, identity, tuple(warnings)
    return loaded


def _decode(
    path: StrPath,
    data: bytes,
    max_pixels: int | None,
    hint: Callable[[tuple[int, int]], DecodeHint | None] | None,
    allow_truncated: bool,
    keep_metadata: bool,
    on_size: Callable[[tuple[int, int], str, int], None] | None,
) -> LoadedImage:
    image = _open_checked(path, data, max_pixels, allow_truncated)
    format_name = image.format or "image"
    try:
        settings = _Settings(max_pixels, allow_truncated, on_size, keep_metadata)
        return _decode_opened(path, data, image, hint, settings)
    except (InputError, Image.DecompressionBombError, ImgprepError, MemoryError, RecursionError):
        raise
    except Exception as error:
        raise InputError(path, failure_reason(error, format_name)) from error


@dataclass(frozen=True)
class _Settings:
    """What ``load_image`` was asked besides the file: ``max_pixels`` (also for the decoded
    size: a GIF frame may be larger than its screen), ``allow_truncated``, ``on_size``,
    ``keep_metadata``."""

    max_pixels: int | None
    allow_truncated: bool
    on_size: Callable[[tuple[int, int], str, int], None] | None
    keep_metadata: bool = False


def _decode_opened(
    path: StrPath,
    data: bytes,
    image: ImageFile.ImageFile,
    hint: Callable[[tuple[int, int]], DecodeHint | None] | None,
    settings: _Settings,
) -> LoadedImage:
    """Decode an image whose header passed ``_open_checked``: upright, in a working mode."""
    max_pixels, allow_truncated = settings.max_pixels, settings.allow_truncated
    width, height = image.size
    orientation, exif_warning = _orientation(image)
    decode_hint = None
    if hint is not None:
        upright = (height, width) if orientation in _TRANSPOSING_ORIENTATIONS else (width, height)
        decode_hint = hint(upright)
    if decode_hint is not None:
        _apply_hint(image, decode_hint, orientation)
    icc_profile = image.info.get("icc_profile") or None
    profile = icc_profile if isinstance(icc_profile, bytes) else None
    if settings.on_size is not None:  # the size and mode the decoder gives, hint applied
        settings.on_size(image.size, image.mode, len(data))
    image = _load_pixels(path, data, image, decode_hint, orientation, allow_truncated)
    decoded_size = image.size
    if 0 in decoded_size:
        raise InputError(path, NO_SIZE)
    _check_pixels(path, decoded_size, max_pixels)
    oriented, rewrite_warning = _turn_upright(image)
    metadata = None
    if settings.keep_metadata:
        metadata, unwritable = read_metadata(image, oriented)
        if exif_warning or rewrite_warning:  # a block dropped as broken stays dropped
            metadata = Metadata(None, metadata.xmp)
        elif unwritable:  # only now written back: it had no orientation to remove
            rewrite_warning = BROKEN_EXIF
    warnings = tuple(warning for warning in (exif_warning, rewrite_warning) if warning)
    return LoadedImage(
        image=_working_mode(oriented, profile),
        icc_profile=profile,
        digest="",  # load_image fills in what describes the bytes
        identity=(0, 0),
        source_size=(width, height),
        decoded_size=decoded_size,
        warnings=warnings,
        metadata=metadata,
        orientation=orientation,
    )


def _open_checked(
    path: StrPath, data: bytes, max_pixels: int | None, allow_truncated: bool
) -> ImageFile.ImageFile:
    """The image with its header read, once it passed the pixel limit and the damage checks."""
    try:
        image = open_header(data)
    except NotOpened as error:
        raise InputError(path, error.reason) from error.__cause__
    format_name = image.format or "image"
    if is_stub(format_name):
        _check_pixels(path, image.size, max_pixels)
        image = load_stub(path, image)
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InputError(path, NO_SIZE)
    _check_pixels(path, image.size, max_pixels)
    damage = structural_damage(data, format_name)
    if damage is not None and not (allow_truncated and damage == TRUNCATED):
        raise InputError(path, damage)
    return image


def _check_pixels(path: StrPath, size: tuple[int, int], max_pixels: int | None) -> None:
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(path, too_large_reason(size, max_pixels))


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
    format_name = image.format or "image"
    try:
        image.load()
    except (Image.DecompressionBombError, MemoryError, RecursionError):
        raise
    except Exception as error:
        reason = failure_reason(error, format_name)
        if not (allow_truncated and reason == TRUNCATED and format_name == "JPEG"):
            raise InputError(path, reason) from error
        # An EOI marker after the cut makes libjpeg finish the scan, filling the rest grey.
        try:
            reopened = open_header(data + b"\xff\xd9")
        except NotOpened:
            raise InputError(path, reason) from error
        if hint is not None:
            _apply_hint(reopened, hint, orientation)
        reopened.load()
        return reopened
    return image
