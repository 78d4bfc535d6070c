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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, NamedTuple, overload

from imgprep._fs import TEMP_SUFFIX, file_identity, reason_for_os_error
from imgprep._signatures import IMAGE_EXTENSIONS, SIGNATURE_BYTES, has_image_signature

__all__ = [
    "IMAGE_EXTENSIONS",
    "InputFile",
    "InputList",
    "find_inputs",
    "iter_found",
    "iter_inputs",
    "read_path_list",
    "split_name",
]


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input as discovery found it.

    ``relative`` is where the output goes below the output folder: the path relative to the
    folder it was found in (a file named directly: just its name). It is never absolute and
    never contains ``..``. ``problem`` is set when discovery already knows the entry is
    unusable; the pipeline reports it as failed. ``stat``: the file's ``lstat`` when discovery
    made one and the path is not a symbolic link (so it is its ``stat`` too): the size and
    mtime a re-run compares without another system call.
    """

    path: Path
    relative: PurePath
    problem: str | None = None
    stat: os.stat_result | None = field(default=None, compare=False, repr=False)


class Found(NamedTuple):
    """An input as discovery finds it: ``InputFile`` as text (what ``str`` of its path and
    relative give), so a walk over a million files makes no Path object per file."""

    path: str
    relative: str
    problem: str | None = None
    stat: os.stat_result | None = None

    def input_file(self) -> InputFile:
        return InputFile(Path(self.path), PurePath(self.relative), self.problem, self.stat)


def _stat(path: str) -> tuple[os.stat_result, bool]:
    """``(stat, is_link)`` of ``path`` (links followed) in one system call unless it is a
    symbolic link; raises OSError as ``stat`` does."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return os.stat(path), True
    return info, False


def split_name(name: str) -> tuple[str, str]:
    """A file name's stem and extension with its dot: ``PurePath(name).stem`` and ``.suffix``
    (text: this runs for every file found and every output named)."""
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def _sniff(path: str) -> bool:
    """Whether a file without an image extension starts like an image."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return has_image_signature(os.read(fd, SIGNATURE_BYTES))
    except OSError:
        return False
    finally:
        os.close(fd)


def _has_magic(text: str) -> bool:
    """Whether ``text`` is a glob pattern (the characters ``glob`` treats specially)."""
    return any(character in text for character in "*?[")


class _Finder:
    """What one ``find_inputs`` call walks: every path found is listed (a file with two names,
    hard links or a symbolic link, is listed under each); ``iter_inputs`` drops repeats."""

    def __init__(self, recursive: bool, skip_marked: str | None = None) -> None:
        self.recursive = recursive
        self.skip_marked = skip_marked  # a sub-folder holding a file of this name is not walked

    # Paths are text from here on, in pathlib's normal form (a spec is normalized by Path once):
    # a Path per file costs ~20 function calls, and Python 3.11's pathlib interns every name
    # it parses. ``relative`` is "" for a walk's own folder ("." when it is reported).

    @staticmethod
    def file(path: str, relative: str, info: os.stat_result, is_link: bool) -> Found:
        """A file found (or named), with its stat; ``is_link``: whether ``path`` is a symbolic
        link, or might be."""
        if stat.S_ISDIR(info.st_mode):
            return Found(path, relative, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            return Found(path, relative, "not a regular file")
        return Found(path, relative, None, None if is_link else info)

    def entry(
        self, path: str, relative: str, name: str, ancestors: tuple[tuple[int, int], ...]
    ) -> Iterator[Found]:
        """One directory entry (or glob match): an input, a folder to walk, or nothing."""
        if name.endswith(TEMP_SUFFIX):  # a temporary file of a run that was killed
            return
        has_image_extension = split_name(name)[1].lower() in IMAGE_EXTENSIONS
        try:
            info, is_link = _stat(path)
        except OSError as error:
            if has_image_extension or error.errno == errno.ELOOP:
                yield Found(path, relative, reason_for_os_error(error, path))
            return
        if stat.S_ISDIR(info.st_mode):
            if self.recursive:
                yield from self.walk(path, relative, ancestors, info)
            elif has_image_extension:
                yield Found(path, relative, "is a directory")
            return
        if has_image_extension or (stat.S_ISREG(info.st_mode) and _sniff(path)):
            yield self.file(path, relative, info, is_link)

    def walk(
        self,
        folder: str,
        relative: str,
        ancestors: tuple[tuple[int, int], ...],
        info: os.stat_result,
    ) -> Iterator[Found]:
        """The entries of a folder, sorted by name; sub-folders only when recursive."""
        key = (info.st_dev, info.st_ino)
        if key in ancestors:
            # a symbolic link back to a folder being walked: following it never ends
            yield Found(folder, relative or os.curdir, "symbolic link loop")
            return
        try:
            with os.scandir(folder) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            yield Found(folder, relative or os.curdir, reason_for_os_error(error, folder))
            return
        if relative and self.skip_marked in names:
            return  # e.g. an earlier run's output folder inside the input folder
        ancestors = (*ancestors, key)
        # os.path.join(folder, name), without its checks (a name has no separator)
        folder = folder if folder.endswith(os.sep) else folder + os.sep
        relative = relative + os.sep if relative else ""
        for name in names:
            if name.startswith("."):
                # hidden files: macOS "._photo.jpg" resource forks, our own temporary files
                continue
            yield from self.entry(folder + name, relative + name, name, ancestors)

    def spec(self, spec: str) -> Iterator[Found]:
        if _has_magic(spec):
            yield from self.pattern(spec)
            return
        given = Path(spec)
        path = str(given)
        try:
            info, is_link = _stat(path)
        except OSError as error:
            yield Found(path, str(PurePath(given.name or spec)), reason_for_os_error(error, path))
            return
        if stat.S_ISDIR(info.st_mode):
            yield from self.walk(path, "", (), info)
        else:
            yield self.file(path, given.name, info, is_link)

    def pattern(self, pattern: str) -> Iterator[Found]:
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
            yield from self.entry(str(path), str(relative), path.name, ())


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

    Symbolic links to folders are followed when recursive; a link back to a folder being walked
    gives one "symbolic link loop" entry. A spec naming nothing gives "no such file or
    directory" (a pattern matching nothing gives nothing). Every path found is listed: a file
    with two names (hard links, a symbolic link to it, a folder reached through a link) is
    listed under each, so each name gets its outputs; the same real file under the same
    ``relative`` name (a folder given twice, a file and then its folder) is listed once.
    Never raises for one bad entry.

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
    skip_marked: str | None = None,
) -> Iterator[InputFile]:
    """``find_inputs`` one input at a time, for callers that keep them compactly (InputList).

    ``base``: the folder the ``listed`` paths are placed relative to (``--base``); a listed
    path outside it is a problem. Without it they keep the folders they were given with.
    ``skip_marked``: a file name; a sub-folder holding a file of that name is not walked (an
    earlier run's output folder, marked by its manifest).
    """
    for found in iter_found(
        specs, recursive=recursive, listed=listed, base=base, skip_marked=skip_marked
    ):
        yield found.input_file()


def iter_found(
    specs: Iterable[str],
    *,
    recursive: bool = False,
    listed: Iterable[str] = (),
    base: str | None = None,
    skip_marked: str | None = None,
) -> Iterator[Found]:
    """``iter_inputs`` as text (``Found``): what the pipeline reads."""
    specs, listed = list(specs), list(listed)
    found = _iter_found(_Finder(recursive, skip_marked), specs, listed, base)
    if len(specs) + len(listed) < 2:
        yield from found  # one spec lists every path once
        return
    seen: set[int] = set()
    for file in found:
        if file.problem is None and _seen_before(file, seen):
            continue  # the same file under the same name: its outputs are listed already
        yield file


_MASK_64 = (1 << 64) - 1


def _seen_before(file: Found, seen: set[int]) -> bool:
    """Whether the same real file was listed under the same ``relative`` name before."""
    try:
        info = file.stat or os.stat(file.path)
    except OSError:
        return False
    # device, inode and a hash of the name packed in one int: an int, not a tuple, per file
    key = (info.st_dev << 128) | (info.st_ino << 64) | (hash(file.relative) & _MASK_64)
    if key in seen:
        return True
    seen.add(key)
    return False


def _iter_found(
    finder: _Finder, specs: list[str], listed: list[str], base: str | None
) -> Iterator[Found]:
    for spec in specs:
        yield from finder.spec(spec)
    for text in listed:
        given = _listed_relative(text, base)
        for file in finder.spec(text):
            if isinstance(given, str):  # outside --base: said, not silently renamed
                file = Found(file.path, os.path.basename(file.path), given)
            elif given is not None:
                # a file keeps the path it was given as; a folder's files go below that path
                relative = given if file.path == str(Path(text)) else given / file.relative
                file = file._replace(relative=str(relative))
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
    """Inputs held compactly: a name string each, ``InputFile`` objects made on access.

    The inputs of one folder share its path and the folder part of their ``relative`` (nearly
    always the end of the path: ``photos/2024/a.jpg`` below ``photos``), so an input costs its
    name, a folder number and its size and mtime (~90 bytes), not two Path objects (~800): the
    input list is what grows with the number of files, and a run's memory should not.
    """

    def __init__(self, files: Iterable[InputFile] = ()) -> None:
        self._names: list[str] = []
        self._groups: list[tuple[str, str]] = []  # (path's folder, relative's folder), "/"-ended
        self._group_numbers: dict[tuple[str, str], int] = {}
        self._group = array.array("I")  # per input
        self._relatives: dict[int, str] = {}  # a relative not ending with the path's name
        self._problems: dict[int, str] = {}
        self._sizes = array.array("q")  # from InputFile.stat; -1: not known
        self._mtimes = array.array("q")
        for file in files:
            self.append(file)

    def append(self, file: InputFile | Found) -> None:
        index = len(self._names)
        path, relative = str(file.path), str(file.relative)
        folder, separator, name = path.rpartition(os.sep)
        relative_folder, relative_separator, relative_name = relative.rpartition(os.sep)
        if relative_name != name:
            self._relatives[index] = relative
        group = (folder + separator, relative_folder + relative_separator)
        number = self._group_numbers.get(group)
        if number is None:
            number = self._group_numbers[group] = len(self._groups)
            self._groups.append(group)
        self._names.append(name)
        self._group.append(number)
        if file.problem is not None:
            self._problems[index] = file.problem
        info = file.stat
        self._sizes.append(-1 if info is None else info.st_size)
        self._mtimes.append(0 if info is None else info.st_mtime_ns)

    def __len__(self) -> int:
        return len(self._names)

    def subset(
        self, indices: Iterable[int], problem: Callable[[int], str | None] | None = None
    ) -> InputList:
        """The inputs at ``indices``, in that order, each with what is known of it;
        ``problem(index)``: each one's problem (default: its own)."""
        problem = problem or self.problem
        kept = InputList()
        for index in indices:
            kept.append(Found(self.path_text(index), self.relative_text(index), problem(index)))
            kept._sizes[-1], kept._mtimes[-1] = self._sizes[index], self._mtimes[index]
        return kept

    @overload
    def __getitem__(self, index: int) -> InputFile: ...
    @overload
    def __getitem__(self, index: slice) -> list[InputFile]: ...
    def __getitem__(self, index: int | slice) -> InputFile | list[InputFile]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        index = self._position(index)
        return InputFile(
            Path(self.path_text(index)), PurePath(self.relative_text(index)), self.problem(index)
        )  # without stat: the identity is read through identity()

    # Per-image code reads inputs through these: text only, no Path objects made (Python 3.11's
    # pathlib interns every name it parses, which would grow with the number of files).

    def path_text(self, index: int) -> str:
        """``str(self[index].path)``."""
        return self._groups[self._group[index]][0] + self._names[index]

    def relative_text(self, index: int) -> str:
        """``str(self[index].relative)``."""
        if self._relatives:
            relative = self._relatives.get(self._position(index))
            if relative is not None:
                return relative
        return self._groups[self._group[index]][1] + self._names[index]

    def problem(self, index: int) -> str | None:
        """``self[index].problem``."""
        if not self._problems:  # the usual case: asked for every input, so kept short
            self._sizes[index]  # IndexError when out of range, like a list
            return None
        return self._problems.get(self._position(index))

    def identity(self, index: int) -> tuple[int, int] | None:
        """``(st_size, st_mtime_ns)`` from ``self[index].stat``: known when discovery stat'ed
        the file and its path is no symbolic link (its real path is its folder's + its name)."""
        size = self._sizes[index]
        return None if size < 0 else (size, self._mtimes[index])

    def identity_or_stat(self, index: int) -> tuple[int, int] | None:
        """``identity``, or when the walk did not stat the file (a symbolic link, a listed
        path), ``(st_size, st_mtime_ns)`` from a ``stat`` now; None if that fails."""
        return self.identity(index) or file_identity(self.path_text(index))

    def size_or_stat(self, index: int) -> int | None:
        """The input's size in bytes, as ``identity_or_stat`` gives it."""
        identity = self.identity_or_stat(index)
        return None if identity is None else identity[0]

    def _position(self, index: int) -> int:
        """``index`` as a position from 0; IndexError when out of range, like a list."""
        count = len(self._names)
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
