"""Hand-written Pillow ThreadPoolExecutor with ``draft('L')``: what a careful user writes.

Per file: draft decode to grayscale, cover crop/resize, grayscale, autocontrast cutoff 3,
mirror, two PNG writes; ``--workers`` threads (Pillow releases the GIL in decode/resize/encode).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import ImageOps

from pillow_steps import open_drafted_gray, parse_job, resize_cover, save_pair, tutorial_ops


def main() -> None:
    job = parse_job(__doc__ or "")

    def prepare(path: Path) -> None:
        image = tutorial_ops(resize_cover(open_drafted_gray(path, job.size), job.size))
        save_pair(image, ImageOps.mirror(image), job.output_dir, path.stem)

    with ThreadPoolExecutor(job.workers) as pool:
        for _ in pool.map(prepare, job.inputs):
            pass


if __name__ == "__main__":
    main()
