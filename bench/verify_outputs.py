"""Check that a command really did the work, so no row wins by doing less.

Every input must have ``STEM.png`` and ``STEM_mirror.png`` (no other files but hidden ones),
each of the target size in mode L (headers only: cheap). With ``check_ops`` one pair is also
decoded: the second must be the mirror of the first, and autocontrast must have stretched it to
(nearly) the full 0..255 range. The outputs' total size, and the part of it that is compressed
pixels, are returned: a faster row must not be one that compresses less.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageOps, ImageStat


class WrongOutput(RuntimeError):
    pass


def expected_names(stems: list[str]) -> set[str]:
    return {f"{stem}{suffix}.png" for stem in stems for suffix in ("", "_mirror")}


@dataclass(frozen=True)
class OutputSize:
    file_bytes: int  # all outputs, as on disk
    pixel_bytes: int  # their IDAT chunks' payloads: the compressed pixels, without metadata


def png_pixel_bytes(data: bytes) -> int:
    """The total IDAT payload of a PNG file's bytes."""
    total, position = 0, 8
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"IDAT":
            total += length
        position += 12 + length
    return total


def check_outputs(
    output_dir: Path, stems: list[str], size: tuple[int, int], *, check_ops: bool
) -> OutputSize:
    # hidden files are bookkeeping, not outputs (imgprep keeps .imgprep-manifest.jsonl there)
    found = {path.name for path in output_dir.iterdir() if not path.name.startswith(".")}
    expected = expected_names(stems)
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise WrongOutput(
            f"{output_dir}: {len(found)} files, expected {len(expected)}; "
            f"missing {missing[:3]}, unexpected {extra[:3]}"
        )
    file_bytes = pixel_bytes = 0
    for name in sorted(found):
        data = (output_dir / name).read_bytes()
        file_bytes += len(data)
        pixel_bytes += png_pixel_bytes(data)
        with Image.open(io.BytesIO(data)) as image:
            if image.size != size or image.mode != "L":
                raise WrongOutput(f"{name}: {image.size} {image.mode}, expected {size} L")
    if check_ops:
        # chelsea's own grey levels span only ~4..184, so a missing autocontrast shows on it
        probe = next((stem for stem in stems if "chelsea" in stem), stems[0])
        _check_one_pair(output_dir, probe)
    return OutputSize(file_bytes, pixel_bytes)


def _check_one_pair(output_dir: Path, stem: str) -> None:
    with Image.open(output_dir / f"{stem}.png") as image:
        original = image.copy()
    with Image.open(output_dir / f"{stem}_mirror.png") as image:
        mirrored = image.copy()
    difference = ImageStat.Stat(ImageChops.difference(ImageOps.mirror(original), mirrored)).mean[0]
    if difference > 1.0:
        raise WrongOutput(
            f"{stem}_mirror.png is not {stem}.png mirrored (mean diff {difference:.1f})"
        )
    low, high = original.getextrema()
    if low > 8 or high < 247:
        raise WrongOutput(f"{stem}.png spans {low}..{high}: autocontrast was not applied")
