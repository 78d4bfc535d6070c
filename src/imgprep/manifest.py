"""The record of what produced each output, kept next to the outputs for incremental re-runs.

``OUTPUT_DIR/.imgprep-manifest.jsonl`` holds one JSON object per line: an output's path
(relative to the output folder), the input it came from (size, mtime, sha256), the *recipe*
fingerprint (imgprep version, steps and options, variant, format and encoder settings) and the
output file's own size and mtime. The last line for an output wins.

Workers append a line right after each output is renamed into place, so a ``kill -9`` loses at
most the line being written (a torn last line is skipped when read) and the next run redoes
exactly the outputs it cannot prove current. The end of a run compacts the file atomically.

An output is current when its entry has the same recipe and input path, the output file still
has the recorded size and mtime, and the input has the recorded size and mtime, or, when the
mtime changed but the size did not, the recorded sha256 (a ``touch`` alone rebuilds nothing).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from imgprep import _fs
from imgprep._fs import StrPath

__all__ = ["MANIFEST_NAME", "Entry", "Manifest"]

MANIFEST_NAME = ".imgprep-manifest.jsonl"

# One encoder for every line (json.dumps with options builds a new one per call); encoding
# keeps no state between calls, so worker threads share it.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Entry:
    output: str  # POSIX path relative to the output folder
    input: str  # absolute path of the input
    input_size: int
    input_mtime_ns: int
    input_digest: str  # sha256 hex of the input's bytes
    recipe: str  # fingerprint of everything that decides the output's pixels and encoding
    output_size: int
    output_mtime_ns: int


class Manifest:
    """The entries of one output folder; ``record`` is safe to call from worker threads.

    Only the entries read at start are held in memory (they answer ``is_current``); what a run
    records goes straight to the file, so a first run over a million images does not grow.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_NAME
        self._entries: dict[str, Entry] = {}
        self._new_outputs = 0  # recorded this run and absent from the file before
        self._lines_on_disk = 0
        self._lock = threading.Lock()
        self._log = _fs.LineLog(self.path)  # one open file for the run's appends

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        manifest = cls(folder)
        text = _fs.read_text(manifest.path)
        manifest._entries, manifest._lines_on_disk = _parse(text)
        if text and not text.endswith("\n"):
            # A kill tore the last line: rewrite without it before anything is appended to it.
            manifest._rewrite(manifest._entries)
        return manifest

    def get(self, output: str) -> Entry | None:
        with self._lock:
            return self._entries.get(output)

    def record(self, entry: Entry) -> None:
        line = _LINE_ENCODER.encode(vars(entry))
        with self._lock:
            if entry.output in self._entries:
                self._entries[entry.output] = entry  # a later lookup must see the new one
            else:
                self._new_outputs += 1
            self._lines_on_disk += 1
            self._log.append(line)

    def is_current(
        self, output: str, output_path: StrPath, input_path: StrPath, recipe: str
    ) -> bool:
        """Whether ``output_path`` is exactly what ``recipe`` would make of ``input_path`` now."""
        entry = self.get(output)
        if entry is None or entry.recipe != recipe:
            return False
        if entry.input != _fs.absolute_text(input_path):
            return False
        if _fs.file_identity(output_path) != (entry.output_size, entry.output_mtime_ns):
            return False  # deleted or edited since we wrote it
        identity = _fs.file_identity(input_path)
        if identity is None:
            return False
        if identity == (entry.input_size, entry.input_mtime_ns):
            return True
        if identity[0] != entry.input_size or _fs.file_digest(input_path) != entry.input_digest:
            return False
        # Same bytes, new mtime (touched, copied, checked out): remember the new mtime so the
        # next run does not hash it again.
        self.record(replace(entry, input_size=identity[0], input_mtime_ns=identity[1]))
        return True

    def close(self) -> None:
        """Close the file kept open for appends (``record`` opens it again if needed)."""
        self._log.close()

    def compact(self) -> None:
        """Close, then rewrite the file with one line per output when lines were superseded
        (re-runs that rebuild append; the file would otherwise grow with every run)."""
        self.close()
        with self._lock:
            if self._lines_on_disk <= len(self._entries) + self._new_outputs:
                return  # e.g. a first run: every line is live
            self._rewrite(_parse(_fs.read_text(self.path))[0])

    def _rewrite(self, entries: dict[str, Entry]) -> None:
        lines = [_LINE_ENCODER.encode(vars(entry)) for entry in entries.values()]
        _fs.write_text_atomic(self.path, "".join(line + "\n" for line in lines))
        self._lines_on_disk = len(lines)


def _parse(text: str | None) -> tuple[dict[str, Entry], int]:
    """The last entry per output, and the number of lines read."""
    entries: dict[str, Entry] = {}
    lines = (text or "").splitlines()
    for line in lines:
        try:
            entry = Entry(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line torn by a kill, or from another version: that output is redone
        entries[entry.output] = entry
    return entries, len(lines)
