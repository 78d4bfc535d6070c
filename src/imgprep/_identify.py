"""Which format a file is: its header read by the plugin Pillow would pick, without
``Image.open``'s process-wide pixel guard, and the reason when no plugin takes it.

``open_header`` asks each registered format plugin in Pillow's own order (the common five
first, the other ~40 loaded on the first file that needs them). A file no plugin opens is
``NotOpened`` with a reason a user can act on: a damaged file of the format whose signature it
carries, a format Pillow recognises but cannot decode here, or no image at all (HTML, text).
Stub formats (WMF, HDF5, BUFR, GRIB, MPEG) only identify a file; ``load_stub`` decodes one
through a handler the host program registered, or says the format is unsupported.
"""

from __future__ import annotations

import io
import struct
import threading

from PIL import Image, ImageFile

from imgprep._damage import failure_reason, unsupported_reason
from imgprep._fs import StrPath
from imgprep._signatures import SIGNATURE_BYTES, has_image_signature
from imgprep.errors import InputError

__all__ = ["NotOpened", "is_stub", "load_stub", "open_header"]

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


class NotOpened(Exception):
    """No plugin opened the data; ``reason`` says why, as ``_header_reason`` words it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_stub(format_name: str) -> bool:
    """Whether Pillow's plugin for ``format_name`` only identifies it (WMF, HDF5, BUFR, GRIB,
    MPEG): decoding the pixels needs a handler the host program may register (the plugin's
    public ``register_handler``); ``load_stub`` finds out whether one is there."""
    if format_name == "MPEG":  # reads the size from the header, never the pixels
        return True
    factory = Image.OPEN.get(format_name, (None, None))[0]
    return isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)


def load_stub(path: StrPath, image: ImageFile.ImageFile) -> ImageFile.ImageFile:
    """A stub image decoded by the handler registered for its format, or ``InputError``
    "unsupported format" when there is none (Pillow's stub then fails to load at once)."""
    format_name = image.format or "image"
    if format_name == "MPEG":
        raise InputError(path, unsupported_reason(format_name))
    try:
        image.load()  # with a handler, the image becomes the handler's (Pillow's design)
    except (MemoryError, RecursionError, Image.DecompressionBombError):
        raise
    except Exception as error:  # no handler: "cannot find loader"; else the handler's error
        raise InputError(path, failure_reason(error, format_name)) from error
    return image


# The exceptions Image.open treats as "not this format", from a plugin's check or its opener.
_NOT_THIS_FORMAT = (SyntaxError, IndexError, TypeError, struct.error)


def open_header(data: bytes) -> ImageFile.ImageFile:
    """Identify ``data`` and read its header, like ``Image.open`` minus its global pixel guard.

    ``Image.open`` checks ``Image.MAX_IMAGE_PIXELS`` (a process-wide setting) and warns or
    raises before the caller sees the size; imgprep applies its own per-call ``max_pixels``
    instead, so it asks each registered format plugin directly, in Pillow's own order. Raises
    ``NotOpened`` when no plugin opens the data.
    """
    prefix = data[:16]
    stream = io.BytesIO(data)
    tried: set[str] = set()
    recognised: list[tuple[str, BaseException | None]] = []  # accepted by its signature
    for load_more in (False, True):  # the common formats first, then every plugin
        if load_more:
            _load_all_plugins()
        for format_name in list(Image.ID):
            if format_name in tried:
                continue
            tried.add(format_name)
            factory, accept = Image.OPEN[format_name]
            if accept is not None:
                try:
                    verdict = accept(prefix)
                except _NOT_THIS_FORMAT:  # e.g. DIB's check unpacks 4 bytes of a 3-byte file
                    continue
                if not verdict:
                    continue
                if isinstance(verdict, str):  # recognised, but this Pillow lacks the codec
                    recognised.append((format_name, None))
                    continue
            stream.seek(0)
            try:
                return factory(stream, "")
            except _NOT_THIS_FORMAT as error:
                if accept is not None:
                    recognised.append((format_name, error))
            except (Image.DecompressionBombError, MemoryError, RecursionError):
                raise
            except Exception as error:  # Image.open gives up here: the format is this one...
                if accept is None or is_stub(format_name) or not _loosely_taken(data):
                    raise NotOpened(_header_reason(format_name, error, header=True)) from error
                recognised.append((format_name, error))  # ...unless text passed a loose check
    cause = next((error for _, error in recognised if error is not None), None)
    raise NotOpened(_unopened_reason(data, recognised)) from cause


def _header_reason(format_name: str, error: BaseException | None, *, header: bool) -> str:
    if error is None or is_stub(format_name):
        return unsupported_reason(format_name)
    return failure_reason(error, format_name, header=header)


def _unopened_reason(data: bytes, recognised: list[tuple[str, BaseException | None]]) -> str:
    """Why no plugin opened ``data``: the format whose signature it carries is damaged (or not
    decodable here), or it is no image at all. A signature counts only when discovery would
    also take the file for an image by it: Pillow's own signature checks are loose (two bytes
    for BMP or PCX), and text starting "BM" is no damaged bitmap."""
    if recognised:
        format_name, error = recognised[0]
        if error is None:
            return unsupported_reason(format_name)
        if has_image_signature(data[:SIGNATURE_BYTES]):
            return failure_reason(error, format_name, header=True)
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not an image Pillow can read (looks like HTML)"
    if _is_text(data):
        return "not an image Pillow can read (looks like text)"
    return "not an image Pillow can read"


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _loosely_taken(data: bytes) -> bool:
    """Whether ``data`` is text that a plugin took for its format by a loose check ("BM" for
    BMP): its failure then says nothing about a damaged image."""
    return not has_image_signature(data[:SIGNATURE_BYTES]) and _is_text(data)
