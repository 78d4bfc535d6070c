"""What C libraries write straight to file descriptor 2, turned into imgprep's own lines.

libtiff reports errors about a damaged TIFF ("Fax3SetupState: Bits/sample must be 1 for Group
3/4 encoding/decoding.") with ``fprintf(stderr, ...)`` from C, below Python, in pieces (module,
message, end of line). Pillow offers no way to take them (it installs no libtiff error
handler, and keeps no Python hook for one), and they cannot be redirected per thread: file
descriptors belong to the process. Left alone they appear unattributed, and a piece can land
in the middle of imgprep's own ``Error:`` line written by another thread.

So while a command-line run decodes (``c_stderr_as_lines``), descriptor 2 is a pipe: a thread
reads it, cuts it into lines, and hands each whole line to ``emit`` (the CLI prints it as
``Warning: libtiff: ...``). Python's own ``sys.stderr`` is moved to a duplicate of the real
descriptor first, so imgprep's lines go straight out, and both kinds reach the terminal as
whole lines through the same stream. Which input a line is about cannot be known (any worker
thread may have written it); the input's own ``Error:`` line follows when the file fails.
libtiff writes one message in three pieces, so when two workers' libtiff complain at the same
instant their pieces can mix within these lines (never with imgprep's own); with one worker
each message is one line. Only the CLI does this: a program using ``imgprep.pipeline`` keeps
its descriptors as they are.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator

__all__ = ["c_stderr_as_lines", "labelled"]

_READ_SIZE = 4096
_DRAIN_SECONDS = 5.0


def labelled(line: str) -> str:
    """A line of C chatter as imgprep prints it: libtiff's start with their function name."""
    head, colon, _ = line.partition(": ")
    source = "libtiff" if colon and head.isidentifier() else "a C library"
    return f"Warning: {source}: {line}"


@contextlib.contextmanager
def c_stderr_as_lines(emit: Callable[[str], None]) -> Iterator[None]:
    """Inside, whatever is written to descriptor 2 below Python reaches ``emit`` one whole line
    at a time (without its newline), from a reader thread; all of it before this returns. Does
    nothing when descriptor 2 is not open."""
    try:
        real = os.dup(2)
    except OSError:
        yield
        return
    saved_stderr = _move_python_stderr(real)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_relay, args=(read_end, emit), daemon=True)
    reader.start()
    try:
        yield
    finally:
        os.dup2(real, 2)  # the pipe's last write end closes: the reader drains it and ends
        reader.join(_DRAIN_SECONDS)  # unless something kept a copy of it: then it stays behind
        if saved_stderr is None:
            os.close(real)
        else:  # the stream on ``real`` owns it: whatever kept the stream (a progress bar) may
            sys.stderr.flush()  # still write to it, and closes it with the stream
            sys.stderr = saved_stderr


def _move_python_stderr(real: int) -> io.TextIOBase | None:
    """Point ``sys.stderr`` at ``real`` (a duplicate of descriptor 2, which the new stream
    owns) when it writes to descriptor 2 itself; return the stream it replaced, to put back
    (None: left alone, e.g. a test runner's capture)."""
    current = sys.stderr
    try:
        if current is None or current.fileno() != 2:
            return None
    except (AttributeError, OSError, ValueError):  # no descriptor behind it
        return None
    current.flush()
    sys.stderr = open(  # noqa: SIM115 - it outlives this function, closed when dropped
        real, "w", encoding=current.encoding, errors=current.errors, buffering=1
    )
    return current  # type: ignore[return-value]


def _relay(read_end: int, emit: Callable[[str], None]) -> None:
    pending = b""
    with open(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(_READ_SIZE):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _emit(line, emit)
    if pending:
        _emit(pending, emit)


def _emit(line: bytes, emit: Callable[[str], None]) -> None:
    text = line.decode("utf-8", "replace").rstrip()
    if not text:
        return
    with contextlib.suppress(Exception):  # the pipe must keep draining, or C writers block
        emit(text)
