"""What can be wrong with an input's bytes, said in words a user can act on.

``structural_damage`` checks JPEG and PNG structure, which their decoders accept silently when
damaged. ``failure_reason`` turns an exception Pillow raised for one file into a short reason,
and ``warning_reason`` does the same for a warning Pillow emitted while decoding it. A reason
never carries Python's or Pillow's own wording (``bad operand type``, ``decoder error -2``,
``PngImagePlugin.MAX_TEXT_CHUNK``): known messages map to known reasons, anything else to
"corrupt <FORMAT> data". docs/reliability.md lists every reason with what to do about it.
"""

from __future__ import annotations

import contextlib
import re
import struct
import sys
import threading
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TextIO, cast

from PIL import Image

__all__ = [
    "BROKEN_EXIF",
    "NO_SIZE",
    "TRUNCATED",
    "bomb_reason",
    "failure_reason",
    "pillow_guarded",
    "pixel_limit",
    "structural_damage",
    "too_large_reason",
    "unsupported_reason",
    "warning_reason",
]

TRUNCATED = "truncated image data"
NO_SIZE = "image has no size (its width or height is 0)"
BROKEN_EXIF = "broken EXIF data dropped"


def too_large_reason(size: tuple[int, int], max_pixels: int) -> str:
    width, height = size
    return (
        f"image is {width}x{height} = {width * height:,} pixels, more than the"
        f" --max-pixels limit of {max_pixels:,}"
    )


def unsupported_reason(format_name: str, why: str = "") -> str:
    """A format Pillow identifies but cannot decode here (stubs, missing codecs)."""
    return f"unsupported format ({format_name}): {why or _UNSUPPORTED_WHY}"


_UNSUPPORTED_WHY = "Pillow recognises it but cannot decode it"

# Pillow's messages for data that ends too soon, in any plugin
_SHORT_DATA = re.compile(
    r"truncated|Expected to read \d+ bytes|not enough image data|Reached EOF|Incomplete header"
    r"|No data found for frame|requires a buffer|buffer is not large enough|Not enough data"
    r"|incomplete checksum|chunk b''\)|no more images in",
    re.IGNORECASE,
)
# Pillow's messages for a format it recognises but cannot decode in this installation
_UNSUPPORTED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Ghostscript"), "decoding it needs Ghostscript, which is not installed"),
    (re.compile(r"decoder \S+ not available|support not installed"), ""),
    (re.compile(r"cannot find loader"), ""),
)
# (Pillow's message, what the reason says about it); {format} is the file's format
_KNOWN_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"MAX_TEXT_CHUNK|Too much memory used in text chunks"),
        "PNG text chunks too large to read safely (over Pillow's limit for metadata)",
    ),
    (
        re.compile(r"tile size|tile cannot extend|tile dimensions|Invalid tile|tile extent", re.I),
        "corrupt {format} data (bad tile size)",
    ),
    (re.compile(r"Missing dimensions"), "corrupt {format} data (image size missing)"),
    (
        re.compile(r"not identified by this driver"),
        "corrupt {format} data (no image size or mode in its header)",
    ),
    (
        re.compile(r"negative seek value|Invalid (?:IFD|offset)", re.I),
        "corrupt {format} data (bad offset)",
    ),
    (
        re.compile(
            r"^(?:unsupported|unknown|unrecognized|invalid) .*?"
            r"(compression|pixel depth|bit depth|header type|header size|image mode|pixel mode"
            r"|mode|version)",
            re.IGNORECASE,
        ),
        "corrupt or unsupported {format} data (unknown {detail})",
    ),
    (
        re.compile(r"broken data stream|data stream contents|buffer overrun|decoding error|"
                   r"decoder error|could not create decoder|failed to read next frame"),
        "corrupt {format} data (damaged compressed data)",
    ),
)  # fmt: skip


def failure_reason(error: BaseException, format_name: str, *, header: bool = False) -> str:
    """The short reason for ``error``, raised by Pillow while reading a ``format_name`` file
    (``header``: while reading its header, before any pixel)."""
    message = str(error)
    if isinstance(error, EOFError) or _SHORT_DATA.search(message):
        return TRUNCATED
    for pattern, why in _UNSUPPORTED:
        if pattern.search(message):
            return unsupported_reason(format_name, why)
    for pattern, reason in _KNOWN_FAILURES:
        found = pattern.search(message)
        if found:
            detail = found.group(1).lower() if found.groups() else ""
            return reason.format(format=format_name, detail=detail)
    return f"corrupt {format_name} data" + (" (damaged header)" if header else "")


# (Pillow's warning, the short reason imgprep reports with the file)
_KNOWN_WARNINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"malformed MPO"), "damaged MPO index: read as a plain JPEG"),
    (
        re.compile(r"EXIF|Tag data larger than file|Tag offset too large|Metadata Warning"
                   r"|Truncated File Read"),
        "damaged EXIF or TIFF tags skipped",
    ),
    (re.compile(r"Invalid APNG"), "damaged APNG animation data: the still image is used"),
    (re.compile(r"not the expected size"), "icon is not the size its directory says"),
    (re.compile(r"allocate palette entry for transparency"), "transparency could not be kept"),
)  # fmt: skip


def warning_reason(message: str) -> str:
    """The short reason for a warning Pillow emitted while decoding a file."""
    for pattern, reason in _KNOWN_WARNINGS:
        if pattern.search(message):
            return reason
    first = message.strip().splitlines()[0] if message.strip() else "a warning without text"
    first = first.split(". ")[0].rstrip(".")
    return "Pillow: " + (first if len(first) <= 100 else first[:97] + "...")


# ------------------------------------------------------------------- Pillow's guards
#
# Pillow's pixel limit. ``_identify.open_header`` reads the header without ``Image.open``'s own
# check, and ``load_image`` checks the header's width x height against its ``max_pixels``
# before any pixel is decoded (and the decoded size after). But some plugins check pictures the
# header does not describe themselves, through Pillow's ``Image.MAX_IMAGE_PIXELS``: a GIF frame
# larger than its screen, an ICO's or ICNS's embedded PNG, an MPO's or DCX's other frames, TIFF
# tiles, a GIF's disposal box. ``pixel_limit`` sets that documented setting from imgprep's
# limit while imgprep decodes: Pillow raises ``DecompressionBombError`` above twice its value,
# so it is set to half of ``max_pixels`` (rounded up: Pillow never refuses what imgprep
# allows). The setting is process-wide, so while several calls (threads, or two runs with
# different limits) are inside, it follows the largest of their limits (none if one has none),
# and the value found before the first call is put back after the last. Pillow's check is the
# backstop that keeps such a picture from being allocated; ``load_image``'s own check of the
# decoded size applies each call's exact limit. Between half and all of the limit Pillow would
# warn (``DecompressionBombWarning``): an "ignore" filter for it sits first in
# ``warnings.filters`` while a limit is set, as the image is within imgprep's limit.
#
# Pillow's warnings ("Image appears to be a malformed MPO file", "Possibly corrupt EXIF data",
# "Truncated File Read", ...). ``warnings.catch_warnings`` swaps process-wide state and is not
# thread-safe in Python 3.11, so ``warnings.showwarning`` is replaced once: inside a call, a
# UserWarning or RuntimeWarning (what Pillow warns about files with) goes to that call's list;
# anything else, and everything outside a call, goes to the hook that was there before. For the
# same warning to reach every file, not only the first (Python shows a warning once per code
# location by default), two filters are added: "always" for UserWarning and RuntimeWarning
# raised in Pillow's modules (``PIL`` and ``PIL.*``), appended after every other filter. So
# they change only what Python's default "once per location" would have done with Pillow's
# warnings: filters the host program or ``-W`` set (ignore, error, ...) come first and win.
# Hook and filters are put back when something (``warnings.catch_warnings``, pytest) restored
# the originals.

_PILLOW_MODULES = r"PIL(\.|$)"
_FILE_WARNINGS = (UserWarning, RuntimeWarning)
_HOOK_LOCK = threading.Lock()
_LIMIT_LOCK = threading.Lock()
_BOMB_FILTER = ("ignore", None, Image.DecompressionBombWarning, None, 0)


class _Limits:
    """The pixel limits of the calls inside ``pixel_limit`` now, and what they replaced."""

    def __init__(self) -> None:
        self.active: Counter[int | None] = Counter()
        self.saved: int | None = None  # Image.MAX_IMAGE_PIXELS before the first call
        self.filter_added = False

    def pillow_value(self) -> int | None:
        if None in self.active:
            return None
        return (max(limit for limit in self.active if limit is not None) + 1) // 2


_LIMITS = _Limits()


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Inside: Pillow's own checks of pictures inside a file refuse more than about
    ``max_pixels`` (``Image.DecompressionBombError``), and do not warn below it."""
    limits = _LIMITS
    with _LIMIT_LOCK:
        if not limits.active:
            limits.saved = Image.MAX_IMAGE_PIXELS
            limits.filter_added = _BOMB_FILTER not in warnings.filters
            if limits.filter_added:
                warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        limits.active[max_pixels] += 1
        Image.MAX_IMAGE_PIXELS = limits.pillow_value()
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            limits.active[max_pixels] -= 1
            limits.active += Counter()  # drops the limits no call uses any more
            if limits.active:
                Image.MAX_IMAGE_PIXELS = limits.pillow_value()
            else:
                Image.MAX_IMAGE_PIXELS = limits.saved
                if limits.filter_added:
                    with contextlib.suppress(ValueError):  # gone if someone reset the filters
                        cast(list[object], warnings.filters).remove(_BOMB_FILTER)  # a list


_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")


def bomb_reason(error: Image.DecompressionBombError, max_pixels: int | None) -> str:
    """The reason for a picture inside a file that Pillow refused for its size."""
    found = _PILLOW_PIXELS.search(str(error))
    size = f" is {int(found.group(1)):,} pixels," if found else " is"
    limit = f"{max_pixels:,}" if max_pixels is not None else "imgprep's"
    return f"a picture inside the file{size} more than the --max-pixels limit of {limit}"


class _CallState(threading.local):
    """What the ``load_image`` call running in this thread set up (nothing outside one)."""

    caught: list[str] | None = None
    forwarding = False


_STATE = _CallState()
_forward: Callable[..., object] | None = None


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    caught = _STATE.caught
    if caught is not None and issubclass(category, _FILE_WARNINGS):
        caught.append(str(message))
        return
    forward = _forward
    if forward is None or _STATE.forwarding:  # a hook that calls back into this one
        (file or sys.stderr).write(
            warnings.formatwarning(message, category, filename, lineno, line)
        )
        return
    _STATE.forwarding = True
    try:
        forward(message, category, filename, lineno, file, line)
    finally:
        _STATE.forwarding = False


def _missing_pillow_filters() -> list[type[Warning]]:
    present = {
        entry[2]
        for entry in warnings.filters
        if entry[0] == "always" and entry[3] is not None and entry[3].pattern == _PILLOW_MODULES
    }
    return [category for category in _FILE_WARNINGS if category not in present]


def _install_warning_hook() -> None:
    if warnings.showwarning is _show_warning and not _missing_pillow_filters():
        return
    global _forward
    with _HOOK_LOCK:
        if warnings.showwarning is not _show_warning:
            _forward = warnings.showwarning
            warnings.showwarning = _show_warning
        for category in _missing_pillow_filters():
            warnings.filterwarnings(
                "always", category=category, module=_PILLOW_MODULES, append=True
            )


@contextlib.contextmanager
def pillow_guarded(max_pixels: int | None) -> Iterator[list[str]]:
    """Inside: Pillow's own pixel checks apply ``max_pixels`` (``pixel_limit``), and its file
    warnings are collected, in this thread, into the list given (their messages)."""
    _install_warning_hook()
    state = _STATE
    saved = state.caught
    caught: list[str] = []
    state.caught = caught
    try:
        with pixel_limit(max_pixels):
            yield caught
    finally:
        state.caught = saved


# ------------------------------------------------------------------- JPEG and PNG structure

# Inside JPEG entropy-coded data a 0xFF byte is followed by 0x00 (stuffing), 0xFF (fill) or a
# restart marker; any other byte after 0xFF is a marker and ends the scan.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff]")
# markers legal between the scans of a (progressive or multi-scan) JPEG
_JPEG_BETWEEN_SCANS = frozenset(
    {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)},
)


def _jpeg_headers_end(data: bytes) -> int | str:
    """Where the first scan's data starts, or a reason when the header segments are broken."""
    position = 2
    size = len(data)
    while True:
        position = data.find(b"\xff", position)
        while 0 <= position < size - 1 and data[position + 1] == 0xFF:
            position += 1
        if position < 0 or position + 4 > size:
            return TRUNCATED
        marker = data[position + 1]
        if marker == 0xD9:
            return "corrupt JPEG data (end of image before any scan)"
        (length,) = struct.unpack_from(">H", data, position + 2)
        position += 2 + length
        if marker == 0xDA:
            return int(position)


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
    position = _jpeg_headers_end(data)
    if isinstance(position, str):
        return position
    expected_restart = 0
    while True:
        match = _JPEG_MARKER.search(data, position)
        if match is None:
            return TRUNCATED
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
        if position + 2 > len(data):
            return TRUNCATED
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
            return TRUNCATED
        (stored_crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[position + 4 : end - 4]) != stored_crc:
            name = kind.decode("latin-1")
            return f"corrupt PNG data (CRC check failed in the {name} chunk)"
        if kind == b"IEND":
            return None
        position = end
    return TRUNCATED


def structural_damage(data: bytes, format_name: str) -> str | None:
    """A reason when a JPEG's (MPO's first picture's) or PNG's structure is broken."""
    if format_name in ("JPEG", "MPO"):
        return _jpeg_damage(data)
    if format_name == "PNG":
        return _png_damage(data)
    return None
