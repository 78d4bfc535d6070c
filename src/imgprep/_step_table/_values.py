"""Value parsers of the step table: text -> value, or ``UsageError`` stating the rule and the
value (the step parser adds the step and the option)."""

from __future__ import annotations

import math

from imgprep import ops
from imgprep.errors import UsageError


def parse_angles(text: str) -> tuple[int, ...]:
    """``"90,180"`` -> ``(90, 180)``; only quarter turns, each once."""
    angles: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            angle = int(part)
        except ValueError:
            raise UsageError(f"rotations must be 90, 180 or 270, not {part!r}") from None
        if angle not in (90, 180, 270):
            raise UsageError(f"rotations must be 90, 180 or 270, not {angle}")
        if angle in angles:
            raise UsageError(f"rotation {angle} is given twice in {text!r}")
        angles.append(angle)
    return tuple(angles)


def parse_percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"cutoff must be a number of percent, not {text!r}") from None
    if math.isnan(value):
        raise UsageError(f"cutoff must be in [0, 50), not {text}")
    return ops.check_cutoff(value)


def parse_degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"degrees must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"degrees must be a finite number, not {text!r}")
    return value


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, not {text!r}")
    return value


def parse_factor(text: str) -> float:
    """An enhancement factor: a number >= 0 (1 changes nothing)."""
    return ops.check_factor(_finite(text, "factor"))


def parse_gamma(text: str) -> float:
    value = _finite(text, "gamma")
    if value <= 0:
        raise UsageError(f"gamma must be a number > 0, not {text!r}")
    return value


def parse_radius(text: str) -> float:
    value = _finite(text, "radius")
    if value < 0:
        raise UsageError(f"radius must be a number >= 0, not {text!r}")
    return value


def parse_fuzz(text: str) -> float:
    return ops.check_fuzz(_finite(text, "fuzz"))


def _whole(text: str, what: str) -> int:
    stripped = text.strip()
    if not stripped.isascii() or not stripped.lstrip("+-").isdigit():
        raise UsageError(f"{what} must be a whole number, not {text!r}")
    return int(stripped)


def parse_bits(text: str) -> int:
    bits = _whole(text, "bits")
    if not 1 <= bits <= 8:
        raise UsageError(f"bits must be in 1..8, not {bits}")
    return bits


def parse_amount(text: str) -> int:
    """A whole number >= 0 (sharpen's --percent and --threshold)."""
    value = _whole(text, "value")
    if value < 0:
        raise UsageError(f"value must be a whole number >= 0, not {value}")
    return value


def parse_copies(text: str) -> int:
    """augment's --copies: a whole number >= 1."""
    copies = _whole(text, "copies")
    if copies < 1:
        raise UsageError(f"copies must be a whole number >= 1, not {copies}")
    return copies
