"""The floor: JPEG draft decode to grayscale + cover crop/resize + 2 PNG writes, N threads.

No other operation: this is the practical limit (decode plus encode) that imgprep is held to.
The second write is the same image again, so the floor does not even pay for the mirror.
``--png-writer imgprep`` deflates with zlib-ng as imgprep does: the floor for imgprep's own
encoder, which shows imgprep's overhead apart from its faster PNG writer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pillow_steps import open_drafted_gray, parse_job, resize_cover, save_pair


def main() -> None:
    job = parse_job(__doc__ or "")

    def prepare(path: Path) -> None:
        image = resize_cover(open_drafted_gray(path, job.size), job.size)
        save_pair(image, image, job.output_dir, path.stem, job.png_writer)

    with ThreadPoolExecutor(job.workers) as pool:
        for _ in pool.map(prepare, job.inputs):
            pass


if __name__ == "__main__":
    main()
