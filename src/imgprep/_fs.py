"""File-system plumbing: atomic writes, the append-only journal, identities, short reasons.

Standard library only (plus ``imgprep.errors``): no Pillow, nothing about images. Every
failure to write is raised as ``OutputError(f"{path}: {reason}")`` with the short reason
``reason_for_os_error`` gives ("permission denied", "no space left on device", ...).

The per-image code passes paths as text: Python 3.11's pathlib interns every name it parses,
so making ``Path`` objects for every file would grow the interpreter's string table with the
number of files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeAlias

from imgprep.errors import InputError, OutputError

__all__ = [
    "TEMP_SUFFIX",
    "LineLog",
    "StrPath",
    "absolute_text",
    "file_digest",
    "file_identity",
    "folder_write_problem",
    "is_inside",
    "read_text",
    "read_with_identity",
    "reason_for_os_error",
    "remove_stale_temp_files",
    "write_atomic",
    "write_failure",
    "write_text_atomic",
]

#: A path as text or a path object; the per-image code passes text (no Path objects made).
StrPath: TypeAlias = str | os.PathLike[str]

TEMP_SUFFIX = ".imgprep-tmp"
"""Every temporary file imgprep writes is named ``.<target name>.<random>`` + this suffix."""

_REASONS = {
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


def reason_for_os_error(error: OSError, path: StrPath) -> str:
    """A short reason for a failed file-system call, e.g. ``"permission denied"``."""
    if error.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link"
    if error.errno in _REASONS:
        return _REASONS[error.errno]
    return (error.strerror or str(error)).lower()


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies strictly below ``folder`` (both real, absolute, normalized)."""
    return path != folder and path.startswith(
        folder if folder.endswith(os.sep) else folder + os.sep
    )


# --------------------------------------------------------------------------------------------
# Atomic writes

# Temporary names: a random start per process, then counting (a random draw per file costs a
# system call); a name another process happens to hold is skipped by O_EXCL.
_temp_numbers = itertools.count(int.from_bytes(os.urandom(4), "little"))


def folder_write_problem(folder: StrPath) -> str | None:
    """Why files cannot be created in ``folder`` (made first if missing), or ``None``.

    Asked once before a run, so an output folder that cannot be written is one clear refusal
    instead of one failure per input. Checks the deepest part of the path that exists: it
    must be a folder this process may write in, on a writable file system.
    """
    path = os.path.abspath(os.fspath(folder))
    probe = path
    while True:
        try:
            info = os.stat(probe)
            break
        except FileNotFoundError:
            parent = os.path.dirname(probe)
            if parent == probe:
                return "no such file or directory"
            probe = parent
        except OSError as error:
            return reason_for_os_error(error, probe)
    if not stat.S_ISDIR(info.st_mode):
        return "it is a file" if probe == path else f"{probe} is a file"
    if os.statvfs(probe).f_flag & os.ST_RDONLY:
        return "read-only file system"
    if not os.access(probe, os.W_OK | os.X_OK):
        return "permission denied"
    return None


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


def write_atomic(
    path: StrPath, content: bytes | memoryview | Callable[[IO[bytes]], None], fsync: bool
) -> tuple[int, int]:
    """Write ``content`` (bytes, or a function writing to a stream) into a temporary file
    beside ``path``, then rename it onto ``path``; return the file's ``(size, st_mtime_ns)``.

    Missing parent folders are created. Raises ``OutputError(f"{path}: {reason}")``; the
    temporary file never outlives a failure (except a kill, which ``remove_stale_temp_files``
    cleans up on the next run).
    """
    # Text, not Path objects: this runs for every output (see the module docstring).
    path = os.fspath(path)
    folder = os.path.dirname(path)
    try:
        try:
            temp, fd = _create_temp(path)
        except FileNotFoundError:  # the folder is missing (asked first, it costs every write)
            os.makedirs(folder or os.curdir, exist_ok=True)
            temp, fd = _create_temp(path)
    except OSError as error:
        raise OutputError(f"{path}: {reason_for_os_error(error, folder)}") from error
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
            raise write_failure(path, error) from error
        raise  # KeyboardInterrupt, SystemExit: cleaned up, and passed on
    if fsync:
        _fsync_folder(folder or os.curdir)
    return info.st_size, info.st_mtime_ns


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_failure(path: StrPath, error: Exception) -> OutputError:
    """The one-line error for an output that could not be encoded or written: an ``OSError``
    gives its short reason, anything else came from the encoder writing into the stream."""
    if isinstance(error, OSError):
        return OutputError(f"{os.fspath(path)}: {reason_for_os_error(error, path)}")
    return OutputError(
        f"{os.fspath(path)}: cannot encode the image ({str(error) or type(error).__name__})"
    )


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
                    reason = reason_for_os_error(error, stale)
                    raise OutputError(f"{stale}: cannot remove temporary file: {reason}") from error
                removed.append(stale)
    return sorted(removed)


# --------------------------------------------------------------------------------------------
# Small text files (manifests, logs)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably: temp, fsync, rename."""
    write_atomic(path, text.encode("utf-8"), fsync=True)


def read_text(path: Path) -> str | None:
    """The UTF-8 text of ``path``, or ``None`` when it does not exist."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


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
                reason = reason_for_os_error(error, self.path)
                raise OutputError(f"{self.path}: {reason}") from error

    def close(self) -> None:
        """Close the file; a later ``append`` opens it again."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


# --------------------------------------------------------------------------------------------
# Identities


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


def read_with_identity(path: StrPath) -> tuple[bytes, tuple[int, int]]:
    """An input file's bytes and its ``(size, st_mtime_ns)`` taken from the same open file;
    ``InputError`` (a directory, a fifo, an OSError) with a short reason.

    Plain ``os`` calls, no file object: open, fstat, usually one read, close. Each call lets
    another thread take the GIL, and this runs once per image.
    """
    # O_NONBLOCK: opening a fifo must not wait for a writer; it is refused just below.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise InputError(path, reason_for_os_error(error, path)) from error
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
        raise InputError(path, reason_for_os_error(error, path)) from error
    finally:
        os.close(fd)
