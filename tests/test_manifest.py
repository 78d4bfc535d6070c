"""imgprep.manifest: the JSON Lines record of what made each output, held in arrays, judging
re-runs without decoding anything."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_NAMES, SAMPLES, SEED_STEPS
from imgprep._lock import LOCK_NAME
from imgprep.manifest import CHECK, CURRENT, MANIFEST_NAME, STALE, Entry, Manifest, read_input
from imgprep.pipeline import RunOptions, run
from imgprep.steps import parse_steps

FIELDS = [
    "output",
    "input",
    "input_size",
    "input_mtime_ns",
    "input_sha256",
    "recipe",
    "output_size",
    "output_mtime_ns",
]


def manifest_lines(folder: Path) -> list[Any]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


def options_for(samples: Path, out: Path) -> RunOptions:
    return RunOptions(output=out, steps=parse_steps(SEED_STEPS), inputs=[str(samples)])


@pytest.fixture
def prepared(tmp_path: Path, samples: Path) -> Path:
    """An output folder after one run of the seed chain over the sample photos."""
    out = tmp_path / "out"
    assert run(options_for(samples, out)).written == 2 * len(SAMPLE_NAMES)
    return out


def entry(folder: Path, output: str) -> Entry:
    row = next(row for row in manifest_lines(folder)[1:] if row[0] == output)
    return Entry(*row)


def test_a_header_then_one_array_per_output_naming_inputs_below_their_root(
    prepared: Path, samples: Path
) -> None:
    header, *rows = manifest_lines(prepared)
    assert header == {"imgprep_manifest": 2, "fields": FIELDS}
    assert sorted(row[0] for row in rows) == sorted(
        path.name for path in prepared.iterdir() if not path.name.startswith(".")
    )
    for output, name, size, mtime, sha256, recipe, output_size, output_mtime in rows:
        assert not os.path.isabs(name) and name in SAMPLE_NAMES  # below -i samples/
        source = samples / name
        assert (size, mtime) == (source.stat().st_size, source.stat().st_mtime_ns)
        assert sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        written = (prepared / output).stat()
        assert (output_size, output_mtime) == (written.st_size, written.st_mtime_ns)
        assert len(recipe) == 32


def test_judge_says_current_check_or_stale_from_stats_alone(prepared: Path) -> None:
    recorded = entry(prepared, "coffee.png")
    manifest = Manifest.load(prepared)
    name, recipe, path = recorded.input, recorded.recipe, str(prepared / "coffee.png")
    size, mtime = recorded.input_size, recorded.input_mtime_ns

    def judge(output: str = "coffee.png", **changes: Any) -> int:
        asked = {"recipe": recipe, "input_name": name, "input_identity": (size, mtime)} | changes
        return manifest.judge(output, output_path=path, **asked)

    assert judge() == CURRENT
    assert judge(input_identity=(size, mtime + 1)) == CHECK  # touched: the sha256 decides
    assert judge(input_identity=(size + 1, mtime + 1)) == STALE  # edited
    assert judge(recipe="0" * 32) == STALE  # another chain or encoder setting
    assert judge(input_name="2024/" + name) == STALE  # another input under this output's name
    assert judge("nothing/recorded.png") == STALE
    os.utime(path, ns=(1, 1))
    assert judge() == STALE  # the output was touched or edited by hand
    os.unlink(path)
    assert judge() == STALE  # ... or deleted
    manifest.close()


def test_confirm_compares_the_sha256_and_remembers_a_touched_input(
    prepared: Path, samples: Path
) -> None:
    recorded = entry(prepared, "coffee.png")
    path = str(prepared / "coffee.png")
    later = time.time_ns() + 10_000_000_000
    os.utime(samples / "coffee.png", ns=(later, later))
    read = read_input(samples / "coffee.png")
    assert read is not None and read[1] == (recorded.input_size, later)
    manifest = Manifest.load(prepared)
    assert manifest.judge("coffee.png", recorded.recipe, "coffee.png", read[1], path) == CHECK
    assert not manifest.confirm("coffee.png", "coffee.png", ("0" * 64, read[1]))  # other bytes
    assert manifest.confirm("coffee.png", "coffee.png", read)
    manifest.close()
    again = Manifest.load(prepared)  # the new mtime was recorded: no hashing next time
    assert again.judge("coffee.png", recorded.recipe, "coffee.png", read[1], path) == CURRENT
    again.close()


def test_a_manifest_in_the_first_format_is_matched_then_rewritten(
    tmp_path: Path, samples: Path
) -> None:
    out = tmp_path / "out"
    options = options_for(samples, out)
    run(options)
    header, *rows = manifest_lines(out)
    # what imgprep wrote before: one object per line, the input's absolute path
    first_format = [
        {
            "output": row[0],
            "input": str((samples / row[1]).absolute()),
            "input_size": row[2],
            "input_mtime_ns": row[3],
            "input_digest": row[4],
            "recipe": row[5],
            "output_size": row[6],
            "output_mtime_ns": row[7],
        }
        for row in rows
    ]
    (out / MANIFEST_NAME).write_text("".join(json.dumps(line) + "\n" for line in first_format))
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    report = run(options)
    assert (report.written, report.up_to_date) == (0, 2 * len(SAMPLE_NAMES))
    rewritten = (MANIFEST_NAME, LOCK_NAME)  # the run rewrote the manifest, under the lock
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name not in rewritten} == {
        name: mtime for name, mtime in before.items() if name not in rewritten
    }
    new_header, *new_rows = manifest_lines(out)  # rewritten in the current format
    assert new_header == header and sorted(new_rows) == sorted(rows)


def test_a_torn_last_line_is_cut_off_in_place(prepared: Path) -> None:
    path = prepared / MANIFEST_NAME
    whole = path.read_bytes()
    inode = path.stat().st_ino
    with open(path, "ab") as stream:
        stream.write(b'["half.png","half.jpg",12')  # a kill in the middle of a line
    Manifest.load(prepared).close()
    assert path.read_bytes() == whole and path.stat().st_ino == inode  # not a rewrite
    last = whole.splitlines()[-1]
    with open(path, "ab") as stream:
        stream.write(last)  # whole, but for its newline: kept, and given one
    Manifest.load(prepared).close()
    assert path.read_bytes() == whole + last + b"\n" and path.stat().st_ino == inode


def make_entry(number: int, recipe: str = "r" * 32) -> Entry:
    return Entry(f"{number}.png", f"{number}.jpg", 10, 20, "s" * 64, recipe, 30, 40)


def test_superseded_lines_are_compacted_once_they_are_a_quarter(tmp_path: Path) -> None:
    def record(*entries: Entry) -> None:
        manifest = Manifest.load(tmp_path)
        for one in entries:
            manifest.record(one)
        manifest.compact()

    record(*(make_entry(number) for number in range(8)))
    assert len(manifest_lines(tmp_path)) == 1 + 8
    record(make_entry(0, "a" * 32), make_entry(1, "a" * 32))  # 2 of 8 superseded: kept
    assert len(manifest_lines(tmp_path)) == 1 + 10
    record(make_entry(2, "a" * 32))  # 3 of 8: more than a quarter, one line per output
    header, *rows = manifest_lines(tmp_path)
    assert header["fields"] == FIELDS
    assert sorted((row[0], row[5]) for row in rows) == sorted(
        (f"{number}.png", ("a" if number < 3 else "r") * 32) for number in range(8)
    )


def test_an_output_costs_a_few_dozen_bytes_in_memory(tmp_path: Path) -> None:
    count = 50_000
    with open(tmp_path / MANIFEST_NAME, "w") as stream:
        for number in range(count):
            digest = hashlib.sha256(str(number).encode()).hexdigest()
            row = [f"d{number // 1000:03d}/{number:06d}_mirror.png", f"d{number:06d}.jpg"]
            row += [2345, 1_718_000_000_000_000_000 + number, digest, "5e8f2a" * 5 + "00"]
            stream.write(json.dumps([*row, 678, 1_718_000_000_500_000_000 + number]) + "\n")
    tracemalloc.start()
    try:
        manifest = Manifest.load(tmp_path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 64 * count  # arrays: an Entry object per output costs ~10x that
    assert peak < held + 4 * 2**20  # read in chunks, never as a whole
    last_line = (tmp_path / MANIFEST_NAME).read_text().splitlines()[-1]
    assert manifest.get(f"d049/{count - 1:06d}_mirror.png") == Entry(*json.loads(last_line))
    manifest.close()


def test_a_moved_or_linked_input_tree_is_current_and_a_renamed_file_is_rebuilt(
    tmp_path: Path, samples: Path
) -> None:
    # the manifest names each input below the root it was found under, not by absolute path
    tree = tmp_path / "data" / "valA"
    shutil.copytree(samples, tree / "sub")
    out = tmp_path / "out"

    def rerun(source: Path) -> tuple[int, int]:
        options = RunOptions(
            output=out, steps=parse_steps("resize 64"), inputs=[str(source)], recursive=True
        )
        report = run(options)
        return report.written, report.up_to_date

    assert rerun(tree) == (len(SAMPLE_NAMES), 0)
    names = sorted(row[1] for row in manifest_lines(out)[1:])
    assert names == sorted(f"sub/{name}" for name in SAMPLE_NAMES)
    moved = tree.rename(tmp_path / "data" / "valB")  # mv data/valA data/valB
    assert rerun(moved) == (0, len(SAMPLE_NAMES))
    (tmp_path / "mount").symlink_to(moved, target_is_directory=True)  # a link, another mount
    assert rerun(tmp_path / "mount") == (0, len(SAMPLE_NAMES))
    # another name in the tree is another input: its output is made from it, not trusted
    (moved / "sub" / "hopper.jpg").rename(moved / "sub" / "grace.jpg")
    assert rerun(moved) == (1, len(SAMPLE_NAMES) - 1)
    assert "sub/grace.jpg" in {row[1] for row in manifest_lines(out)[1:]}


def test_each_name_of_a_hard_linked_file_has_its_own_output_and_line(tmp_path: Path) -> None:
    # cp -al and deduplicating stores make one file reachable by several names
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    shutil.copy2(SAMPLES / "hopper.jpg", data / "a" / "x.jpg")
    os.link(data / "a" / "x.jpg", data / "b" / "x.jpg")
    out = tmp_path / "out"
    options = RunOptions(output=out, steps=parse_steps("grayscale"), inputs=[str(data)],
                         recursive=True)  # fmt: skip
    report = run(options)
    assert (report.written, report.failed) == (2, 0)
    assert sorted(row[0] for row in manifest_lines(out)[1:]) == ["a/x.jpg", "b/x.jpg"]
    assert sorted(row[1] for row in manifest_lines(out)[1:]) == ["a/x.jpg", "b/x.jpg"]
    assert run(options).up_to_date == 2
