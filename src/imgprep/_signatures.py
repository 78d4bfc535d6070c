"""Which files are images: the extensions and leading bytes of the formats Pillow reads.

Standard library only: discovery (``_discover``) uses it to find inputs without importing
Pillow's plugins, and decoding (``_decode``) to tell a damaged image from a file that is no
image at all.
"""

from __future__ import annotations

import re
import struct

__all__ = ["IMAGE_EXTENSIONS", "SIGNATURE_BYTES", "has_image_signature"]

# What Pillow 13 opens: Image.registered_extensions() of the formats it reads (those in
# Image.OPEN, and MPO, which Pillow opens through its JPEG plugin), spelled out so that finding
# inputs needs no plugin import; tests/test_discover.py checks it against the installed Pillow.
# A file with another extension, or none, is still found by its first bytes (_SIGNATURES).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    """
    .apng .avif .avifs .blp .bmp .bufr .bw .cur .dcx .dds .dib .emf .eps .fit .fits .flc .fli
    .ftc .ftu .gbr .gif .grib .h5 .hdf .icb .icns .ico .iim .im .j2c .j2k .jfif .jp2 .jpc .jpe
    .jpeg .jpf .jpg .jpx .mpeg .mpg .mpo .msp .pbm .pcd .pcx .pfm .pgm .png .pnm .ppm .ps .psd
    .pxr .qoi .ras .rgb .rgba .sgi .tga .tif .tiff .vda .vst .webp .wmf .xbm .xpm
    """.split()
)
"""Extensions (lower-case, with the dot) of the formats Pillow can open."""

SIGNATURE_BYTES = 96
"""How many leading bytes ``has_image_signature`` looks at (SPIDER's header needs 92)."""

# Leading bytes of the formats Pillow decodes that are worth finding in files without an image
# extension: only signatures precise enough that a text or data file does not match by chance
# (TGA has none; XBM is C source; EPS needs Ghostscript; WMF, HDF5, BUFR, GRIB and MPEG are
# stubs Pillow cannot decode). Two-byte magics get the header fields after them checked too.
_SIGNATURES: tuple[bytes, ...] = (
    b"\xff\xd8\xff",  # JPEG, MPO
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"II+\x00",  # BigTIFF
    b"MM\x00+",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 (JP2 container)
    b"\xff\x4f\xff\x51",  # JPEG 2000 codestream
    b"qoif",
    b"8BPS\x00\x01",  # Photoshop (PSD, version 1)
    b"icns",
    b"DDS \x7c\x00\x00\x00",  # DirectDraw Surface, with its 124-byte header
    b"BLP1",
    b"BLP2",
    b"FTEX",
    b"DanM",  # Windows MSP
    b"LinS",
    b"\x59\xa6\x6a\x95",  # Sun raster
    b"\xb1\x68\xde\x3a",  # DCX
    b"\x80\xe8\x00\x00",  # Pixar
    b"/* XPM */",
    b"P7 332",  # XV thumbnail
    b"SIMPLE  =",  # FITS
    b"Image type: ",  # IM, as Pillow writes it
)
_STRUCTURED_SIGNATURES = re.compile(
    rb"BM.{4}.{4}.{4}[\x0c\x10\x28\x34\x38\x40\x6c\x7c]\x00\x00\x00"  # BMP: DIB header size
    rb"|\x00\x00\x01\x00[^\x00]\x00...\x00[\x00\x01]\x00"  # ICO: count, entry, planes
    rb"|\x00\x00\x02\x00[^\x00]\x00...\x00"  # CUR: count, an entry's reserved byte
    rb"|\x0a[\x00\x02-\x05]\x01[\x01\x02\x04\x08]"  # PCX: version, RLE, bits per pixel
    rb"|\x01\xda[\x00\x01][\x01\x02]\x00[\x01-\x03]"  # SGI: storage, bytes, dimensions
    rb"|P[1-6Ff][ \t\r\n]+(?:#|[0-9])"  # PBM, PGM, PPM, PFM: magic, then a comment or size
    rb"|.{4}ftyp(?:avif|avis)"  # AVIF
    rb"|.{20}GIMP",  # GIMP brush, version 2
    re.DOTALL,
)


def _is_spider(head: bytes) -> bool:
    """Whether ``head`` is a SPIDER 2D image header (no magic: its float fields must hold
    whole numbers, iform 1, and a header length equal to records x record length)."""
    if len(head) < 92:
        return False
    for order in ">", "<":
        fields = (0.0, *struct.unpack(order + "23f", head[:92]))
        if not all(fields[i].is_integer() for i in (1, 2, 5, 12, 13, 22, 23)):
            continue
        rows, iform, columns = fields[2], fields[5], fields[12]
        records, header_bytes, record_bytes = fields[13], fields[22], fields[23]
        sized = iform == 1 and rows >= 1 and columns >= 1 and 0 < header_bytes < 1 << 20
        if sized and header_bytes == records * record_bytes == records * columns * 4:
            return True
    return False


def has_image_signature(head: bytes) -> bool:
    """Whether ``head`` (a file's first ``SIGNATURE_BYTES``) starts like an image Pillow
    decodes, by a signature precise enough not to match text or other data by chance."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return True
    if head.startswith(_SIGNATURES) or _STRUCTURED_SIGNATURES.match(head):
        return True
    return _is_spider(head)
