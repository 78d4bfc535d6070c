"""Build the benchmark corpora from sample_images/ (idempotent: a stamp file records the recipe).

- ``seed``: the 6 sample photos as JPEG quality 90, each scaled to 640 px wide (the reference's
  "640x427 class": coffee, chelsea, astronaut, camera and hopper are resized, rocket already is
  640x427), repeated to N files with distinct names. Embedded ICC profiles are kept.
- ``seed_many``: the same, with 4x the files, for the memory-flatness check.
- ``large``: camera-size 4000x3000 JPEGs *upscaled* from the samples (centre-cropped to 4:3).
- ``tiny``: one small photo (hopper.jpg, 128x128) for the start-up check.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import PIL
from PIL import Image, ImageOps

SEED_WIDTH = 640
LARGE_SIZE = (4000, 3000)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Corpus:
    seed: Path
    seed_many: Path
    large: Path
    tiny: Path


def jpeg_count(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.jpg")) if folder.is_dir() else 0


def _encode_jpeg(image: Image.Image, icc_profile: bytes | None) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": JPEG_QUALITY}
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _sample_images(sample_dir: Path) -> list[tuple[str, Image.Image, bytes | None]]:
    samples = []
    for path in sorted(sample_dir.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
            continue
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            icc_profile = opened.info.get("icc_profile")
            samples.append((path.stem, image.copy(), icc_profile))
    if not samples:
        raise SystemExit(f"no sample photos in {sample_dir}")
    return samples


def seed_sources(sample_dir: Path) -> list[tuple[str, bytes]]:
    """(name, JPEG bytes) per sample, scaled to SEED_WIDTH px wide."""
    sources = []
    for name, image, icc_profile in _sample_images(sample_dir):
        if image.width != SEED_WIDTH:
            height = round(image.height * SEED_WIDTH / image.width)
            image = image.resize((SEED_WIDTH, height), Image.Resampling.LANCZOS)
        sources.append((name, _encode_jpeg(image, icc_profile)))
    return sources


def large_sources(sample_dir: Path) -> list[tuple[str, bytes]]:
    """(name, JPEG bytes) per sample, centre-cropped to 4:3 and upscaled to LARGE_SIZE."""
    sources = []
    for name, image, icc_profile in _sample_images(sample_dir):
        large = ImageOps.fit(image, LARGE_SIZE, Image.Resampling.BICUBIC)
        sources.append((f"{name}_upscaled", _encode_jpeg(large, icc_profile)))
    return sources


def _fill_folder(folder: Path, sources: list[tuple[str, bytes]], count: int) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for index in range(count):
        name, data = sources[index % len(sources)]
        (folder / f"{index:05d}_{name}.jpg").write_bytes(data)


def build_corpus(
    sample_dir: Path, corpus_dir: Path, seed_count: int, many_count: int, large_count: int
) -> Corpus:
    corpus = Corpus(
        seed=corpus_dir / f"seed_{seed_count}",
        seed_many=corpus_dir / f"seed_{many_count}",
        large=corpus_dir / f"large_{large_count}",
        tiny=corpus_dir / "tiny",
    )
    recipe = {
        "pillow": PIL.__version__,
        "seed_width": SEED_WIDTH,
        "large_size": list(LARGE_SIZE),  # as JSON reads it back
        "quality": JPEG_QUALITY,
        "samples": sorted(p.name for p in sample_dir.iterdir()),
    }
    stamp = corpus_dir / "recipe.json"
    fresh = stamp.exists() and json.loads(stamp.read_text()) == recipe
    if not fresh:
        shutil.rmtree(corpus_dir, ignore_errors=True)
        corpus_dir.mkdir(parents=True)
    seeds: list[tuple[str, bytes]] | None = None
    for folder, count in ((corpus.seed, seed_count), (corpus.seed_many, many_count)):
        if jpeg_count(folder) != count:
            seeds = seeds or seed_sources(sample_dir)
            _fill_folder(folder, seeds, count)
    if jpeg_count(corpus.large) != large_count:
        _fill_folder(corpus.large, large_sources(sample_dir), large_count)
    if not corpus.tiny.exists():
        corpus.tiny.mkdir()
        shutil.copyfile(sample_dir / "hopper.jpg", corpus.tiny / "hopper.jpg")
    stamp.write_text(json.dumps(recipe))
    return corpus
