"""imgprep: batch image preprocessing on lazy, indexable sequences.

The public API is ``__all__`` below. Names are imported on first use (PEP 562), so
``import imgprep`` and ``import imgprep.seq`` stay free of Pillow and Typer: the command line
starts fast and the sequence library stays standard-library only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from imgprep._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # lazy sequences
    "smap": "imgprep.seq",
    "concatenate": "imgprep.seq",
    "collate": "imgprep.seq",
    "unbatch": "imgprep.seq",
    "add_cache": "imgprep.seq",
    "prefetch": "imgprep.seq",
    # pipelines
    "Step": "imgprep.steps",
    "STEPS": "imgprep.steps",
    "parse_steps": "imgprep.steps",
    "RunOptions": "imgprep.pipeline",
    "Report": "imgprep.pipeline",
    "OutputRecord": "imgprep.pipeline",
    "run": "imgprep.pipeline",
    # errors
    "ImgprepError": "imgprep.errors",
    "UsageError": "imgprep.errors",
    "InputError": "imgprep.errors",
    "ImageTooLargeError": "imgprep.errors",
    "OutputError": "imgprep.errors",
    "OutputCollisionError": "imgprep.errors",
    "EvaluationError": "imgprep.errors",
}
_SUBMODULES = ("seq", "ops", "files", "steps", "pipeline", "errors", "config")

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = import_module(f"imgprep.{name}")
    else:
        raise AttributeError(f"module 'imgprep' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # let type checkers and IDEs see the real objects
    from imgprep import config, errors, files, ops, pipeline, seq, steps
    from imgprep.errors import (
        EvaluationError,
        ImageTooLargeError,
        ImgprepError,
        InputError,
        OutputCollisionError,
        OutputError,
        UsageError,
    )
    from imgprep.pipeline import OutputRecord, Report, RunOptions, run
    from imgprep.seq import add_cache, collate, concatenate, prefetch, smap, unbatch
    from imgprep.steps import STEPS, Step, parse_steps
