"""pyvips with 2 threads: the same workload written the libvips way.

Per file: ``thumbnail`` (shrink-on-load, centre crop to WxH) -> ``colourspace('b-w')`` ->
autocontrast: linear stretch of the 3rd..97th percentile to 0..255, clipped to uchar ->
PNG, and ``fliphor`` -> PNG. A pool of ``--workers`` Python threads, each libvips pipeline
single-threaded (VIPS_CONCURRENCY=1, set before import) so the total is ``--workers`` cores.
Runs in the bench virtualenv (pyvips, libvips from the OS).
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")

import pyvips  # after the setdefault above: libvips reads VIPS_CONCURRENCY at start-up

CUTOFF_PERCENT = 3


def main() -> None:
    parser = argparse.ArgumentParser(description="pyvips thread pool")
    parser.add_argument("input_dir", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--size", default="200x200")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    pyvips.cache_set_max(0)  # every file is seen once: the operation cache only costs memory

    def prepare(path: Path) -> None:
        image = pyvips.Image.thumbnail(str(path), width, height=height, crop="centre")
        # copy_memory: render once, or each percent() and save would re-run the decode
        gray = image.colourspace("b-w").copy_memory()
        low, high = gray.percent(CUTOFF_PERCENT), gray.percent(100 - CUTOFF_PERCENT)
        scale = 255 / max(1, high - low)
        stretched = gray.linear(scale, -low * scale).cast("uchar").copy_memory()
        stretched.pngsave(str(args.output_dir / f"{path.stem}.png"), strip=True)
        stretched.fliphor().pngsave(str(args.output_dir / f"{path.stem}_mirror.png"), strip=True)

    with ThreadPoolExecutor(args.workers) as pool:
        for _ in pool.map(prepare, sorted(args.input_dir.glob("*.jpg"))):
            pass


if __name__ == "__main__":
    main()
