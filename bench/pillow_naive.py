"""Naive single-thread Pillow loop: full-size decode, ImageOps.fit, the tutorial's ops, 2 writes.

What a first attempt looks like: no draft (shrink-on-load), no threads.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from pillow_steps import parse_job, save_pair, tutorial_ops


def main() -> None:
    job = parse_job(__doc__ or "")
    for path in job.inputs:
        with Image.open(path) as opened:
            image = tutorial_ops(ImageOps.fit(opened, job.size, Image.Resampling.BICUBIC))
        save_pair(image, ImageOps.mirror(image), job.output_dir, path.stem)


if __name__ == "__main__":
    main()
