"""EXIF and XMP kept from an input for ``--keep-metadata``: read once decoded, written per format.

By default imgprep writes no EXIF and no XMP (ICC profiles are ``_encode``'s business and do
not depend on this). With ``--keep-metadata``, ``read_metadata`` takes the decoded input's
blocks, and ``save_options`` says how Pillow writes them in each output format:

======  ==============================  ===========================================
format  EXIF                            XMP
======  ==============================  ===========================================
JPEG    APP1 ``Exif`` segment           APP1 XMP segment
PNG     ``eXIf`` chunk                  ``iTXt`` chunk ``XML:com.adobe.xmp``
WebP    ``EXIF`` chunk                  ``XMP`` chunk
TIFF    tags of the first IFD, with     tag 700 (``XMLPacket``)
        its Exif and GPS sub-IFDs (not
        in a compressed TIFF: see
        ``save_options``)
others  not written (Pillow cannot)     not written
======  ==============================  ===========================================

What is kept of the EXIF block is what still describes the output: the camera, dates, GPS and
other descriptive tags, with Orientation set to 1 (the pixels are already upright). Tags that
describe how the input stored its pixels (width, strips, compression, a TIFF input's sample
format...) and the pixel dimensions of the Exif sub-IFD are dropped: they describe the input,
not the output. The thumbnail (the second IFD) is not written: it shows the input, unturned
and uncropped. An orientation in the XMP packet is set to 1 too. A block Pillow cannot read
or write back was already dropped, with a warning, when the input was decoded; it stays
dropped. Pillow only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

__all__ = [
    "METADATA_FORMATS",
    "Metadata",
    "in_srgb",
    "misfit",
    "read_metadata",
    "save_options",
]

METADATA_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
"""The Pillow formats imgprep writes EXIF and XMP into (``--format same`` may write others,
which carry neither)."""

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_XMP_TAG = 700
# The first IFD's tags that describe how the input stored its pixels (TIFF baseline and
# extension tags): a camera JPEG's EXIF has few of them, a TIFF input's "EXIF" is its whole
# first IFD. They are the output encoder's to write. ICC (34675) and XMP (700) travel apart;
# IPTC (33723) and Photoshop (34377) blocks are not kept.
_STORAGE_TAGS = frozenset(
    {
        *range(254, 270),  # subfile type, width, length, bits, compression, photometric, ...
        *range(273, 274),  # StripOffsets
        *range(277, 282),  # SamplesPerPixel, RowsPerStrip, StripByteCounts, Min/MaxSampleValue
        284,  # PlanarConfiguration (the resolution tags 282, 283 and 296 are kept)
        *range(286, 294),  # X/YPosition, FreeOffsets, FreeByteCounts, GrayResponse, T4/T6
        301,  # TransferFunction
        317,  # Predictor
        *range(320, 326),  # ColorMap, HalftoneHints, tiles
        330,  # SubIFDs
        332,  # InkSet
        *range(338, 348),  # ExtraSamples, SampleFormat, S(Min|Max)SampleValue, ..., JPEGTables
        *range(512, 533),  # old-style JPEG, YCbCr coefficients, subsampling, positioning, refs
        _XMP_TAG,
        33723,  # IPTC
        34377,  # Photoshop
        34675,  # ICC profile
    }
)
_INTEROP_IFD = 0xA005  # inside the Exif IFD
_SUB_IFDS = frozenset({_EXIF_IFD, 0x8825, _INTEROP_IFD})  # Exif, GPS, Interoperability
_PIXEL_DIMENSIONS = (0xA002, 0xA003)
# tiff:Orientation="6" (an attribute) or <tiff:Orientation>6</tiff:Orientation> (an element)
_XMP_ORIENTATION = re.compile(
    rb'(tiff:Orientation="|<tiff:Orientation>)[0-9](</tiff:Orientation>|")'
)  # PixelXDimension, PixelYDimension in the Exif IFD


@dataclass(frozen=True)
class Metadata:
    """An input's EXIF block (TIFF-structured bytes as Pillow writes them, Orientation 1) and
    XMP packet, each ``None`` when the input had none (or a broken one)."""

    exif: bytes | None = None
    xmp: bytes | None = None


def read_metadata(opened: Image.Image, upright: Image.Image) -> tuple[Metadata, bool]:
    """The metadata to keep of an input: EXIF from the file's parsed block (``opened``, which
    ``_decode`` has read the orientation from), XMP from the upright image (Pillow removes its
    turning orientation while it turns the pixels). Returns it and whether the EXIF block had
    to be dropped because Pillow cannot write it back. Call it only for an input whose EXIF
    block was not already dropped as broken."""
    xmp = upright.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    # Pillow removes an XMP orientation only when it turned the pixels by it; one that
    # disagrees with the EXIF (or outlives a dropped EXIF) would turn the output in a viewer
    kept_xmp = _XMP_ORIENTATION.sub(rb"\g<1>1\g<2>", xmp) if isinstance(xmp, bytes) else b""
    exif = _descriptive_copy(opened.getexif())  # cached while decoding, minus its orientation
    if not exif:
        return Metadata(None, kept_xmp or None), False
    exif[_ORIENTATION] = 1
    try:
        block = exif.tobytes()
    except Exception:  # a tag of a type Pillow cannot write (a number given as text, say)
        return Metadata(None, kept_xmp or None), True
    return Metadata(block, kept_xmp or None), False


def _descriptive_copy(read: Image.Exif) -> Image.Exif:
    """The tags of ``read`` that describe the picture, in a new ``Exif`` (the decoded image's
    own stays as decoding left it); sub-IFDs as dictionaries, which ``tobytes`` writes."""
    exif = Image.Exif()
    for tag in sorted(set(read) - _STORAGE_TAGS):
        exif[tag] = dict(read.get_ifd(tag)) if tag in _SUB_IFDS else read[tag]
    sub_ifd = exif.get(_EXIF_IFD)
    if isinstance(sub_ifd, dict):
        for tag in _PIXEL_DIMENSIONS:
            sub_ifd.pop(tag, None)
        if _INTEROP_IFD in sub_ifd:  # an offset into the old block: its tags instead
            sub_ifd[_INTEROP_IFD] = dict(read.get_ifd(_INTEROP_IFD))
    return exif


_COLOR_SPACE = 0xA001  # in the Exif IFD: 1 sRGB, 65535 uncalibrated (what Adobe RGB cameras say)


def in_srgb(metadata: Metadata | None) -> Metadata | None:
    """``metadata`` for pixels converted to sRGB (``--strip-icc``, or a format without room for
    a profile): its EXIF ColorSpace says sRGB (1), or a viewer that reads it would take the
    converted colours for the camera's Adobe RGB. The XMP is left as it is."""
    if metadata is None or metadata.exif is None:
        return metadata
    exif = Image.Exif()
    exif.load(metadata.exif)
    if _EXIF_IFD not in exif or exif.get_ifd(_EXIF_IFD).get(_COLOR_SPACE, 1) == 1:
        return metadata
    exif.get_ifd(_EXIF_IFD)[_COLOR_SPACE] = 1
    return Metadata(exif.tobytes(), metadata.xmp)


def save_options(
    format_name: str, metadata: Metadata | None, *, tiff_compressed: bool = False
) -> dict[str, Any]:
    """The options of Pillow's ``save`` that write ``metadata`` as ``format_name`` (see the
    module's table); none for a format that cannot carry it.

    ``tiff_compressed``: the TIFF is written compressed, by libtiff, which Pillow cannot hand
    sub-IFDs (it fails the whole file): only the first IFD's tags are written then (camera,
    DateTime, ...), without the Exif and GPS sub-IFDs (DateTimeOriginal, exposure, position).
    """
    if metadata is None or format_name not in METADATA_FORMATS:
        return {}
    exif, xmp = metadata.exif, metadata.xmp
    options: dict[str, Any] = {}
    if format_name == "TIFF":
        # TIFF has no EXIF block: its tags join the first IFD, and Pillow takes them, with the
        # XMP packet, from one Exif object (tiffinfo would replace it, not add to it)
        if exif is None and xmp is None:
            return {}
        tags = Image.Exif()
        if exif is not None:
            tags.load(exif)
        if tiff_compressed:
            for tag in _SUB_IFDS.intersection(tags):
                del tags[tag]
        if xmp is not None:
            tags[_XMP_TAG] = xmp
        return {"exif": tags}
    if exif is not None:
        options["exif"] = exif
    if xmp is not None:
        if format_name == "PNG":
            from PIL import PngImagePlugin

            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
            options["pnginfo"] = info
        else:
            options["xmp"] = xmp
    return options


# A JPEG marker segment holds 65,533 bytes; XMP's namespace header takes 29 of them.
_JPEG_MAX_EXIF = 65533
_JPEG_MAX_XMP = 65533 - len(b"http://ns.adobe.com/xap/1.0/\0")


def misfit(format_name: str, metadata: Metadata | None) -> str | None:
    """Why ``metadata`` cannot be written as ``format_name`` (a JPEG marker segment holds
    64 KiB: a PNG's or TIFF's EXIF may be larger), or ``None`` when it fits."""
    if metadata is None or format_name != "JPEG":
        return None
    advice = "write PNG, WebP or TIFF, or leave out --keep-metadata"
    for name, block, limit in (
        ("EXIF block", metadata.exif, _JPEG_MAX_EXIF),
        ("XMP packet", metadata.xmp, _JPEG_MAX_XMP),
    ):
        if block is not None and len(block) > limit:
            return (
                f"the input's {name} ({len(block):,} bytes) is larger than a JPEG can hold "
                f"({limit:,} bytes): {advice}"
            )
    return None
