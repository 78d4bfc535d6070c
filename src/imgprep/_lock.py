"""Advisory locks on an output folder, so runs that overlap never write the same journal.

Every run that writes locks ``OUTPUT/.imgprep-lock`` with ``fcntl.flock``: an unsharded run
exclusively (it writes the main manifest and folds the shards' parts into it), a run with
``--shard K/N`` shared, so the shards of one job array run side by side, plus its own part
exclusively (``.imgprep-manifest.K-of-N.jsonl.lock``), so the same shard started twice (two
overlapping cron runs) waits too. A second run waits for the first (saying so once), or with
``wait=False`` refuses at once with ``FolderBusyError`` (exit 75).

The kernel drops a ``flock`` when its process ends, however it ends, so a killed run never
leaves the folder locked. On a network file system the lock holds between hosts where the
file system supports ``flock`` (NFSv4, and Lustre mounted with ``-o flock``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from imgprep import _fs, _parts
from imgprep.errors import FolderBusyError, OutputError

__all__ = ["LOCK_NAME", "FolderLock"]

LOCK_NAME = ".imgprep-lock"


class FolderLock:
    """The locks of one run on ``folder`` (which must exist), held until ``release``.

    ``shard``: ``(K, N)`` for a sharded run. ``on_wait(message)`` is called once if another
    run holds the folder and this one waits for it."""

    def __init__(
        self,
        folder: Path,
        shard: tuple[int, int] | None = None,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.folder, self.shard, self.wait, self.on_wait = folder, shard, wait, on_wait
        self._fds: list[int] = []
        self._told = False

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def acquire(self) -> None:
        if self.shard is None:
            self._take(self.folder / LOCK_NAME, fcntl.LOCK_EX)
            return
        self._take(self.folder / LOCK_NAME, fcntl.LOCK_SH)
        part = _parts.lock_path(self.folder / _parts.part_name(self.shard))
        self._take(part, fcntl.LOCK_EX)

    def _take(self, path: Path, mode: int) -> None:
        try:
            fd = _open(path)
        except OSError as error:
            raise OutputError(f"{path}: {_fs.reason_for_os_error(error, path)}") from error
        self._fds.append(fd)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as error:  # a file system without flock
            self.release()
            reason = _fs.reason_for_os_error(error, path)
            raise OutputError(f"{path}: cannot lock: {reason}") from error
        if not self.wait:
            self.release()
            raise FolderBusyError(
                f"another imgprep run is writing to {self.folder} "
                f"(it holds {path.name}); not waiting (--no-wait)"
            )
        if self.on_wait is not None and not self._told:
            self._told = True
            self.on_wait(f"waiting for another imgprep run writing to {self.folder} to finish")
        fcntl.flock(fd, mode)  # Ctrl-C interrupts the wait (KeyboardInterrupt)

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in reversed(fds):
            os.close(fd)  # closing the last descriptor drops its flock

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _open(path: Path) -> int:
    """The lock file, made if missing; read-only when another user made it (``flock`` takes
    any open file on a local file system)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
