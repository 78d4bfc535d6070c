"""Hand-written Pillow ThreadPoolExecutor for the random chain: what a careful user writes.

Per file, as imgprep's ``random-crop WxH jitter --brightness 0.3 --contrast 0.3 grayscale
augment --mirror``: decode, torchvision's RandomResizedCrop box (10 tries, then the centre
crop) drawn from a generator seeded per file, crop + bilinear resize, brightness and contrast
factors in [0.7, 1.3] in a random order (ImageEnhance), grayscale, mirror, two PNG writes;
``--workers`` threads.
"""

from __future__ import annotations

import hashlib
import math
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from pillow_steps import parse_job, save_pair

SCALE, RATIO, SPREAD = (0.08, 1.0), (3 / 4, 4 / 3), 0.3


def crop_box(rng: random.Random, width: int, height: int) -> tuple[int, int, int, int]:
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top, left = rng.randint(0, height - h), rng.randint(0, width - w)
            return left, top, left + w, top + h
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def main() -> None:
    job = parse_job(__doc__ or "")

    def prepare(path: Path) -> None:
        rng = random.Random(hashlib.sha256(path.name.encode()).digest())
        with Image.open(path) as source:
            image = source.convert("RGB")
        box = crop_box(rng, *image.size)
        image = image.resize(job.size, Image.Resampling.BILINEAR, box=box)
        enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast]
        rng.shuffle(enhancers)
        for enhancer in enhancers:
            image = enhancer(image).enhance(rng.uniform(1 - SPREAD, 1 + SPREAD))
        grey = ImageOps.grayscale(image)
        save_pair(grey, ImageOps.mirror(grey), job.output_dir, path.stem)

    with ThreadPoolExecutor(job.workers) as pool:
        for _ in pool.map(prepare, job.inputs):
            pass


if __name__ == "__main__":
    main()
