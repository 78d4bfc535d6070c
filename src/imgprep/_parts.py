"""Manifest parts: one journal per shard of a job array, so shards never share a file.

A run with ``--shard K/N`` appends its lines to ``.imgprep-manifest.K-of-N.jsonl`` beside the
main ``.imgprep-manifest.jsonl``; each file has one writer at a time (the run holding its
lock, see ``_lock``). Every run reads them all, the main file first and its own file last,
so the last line for an output is the newest.

The parts in use are listed in ``.imgprep-manifest.parts`` (each shard adds its part's name
when it starts), so finding them reads one small file and never lists the output folder.
An unsharded run holds the output folder alone, so before it reads anything it folds the
parts into the main file (``fold``): their whole lines are appended to it, then the parts,
their list and their lock files are deleted. A kill in between leaves the parts in place, and
the next fold appends their lines again: the same lines twice, the last one wins, nothing lost.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import IO

from imgprep import _fs
from imgprep.errors import OutputError

__all__ = [
    "MAIN_NAME",
    "REGISTRY_NAME",
    "fold",
    "lock_path",
    "part_name",
    "part_paths",
    "register",
]

MAIN_NAME = ".imgprep-manifest.jsonl"
REGISTRY_NAME = ".imgprep-manifest.parts"
_PART = re.compile(r"\.imgprep-manifest\.([1-9][0-9]*)-of-([1-9][0-9]*)\.jsonl")
_HEADER_START = b'{"imgprep_manifest"'


def part_name(shard: tuple[int, int]) -> str:
    """The file name of shard ``(K, N)``'s manifest part."""
    return f".imgprep-manifest.{shard[0]}-of-{shard[1]}.jsonl"


def lock_path(part: Path) -> Path:
    """The lock file of a part: the run writing that part holds it."""
    return part.with_name(part.name + ".lock")


def register(folder: Path, shard: tuple[int, int]) -> None:
    """Add shard ``(K, N)``'s part to the folder's list of parts, unless it is listed."""
    name = part_name(shard)
    if name in _listed(folder):
        return
    log = _fs.LineLog(folder / REGISTRY_NAME)
    try:
        log.append(name)  # one O_APPEND write: shards starting together may race
    finally:
        log.close()


def part_paths(folder: Path) -> list[Path]:
    """The manifest parts listed in ``folder``, ordered by N, then K (they may not exist)."""
    shards = sorted(
        (int(match.group(2)), int(match.group(1)), name)
        for name in set(_listed(folder))
        if (match := _PART.fullmatch(name))
    )
    return [folder / name for _, _, name in shards]


def _listed(folder: Path) -> list[str]:
    registry = folder / REGISTRY_NAME
    try:
        with open(registry, encoding="utf-8", errors="replace") as stream:
            return stream.read().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise OutputError(f"{registry}: {_fs.reason_for_os_error(error, registry)}") from error


def fold(folder: Path) -> bool:
    """Append every part's whole lines (headers left out) to the main manifest, make them
    durable, then delete the parts; True if there were any. Only for the run holding the
    folder's exclusive lock."""
    parts = part_paths(folder)
    if not parts:
        return False
    main = folder / MAIN_NAME
    try:
        with open(main, "ab+") as target:
            header = target.tell() == 0  # a new main file starts with a part's header
            if not header and not _ends_with_newline(target):
                target.write(b"\n")  # a line torn by a kill stays one bad line, skipped
            for part in parts:
                with contextlib.suppress(FileNotFoundError), open(part, "rb") as source:
                    for line in source:
                        if not line.endswith(b"\n"):
                            break  # a last line torn by a kill: that output is redone
                        if header or not line.startswith(_HEADER_START):
                            target.write(line)
                            header = False
            target.flush()
            os.fsync(target.fileno())
        for part in parts:
            part.unlink(missing_ok=True)
            lock_path(part).unlink(missing_ok=True)  # no shard holds it: they wait for ours
        (folder / REGISTRY_NAME).unlink()
    except OSError as error:
        raise OutputError(f"{main}: {_fs.reason_for_os_error(error, main)}") from error
    return True


def _ends_with_newline(stream: IO[bytes]) -> bool:
    end = stream.tell()
    stream.seek(end - 1)
    last = stream.read(1)
    stream.seek(end)
    return last == b"\n"
