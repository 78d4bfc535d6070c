"""--limit N and --sample N --seed S: which inputs a run processes, whatever the listing order."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest
from PIL import Image

from imgprep._discover import InputFile, InputList
from imgprep._run_options import RunOptions
from imgprep._select import rank, select_inputs
from imgprep.errors import UsageError

NAMES = [f"img{number:02d}.png" for number in range(12)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Twelve small PNGs, each a different grey, named img00.png ... img11.png."""
    images = tmp_path / "images"
    images.mkdir()
    for number, name in enumerate(NAMES):
        Image.new("L", (8, 6), number * 20).save(images / name)
    return images


def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def inputs_of(names: list[str]) -> InputList:
    return InputList(InputFile(Path("in") / name, PurePath(name)) for name in names)


def options(**settings: object) -> RunOptions:
    return RunOptions(output=Path("out"), steps=(), **settings)


# --- the selection itself -------------------------------------------------------------------------


def test_without_limit_or_sample_the_inputs_are_untouched():
    inputs = inputs_of(NAMES)
    assert select_inputs(inputs, options()) is inputs


def test_limit_keeps_the_first_inputs_in_run_order():
    chosen = select_inputs(inputs_of(NAMES), options(limit=3))
    assert [str(f.relative) for f in chosen] == NAMES[:3]
    assert [str(f.path) for f in chosen] == [f"in/{name}" for name in NAMES[:3]]
    assert len(select_inputs(inputs_of(NAMES), options(limit=50))) == len(NAMES)


def test_sample_takes_the_lowest_ranks_and_keeps_run_order():
    chosen = [str(f.relative) for f in select_inputs(inputs_of(NAMES), options(sample=4, seed=9))]
    expected = sorted(NAMES, key=lambda name: rank(9, name))[:4]
    assert sorted(chosen) == sorted(expected)
    assert chosen == sorted(chosen)  # the run's order (here: by name), not the rank's


def test_sample_does_not_depend_on_the_listing_order_but_on_the_seed():
    forward = select_inputs(inputs_of(NAMES), options(sample=5, seed=1))
    backward = select_inputs(inputs_of(NAMES[::-1]), options(sample=5, seed=1))
    assert {str(f.relative) for f in forward} == {str(f.relative) for f in backward}
    other_seeds = {
        frozenset(
            str(f.relative) for f in select_inputs(inputs_of(NAMES), options(sample=5, seed=s))
        )
        for s in range(2, 6)
    }
    assert len(other_seeds | {frozenset(str(f.relative) for f in forward)}) > 1


def test_sample_ranks_the_path_below_the_input_root_not_the_root():
    here = InputList(InputFile(Path("a") / name, PurePath(name)) for name in NAMES)
    there = InputList(InputFile(Path("/elsewhere/b") / name, PurePath(name)) for name in NAMES)
    pick = options(sample=3, seed=4)
    assert [str(f.relative) for f in select_inputs(here, pick)] == [
        str(f.relative) for f in select_inputs(there, pick)
    ]


def test_sample_then_limit():
    sample = [str(f.relative) for f in select_inputs(inputs_of(NAMES), options(sample=6, seed=2))]
    both = select_inputs(inputs_of(NAMES), options(sample=6, limit=2, seed=2))
    assert [str(f.relative) for f in both] == sample[:2]


def test_problems_are_kept_with_their_input():
    inputs = InputList(
        [InputFile(Path("in/a.png"), PurePath("a.png"), "broken"), *inputs_of(NAMES)]
    )
    assert select_inputs(inputs, options(limit=1))[0].problem == "broken"


@pytest.mark.parametrize("setting", ["limit", "sample"])
def test_a_library_caller_giving_zero_is_refused(setting):
    with pytest.raises(UsageError, match=f"--{setting} must be a whole number of at least 1"):
        select_inputs(inputs_of(NAMES), options(**{setting: 0}))


# --- through the command line ---------------------------------------------------------------------


def test_limit_processes_the_first_inputs(cli, folder, tmp_path):
    result = cli("-i", folder, "-o", tmp_path / "out", "--limit", "3", "flip")
    assert result.exit_code == 0, result
    assert written(tmp_path / "out") == NAMES[:3]
    assert "3 written" in result.stderr


def test_sample_picks_the_same_files_whatever_the_listing_order(cli, folder, tmp_path):
    pick = ["--sample", "5", "--seed", "1"]
    first = cli("-i", folder, "-o", tmp_path / "first", *pick, "flip")
    again = cli("-i", folder, "-o", tmp_path / "again", *pick, "flip")
    reversed_inputs = [word for name in NAMES[::-1] for word in ("-i", folder / name)]
    by_name = cli(*reversed_inputs, "-o", tmp_path / "by_name", *pick, "flip")
    listed = "\n".join(str(folder / name) for name in NAMES[::-1]) + "\n"
    stdin = cli("-i", "-", "--base", folder, "-o", tmp_path / "stdin", *pick, "flip", input=listed)
    for result in (first, again, by_name, stdin):
        assert result.exit_code == 0, result
        assert "5 written" in result.stderr
    chosen = written(tmp_path / "first")
    assert len(chosen) == 5
    assert chosen == sorted(sorted(NAMES, key=lambda name: rank(1, name))[:5])
    for other in ("again", "by_name", "stdin"):
        assert written(tmp_path / other) == chosen, other
    for name in chosen:  # the outputs are the flipped inputs
        with Image.open(folder / name) as source, Image.open(tmp_path / "first" / name) as out:
            assert out.tobytes() == source.transpose(Image.Transpose.FLIP_TOP_BOTTOM).tobytes()


def test_another_seed_picks_other_files(cli, folder, tmp_path):
    picks = set()
    for seed in ("1", "2", "3"):
        out = tmp_path / f"seed{seed}"
        assert cli("-i", folder, "-o", out, "--sample", "5", "--seed", seed, "flip").exit_code == 0
        picks.add(tuple(written(out)))
    assert len(picks) > 1
