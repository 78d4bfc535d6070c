"""Advisory locks on an output folder, so runs that overlap never write the same journal.

Every run that writes locks ``OUTPUT/.imgprep-lock`` with ``fcntl.flock``: an unsharded run
exclusively (it writes the main manifest and folds the shards' parts into it), a run with
``--shard K/N`` shared, so the shards of one job array run side by side, plus its own part
exclusively (``.imgprep-manifest.K-of-N.jsonl.lock``), so the same shard started twice (two
overlapping cron runs) waits too. A second run waits for the first (saying so once), or with
``wait=False`` refuses at once with ``FolderBusyError`` (exit 75).

The kernel drops a ``flock`` when its process ends, however it ends, so a killed run never
leaves the folder locked. What a killed run does leave is temporary files, and finding them
means walking the whole output tree, which a cron re-run over 100,000 outputs should not pay
each time. So the lock file also says how the last run that wrote ended: taking the lock
replaces its text with ``WRITING``; an unsharded run that ends cleanly writes ``CLEAN``. The
next run sweeps the tree (``unfinished``) only when it does not read ``CLEAN``: after a kill,
after shards (one may have been killed), or in a folder an older imgprep wrote.

On a network file system the lock holds between hosts where the file system supports
``flock`` (NFSv4, and Lustre mounted with ``-o flock``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from imgprep import _fs, _parts
from imgprep.errors import FolderBusyError, OutputError

__all__ = ["CLEAN", "LOCK_NAME", "WRITING", "FolderLock"]

LOCK_NAME = ".imgprep-lock"
# What the lock file says, for whoever opens it
WRITING = b"imgprep: a run is writing to this folder, or was killed while writing\n"
CLEAN = b"imgprep: the last run that wrote to this folder ended cleanly\n"


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
        # whether a run that wrote here may have been killed (its temporary files left behind)
        self.unfinished = True

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def acquire(self) -> None:
        """Take the locks (waiting, or ``FolderBusyError``), then note that a run writes."""
        if self.shard is None:
            self._take(self.folder / LOCK_NAME, fcntl.LOCK_EX)
        else:
            self._take(self.folder / LOCK_NAME, fcntl.LOCK_SH)
            part = _parts.lock_path(self.folder / _parts.part_name(self.shard))
            self._take(part, fcntl.LOCK_EX)
        self.unfinished = self._say(WRITING) != CLEAN

    def _say(self, note: bytes) -> bytes | None:
        """Put ``note`` in the lock file; what it said before (None if it cannot be written:
        another user's read-only lock file). Shards write the same bytes side by side."""
        fd = self._fds[0]
        try:
            before = os.pread(fd, len(CLEAN) + 1, 0)
            os.pwrite(fd, note, 0)
            os.ftruncate(fd, len(note))
        except OSError:
            return None
        return before

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

    def release(self, *, clean: bool = False) -> None:
        """Drop the locks. ``clean``: the run ended with none of its temporary files left
        (an unsharded run: a shard cannot know that its neighbours did)."""
        if clean and self.shard is None and self._fds:
            self._say(CLEAN)
        fds, self._fds = self._fds, []
        for fd in reversed(fds):
            os.close(fd)  # closing the last descriptor drops its flock


def _open(path: Path) -> int:
    """The lock file, made if missing; read-only when another user made it (``flock`` takes
    any open file on a local file system)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
