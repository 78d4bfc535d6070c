"""The Pillow building blocks shared by the hand-written anchors (floor, pool, naive loop).

Every anchor writes ``STEM.png`` and ``STEM_mirror.png`` per input, like imgprep's
``augment --mirror``, at Pillow's default PNG settings (zlib level 6), as imgprep does.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps


@dataclass(frozen=True)
class Job:
    inputs: list[Path]
    output_dir: Path
    size: tuple[int, int]
    workers: int
    png_writer: str  # "pillow" (Image.save) or "imgprep" (imgprep.png.save_png, zlib-ng)


def parse_job(description: str) -> Job:
    """The anchor scripts' command line: INPUT_DIR OUTPUT_DIR [--size WxH] [--workers N]."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--size", default="200x200", help="output size WxH (cover: crop + resize)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--png-writer",
        choices=["pillow", "imgprep"],
        default="pillow",
        help="imgprep: deflate with zlib-ng at imgprep's default level, as imgprep writes PNGs",
    )
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    inputs = sorted(args.input_dir.glob("*.jpg"))
    return Job(inputs, args.output_dir, (width, height), args.workers, args.png_writer)


def cover_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centred region of ``size`` with the aspect ratio of ``target`` (what cover keeps)."""
    width, height = size
    scale = min(width / target[0], height / target[1])
    crop_width, crop_height = target[0] * scale, target[1] * scale
    left, top = (width - crop_width) / 2, (height - crop_height) / 2
    return (left, top, left + crop_width, top + crop_height)


def open_drafted_gray(path: Path, target: tuple[int, int]) -> Image.Image:
    """Decode a JPEG straight to grayscale at the smallest DCT scale still covering ``target``."""
    image = Image.open(path)
    image.draft("L", target)
    return image.convert("L")  # no-op conversion for a drafted JPEG; loads the pixels


def resize_cover(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    return image.resize(target, Image.Resampling.BICUBIC, box=cover_box(image.size, target))


def tutorial_ops(image: Image.Image) -> Image.Image:
    """grayscale, then autocontrast cutting 3 % at each end (the tutorial's final choice)."""
    return ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=3)


def save_pair(
    image: Image.Image, mirrored: Image.Image, output_dir: Path, stem: str, writer: str = "pillow"
) -> None:
    for picture, path in (
        (image, output_dir / f"{stem}.png"),
        (mirrored, output_dir / f"{stem}_mirror.png"),
    ):
        if writer == "pillow":
            picture.save(path)
        else:  # what imgprep writes: no ICC chunk (an RGB profile does not fit grey pixels)
            from imgprep.config import PNG_COMPRESS_LEVEL
            from imgprep.png import save_png

            with open(path, "wb") as stream:
                save_png(picture, stream, compress_level=PNG_COMPRESS_LEVEL, icc_profile=None)
