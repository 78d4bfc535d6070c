"""The manifest's file format: one ``Entry`` a line, JSON arrays under a header naming the
columns; a line of the first format (an object, the input's absolute path) is read too.

``parse_line`` reads one line (None for the header, a torn or foreign line), ``copier`` writes
chosen lines of a file again under a fresh header (converting first-format lines), and
``state`` is the hash ``Manifest.judge`` compares. ``manifest`` holds the entries and decides;
this module only knows how a line looks.
"""

from __future__ import annotations

import json
import os
import posixpath
from array import array
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import IO

__all__ = ["FIELDS", "HEADER", "LINE_ENCODER", "Entry", "copier", "parse_line", "state"]

# One encoder for every line (json.dumps with options builds a new one per call); encoding
# keeps no state between calls, so worker threads share it.
LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Entry:
    output: str  # POSIX path relative to the output folder
    input: str  # POSIX path relative to the input root it was found under
    input_size: int
    input_mtime_ns: int
    input_sha256: str  # hex of the input's bytes ("" when unknown: never matches)
    recipe: str  # fingerprint of everything that decides the output's pixels and encoding
    output_size: int
    output_mtime_ns: int


FIELDS = tuple(field.name for field in fields(Entry))
_TYPES = tuple(str if field.type == "str" else int for field in fields(Entry))
HEADER = LINE_ENCODER.encode({"imgprep_manifest": 2, "fields": FIELDS})
# The first format's keys, in FIELDS order: one object per line, the input's absolute path.
_FIRST_FORMAT = tuple("input_digest" if name == "input_sha256" else name for name in FIELDS)


def copier(path: Path, offsets: array[int]) -> Callable[[IO[bytes]], None]:
    """Writes the header, then the lines of ``path`` starting at ``offsets`` (ascending)."""

    def copy(target: IO[bytes]) -> None:
        target.write(HEADER.encode() + b"\n")
        wanted = iter(offsets)
        next_offset = next(wanted, -1)
        position = 0
        with open(path, "rb") as source:
            for line in source:
                if position == next_offset:
                    target.write(_as_row(line))
                    next_offset = next(wanted, -1)
                position += len(line)

    return copy


def _as_row(line: bytes) -> bytes:
    """A line of the current format (a line of the first format is converted)."""
    if not line.startswith(b"{"):
        return line
    entry = parse_line(line)
    assert entry is not None  # only lines read as entries are copied
    return LINE_ENCODER.encode(astuple(entry)).encode() + b"\n"


def state(entry: Entry) -> int:
    """What ``judge`` compares, but for the input's mtime: one hash (hash() is the same within
    a process, and the file is read by the process that judges)."""
    return hash(
        (
            entry.output,
            entry.recipe,
            entry.input,
            entry.input_size,
            entry.output_size,
            entry.output_mtime_ns,
        )
    )


def parse_line(line: bytes) -> Entry | None:
    """The entry of one line; None for the header, a torn or foreign line."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if isinstance(value, dict) and set(value) == set(_FIRST_FORMAT):
        value = [value[key] for key in _FIRST_FORMAT]
        output, absolute = value[0], value[1]
        if isinstance(output, str) and isinstance(absolute, str):
            value[1] = posixpath.join(posixpath.dirname(output), os.path.basename(absolute))
    if not isinstance(value, list) or len(value) != len(FIELDS):
        return None
    if not all(type(item) is kind for item, kind in zip(value, _TYPES, strict=True)):
        return None
    return Entry(*value)
