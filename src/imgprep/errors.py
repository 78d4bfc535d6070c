"""The exceptions imgprep raises on purpose.

Everything imgprep raises deliberately derives from ``ImgprepError``, so a caller can catch one
class; anything else escaping is a bug. The tree::

    ImgprepError
    ├── UsageError            the user asked for something invalid: a step, option or value
    │                         (the CLI exits 2); also a ValueError, so Typer parsers accept it
    ├── OpError               this image cannot take this op (a crop box outside it, a mode
    │                         the op refuses): that input fails, the run goes on; a ValueError
    ├── InputError            one input cannot be used; names the file (the run goes on)
    │   └── ImageTooLargeError    the header declares more pixels than --max-pixels allows
    ├── OutputError           an output cannot be written: read-only folder, disk full,
    │   │                     a path escaping the output folder, overwriting an input
    │   └── OutputCollisionError  two inputs would be written to the same output file
    ├── FolderBusyError       another run holds the output folder's lock and the run was told
    │                         not to wait (--no-wait; the CLI exits 75)
    └── EvaluationError       computing item ``index`` of a lazy sequence failed; the original
                              exception is ``__cause__``

Messages state the rule and the value, Pillow-style: ``size must be positive, not '0x5'``.
"""

from __future__ import annotations

from os import PathLike, fspath

__all__ = [
    "EvaluationError",
    "FolderBusyError",
    "ImageTooLargeError",
    "ImgprepError",
    "InputError",
    "OpError",
    "OutputCollisionError",
    "OutputError",
    "UsageError",
]


class ImgprepError(Exception):
    """Base class of every error imgprep raises on purpose."""


class UsageError(ImgprepError, ValueError):
    """An invalid step, option or value given by the user."""


class OpError(ImgprepError, ValueError):
    """This image cannot take this op: a crop box outside it, a mode the op does not handle.

    Unlike ``UsageError`` (the arguments are wrong whatever the image), it depends on the image,
    so a run records it as that input's failure and goes on with the others. The message states
    the rule and the values: ``crop box 700x100+0+0 reaches outside the 640x427 image``.
    """


class InputError(ImgprepError):
    """An input file that cannot be read or decoded.

    ``str(error)`` is ``"<path>: <reason>"``; ``path`` and ``reason`` are kept separately so
    reports can show them in columns.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageTooLargeError(InputError):
    """The image header declares more pixels than allowed (a decompression bomb guard)."""


class OutputError(ImgprepError):
    """An output that cannot be written where it was asked to be."""


class OutputCollisionError(OutputError):
    """Two different inputs map to one output path."""


class FolderBusyError(ImgprepError):
    """Another run is writing to the output folder, and this one may not wait for it."""


class EvaluationError(ImgprepError):
    """Computing one item of a lazy sequence failed.

    The message names the item index, the operation and where the sequence was built; the
    exception raised by the operation is chained as ``__cause__``.
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index
