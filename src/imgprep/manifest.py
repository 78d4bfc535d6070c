"""The record of what produced each output, kept next to the outputs for incremental re-runs.

``OUTPUT_DIR/.imgprep-manifest.jsonl`` is JSON Lines: a header naming the fields, then one
JSON array per output::

    {"imgprep_manifest":2,"fields":["output","input","input_size","input_mtime_ns",...]}
    ["a.png","a.jpg",48213,1718000000000000000,"9f86d0...","5e8f2a...",20113,1718000000500000000]

``output`` is the output's path relative to the output folder, ``input`` the input's path
relative to the input root it was found under (the folder given to ``-i``; a file named
directly is its own name), both POSIX. Then the input's size, mtime and sha256, the *recipe*
fingerprint (imgprep version, steps and options, variant, format and encoder settings) and the
output file's own size and mtime. The last line for an output wins. Arrays, not objects: the
file parses twice as fast, and the header says what each column is.

An output is current when its line has the same recipe and input name, the output file still
has the recorded size and mtime, and the input has the recorded size and mtime, or, when only
the mtime changed, the recorded sha256 (a ``touch`` alone rebuilds nothing). Naming inputs
relative to their root means that moving the whole input tree, or reading it through a link
or from a container mounted elsewhere, rebuilds nothing.

Workers append a line right after each output is renamed into place, so a ``kill -9`` loses
at most the line being written (a torn last line is cut off when the file is next read) and
the next run redoes exactly the outputs it cannot prove current. The end of a run compacts the
file atomically once a quarter of its lines are superseded.

A run with ``--shard K/N`` writes its own part instead (``.imgprep-manifest.K-of-N.jsonl``,
see ``_parts``); every run reads the main file, then the parts, its own last, as one journal.

Memory stays flat: the file is read in chunks, and each output costs 32 bytes in arrays (a
hash of its name, a hash of its state, the input's mtime, the line's offset for the rare
question that needs the whole line), not a Python object. A line in the first format (objects
with an absolute ``input``) is read as naming its input by the output's folder and the input's
file name, and the file is rewritten in this format at the end of the run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from array import array
from collections.abc import Collection, Iterable, Iterator
from dataclasses import astuple, replace
from pathlib import Path
from typing import IO, Any

from imgprep import _fs, _parts
from imgprep._fs import StrPath
from imgprep._hashindex import HashIndex, repeats
from imgprep._manifest_format import (
    FIELDS,
    HEADER,
    LINE_ENCODER,
    Entry,
    copier,
    parse_line,
    state,
)
from imgprep.errors import OutputError

__all__ = [
    "CHECK",
    "CURRENT",
    "MANIFEST_NAME",
    "STALE",
    "Entry",
    "Manifest",
    "confirmed",
    "read_input",
]

MANIFEST_NAME = _parts.MAIN_NAME

# What ``Manifest.judge`` says about an output.
STALE = 0  # no line, another recipe or input name, the output changed, or the input's size did
CURRENT = 1  # everything as recorded
CHECK = 2  # only the input's mtime changed: its sha256 decides (``Manifest.confirm``)

_CHUNK = 1 << 18  # bytes of lines parsed with one json.loads
_FILE_SHIFT = 44  # a line's offset holds its file's number above the byte offset (16 TiB)


class Manifest:
    """The entries of one output folder; ``record``, ``judge`` and ``get`` are safe to call
    from worker threads.

    Only the state read at start is held (it answers ``judge``), in arrays; what a run records
    goes straight to the file, so a first run over a million images does not grow. ``shard``
    ``(K, N)``: the run records into that shard's part (``path``), and reads it last.
    """

    def __init__(self, folder: Path, shard: tuple[int, int] | None = None) -> None:
        self.path = folder / (MANIFEST_NAME if shard is None else _parts.part_name(shard))
        self._shard = shard
        # per line read, in reading order: hash of the output name, hash of the state (all but
        # the input's mtime and sha256), the input's mtime, and the line's file and offset
        self._keys, self._states = array("q"), array("q")
        self._mtimes, self._offsets = array("q"), array("q")
        self._index = HashIndex(self._keys)
        self._files: list[Path] = []  # read, in order; the last is `path`
        self._seen: list[tuple[int, int, int] | None] = []  # each one's inode, size, mtime
        self._writable = True  # this process holds the lock: it may mend and compact
        self._torn = 0  # own file's last line: 1 torn by a kill, 2 whole but its newline
        self._own_start = 0  # the first row read from `path`
        self._size = 0  # bytes read of the file being read (then: of `path`)
        self._base = 0  # the file being read's number, shifted into place for an offset
        self._first_format = 0  # lines read in the first format: the file is rewritten
        self._added = self._replaced = 0  # lines recorded: new outputs, and superseding ones
        self._lock = threading.Lock()
        self._log = _fs.LineLog(self.path)  # one open file for the run's appends
        self._readers: dict[int, int] = {}  # for get(): lines are read back by offset

    @classmethod
    def load(
        cls, folder: Path, shard: tuple[int, int] | None = None, *, writable: bool = True
    ) -> Manifest:
        """The folder's manifest: the main file and every part, ``shard``'s own part last.
        ``writable=False``: this process does not hold the folder's lock (yet), so it leaves
        the files as they are (a torn last line is mended, and the file compacted, only once
        ``claim`` says it does)."""
        manifest = cls(folder, shard)
        manifest._writable = writable
        manifest._read_files(manifest._others())
        return manifest

    def _others(self) -> list[Path]:
        folder = self.path.parent
        others = [folder / MANIFEST_NAME, *_parts.part_paths(folder)]
        return [path for path in others if path != self.path]

    def changed(self) -> bool:
        """Whether another run wrote to a file read since, or added a part."""
        if set(self._others()) - set(self._files):
            return True
        return any(
            _identity(path) != seen for path, seen in zip(self._files, self._seen, strict=True)
        )

    def outdated(self) -> bool:
        """Whether the file has lines in the first format (rewritten by ``compact``)."""
        return self._first_format > 0

    def claim(self) -> None:
        """This process now holds the folder's lock: mend what a kill tore, compact at the end."""
        self._writable = True
        self._mend()

    def _read_files(self, others: list[Path]) -> None:
        """Read ``others``, then ``path``, the only file whose torn last line is cut off (the
        others may be another shard's, being written)."""
        for path in [*others, self.path]:
            self._own_start, self._first_format = len(self._keys), 0  # own file's, at the end
            self._base, self._size = len(self._files) << _FILE_SHIFT, 0
            self._files.append(path)
            self._seen.append(None)
            try:
                with open(path, "rb") as stream:
                    info = os.fstat(stream.fileno())
                    self._seen[-1] = (info.st_ino, info.st_size, info.st_mtime_ns)
                    self._read(stream, path == self.path)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise OutputError(f"{path}: {_fs.reason_for_os_error(error, path)}") from error
        self._index = HashIndex(self._keys)
        if self._writable:
            self._mend()

    def _read(self, stream: IO[bytes], own: bool) -> None:
        while lines := stream.readlines(_CHUNK):
            if not lines[-1].endswith(b"\n"):  # a kill tore the file's last line
                torn = lines.pop()
                self._add_lines(lines)
                if own:  # another file may be another shard's, being written: left alone
                    self._torn = 1 if parse_line(torn) is None else 2
                    if self._torn == 2:
                        self._add_one(torn + b"\n")
                return
            self._add_lines(lines)

    def _add_lines(self, lines: list[bytes]) -> None:
        if self._size == 0 and lines and lines[0].startswith(b"{"):  # the header
            self._add_one(lines[0])
            lines = lines[1:]
        if not lines:
            return
        try:
            rows = json.loads(b"[" + b",".join(lines) + b"]")
            if set(map(type, rows)) <= {list} and set(map(len, rows)) <= {len(FIELDS)}:
                self._add_rows(rows, lines)  # the usual case: whole columns at once
                return
        except (ValueError, TypeError, OverflowError):
            pass  # a bad line, a field of the wrong type: line by line, skipping bad ones
        for line in lines:
            self._add_one(line)

    def _add_rows(self, rows: list[list[Any]], lines: list[bytes]) -> None:
        """Columns of valid rows (raise TypeError before adding anything if one is not)."""
        outputs, inputs, in_sizes, in_mtimes, _, recipes, out_sizes, out_mtimes = zip(
            *rows, strict=True
        )
        states = zip(outputs, recipes, inputs, in_sizes, out_sizes, out_mtimes, strict=True)
        columns = (
            array("q", map(hash, outputs)),
            array("q", map(hash, states)),
            array("q", in_mtimes),
            array("q", itertools.accumulate(map(len, lines[:-1]), initial=self._base + self._size)),
        )
        if not set(map(type, itertools.chain(outputs, inputs, recipes))) <= {str}:
            raise TypeError("a name or recipe that is not text")
        mine = (self._keys, self._states, self._mtimes, self._offsets)
        for column, new in zip(mine, columns, strict=True):
            column.extend(new)
        self._size += sum(map(len, lines))

    def _add_one(self, line: bytes) -> None:
        entry = parse_line(line)
        if entry is not None:
            self._first_format += line.startswith(b"{")
            self._keys.append(hash(entry.output))
            self._states.append(state(entry))
            self._mtimes.append(entry.input_mtime_ns)
            self._offsets.append(self._base + self._size)
        self._size += len(line)

    def _mend(self) -> None:
        """Keep a last line that is whole but for its newline; cut off one torn by a kill."""
        torn, self._torn = self._torn, 0
        try:
            if torn == 2:
                with open(self.path, "ab") as stream:
                    stream.write(b"\n")
            elif torn == 1:
                os.truncate(self.path, self._size)
        except OSError as error:
            reason = _fs.reason_for_os_error(error, self.path)
            raise OutputError(f"{self.path}: {reason}") from error

    def has_lines(self) -> bool:
        """Whether the file had any output's line when it was read."""
        return len(self._keys) > 0

    def get(self, output: str) -> Entry | None:
        """The last line read for ``output`` (the file is read at that line's offset)."""
        row = self._index.find(hash(output))
        if row < 0:
            return None
        entry = self._line_at(self._offsets[row])
        return entry if entry is not None and entry.output == output else None

    def judge(
        self,
        output: str,
        recipe: str,
        input_name: str,
        input_identity: tuple[int, int],
        output_path: str,
    ) -> int:
        """``CURRENT``, ``CHECK`` or ``STALE``: is ``output_path`` what ``recipe`` makes of the
        input ``input_name`` (relative to its root) with ``input_identity`` (size, mtime_ns)?
        Reads nothing but the output's stat (none when the manifest has no line for it)."""
        return self.judge_input(input_name, input_identity, [(output, recipe, output_path)])[0]

    def judge_input(
        self,
        input_name: str,
        input_identity: tuple[int, int],
        outputs: Iterable[tuple[str, str, str]],
    ) -> bytes:
        """``judge`` for each of one input's ``outputs`` (name, recipe, path): what planning
        asks for every output of a run, so one call per input, the loop in here."""
        size, mtime = input_identity
        find, states, mtimes = self._index.find, self._states, self._mtimes
        verdicts = bytearray()
        for output, recipe, path in outputs:
            verdict = STALE
            row = find(hash(output))
            if row >= 0:
                try:
                    info = os.stat(path)
                except OSError:
                    pass  # deleted since (or unreadable: writing it will say why)
                else:
                    state = hash((output, recipe, input_name, size, info.st_size, info.st_mtime_ns))
                    if state == states[row]:
                        verdict = CURRENT if mtime == mtimes[row] else CHECK
            verdicts.append(verdict)
        return bytes(verdicts)

    def confirm(self, output: str, input_name: str, read: tuple[str, tuple[int, int]]) -> bool:
        """For a ``CHECK`` output: whether the input's bytes (``read``: sha256 and identity, as
        ``read_input`` gives them) are the recorded ones; if so, record the new mtime, so the
        next run does not hash it again."""
        entry = confirmed(self.get(output), input_name, read)
        if entry is not None:
            self.record(entry)
        return entry is not None

    def is_current(
        self, output: str, output_path: StrPath, input_path: StrPath, input_name: str, recipe: str
    ) -> bool:
        """Whether ``output_path`` is exactly what ``recipe`` would make of the input at
        ``input_path``, named ``input_name`` below its root (stats, and hashes if needed)."""
        identity = _fs.file_identity(input_path)
        if identity is None:
            return False
        verdict = self.judge(output, recipe, input_name, identity, os.fspath(output_path))
        if verdict == CHECK:
            read = read_input(input_path)
            return read is not None and self.confirm(output, input_name, read)
        return verdict == CURRENT

    def record(self, entry: Entry, *, again: bool = False) -> None:
        """Append ``entry``'s line. ``again``: this run recorded that output already."""
        line = LINE_ENCODER.encode(astuple(entry))
        superseding = again or self._index.find(hash(entry.output)) >= 0
        with self._lock:
            if self._size == 0 and not (self._added or self._replaced):
                self._log.append(HEADER)  # a new file: say what the columns are
            self._log.append(line)
            if superseding:
                self._replaced += 1
            else:
                self._added += 1

    def entries(self) -> Iterator[Entry]:
        """Each output's entry (its last line) as read at load, in file order; each is read
        back from the file by its offset."""
        for row in self._current_rows():
            entry = self._line_at(self._offsets[row])
            if entry is not None:
                yield entry

    def _current_rows(self) -> Iterator[int]:
        find = self._index.find
        return (row for row, key in enumerate(self._keys) if find(key) == row)

    def drop(self, outputs: Collection[str]) -> None:
        """Rewrite the file without the lines of ``outputs`` (atomically); this object then
        answers "nothing recorded", like after ``compact``."""
        dropped = {hash(output) for output in outputs}
        self.close()
        with self._lock:
            self._rewrite(dropped)

    def close(self) -> None:
        """Close the files kept open (``record`` opens the log again if needed)."""
        self._log.close()
        with self._lock:
            readers, self._readers = self._readers, {}
        for reader in readers.values():
            os.close(reader)

    def compact(self) -> None:
        """Close, then rewrite the file with one line per output when a quarter of its lines
        were superseded (re-runs that rebuild append; the file would otherwise grow with every
        run), or when it has lines in the first format."""
        self.close()
        with self._lock:
            if not self._writable:
                return
            if self._first_format or self._mostly_superseded():
                self._rewrite()

    def _mostly_superseded(self) -> bool:
        if not self._replaced:
            return False  # nothing superseded since the file was last compacted or judged
        own = self._keys[self._own_start :]
        distinct = len(own) - sum(count - 1 for count in repeats(own).values())
        superseded = len(own) - distinct + self._replaced
        return 4 * superseded > distinct + self._added  # over a quarter of the live lines

    def _rewrite(self, dropped: Collection[int] = frozenset()) -> None:
        """One line per output, in the current format: the last line of each (found by reading
        the file again, this run's lines included), copied as it is; none for the outputs
        whose name hashes are in ``dropped``."""
        self._keys = self._states = self._mtimes = self._offsets = array("q")  # done with them
        self._index = HashIndex(self._keys)
        latest = Manifest(self.path.parent, self._shard)
        latest._read_files([])  # this file alone: its offsets are byte offsets
        keys, offsets = latest._keys, latest._offsets
        kept = array(
            "q", (offsets[row] for row in latest._current_rows() if keys[row] not in dropped)
        )
        _fs.write_atomic(self.path, copier(self.path, kept), fsync=True)
        # what was read is gone: this object only answers "nothing recorded" from now on
        self._size, self._first_format, self._added, self._replaced = 1, 0, 0, 0

    def _line_at(self, offset: int) -> Entry | None:
        number, offset = offset >> _FILE_SHIFT, offset & ((1 << _FILE_SHIFT) - 1)
        with self._lock:
            reader = self._readers.get(number)
            if reader is None:
                try:
                    reader = self._readers[number] = os.open(self._files[number], os.O_RDONLY)
                except OSError:
                    return None
        size = 4096
        while True:
            try:
                data = os.pread(reader, size, offset)
            except OSError:
                return None
            end = data.find(b"\n")
            if end >= 0 or len(data) < size:
                return parse_line(data[:end] if end >= 0 else data)
            size *= 4


def confirmed(
    entry: Entry | None, input_name: str, read: tuple[str, tuple[int, int]]
) -> Entry | None:
    """``entry`` with the input's new mtime if the input's bytes (``read``: sha256 and
    identity, as ``read_input`` gives them) are the ones it records; else None."""
    digest, identity = read
    if entry is None or entry.input != input_name or entry.input_size != identity[0]:
        return None
    if not digest or digest != entry.input_sha256:
        return None
    return replace(entry, input_mtime_ns=identity[1])


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def read_input(path: StrPath) -> tuple[str, tuple[int, int]] | None:
    """The sha256 (hex) and identity (size, mtime_ns) of the file at ``path``, both from the
    one open file; None if it cannot be read."""
    try:
        with open(path, "rb") as stream:
            info = os.fstat(stream.fileno())
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return None
    return digest, (info.st_size, info.st_mtime_ns)
