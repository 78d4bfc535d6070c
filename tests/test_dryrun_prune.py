"""--dry-run lists what a run would do and writes nothing; --prune removes exactly the orphans."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import SAMPLES, SEED_STEPS
from imgprep._fs import TEMP_SUFFIX
from imgprep._lock import LOCK_NAME
from imgprep.manifest import MANIFEST_NAME, Manifest

SEED = SEED_STEPS.split()


def listing(stdout: str) -> list[tuple[str, str, str]]:
    """(word, input, output) of each dry-run line; ("WOULD-PRUNE", "", output) for a prune."""
    lines = []
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        source, arrow, output = rest.partition(" -> ")
        lines.append((word, source, output) if arrow else (word, "", rest))
    return lines


def files_below(folder: Path) -> set[str]:
    """The files below ``folder`` but imgprep's own (its manifest and the folder's lock)."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name not in (MANIFEST_NAME, LOCK_NAME)
    }


def state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` with its size and mtime (the manifest too)."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def manifest_outputs(folder: Path) -> set[str]:
    manifest = Manifest.load(folder, writable=False)
    try:
        return {entry.output for entry in manifest.entries()}
    finally:
        manifest.close()


# --- --dry-run ----------------------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_lists_what_the_real_run_then_writes(cli, samples, tmp_path):
    out = tmp_path / "out"
    dry = cli("-n", "-i", samples, "-o", out, *SEED)
    assert dry.exit_code == 0, dry.stderr
    assert not out.exists()  # not even the output folder
    planned = listing(dry.stdout)
    assert {word for word, _, _ in planned} == {"WOULD-WRITE"} and len(planned) == 12
    assert dry.stderr.startswith("imgprep: dry run: 12 to write, 0 up to date (nothing written)")

    real = cli("-i", samples, "-o", out, *SEED)
    assert real.exit_code == 0
    written = {(out / name).as_posix() for name in files_below(out)}
    assert {output for _, _, output in planned} == {Path(o).as_posix() for o in written}
    assert {Path(source).name for _, source, _ in planned} == {p.name for p in samples.iterdir()}


def test_a_dry_run_over_a_done_folder_changes_nothing_and_says_what_each_change_means(
    cli, samples, tmp_path
):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, *SEED).exit_code == 0
    leftover = out / f".stale.png.00000001{TEMP_SUFFIX}"  # a killed run's temporary file
    leftover.write_bytes(b"partial")
    os.utime(samples / "rocket.jpg")  # only the mtime: the run would hash it
    shutil.copyfile(samples / "camera.png", samples / "coffee.png")  # new bytes: rewritten
    before = state(out)

    dry = cli("--dry-run", "-i", samples, "-o", out, *SEED)
    assert dry.exit_code == 0, dry.stderr
    assert state(out) == before  # manifest, outputs and the temporary file untouched
    words = {Path(output).name: word for word, _, output in listing(dry.stdout)}
    assert words["rocket.jpg"] == words["rocket_mirror.jpg"] == "WOULD-CHECK"
    assert words["coffee.png"] == words["coffee_mirror.png"] == "WOULD-WRITE"
    assert [w for name, w in words.items() if "rocket" not in name and "coffee" not in name] == [
        "UP-TO-DATE"
    ] * 8

    real = cli("-v", "-i", samples, "-o", out, *SEED)
    rewritten = {
        line.split(" -> ")[1].split(" ")[0]
        for line in real.stderr.splitlines()
        if line.startswith("WRITTEN ")
    }
    assert {Path(path).name for path in rewritten} == {"coffee.png", "coffee_mirror.png"}


def test_a_dry_run_leaves_a_manifest_torn_by_a_kill_as_it_is(cli, samples, tmp_path):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, "grayscale").exit_code == 0
    manifest = out / MANIFEST_NAME
    torn = manifest.read_bytes() + b'["half a line'
    manifest.write_bytes(torn)
    dry = cli("-n", "-i", samples, "-o", out, "grayscale")
    assert dry.exit_code == 0
    assert manifest.read_bytes() == torn
    assert [word for word, _, _ in listing(dry.stdout)] == ["UP-TO-DATE"] * 6


def test_a_dry_run_exits_as_the_real_run_would_for_planning_errors(cli, samples, tmp_path):
    (samples / "rocket.png").write_bytes((samples / "camera.png").read_bytes())  # rocket.jpg too
    out = tmp_path / "out"
    args = ["-i", samples, "-o", out, "--format", "png", "grayscale"]
    dry, real = cli("-n", *args), cli(*args)
    assert dry.exit_code == real.exit_code == 1
    assert "would both be written to" in dry.stderr and dry.stdout == ""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dry = cli("-n", "-i", samples, "-o", blocker, "grayscale")
    assert dry.exit_code == 2 and "cannot create output folder" in dry.stderr


def test_a_dry_run_says_which_inputs_planning_knows_will_fail(cli, samples, tmp_path):
    (samples / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    dry = cli("-n", "-i", samples, "-o", tmp_path / "out", "grayscale")
    assert dry.exit_code == 1
    failing = [line for line in dry.stdout.splitlines() if line.startswith("WOULD-FAIL")]
    assert failing == [
        f"WOULD-FAIL {samples / 'gone.jpg'} -> {tmp_path / 'out' / 'gone.jpg'}: "
        "broken symbolic link"
    ]


# --- --prune ------------------------------------------------------------------------------------


def test_prune_removes_exactly_the_orphaned_outputs_and_nothing_a_user_put_there(
    cli, samples, tmp_path
):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, *SEED).exit_code == 0
    (out / "notes.txt").write_text("mine")
    shutil.copyfile(out / "camera.png", out / "my_copy.png")  # an image imgprep did not write
    (out / "sub").mkdir()
    shutil.copyfile(out / "hopper.jpg", out / "sub" / "hopper.jpg")
    (samples / "camera.png").unlink()  # its two outputs are orphans now
    chain = SEED[: SEED.index("augment")]  # no augment: every _mirror output is an orphan

    report = tmp_path / "dry.jsonl"
    dry = cli("-n", "--prune", "--report", report, "-i", samples, "-o", out, *chain)
    would = sorted(Path(o).name for w, _, o in listing(dry.stdout) if w == "WOULD-PRUNE")
    expected = sorted(
        ["camera.png", "camera_mirror.png"]
        + [f"{Path(n).stem}_mirror{Path(n).suffix}" for n in os.listdir(samples)]
    )
    assert would == expected
    assert files_below(out) >= set(expected)  # the dry run removed nothing
    summary = json.loads(report.read_text().splitlines()[-1])
    assert summary["dry_run"]["WOULD-PRUNE"] == 7 and summary["pruned"] == 0

    real = cli("--prune", "-i", samples, "-o", out, *chain)
    assert real.exit_code == 0, real.stderr
    pruned = sorted(
        Path(line.split(" ", 1)[1]).name
        for line in real.stderr.splitlines()
        if line.startswith("PRUNED ")
    )
    assert pruned == expected
    assert files_below(out) == {p.name for p in samples.iterdir()} | {
        "notes.txt",
        "my_copy.png",
        "sub/hopper.jpg",
    }
    assert manifest_outputs(out) == {p.name for p in samples.iterdir()}
    assert ", 7 pruned in " in real.stderr
    again = cli("--prune", "-i", samples, "-o", out, *chain)
    assert "PRUNED" not in again.stderr and "0 written, 5 up to date" in again.stderr


def test_prune_keeps_an_orphan_changed_since_imgprep_wrote_it(cli, samples, tmp_path):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, "grayscale").exit_code == 0
    (samples / "rocket.jpg").unlink()
    (out / "rocket.jpg").write_bytes(b"the user's own file now")
    result = cli("--prune", "-i", samples, "-o", out, "grayscale")
    assert result.exit_code == 0
    assert (out / "rocket.jpg").read_bytes() == b"the user's own file now"
    assert f"Warning: {out / 'rocket.jpg'}: not pruned: changed since imgprep wrote it" in (
        result.stderr.splitlines()
    )
    assert "rocket.jpg" not in manifest_outputs(out)  # no longer imgprep's


@pytest.mark.parametrize(
    "partial", [["--limit", "2"], ["--sample", "2", "--seed", "1"], ["--shard", "1/2"]]
)
def test_prune_refuses_a_run_over_part_of_the_inputs(cli, samples, tmp_path, partial):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, "grayscale").exit_code == 0
    before = state(out)
    result = cli("--prune", *partial, "-i", samples, "-o", out, "grayscale")
    assert result.exit_code == 2
    assert f"--prune cannot go with {partial[0]}" in result.stderr
    assert state(out) == before


def test_prune_holds_back_when_an_input_path_could_not_be_read(cli, samples, tmp_path):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, "grayscale").exit_code == 0
    (samples / "rocket.jpg").unlink()
    (samples / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = cli("--prune", "-i", samples, "-o", out, "grayscale")
    assert result.exit_code == 1  # the broken link is a failed input
    assert (out / "rocket.jpg").is_file()
    assert any(
        line.startswith("Warning: not pruned: 1 input path(s) could not be read")
        for line in result.stderr.splitlines()
    )


def test_prune_never_removes_an_input_replaced_in_place(cli, samples, tmp_path):
    assert cli("--in-place", "-i", samples, "-o", samples, "grayscale").exit_code == 0
    before = {p.name for p in samples.iterdir()}
    result = cli(
        "--in-place",
        "--prune",
        "-i",
        samples,
        "-o",
        samples,
        "--format",
        "png",
        "--name",
        "{stem}_g.{ext}",
        "grayscale",
    )
    assert result.exit_code == 0, result.stderr
    assert before <= {p.name for p in samples.iterdir()}  # the inputs are all there
    assert "PRUNED" not in result.stderr and "Warning" not in result.stderr


def test_prune_removes_the_sub_folders_it_empties_and_no_other(cli, samples, tmp_path):
    (samples / "2024").mkdir()
    (samples / "2025" / "q1").mkdir(parents=True)
    shutil.copyfile(samples / "hopper.jpg", samples / "2024" / "hopper.jpg")
    shutil.copyfile(samples / "hopper.jpg", samples / "2025" / "q1" / "hopper.jpg")
    out = tmp_path / "out"
    assert cli("-r", "-i", samples, "-o", out, "grayscale").exit_code == 0
    (out / "2024" / "notes.txt").write_text("mine")
    (out / "empty-before").mkdir()
    shutil.rmtree(samples / "2024")
    shutil.rmtree(samples / "2025")
    result = cli("-r", "--prune", "-i", samples, "-o", out, "grayscale")
    assert result.exit_code == 0, result.stderr
    assert not (out / "2025").exists()  # 2025/q1/ held only a pruned output
    assert sorted(p.name for p in (out / "2024").iterdir()) == ["notes.txt"]
    assert (out / "empty-before").is_dir()  # empty, but prune never held anything there


def test_a_dry_run_lists_inputs_left_out_by_on_collision_skip_as_would_fail(cli, tmp_path):
    """What the real run fails (two inputs, one output name) the dry run says it would."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(SAMPLES / "hopper.jpg", folder / "a.jpg")
    Image.open(SAMPLES / "coffee.png").save(folder / "a.png")
    words = ["-i", folder, "-o", tmp_path / "out", "--format", "png", "--on-collision", "skip"]
    dry = cli("-n", *words, "grayscale")
    assert dry.exit_code == 1, dry.stderr
    listed = [line.split(" ", 1)[0] for line in dry.stdout.splitlines()]
    assert listed == ["WOULD-FAIL", "WOULD-FAIL"]
    assert not (tmp_path / "out").exists()
    real = cli(*words, "grayscale")
    assert real.exit_code == 1 and real.stderr.count("Error: ") == 2
