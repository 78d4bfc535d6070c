"""Mode and colour rules shared by decoding (``_decode``) and encoding (``_encode``).

``standard_mode`` brings any Pillow mode to one imgprep's operations handle;
``profile_to_srgb`` converts pixels described by an ICC profile to sRGB. Pillow only.
"""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["STANDARD_MODES", "icc_colour_space", "profile_to_srgb", "standard_mode", "to_i16"]

STANDARD_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I", "F"})
"""The modes imgprep works in: 8-bit grey or colour with or without alpha, 16-bit grey,
32-bit integer and float grey."""


def standard_mode(image: Image.Image) -> Image.Image:
    """``image`` in one of ``STANDARD_MODES``, keeping grey as grey and alpha as alpha.

    P and PA become RGBA when they carry transparency, else RGB; 1 becomes L; the 16-bit
    variants (I;16B, I;16L, I;16N) become I;16; premultiplied La and RGBa become LA and RGBA;
    anything else (CMYK by the plain formula, YCbCr, LAB, HSV, RGBX) becomes RGB.
    """
    mode = image.mode
    if mode in STANDARD_MODES:
        return image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        return to_i16(image)
    if mode == "La":
        return image.convert("LA")  # Pillow converts La only to LA
    if mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGB")


def to_i16(image: Image.Image) -> Image.Image:
    """A 16-bit grey image (I;16, I;16B, I;16L, I;16N) as I;16, values kept exactly.

    Pillow converts the byte-order variants to I;16 through 8-bit L, clipping every value above
    255 (Pillow 13: big-endian 0, 20000, 40000, 60000 become 0, 255, 255, 255); through 32-bit
    I the values stay as they are.
    """
    if image.mode == "I;16":
        return image
    return image.convert("I").convert("I;16")


def icc_colour_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (header bytes 16..20), e.g. ``b"RGB "``."""
    return profile[16:20]


def profile_to_srgb(
    image: Image.Image, profile: bytes, output_mode: str | None = None
) -> Image.Image | None:
    """``image``'s pixels, described by ICC ``profile``, converted to sRGB (in ``output_mode``,
    by default the image's own); ``None`` when the profile is unusable."""
    from PIL import ImageCms  # here: few runs convert colour, and it costs 2 ms of start-up

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
