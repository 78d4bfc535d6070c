"""Runs docs/tutorial.md on the real sample photos and checks what the tutorial claims.

The ```python blocks are executed in order in one namespace, from a temporary folder holding a
copy of sample_images/. Each block is compiled with its line numbers in tutorial.md, so a
failure points at the tutorial's own line. Speed is shown by the overlap of loads (at least two
in progress at once), never by comparing timings.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block, in order."""
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in BLOCK.finditer(text)
    ]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(ROOT / "sample_images", folder / "sample_images")
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for first_line, code in python_blocks(TUTORIAL.read_text(encoding="utf-8")):
            padded = "\n" * (first_line - 1) + code
            exec(compile(padded, str(TUTORIAL), "exec"), namespace)
    return folder, namespace, TUTORIAL.read_text(encoding="utf-8")


def test_tutorial_has_the_sections_it_promises(tutorial: tuple[Path, dict[str, Any], str]) -> None:
    _, _, text = tutorial
    assert len(python_blocks(text)) >= 10
    for heading in (
        "Initial data loading",
        "Mapping transformations",
        "Combining sequences",
        "prefetching",
        "Opening each file once",
    ):
        assert heading in text


def test_building_the_pipeline_computes_nothing(tutorial: tuple[Path, dict[str, Any], str]) -> None:
    _, namespace, _ = tutorial
    assert len(namespace["photos"]) == 6
    assert len(namespace["raw_images"]) == 60
    assert namespace["first_three"] == [(200, 200)] * 3
    assert (namespace["sample"].mode, namespace["sample"].size) == ("L", (200, 200))


def test_concatenated_mirror_copies(tutorial: tuple[Path, dict[str, Any], str]) -> None:
    _, namespace, _ = tutorial
    augmented = namespace["augmented"]
    assert len(augmented) == 120
    original, flipped = namespace["original"], namespace["flipped"]
    assert original.size == flipped.size == (200, 200)
    assert flipped.tobytes() == original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    assert flipped.tobytes() != original.tobytes()


def test_prefetch_overlaps_the_io_bound_stage_and_keeps_results(
    tutorial: tuple[Path, dict[str, Any], str],
) -> None:
    _, namespace, _ = tutorial
    assert namespace["most_loads_at_once"] >= 2  # the two workers waited for the disk together
    assert namespace["loads_in_progress"] == 0
    assert namespace["same"] is True
    assert len(namespace["prefetched_results"]) == 24


def test_cache_collate_unbatch_opens_each_file_once(
    tutorial: tuple[Path, dict[str, Any], str],
) -> None:
    folder, namespace, _ = tutorial
    paths = namespace["paths"]
    # opened was cleared before the interleaved run; the broken-file section then added one.
    # Workers open files concurrently, so compare as multisets: each file once per use.
    assert Counter(namespace["opened"]) == Counter([path.name for path in paths] + ["broken.png"])
    info = namespace["prepared"].cache_info()
    assert (info.hits, info.misses) == (60, 60)
    outputs = namespace["outputs"]
    assert len(outputs) == 120
    for number in (0, 7):  # originals and mirrored copies alternate
        original, mirrored = outputs[2 * number], outputs[2 * number + 1]
        assert original.tobytes() == namespace["contrasted_images"][number].tobytes()
        assert mirrored.tobytes() == original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    written = sorted((folder / "out" / "tutorial").glob("*.png"))
    assert len(written) == 120
    with Image.open(folder / "out" / "tutorial" / "007-mirrored.png") as image:
        assert (image.mode, image.size) == ("L", (200, 200))
        assert image.tobytes() == outputs[15].tobytes()


def test_failure_names_the_item_and_the_tutorial_line(
    tutorial: tuple[Path, dict[str, Any], str],
) -> None:
    _, namespace, text = tutorial
    failure = namespace["failure"]
    assert failure.index == 1
    assert type(failure.__cause__).__name__ == "UnidentifiedImageError"
    built_line = next(
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith("with_broken_file = ")
    )
    assert f"computing item 1 of smap(load) (built at {TUTORIAL}:{built_line}) failed" in str(
        failure
    )
