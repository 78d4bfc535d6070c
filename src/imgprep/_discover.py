"""Finding inputs: walking folders and glob patterns, sniffing files without an extension.

Discovery never decodes: it lists paths (``InputFile``) and reports an entry it already knows
is unusable as the entry's ``problem``, so one bad entry never stops the listing.
"""

from __future__ import annotations

import array
import errno
import glob
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, overload

from imgprep._fs import TEMP_SUFFIX, reason_for_os_error

__all__ = [
    "IMAGE_EXTENSIONS",
    "InputFile",
    "InputList",
    "find_inputs",
    "iter_inputs",
    "read_path_list",
]

# What Pillow 13 opens (Image.registered_extensions() of the formats in Image.OPEN), spelled out
# so that finding inputs needs no plugin import; tests/test_discover.py checks it against the
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
                yield InputFile(path, relative, reason_for_os_error(error, path))
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
                yield InputFile(path, relative, reason_for_os_error(error, path))
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
            yield InputFile(folder, relative, reason_for_os_error(error, folder))
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
            yield InputFile(path, PurePath(path.name or spec), reason_for_os_error(error, path))
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
        # `**` asks for sub-folders whether or not -r is given; an extension matches in any
        # case, as in folder walks (`*.jpg` finds `IMG_1.JPG`). A pattern matching nothing is
        # an empty input, like an empty folder: a cron job over incoming/*.jpg is not an error.
        matches = glob.glob(_any_case_extension(pattern), recursive="**" in pattern)
        for match in sorted(matches):
            path = Path(match)
            relative = PurePath(match).relative_to(base)
            if ".." in relative.parts or relative.is_absolute() or not relative.parts:
                relative = PurePath(path.name)
            yield from self.entry(path, relative, ())


def _any_case_extension(pattern: str) -> str:
    """``photos/*.jpg`` -> ``photos/*.[jJ][pP][gG]``: the last part's extension in any case,
    when it is plain letters and digits (a pattern's own brackets are left alone)."""
    folder, name = os.path.split(pattern)
    stem, dot, extension = name.rpartition(".")
    if not dot or not extension.isalnum() or not extension.isascii():
        return pattern
    either = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in extension)
    return os.path.join(folder, f"{stem}.{either}")


def find_inputs(
    specs: Iterable[str], *, recursive: bool = False, listed: Iterable[str] = ()
) -> list[InputFile]:
    """The input files named by ``specs``, in order, each spec's files sorted.

    A spec is a file (taken whatever its name), a directory (its files sorted by name;
    sub-folders only when ``recursive``), or a glob pattern (``*``, ``?``, ``[...]``, and
    ``**`` for any depth of sub-folders; the extension matches in any case; ``relative`` is
    the path below the pattern's folder part without magic).

    Inside folders and glob matches a file is an input when its extension is one Pillow opens
    (any case), or when it has another extension or none and starts with an image signature;
    other files (``README.txt``) and hidden names (``.*``) are skipped silently. An entry with an
    image extension that cannot be read as a file comes back with a ``problem``: a folder named
    ``x.jpg`` when not recursing ("is a directory"), a dangling link ("broken symbolic link"),
    a fifo ("not a regular file"). A folder that cannot be listed gives "permission denied".

    Symbolic links to folders are followed when recursive, each real folder once; a link back to
    a folder being walked gives one "symbolic link loop" entry. A spec naming nothing gives
    "no such file or directory" (a pattern matching nothing gives nothing). The same real
    file reached twice is listed once. Never raises for one bad entry.

    ``listed`` are specs read from a list (``find ... | imgprep -i -``), found after ``specs``:
    a relative one without ``..`` keeps the folders it was given with in ``relative``
    (``photos/2024/a.jpg`` goes to ``OUT/photos/2024/``), so a listing mirrors its tree.
    """
    return list(iter_inputs(specs, recursive=recursive, listed=listed))


def iter_inputs(
    specs: Iterable[str],
    *,
    recursive: bool = False,
    listed: Iterable[str] = (),
    base: str | None = None,
) -> Iterator[InputFile]:
    """``find_inputs`` one input at a time, for callers that keep them compactly (InputList).

    ``base``: the folder the ``listed`` paths are placed relative to (``--base``); a listed
    path outside it is a problem. Without it they keep the folders they were given with.
    """
    finder = _Finder(recursive)
    for spec in specs:
        yield from finder.spec(spec)
    for text in listed:
        given = _listed_relative(text, base)
        for file in finder.spec(text):
            if isinstance(given, str):  # outside --base: said, not silently renamed
                file = InputFile(file.path, PurePath(file.path.name), given)
            elif given is not None:
                # a file keeps the path it was given as; a folder's files go below that path
                relative = given if file.path == Path(text) else given / file.relative
                file = InputFile(file.path, relative, file.problem)
            yield file


def _listed_relative(text: str, base: str | None) -> PurePath | str | None:
    """Where a listed path goes below the output folder: its path relative to ``base`` (or
    as given, when relative and without ``..``); None: its own name only; text: a problem."""
    if base is not None:
        relative = os.path.relpath(os.path.abspath(text), os.path.abspath(base))
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return f"not inside --base {base}"
        return PurePath(relative) if relative != os.curdir else PurePath()
    given = PurePath(text)
    return None if given.is_absolute() or ".." in given.parts else given


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
