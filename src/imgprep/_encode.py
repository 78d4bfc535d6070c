"""Writing outputs: output formats, adapting modes to them, ICC profiles, atomic saving.

``save_image`` encodes and writes one output through ``_fs.write_atomic``: readers and a
``kill -9`` only ever see a complete file or none. Every failure is raised as
``OutputError(f"{path}: {reason}")``. It runs in several threads at once.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any

from PIL import Image

from imgprep import config
from imgprep._colour import icc_colour_space, profile_to_srgb, standard_mode
from imgprep._formats import SIXTEEN_BIT_FORMATS
from imgprep._fs import StrPath, write_atomic, write_failure
from imgprep._metadata import Metadata, in_srgb, misfit, save_options
from imgprep.errors import OutputError, UsageError
from imgprep.ops import DEEP_MODES, to_depth
from imgprep.png import save_png

__all__ = ["save_image"]


def _flatten(image: Image.Image, background: str = "white") -> Image.Image:
    """Composite an image with alpha over a plain background (JPEG and friends have no alpha)."""
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, background)
    base.alpha_composite(rgba)
    return base.convert("RGB")


def _grey_or_colour(image: Image.Image, *, alpha: bool, bits16: bool) -> Image.Image:
    """Any mode to one of L/LA/RGB/RGBA (and I;16 when ``bits16``), keeping grey as grey."""
    # Deep grey is kept from standard_mode on purpose: an 8-bit format scales the samples from
    # the deep values (to_depth's rule), never from an 8-bit copy.
    if image.mode in DEEP_MODES:
        return to_depth(image, 16 if bits16 else 8)
    image = standard_mode(image)  # now L, LA, RGB or RGBA
    if image.mode in ("LA", "RGBA") and not alpha:
        flat = _flatten(image)
        return flat.convert("L") if image.mode == "LA" else flat
    return image


# formats whose files carry an ICC profile in Pillow
_ICC_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "AVIF", "TIFF", "JPEG2000"})


# Pillow format -> (modes written as they are, keeps alpha, keeps 16-bit grey, keeps grey)
_FORMAT_MODES: dict[str, tuple[frozenset[str], bool, bool, bool]] = {
    "JPEG": (frozenset({"L", "RGB", "CMYK"}), False, False, True),
    "PNG": (frozenset({"1", "L", "LA", "RGB", "RGBA", "P", "I;16"}), True, True, True),
    "WEBP": (frozenset({"RGB", "RGBA"}), True, False, False),
    "AVIF": (frozenset({"RGB", "RGBA"}), True, False, False),
    "TIFF": (
        frozenset({"1", "L", "LA", "RGB", "RGBA", "CMYK", "P", "I;16", "I", "F"}),
        True,
        True,
        True,
    ),
    "GIF": (frozenset({"L", "P"}), True, False, True),
    "BMP": (frozenset({"1", "L", "P", "RGB", "RGBA"}), True, False, True),
    "TGA": (frozenset({"L", "LA", "P", "RGB", "RGBA"}), True, False, True),
    "PPM": (frozenset({"1", "L", "RGB"}), False, False, True),
    "QOI": (frozenset({"RGB", "RGBA"}), True, False, False),
    "JPEG2000": (frozenset({"L", "LA", "RGB", "RGBA", "I;16"}), True, True, True),
}
_OTHER_FORMAT_MODES = (frozenset({"L", "RGB", "RGBA"}), True, False, True)


_SIXTEEN_BIT_SOURCES = (DEEP_MODES - {"I;16"}) | {"1", "L"}  # what --depth 16 widens


def _with_depth(image: Image.Image, format_name: str, depth: str) -> Image.Image:
    """``image`` at the ``--depth`` asked for, before the format's own adaptation: 8 makes deep
    grey and bilevel 8-bit; 16 makes grey 16-bit where the format holds it (colour and alpha
    stay 8-bit: Pillow has no deeper modes for them)."""
    mode = image.mode
    if depth == "8" and (mode in DEEP_MODES or mode == "1"):
        return to_depth(image, 8)
    if depth == "16" and format_name in SIXTEEN_BIT_FORMATS and mode in _SIXTEEN_BIT_SOURCES:
        return to_depth(image, 16)
    return image


def _adapt_mode(image: Image.Image, format_name: str, depth: str = "keep") -> Image.Image:
    """The image in a mode ``format_name`` can hold, at ``depth``; see ``save_image``."""
    image = _with_depth(image, format_name, depth)
    kept, alpha, bits16, grey = _FORMAT_MODES.get(format_name, _OTHER_FORMAT_MODES)
    if image.mode in kept:
        return image
    adapted = _grey_or_colour(image, alpha=alpha, bits16=bits16)
    if adapted.mode not in kept:  # grey where only colour is written, LA without grey alpha
        adapted = adapted.convert("RGBA" if "A" in adapted.mode else "RGB")
    if not grey and adapted.mode not in kept:
        adapted = adapted.convert("RGB")
    return adapted


# TIFF compressions Pillow writes, by the modes they can hold (libtiff refuses the others with
# "encoder error -2"); the lossless general ones hold every mode. The fax codecs hold only
# bilevel pixels, JPEG only 8-bit samples; sgilog, thunderscan and webp are not written.
_TIFF_ANY_MODE = frozenset(
    {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits", "lzma", "zstd"}
)
_TIFF_COMPRESSION_MODES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("group3", "group4", "tiff_ccitt"), frozenset({"1"})),
    **dict.fromkeys(("jpeg", "tiff_jpeg"), frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})),
}
_TIFF_FALLBACK_COMPRESSION = "tiff_adobe_deflate"


def _tiff_compression(image: Image.Image) -> str:
    """The compression to write ``image`` (adapted) as TIFF with: the input's (Pillow carries it
    in ``image.info``) where it can hold the output's mode, else lossless deflate (a G4 fax
    decoded to 8-bit grey, a JPEG-compressed TIFF turned 16-bit); none when the input had none.
    """
    kept = image.info.get("compression")
    if not isinstance(kept, str) or kept == "raw":  # BMP, for one, keeps a number there
        return "raw"
    if kept in _TIFF_ANY_MODE or image.mode in _TIFF_COMPRESSION_MODES.get(kept, ()):
        return kept
    return _TIFF_FALLBACK_COMPRESSION


_ICC_SPACE_OF_MODE = {
    "RGB": b"RGB ",
    "RGBA": b"RGB ",
    "P": b"RGB ",
    "L": b"GRAY",
    "LA": b"GRAY",
    "I;16": b"GRAY",
    "CMYK": b"CMYK",
}


# Outputs up to this many bytes of pixels are encoded in memory and written with one call
# (fewer system calls, and a failing encoder never creates a file); larger ones stream to disk
# so a huge output is not held twice.
ENCODE_IN_MEMORY_MAX_BYTES = 16 << 20


def save_image(
    image: Image.Image,
    path: StrPath,
    *,
    format: str,
    quality: int | None = None,
    png_compress_level: int = config.PNG_COMPRESS_LEVEL,
    optimize: bool = False,
    icc_profile: bytes | None = None,
    embed_icc: bool = True,
    metadata: Metadata | None = None,
    depth: str = "keep",
    fsync: bool = False,
    lossless: bool = False,
) -> tuple[int, int]:
    """Write ``image`` to ``path`` atomically as ``format`` (a Pillow format name); return the
    written file's ``(size, st_mtime_ns)``, as ``file_identity`` would give it.

    The image goes to ``.<name>.<random>.imgprep-tmp`` in the same folder, which is then
    renamed onto ``path``: readers and a ``kill -9`` only ever see a complete file or none.
    Missing parent folders are created. Any failure removes the temporary file and raises
    ``OutputError(f"{path}: {reason}")`` ("no space left on device", "read-only file system",
    "permission denied", "cannot encode the image (...)"); an existing ``path`` is untouched.

    Modes are adapted to what the format holds:

    ========  ===============================  ==================================================
    format    kept as is                       otherwise
    ========  ===============================  ==================================================
    JPEG      L, RGB, CMYK                     alpha composited over white (LA->L, RGBA/PA->RGB);
                                               I;16/I/F -> L by ``ops.to_depth``;
                                               1 -> L; P, YCbCr, LAB, HSV -> RGB
    PNG       1, L, LA, RGB, RGBA, P, I;16     I and F -> I;16 by ``ops.to_depth``;
                                               PA -> RGBA; CMYK, YCbCr, LAB, HSV -> RGB
    WEBP      RGB, RGBA                        grey -> RGB, grey+alpha -> RGBA; 16-bit scaled
    TIFF      1, L, LA, RGB, RGBA, CMYK, P,    PA -> RGBA; YCbCr, LAB, HSV -> RGB
              I;16, I, F
    BMP       1, L, P, RGB, RGBA               16-bit scaled to L; LA -> RGBA; others -> RGB
    GIF       L, P                             8-bit first, then Pillow quantizes to P
    PPM       1, L, RGB                        alpha composited over white; 16-bit scaled
    others    see ``_FORMAT_MODES``            8-bit grey or RGB, alpha kept where supported
    ========  ===============================  ==================================================

    ``depth`` (``--depth``) comes first: ``"8"`` makes deep grey (I;16, I, F) and 1 8-bit L,
    ``"16"`` makes grey I;16 in the formats that hold it (``SIXTEEN_BIT_FORMATS``; colour and
    alpha stay 8-bit), ``"keep"`` leaves the table above to decide.

    ``metadata`` (``--keep-metadata``) is written as ``_metadata.save_options`` says (JPEG,
    PNG, WebP, TIFF; other formats cannot carry it); without it the output has no EXIF or XMP.
    When the colours are converted to sRGB (below), its EXIF ColorSpace is set to sRGB.

    ICC: only the ``icc_profile`` argument counts (a profile in ``image.info`` is ignored). It
    is attached only when its colour space (header bytes 16..20) matches both the given and the
    saved mode (``RGB `` for RGB/RGBA/P, ``GRAY`` for L/LA/I;16, ``CMYK`` for CMYK); otherwise
    it is dropped (the grayscale output of an RGB-profiled photo carries no profile). For a
    format that cannot carry a profile at all (BMP, GIF, ...), RGB pixels are converted to sRGB
    with it. ``embed_icc=False`` (``--strip-icc``) does the same for every format: colours are
    converted to sRGB and no profile is stored, so the file looks right without one.

    ``lossless`` (WebP only) writes every pixel exactly, the colour under transparent pixels
    too; ``quality`` then sets the effort. AVIF is written where Pillow has its plugin
    (``check_format_available``), with ``quality`` as JPEG's.

    Encoder settings default to Pillow's own (``quality=None``: JPEG 75, WebP 80), except that
    PNG pixels are deflated by zlib-ng at ``png_compress_level`` (``png.save_png``; the default
    7 writes files the size of Pillow's level 6). TIFF keeps the input's compression (carried in
    ``image.info``) where it can hold the saved mode, and is deflated losslessly where it cannot
    (group3/group4 faxes hold only mode 1, JPEG only 8-bit samples). Images of up to
    ``ENCODE_IN_MEMORY_MAX_BYTES`` of pixels are encoded in memory first and written with one
    call; larger ones are streamed to the temporary file.
    """
    misfit_reason = misfit(format, metadata)
    if misfit_reason is not None:
        raise OutputError(f"{os.fspath(path)}: {misfit_reason}")
    adapted = _adapt_mode(image, format, depth)
    coloured, profile = _with_profile(image.mode, adapted, format, icc_profile, embed_icc)
    if coloured is not adapted:  # converted to sRGB: the EXIF must not say otherwise
        metadata = in_srgb(metadata)
    adapted = coloured
    options: dict[str, Any] = {}
    if quality is not None and format in ("JPEG", "WEBP", "AVIF"):
        options["quality"] = quality  # lossless WebP: the effort spent compressing
    if lossless:
        if format != "WEBP":
            raise UsageError(f"lossless applies to WEBP only, not {format}")
        # exact: keep the colour under transparent pixels too, every value as it was
        options.update(lossless=True, exact=True)
    if format == "PNG":
        options["compress_level"] = png_compress_level
    if optimize and format in ("JPEG", "PNG"):
        options["optimize"] = True
    if format == "TIFF":
        options["compression"] = _tiff_compression(adapted)
    # Always explicit: PNG and TIFF would otherwise fall back to image.info["icc_profile"],
    # and only the icc_profile argument decides (the pipeline passes None for --strip-icc).
    options["icc_profile"] = profile
    compressed = options.get("compression", "raw") != "raw"  # TIFF: through libtiff
    # nothing unless asked: no EXIF, no XMP
    options.update(save_options(format, metadata, tiff_compressed=compressed))

    def write(stream: IO[bytes]) -> None:
        if format == "PNG":
            save_png(adapted, stream, **options)
        else:
            adapted.save(stream, format=format, **options)

    pixel_bytes = adapted.width * adapted.height * len(adapted.getbands())
    if pixel_bytes > ENCODE_IN_MEMORY_MAX_BYTES:
        return write_atomic(path, write, fsync)
    encoded = io.BytesIO()
    try:
        write(encoded)
    except Exception as error:
        raise write_failure(path, error) from error
    return write_atomic(path, encoded.getbuffer(), fsync)


def _with_profile(
    given_mode: str,
    image: Image.Image,
    format_name: str,
    icc_profile: bytes | None,
    embed_icc: bool,
) -> tuple[Image.Image, bytes | None]:
    """The adapted ``image`` and the profile to store with it, as ``save_image`` describes:
    converted to sRGB where the profile cannot be stored, the profile where it matches."""
    if not icc_profile:
        return image, None
    space = icc_colour_space(icc_profile)
    if format_name not in _ICC_FORMATS or not embed_icc:
        if space == b"RGB " and image.mode in ("RGB", "RGBA"):
            converted = profile_to_srgb(image, icc_profile)
            if converted is not None:  # an unusable profile: keep the numbers as they are
                return converted, None
        return image, None
    if _ICC_SPACE_OF_MODE.get(given_mode) == _ICC_SPACE_OF_MODE.get(image.mode) == space:
        # the mode must match before and after adaptation: grey widened to RGB for WebP
        # holds grey values, not the RGB colours an RGB profile describes
        return image, icc_profile
    return image, None
