"""Which format and extension each output gets: tables of names, without Pillow.

Planning names every output before anything is opened, and a run with nothing to do (a cron
re-run, a dry run) never decodes or encodes: this module lets them name outputs and check
``--format``, ``--name`` and ``--depth`` without importing Pillow, a fifth of such a run's
start-up. ``_encode``, which writes the files, adapts modes to these formats.
"""

from __future__ import annotations

from imgprep._signatures import IMAGE_EXTENSIONS
from imgprep.errors import UsageError

__all__ = [
    "DEPTHS",
    "OUTPUT_FORMATS",
    "SIXTEEN_BIT_FORMATS",
    "check_format_available",
    "format_of_suffix",
    "output_format",
]

OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "png"),
    "jpeg": ("JPEG", "jpg"),
    "webp": ("WEBP", "webp"),
    "tiff": ("TIFF", "tif"),
    "avif": ("AVIF", "avif"),
}
"""``--format`` names -> (Pillow format, output extension without dot)."""

# --format names whose encoder is a plugin Pillow may be built without: its features name
_PLUGIN_FEATURES = {"webp": "webp", "avif": "avif"}


def check_format_available(format_name: str) -> None:
    """Raise ``UsageError`` naming the reason when the installed Pillow cannot write the
    ``--format`` ``format_name`` (AVIF and WebP are optional plugins of Pillow's build)."""
    feature = _PLUGIN_FEATURES.get(format_name)
    if feature is None:
        return
    from PIL import features

    if not features.check_module(feature):
        version = features.version("pil")
        raise UsageError(
            f"--format {format_name}: the installed Pillow {version} was built without "
            f"{format_name.upper()} support (PIL.features.check_module({feature!r}) is False); "
            f"install a Pillow wheel with it, or choose another --format"
        )


# The Pillow format of each extension that --format same may keep (see _SAME_FORMATS).
_SUFFIX_FORMATS: dict[str, str] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif"), "JPEG"),
    **dict.fromkeys((".png", ".apng"), "PNG"),
    **dict.fromkeys((".tif", ".tiff"), "TIFF"),
    **dict.fromkeys((".jp2", ".j2k", ".jpc", ".jpf", ".jpx", ".j2c"), "JPEG2000"),
    **dict.fromkeys((".bmp", ".dib"), "BMP"),
    **dict.fromkeys((".ppm", ".pbm", ".pgm", ".pnm"), "PPM"),
    ".webp": "WEBP",
    ".gif": "GIF",
    ".tga": "TGA",
    ".qoi": "QOI",
    ".avif": "AVIF",
}


def format_of_suffix(suffix: str) -> str:
    """The Pillow format an input named ``*suffix`` is taken to have ("" when unknown), for
    planning ``--format same`` before any file is opened."""
    return _SUFFIX_FORMATS.get(suffix.lower(), "")


# formats "same" keeps: Pillow writes them well (its SAVE table also lists stubs and
# special-purpose writers such as PDF, ICO or HDF5, which become PNG)
_SAME_FORMATS = frozenset(
    {"PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP", "PPM", "TGA", "JPEG2000", "QOI", "AVIF"}
)  # AVIF: an AVIF input was read, so this Pillow has the plugin that writes it
_DEFAULT_EXTENSIONS = {
    "GIF": "gif",
    "BMP": "bmp",
    "PPM": "ppm",
    "TGA": "tga",
    "JPEG2000": "jp2",
    "QOI": "qoi",
}


def output_format(input_format: str, input_suffix: str) -> tuple[str, str]:
    """(Pillow format, extension without dot) of the ``--format same`` output of an input in
    ``input_format`` named ``*input_suffix``; the other ``--format`` names map through
    ``OUTPUT_FORMATS`` whatever the input.

    The input's format is kept with its own suffix lower-cased (``photo.JPG`` -> ``"jpg"``);
    without a suffix (or with one that is no image extension) it gets the format's usual
    extension. A format imgprep does not write becomes PNG; ``MPO`` (camera JPEGs with extra
    pictures) is written as JPEG.
    """
    format_name = "JPEG" if input_format == "MPO" else input_format
    if format_name not in _SAME_FORMATS:
        return OUTPUT_FORMATS["png"]
    suffix = input_suffix.lower().lstrip(".")
    if suffix and "." + suffix in IMAGE_EXTENSIONS:
        return format_name, suffix
    for pillow_format, extension in OUTPUT_FORMATS.values():
        if pillow_format == format_name:
            return pillow_format, extension
    return format_name, _DEFAULT_EXTENSIONS.get(format_name, format_name.lower())


DEPTHS = ("8", "16", "keep")
"""``--depth`` choices: 8 or 16 bits a sample, or each image's own where the format holds it."""

SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF", "JPEG2000"})
"""The Pillow formats imgprep writes 16-bit grey in (``_encode``'s mode table agrees)."""
