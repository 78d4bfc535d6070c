"""Check that a command really did the work, so no row wins by doing less.

Every input must have ``STEM.png`` and ``STEM_mirror.png`` (no other files but hidden ones),
each of the target size in mode L (headers only: cheap). With ``check_ops`` one pair is also
decoded: the second must be the mirror of the first, and autocontrast must have stretched it to
(nearly) the full 0..255 range.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops, ImageOps, ImageStat


class WrongOutput(RuntimeError):
    pass


def expected_names(stems: list[str]) -> set[str]:
    return {f"{stem}{suffix}.png" for stem in stems for suffix in ("", "_mirror")}


def check_outputs(
    output_dir: Path, stems: list[str], size: tuple[int, int], *, check_ops: bool
) -> None:
    # hidden files are bookkeeping, not outputs (imgprep keeps .imgprep-manifest.jsonl there)
    found = {path.name for path in output_dir.iterdir() if not path.name.startswith(".")}
    expected = expected_names(stems)
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise WrongOutput(
            f"{output_dir}: {len(found)} files, expected {len(expected)}; "
            f"missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for name in sorted(found):
        with Image.open(output_dir / name) as image:
            if image.size != size or image.mode != "L":
                raise WrongOutput(f"{name}: {image.size} {image.mode}, expected {size} L")
    if check_ops:
        # chelsea's own grey levels span only ~4..184, so a missing autocontrast shows on it
        probe = next((stem for stem in stems if "chelsea" in stem), stems[0])
        _check_one_pair(output_dir, probe)


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
