"""All of imgprep's file I/O: finding inputs, loading images, writing outputs atomically.

Nothing else in imgprep opens a file. Every failure about one input is raised as
``InputError(path, reason)`` with a short human reason; every failure about one output as
``OutputError``. No other exception type escapes for a bad file (``MemoryError`` and
``KeyboardInterrupt`` aside), so the pipeline can report it and go on.

Thread safety: ``load_image`` and ``save_image`` run in several threads at once. They never
change Pillow's module globals (``ImageFile.LOAD_TRUNCATED_IMAGES``, ``Image.MAX_IMAGE_PIXELS``):
the pixel limit is checked here per call, before decoding, and truncated JPEGs are recovered
per call by closing the data stream (see ``load_image``).
"""

from __future__ import annotations

import array
import contextlib
import errno
import glob
import hashlib
import io
import itertools
import os
import re
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any, TypeAlias, overload

from PIL import Image, ImageFile, ImageOps

from imgprep import config
from imgprep.errors import ImageTooLargeError, InputError, OutputError, UsageError
from imgprep.ops import auto_orient
from imgprep.png import save_png

#: A path as text or a path object; the per-image code passes text (no Path objects made).
StrPath: TypeAlias = str | os.PathLike[str]

__all__ = [
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "TEMP_SUFFIX",
    "DecodeHint",
    "InputFile",
    "InputList",
    "LineLog",
    "LoadedImage",
    "append_line",
    "file_digest",
    "file_identity",
    "find_inputs",
    "format_of_suffix",
    "iter_inputs",
    "load_image",
    "output_format",
    "read_path_list",
    "read_text",
    "remove_stale_temp_files",
    "save_image",
    "write_text_atomic",
]

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


# What Pillow 13 opens (Image.registered_extensions() of the formats in Image.OPEN), spelled out
# so that finding inputs needs no plugin import; tests/test_files.py checks it against the
# installed Pillow. A file with another extension is still found by its first bytes.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    """
    .apng .avif .avifs .blp .bmp .bufr .bw .cur .dcx .dds .dib .emf .eps .fit .fits .flc .fli
    .ftc .ftu .gbr .gif .grib .h5 .hdf .icb .icns .ico .iim .im .j2c .j2k .jfif .jp2 .jpc .jpe
    .jpeg .jpf .jpg .jpx .mpeg .mpg .msp .pbm .pcd .pcx .pfm .pgm .png .pnm .ppm .ps .psd .pxr
    .qoi .ras .rgb .rgba .sgi .tga .tif .tiff .vda .vst .webp .wmf .xbm .xpm
    """.split()
)
"""Extensions (lower-case, with the dot) of the formats Pillow can open."""

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
}


def format_of_suffix(suffix: str) -> str:
    """The Pillow format an input named ``*suffix`` is taken to have ("" when unknown), for
    planning ``--format same`` before any file is opened."""
    return _SUFFIX_FORMATS.get(suffix.lower(), "")


TEMP_SUFFIX = ".imgprep-tmp"
"""Every temporary file imgprep writes is named ``.<target name>.<random>`` + this suffix."""

# Leading bytes of the formats worth finding in files that carry no image extension.
_SIGNATURES: tuple[bytes, ...] = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"BM",  # BMP
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 (JP2 container)
    b"\xff\x4f\xff\x51",  # JPEG 2000 codestream
    b"qoif",
)


def _has_image_signature(head: bytes) -> bool:
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return True
    return head.startswith(_SIGNATURES)


# --------------------------------------------------------------------------------------------
# Finding inputs


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input as discovery found it.

    ``relative`` is where the output goes below the output folder: the path relative to the
    folder it was found in (a file named directly: just its name). It is never absolute and
    never contains ``..``. ``problem`` is set when discovery already knows the entry is
    unusable; the pipeline reports it as failed.
    """

    path: Path
    relative: PurePath
    problem: str | None = None


def _reason_for_os_error(error: OSError, path: StrPath) -> str:
    """A short reason for a failed file-system call, e.g. ``"permission denied"``."""
    if error.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link"
    reasons = {
        errno.ENOENT: "no such file or directory",
        errno.EISDIR: "is a directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "symbolic link loop",
        errno.ENOTDIR: "a parent of the path is not a directory",
        errno.ENOSPC: "no space left on device",
        errno.EROFS: "read-only file system",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENAMETOOLONG: "file name too long",
    }
    if error.errno in reasons:
        return reasons[error.errno]
    return (error.strerror or str(error)).lower()


def _sniff(path: Path) -> bool:
    """Whether a file without an image extension starts like an image."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return _has_image_signature(os.read(fd, 16))
    except OSError:
        return False
    finally:
        os.close(fd)


def _has_magic(text: str) -> bool:
    """Whether ``text`` is a glob pattern (the characters ``glob`` treats specially)."""
    return any(character in text for character in "*?[")


class _Finder:
    """State of one ``find_inputs`` call: what was already listed, for de-duplication."""

    def __init__(self, recursive: bool) -> None:
        self.recursive = recursive
        self.seen_files: set[int] = set()  # (st_dev << 64) | st_ino: one int, not a tuple
        self.walked_dirs: set[tuple[int, int]] = set()

    def file(
        self, path: Path, relative: PurePath, info: os.stat_result | None = None
    ) -> Iterator[InputFile]:
        """A regular file found (or named); listed once per real file. ``info``: its stat,
        when the caller has it already."""
        if info is None:
            try:
                info = path.stat()
            except OSError as error:
                yield InputFile(path, relative, _reason_for_os_error(error, path))
                return
        if stat.S_ISDIR(info.st_mode):
            yield InputFile(path, relative, "is a directory")
            return
        if not stat.S_ISREG(info.st_mode):
            yield InputFile(path, relative, "not a regular file")
            return
        key = (info.st_dev << 64) | info.st_ino
        if key in self.seen_files:
            return
        self.seen_files.add(key)
        yield InputFile(path, relative)

    def entry(
        self, path: Path, relative: PurePath, ancestors: tuple[tuple[int, int], ...]
    ) -> Iterator[InputFile]:
        """One directory entry (or glob match): an input, a folder to walk, or nothing."""
        name = path.name
        if name.endswith(TEMP_SUFFIX):  # a temporary file of a run that was killed
            return
        has_image_extension = path.suffix.lower() in IMAGE_EXTENSIONS
        try:
            info = path.stat()
        except OSError as error:
            if has_image_extension or error.errno == errno.ELOOP:
                yield InputFile(path, relative, _reason_for_os_error(error, path))
            return
        if stat.S_ISDIR(info.st_mode):
            if self.recursive:
                yield from self.walk(path, relative, ancestors, info)
            elif has_image_extension:
                yield InputFile(path, relative, "is a directory")
            return
        if has_image_extension or (stat.S_ISREG(info.st_mode) and _sniff(path)):
            yield from self.file(path, relative, info)

    def walk(
        self,
        folder: Path,
        relative: PurePath,
        ancestors: tuple[tuple[int, int], ...],
        info: os.stat_result,
    ) -> Iterator[InputFile]:
        """The entries of a folder, sorted by name; sub-folders only when recursive."""
        key = (info.st_dev, info.st_ino)
        if key in ancestors:
            # a symbolic link back to a folder being walked: following it never ends
            yield InputFile(folder, relative, "symbolic link loop")
            return
        if key in self.walked_dirs:  # reached again through another link: already listed
            return
        self.walked_dirs.add(key)
        try:
            with os.scandir(folder) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            yield InputFile(folder, relative, _reason_for_os_error(error, folder))
            return
        folder_text, relative_text = str(folder), str(relative)
        for name in names:
            if name.startswith("."):
                # hidden files: macOS "._photo.jpg" resource forks, our own temporary files
                continue
            # Joined as text, not `folder / name`: Python 3.11's pathlib interns path parts, and
            # interning the listed names themselves would keep every name of a huge folder in
            # the interpreter's table (which never shrinks) for the whole walk.
            yield from self.entry(
                Path(os.path.join(folder_text, name)),
                PurePath(os.path.join(relative_text, name)),
                (*ancestors, key),
            )

    def spec(self, spec: str) -> Iterator[InputFile]:
        path = Path(spec)
        if _has_magic(spec):
            yield from self.pattern(spec)
            return
        try:
            info = path.stat()
        except OSError as error:
            yield InputFile(path, PurePath(path.name or spec), _reason_for_os_error(error, path))
            return
        if stat.S_ISDIR(info.st_mode):
            yield from self.walk(path, PurePath(), (), info)
        else:
            yield from self.file(path, PurePath(path.name))

    def pattern(self, pattern: str) -> Iterator[InputFile]:
        parts = PurePath(pattern).parts
        fixed = 0
        while fixed < len(parts) and not _has_magic(parts[fixed]):
            fixed += 1
        base = PurePath(*parts[:fixed]) if fixed else PurePath()
        matches = sorted(glob.glob(pattern, recursive=self.recursive))
        if not matches:
            yield InputFile(Path(pattern), PurePath(PurePath(pattern).name), "no file matches")
            return
        for match in matches:
            path = Path(match)
            relative = PurePath(match).relative_to(base)
            if ".." in relative.parts or relative.is_absolute() or not relative.parts:
                relative = PurePath(path.name)
            yield from self.entry(path, relative, ())


def find_inputs(
    specs: Iterable[str], *, recursive: bool = False, listed: Iterable[str] = ()
) -> list[InputFile]:
    """The input files named by ``specs``, in order, each spec's files sorted.

    A spec is a file (taken whatever its name), a directory (its files sorted by name;
    sub-folders only when ``recursive``), or a glob pattern (``*``, ``?``, ``[...]``, and ``**``
    when ``recursive``; ``relative`` is the path below the pattern's folder part without magic).

    Inside folders and glob matches a file is an input when its extension is one Pillow opens
    (any case), or when it has another extension or none and starts with an image signature;
    other files (``README.txt``) and hidden names (``.*``) are skipped silently. An entry with an
    image extension that cannot be read as a file comes back with a ``problem``: a folder named
    ``x.jpg`` when not recursing ("is a directory"), a dangling link ("broken symbolic link"),
    a fifo ("not a regular file"). A folder that cannot be listed gives "permission denied".

    Symbolic links to folders are followed when recursive, each real folder once; a link back to
    a folder being walked gives one "symbolic link loop" entry. A spec naming nothing gives
    "no such file or directory" (a pattern matching nothing: "no file matches"). The same real
    file reached twice is listed once. Never raises for one bad entry.

    ``listed`` are specs read from a list (``find ... | imgprep -i -``), found after ``specs``:
    a relative one without ``..`` keeps the folders it was given with in ``relative``
    (``photos/2024/a.jpg`` goes to ``OUT/photos/2024/``), so a listing mirrors its tree.
    """
    return list(iter_inputs(specs, recursive=recursive, listed=listed))


def iter_inputs(
    specs: Iterable[str], *, recursive: bool = False, listed: Iterable[str] = ()
) -> Iterator[InputFile]:
    """``find_inputs`` one input at a time, for callers that keep them compactly (InputList)."""
    finder = _Finder(recursive)
    for spec in specs:
        yield from finder.spec(spec)
    for text in listed:
        given = PurePath(text)
        keeps_folders = not given.is_absolute() and ".." not in given.parts
        for file in finder.spec(text):
            if keeps_folders:
                # a file keeps the path it was given as; a folder's files go below that path
                relative = given if file.path == Path(text) else given / file.relative
                file = InputFile(file.path, relative, file.problem)
            yield file


class InputList(Sequence[InputFile]):
    """Inputs held compactly: one path string each, ``InputFile`` objects made on access.

    ``relative`` is nearly always the end of the path (``photos/a.jpg`` below ``photos``), so an
    input costs a string and an offset (~100 bytes), not two Path objects (~800): the input list
    is what grows with the number of files, and a run's memory should not.
    """

    _ELSEWHERE = 0xFFFFFFFF  # relative is not the end of the path: kept in _relatives

    def __init__(self, files: Iterable[InputFile] = ()) -> None:
        self._paths: list[str] = []
        self._starts = array.array("I")  # where relative begins in the path string
        self._relatives: dict[int, str] = {}
        self._problems: dict[int, str] = {}
        for file in files:
            self.append(file)

    def append(self, file: InputFile) -> None:
        index = len(self._paths)
        path, relative = str(file.path), str(file.relative)
        start = len(path) - len(relative)
        if not (path.endswith(relative) and (start == 0 or path[start - 1] == os.sep)):
            start = self._ELSEWHERE
            self._relatives[index] = relative
        self._paths.append(path)
        self._starts.append(start)
        if file.problem is not None:
            self._problems[index] = file.problem

    def __len__(self) -> int:
        return len(self._paths)

    @overload
    def __getitem__(self, index: int) -> InputFile: ...
    @overload
    def __getitem__(self, index: slice) -> list[InputFile]: ...
    def __getitem__(self, index: int | slice) -> InputFile | list[InputFile]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        index = self._position(index)
        return InputFile(
            Path(self._paths[index]), PurePath(self.relative_text(index)), self.problem(index)
        )

    # Per-image code reads inputs through these: text only, no Path objects made (Python 3.11's
    # pathlib interns every name it parses, which would grow with the number of files).

    def path_text(self, index: int) -> str:
        """``str(self[index].path)``."""
        return self._paths[index]

    def relative_text(self, index: int) -> str:
        """``str(self[index].relative)``."""
        index = self._position(index)
        start = self._starts[index]
        return self._relatives[index] if start == self._ELSEWHERE else self._paths[index][start:]

    def problem(self, index: int) -> str | None:
        """``self[index].problem``."""
        return self._problems.get(self._position(index))

    def _position(self, index: int) -> int:
        """``index`` as a position from 0; IndexError when out of range, like a list."""
        count = len(self._paths)
        if not -count <= index < count:
            raise IndexError(f"input index out of range: {index} of {count}")
        return index % count


def read_path_list(stream: IO[bytes], *, null: bool = False) -> list[str]:
    """Paths read from ``stream``: one per line, or NUL-separated when ``null`` (``find -print0``).

    Blank entries are skipped; a trailing ``\\r`` (Windows line ends) is stripped from lines.
    Bytes that are not valid UTF-8 are kept via ``os.fsdecode`` (surrogate escapes), so any
    file name on disk round-trips.
    """
    data = stream.read()
    if null:
        raw_paths = data.split(b"\0")
    else:
        raw_paths = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    return [os.fsdecode(raw) for raw in raw_paths if raw.strip()]


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class DecodeHint:
    """What the first steps of a chain let the decoder skip.

    ``mode="L"`` decodes a JPEG straight to grayscale; ``size`` is the smallest (width, height),
    in upright axes (after EXIF orientation), that the decoder may reduce to (JPEG: 1/2, 1/4,
    1/8 DCT scaling; other formats decode in full).

    Quality: ask for twice the final size. Measured on every test JPEG, resizing a draft that
    kept at least 2x the target per axis stays within 1.8 levels (mean absolute difference) of
    resizing the full decode; a draft reduced all the way to the target itself is up to 5.8
    levels off (small, detailed images), beyond the 2 levels the project allows.
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
    taken from the one open file they were read from.
    """

    image: Image.Image
    format: str
    icc_profile: bytes | None
    digest: str
    identity: tuple[int, int]
    source_size: tuple[int, int]
    decoded_size: tuple[int, int]
    decoded_mode: str
    frames: int


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
        raise InputError(path, _reason_for_os_error(error, path)) from error
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
        raise InputError(path, _reason_for_os_error(error, path)) from error
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
    if profile is not None and _icc_colour_space(profile) == b"CMYK":
        from PIL import ImageCms  # here: few runs convert colour, and it costs 2 ms of start-up

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: fall back to the plain formula below
        else:
            if converted is not None:
                return converted
    return image.convert("RGB")


def _working_mode(image: Image.Image, profile: bytes | None) -> Image.Image:
    """Convert decoded modes to the few that imgprep's operations handle."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F"):
        return image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode == "CMYK":
        return _cmyk_to_rgb(image, profile)
    if mode.startswith("I;16"):  # I;16B, I;16L, I;16N: one 16-bit mode downstream
        return image.convert("I;16")
    if mode == "La":
        return image.convert("RGBa").convert("RGBA").convert("LA")
    if mode == "RGBa":
        return image.convert("RGBA")
    if "A" in mode:
        return image.convert("RGBA")
    return image.convert("RGB")  # YCbCr, LAB, HSV, RGBX, ...


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
    Multi-frame files give their first frame; ``frames`` counts them.
    """
    data, identity = _read_input_bytes(path)
    if not data:
        raise InputError(path, "empty file (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    try:
        return _decode(path, data, digest, identity, max_pixels, hint, allow_truncated)
    except InputError:
        raise
    except (MemoryError, RecursionError):
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
    image = _open_header(data)
    if image is None:
        raise InputError(path, _unreadable_reason(data))
    format_name = image.format or "unknown"
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            path,
            f"image is {width}x{height} = {width * height:,} pixels, more than the"
            f" --max-pixels limit of {max_pixels:,}",
        )
    damage = _structural_damage(data, format_name)
    if damage is not None and not (allow_truncated and damage == "truncated image data"):
        raise InputError(path, damage)
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
    try:
        image.load()
    except OSError as error:
        reason = _decode_reason(error, format_name)
        if not (allow_truncated and reason == "truncated image data" and format_name == "JPEG"):
            raise InputError(path, reason) from error
        # An EOI marker after the cut makes libjpeg finish the scan, filling the rest grey.
        image = _open_header(data + b"\xff\xd9")
        if image is None:
            raise InputError(path, reason) from error
        if decode_hint is not None:
            _apply_hint(image, decode_hint, orientation)
        image.load()
    decoded_size = image.size
    decoded_mode = image.mode
    oriented = _without_orientation_tag(_upright(image, frames))
    working = _working_mode(oriented, icc_profile if isinstance(icc_profile, bytes) else None)
    return LoadedImage(
        image=working,
        format=format_name,
        icc_profile=icc_profile if isinstance(icc_profile, bytes) else None,
        digest=digest,
        identity=identity,
        source_size=(width, height),
        decoded_size=decoded_size,
        decoded_mode=decoded_mode,
        frames=frames,
    )


# --------------------------------------------------------------------------------------------
# Saving

OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "png"),
    "jpeg": ("JPEG", "jpg"),
    "webp": ("WEBP", "webp"),
    "tiff": ("TIFF", "tif"),
}
"""``--format`` names -> (Pillow format, output extension without dot)."""

_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}

# formats "same" keeps: Pillow writes them well (its SAVE table also lists stubs and
# special-purpose writers such as PDF, ICO or HDF5, which become PNG)
_SAME_FORMATS = frozenset(
    {"PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP", "PPM", "TGA", "JPEG2000", "QOI"}
)
_DEFAULT_EXTENSIONS = {
    "GIF": "gif",
    "BMP": "bmp",
    "PPM": "ppm",
    "TGA": "tga",
    "JPEG2000": "jp2",
    "QOI": "qoi",
}
# formats whose files carry an ICC profile in Pillow
_ICC_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "TIFF", "JPEG2000"})


def output_format(requested: str, input_format: str, input_suffix: str) -> tuple[str, str]:
    """(Pillow format, extension without dot) of the output for ``--format requested``.

    ``"same"`` keeps the input's format and its own suffix lower-cased (``photo.JPG`` ->
    ``"jpg"``); an input format imgprep does not write (or a file without suffix) gives the
    format's usual extension, and a format it does not write becomes PNG. ``MPO`` (camera JPEGs
    with extra pictures) is written as JPEG.
    """
    key = requested.lower()
    key = _FORMAT_ALIASES.get(key, key)
    if key in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[key]
    if key != "same":
        known = ", ".join(["same", *OUTPUT_FORMATS])
        raise UsageError(f"format must be one of {known}, not {requested!r}")
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


def _flatten(image: Image.Image, background: str = "white") -> Image.Image:
    """Composite an image with alpha over a plain background (JPEG and friends have no alpha)."""
    rgba = image.convert("RGBA")
    base = Image.new("RGBA", rgba.size, background)
    base.alpha_composite(rgba)
    return base.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey to 8-bit ``L``: 0..65535 maps onto 0..255; F is 0..255 clipped."""
    if image.mode == "F":
        return image.convert("L")  # Pillow's convention: F values are on the 8-bit scale
    # I;16 and I hold 16-bit samples (Pillow decodes 16-bit files to them); higher values clip
    wide = image.convert("I")
    return wide.point(lambda value: value / 257).convert("L")


def _to_16bit(image: Image.Image) -> Image.Image:
    """``I`` (clipped to 0..65535) or ``F`` (0..255 scale, stretched by 257) to ``I;16``."""
    if image.mode == "F":
        image = image.point(lambda value: value * 257).convert("I")
    return image.convert("I;16")  # Pillow clips I to 0..65535 here


def _grey_or_colour(image: Image.Image, *, alpha: bool, bits16: bool) -> Image.Image:
    """Any mode to one of L/LA/RGB/RGBA (and I;16 when ``bits16``), keeping grey as grey."""
    mode = image.mode
    if mode in ("I;16", "I", "F") or mode.startswith("I;16"):
        if bits16:
            return image.convert("I;16") if mode.startswith("I;16") else _to_16bit(image)
        return _to_8bit(image)
    if mode == "1":
        return image.convert("L")
    if mode in ("L", "RGB"):
        return image
    if mode in ("LA", "La"):
        if alpha:
            return image.convert("LA") if mode == "LA" else image.convert("RGBA").convert("LA")
        return _flatten(image).convert("L")
    if mode == "P" and not image.has_transparency_data:
        return image.convert("RGB")
    if mode in ("RGBA", "RGBa", "PA", "P"):
        return image.convert("RGBA") if alpha else _flatten(image)
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


# Pillow format -> (modes written as they are, keeps alpha, keeps 16-bit grey, keeps grey)
_FORMAT_MODES: dict[str, tuple[frozenset[str], bool, bool, bool]] = {
    "JPEG": (frozenset({"L", "RGB", "CMYK"}), False, False, True),
    "PNG": (frozenset({"1", "L", "LA", "RGB", "RGBA", "P", "I;16"}), True, True, True),
    "WEBP": (frozenset({"RGB", "RGBA"}), True, False, False),
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


def _adapt_mode(image: Image.Image, format_name: str) -> Image.Image:
    """The image in a mode ``format_name`` can hold; see ``save_image`` for the table."""
    kept, alpha, bits16, grey = _FORMAT_MODES.get(format_name, _OTHER_FORMAT_MODES)
    if image.mode in kept:
        return image
    adapted = _grey_or_colour(image, alpha=alpha, bits16=bits16)
    if adapted.mode not in kept:  # grey where only colour is written, LA without grey alpha
        adapted = adapted.convert("RGBA" if "A" in adapted.mode else "RGB")
    if not grey and adapted.mode not in kept:
        adapted = adapted.convert("RGB")
    return adapted


def _icc_colour_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (header bytes 16..20), e.g. ``b"RGB "``."""
    return profile[16:20]


_ICC_SPACE_OF_MODE = {
    "RGB": b"RGB ",
    "RGBA": b"RGB ",
    "P": b"RGB ",
    "L": b"GRAY",
    "LA": b"GRAY",
    "I;16": b"GRAY",
    "CMYK": b"CMYK",
}


def _to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    """RGB pixels described by ``profile`` converted to sRGB (for formats without ICC)."""
    from PIL import ImageCms  # here: few runs convert colour, and it costs 2 ms of start-up

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unusable profile: keep the numbers as they are
    return converted if converted is not None else image


# Temporary names: a random start per process, then counting (a random draw per file costs a
# system call); a name another process happens to hold is skipped by O_EXCL.
_temp_numbers = itertools.count(int.from_bytes(os.urandom(4), "little"))


def _temp_path(path: str) -> str:
    folder, name = os.path.split(path)
    number = next(_temp_numbers) & 0xFFFFFFFF
    return os.path.join(folder, f".{name}.{number:08x}{TEMP_SUFFIX}")


def _create_temp(path: str) -> tuple[str, int]:
    """A new temporary file beside ``path``, opened for writing; mode follows the umask."""
    while True:
        temp = _temp_path(path)
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_inside(path: Path, root: Path) -> None:
    """Refuse ``path`` when its existing folders resolve outside ``root`` (a symbolic link).

    Checked on the deepest folder that exists, before any folder is created, so a link inside
    the output folder cannot make imgprep create folders or files elsewhere.
    """
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    real_root = os.path.realpath(root)
    real = os.path.realpath(existing)
    if os.path.commonpath([real_root, real]) != real_root:
        raise OutputError(
            f"{path}: would leave the output folder {root} (it leads to {real} through a"
            " symbolic link)"
        )


def _write_atomic(
    path: StrPath,
    content: bytes | memoryview | Callable[[IO[bytes]], None],
    fsync: bool,
    root: Path | None = None,
) -> tuple[int, int]:
    """Write ``content`` (bytes, or a function writing to a stream) into a temporary file
    beside ``path``, then rename it onto ``path``; return the file's ``(size, st_mtime_ns)``.

    Raises ``OutputError(f"{path}: {reason}")``; the temporary file never outlives a failure
    (except a kill, which ``remove_stale_temp_files`` cleans up on the next run).
    """
    # Text, not Path objects: this runs for every output, and Python 3.11's pathlib interns
    # every name it parses, so a run of many files would grow the interned-string table.
    path = os.fspath(path)
    folder = os.path.dirname(path)
    try:
        if root is not None:
            _check_inside(Path(path), root)
            os.makedirs(folder or os.curdir, exist_ok=True)
            _check_inside(Path(path), root)  # a link swapped in while the folders were made
        try:
            temp, fd = _create_temp(path)
        except FileNotFoundError:  # the folder is missing (asked first, it costs every write)
            os.makedirs(folder or os.curdir, exist_ok=True)
            temp, fd = _create_temp(path)
    except OSError as error:
        raise OutputError(f"{path}: {_reason_for_os_error(error, folder)}") from error
    try:
        try:
            if callable(content):
                with os.fdopen(fd, "wb", closefd=False) as stream:
                    content(stream)
            else:
                _write_all(fd, content)
            if fsync:
                os.fsync(fd)
            info = os.fstat(fd)  # a rename keeps size and mtime
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, Exception):
            raise _write_failure(path, error) from error
        raise  # KeyboardInterrupt, SystemExit: cleaned up, and passed on
    if fsync:
        _fsync_folder(folder or os.curdir)
    return info.st_size, info.st_mtime_ns


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_failure(path: StrPath, error: Exception) -> OutputError:
    """The one-line error for an output that could not be encoded or written."""
    if isinstance(error, OSError):
        return OutputError(f"{os.fspath(path)}: {_reason_for_os_error(error, path)}")
    return OutputError(
        f"{os.fspath(path)}: cannot encode the image ({str(error) or type(error).__name__})"
    )


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
    fsync: bool = False,
    root: Path | None = None,
) -> tuple[int, int]:
    """Write ``image`` to ``path`` atomically as ``format`` (a Pillow format name); return the
    written file's ``(size, st_mtime_ns)``, as ``file_identity`` would give it.

    With ``root`` (the output folder), a ``path`` whose folders lead outside ``root`` through
    a symbolic link is refused with ``OutputError("... would leave the output folder ...")``
    before anything is created.

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
                                               I;16/I scaled 0..65535 -> L 0..255; F clipped to L;
                                               1 -> L; P, YCbCr, LAB, HSV -> RGB
    PNG       1, L, LA, RGB, RGBA, P, I;16     I clipped to I;16; F (0..255 scale) x257 -> I;16;
                                               PA -> RGBA; CMYK, YCbCr, LAB, HSV -> RGB
    WEBP      RGB, RGBA                        grey -> RGB, grey+alpha -> RGBA; 16-bit scaled
    TIFF      1, L, LA, RGB, RGBA, CMYK, P,    PA -> RGBA; YCbCr, LAB, HSV -> RGB
              I;16, I, F
    BMP       1, L, P, RGB, RGBA               16-bit scaled to L; LA -> RGBA; others -> RGB
    GIF       L, P                             8-bit first, then Pillow quantizes to P
    PPM       1, L, RGB                        alpha composited over white; 16-bit scaled
    others    see ``_FORMAT_MODES``            8-bit grey or RGB, alpha kept where supported
    ========  ===============================  ==================================================

    ICC: only the ``icc_profile`` argument counts (a profile in ``image.info`` is ignored). It
    is attached only when its colour space (header bytes 16..20) matches both the given and the
    saved mode (``RGB `` for RGB/RGBA/P, ``GRAY`` for L/LA/I;16, ``CMYK`` for CMYK); otherwise
    it is dropped (the grayscale output of an RGB-profiled photo carries no profile). For a
    format that cannot carry a profile at all (BMP, GIF, ...), RGB pixels are converted to sRGB
    with it. ``embed_icc=False`` (``--strip-icc``) does the same for every format: colours are
    converted to sRGB and no profile is stored, so the file looks right without one.

    Encoder settings default to Pillow's own (``quality=None``: JPEG 75, WebP 80), except that
    PNG pixels are deflated by zlib-ng at ``png_compress_level`` (``png.save_png``; the default
    7 writes files the size of Pillow's level 6). Images of up to ``ENCODE_IN_MEMORY_MAX_BYTES``
    of pixels are encoded in memory first and written with one call; larger ones are streamed
    to the temporary file.
    """
    given_mode = image.mode
    image = _adapt_mode(image, format)
    options: dict[str, Any] = {}
    if quality is not None and format in ("JPEG", "WEBP"):
        options["quality"] = quality
    if format == "PNG":
        options["compress_level"] = png_compress_level
    if optimize and format in ("JPEG", "PNG"):
        options["optimize"] = True
    # Always explicit: PNG and TIFF would otherwise fall back to image.info["icc_profile"],
    # and only the icc_profile argument decides (the pipeline passes None for --strip-icc).
    options["icc_profile"] = None
    if icc_profile:
        space = _icc_colour_space(icc_profile)
        if format not in _ICC_FORMATS or not embed_icc:
            if space == b"RGB " and image.mode in ("RGB", "RGBA"):
                image = _to_srgb(image, icc_profile)
        elif _ICC_SPACE_OF_MODE.get(given_mode) == _ICC_SPACE_OF_MODE.get(image.mode) == space:
            # the mode must match before and after adaptation: grey widened to RGB for WebP
            # holds grey values, not the RGB colours an RGB profile describes
            options["icc_profile"] = icc_profile

    def write(stream: IO[bytes]) -> None:
        if format == "PNG":
            save_png(image, stream, **options)
        else:
            image.save(stream, format=format, **options)

    pixel_bytes = image.width * image.height * len(image.getbands())
    if pixel_bytes > ENCODE_IN_MEMORY_MAX_BYTES:
        return _write_atomic(path, write, fsync, root)
    encoded = io.BytesIO()
    try:
        write(encoded)
    except Exception as error:
        raise _write_failure(path, error) from error
    return _write_atomic(path, encoded.getbuffer(), fsync, root)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files a killed run left below ``folder``; return their paths."""
    removed: list[Path] = []
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                stale = Path(root) / name
                try:
                    stale.unlink()
                except FileNotFoundError:
                    continue  # another process cleaned it first
                except OSError as error:
                    reason = _reason_for_os_error(error, stale)
                    raise OutputError(f"{stale}: cannot remove temporary file: {reason}") from error
                removed.append(stale)
    return sorted(removed)


# --------------------------------------------------------------------------------------------
# Small text files (manifests, logs)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably: temp, fsync, rename."""
    _write_atomic(path, text.encode("utf-8"), fsync=True)


class LineLog:
    """An append-only text file, written one whole line at a time and kept open until ``close``.

    Safe from several threads and processes at once: each line is one ``O_APPEND`` write, so
    it lands whole, never interleaved (POSIX appends are atomic for one write on local file
    systems). After a ``kill -9`` the last line may be torn; readers skip a last line without
    its newline. The file (and its folder) is created by the first ``append``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        if "\n" in line:
            raise ValueError(f"line must not contain a newline, not {line!r}")
        payload = (line + "\n").encode("utf-8")
        with self._lock:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                _write_all(self._fd, payload)  # one write, unless the disk is nearly full
            except OSError as error:
                raise OutputError(
                    f"{self.path}: {_reason_for_os_error(error, self.path)}"
                ) from error

    def close(self) -> None:
        """Close the file; a later ``append`` opens it again."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` in one ``O_APPEND`` write (see ``LineLog``)."""
    log = LineLog(path)
    try:
        log.append(line)
    finally:
        log.close()


def read_text(path: Path) -> str | None:
    """The UTF-8 text of ``path``, or ``None`` when it does not exist."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def absolute_text(path: StrPath, cwd: str | None = None) -> str:
    """``str(Path(path).absolute())`` (absolute, links not resolved) without making a Path, for
    a path already in pathlib's normal form (``str`` of a Path, as ``InputList`` holds them).
    ``cwd``: the current folder, when the caller already knows it (saves a system call)."""
    text = os.fspath(path)
    if os.path.isabs(text):
        return text
    cwd = os.getcwd() if cwd is None else cwd
    return cwd if text == os.curdir else os.path.join(cwd, text)


def file_identity(path: StrPath) -> tuple[int, int] | None:
    """``(size, st_mtime_ns)`` of ``path`` (following links), or ``None`` when missing."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_size, info.st_mtime_ns


def file_digest(path: StrPath) -> str | None:
    """sha256 hex of the file's bytes (as ``LoadedImage.digest``); ``None`` if it cannot be read.

    Never raises for a missing or unreadable file: callers use it to decide whether an input
    changed, and "cannot tell" means "changed".
    """
    try:
        with open(path, "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return None
