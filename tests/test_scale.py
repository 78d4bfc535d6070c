"""Job arrays on one output folder: --shard K/N, the folder's lock, --no-wait (docs/scale.md)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from conftest import SAMPLES, CliResult
from imgprep._fs import TEMP_SUFFIX
from imgprep._lock import CLEAN, LOCK_NAME, WRITING
from imgprep._shard import shard_of
from imgprep.manifest import MANIFEST_NAME

Cli = Callable[..., CliResult]
STEPS = ["resize", "48x48", "--mode", "cover", "grayscale", "augment", "--mirror"]
INPUTS = 18  # in two sub-folders: 36 outputs


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 small JPEGs cut from the sample photos, in photos/a and photos/b."""
    folder = tmp_path_factory.mktemp("many") / "photos"
    sources = [Image.open(path).convert("RGB") for path in sorted(SAMPLES.glob("*.jpg"))]
    sources += [Image.open(path).convert("RGB") for path in sorted(SAMPLES.glob("*.png"))]
    for number in range(INPUTS):
        source = sources[number % len(sources)]
        box = (number * 7, number * 5, number * 7 + 120, number * 5 + 90)
        target = folder / ("a" if number % 2 else "b") / f"img_{number:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        source.crop(box).save(target, quality=85)
    return folder


def command(photos: Path, out: Path, *extra: str) -> list[str]:
    return ["-r", "-i", os.fspath(photos), "-o", os.fspath(out), *extra, *STEPS]


def process(photos: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imgprep", *command(photos, out, *extra)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(running: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = running.communicate(timeout=120)
    return running.returncode, stderr


def images(folder: Path) -> dict[str, bytes]:
    """Every output below ``folder`` (hidden files left out), by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.parts[-1:])
    }


def manifest_rows(folder: Path) -> list[list[object]]:
    lines = (folder / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[0])["imgprep_manifest"] == 2
    return [json.loads(line) for line in lines[1:]]


def summary(stderr: str) -> str:
    """The summary line, without its time (a run that waited said so on a line before)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("imgprep: waiting")]
    (line,) = [line for line in lines if line.startswith("imgprep: ")]
    return line.split(" in ")[0]


@pytest.fixture(scope="module")
def reference(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of one unsharded run."""
    out = tmp_path_factory.mktemp("reference") / "out"
    code, stderr = finish(process(photos, out))
    assert code == 0, stderr
    found = images(out)
    assert len(found) == 2 * INPUTS
    return found


# --- which shard an input falls in ------------------------------------------------------------


@given(st.lists(st.text(min_size=1), unique=True, max_size=30), st.integers(1, 9))
def test_every_name_falls_in_exactly_one_shard_whatever_the_order(names, count):
    shards = [shard_of(name, count) for name in names]
    assert all(1 <= shard <= count for shard in shards)
    assert [shard_of(name, count) for name in reversed(names)] == shards[::-1]


def test_a_shard_is_the_same_on_every_host_and_in_every_process():
    # sha256 of the name, not Python's hash() (salted per process): pinned values
    assert [shard_of(f"a/img_{n:02d}.jpg", 3) for n in range(6)] == [
        shard_of_elsewhere(f"a/img_{n:02d}.jpg", 3) for n in range(6)
    ]


def shard_of_elsewhere(name: str, count: int) -> int:
    code = "import sys; from imgprep._shard import shard_of; print(shard_of(sys.argv[1], 3))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code, name], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout)


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "1/0", "a/b", "-1/3", "1/3/5", "²/3"])
def test_a_shard_that_does_not_exist_is_a_usage_error(cli: Cli, tmp_path: Path, value: str):
    done = cli("-i", SAMPLES, "-o", tmp_path / "out", "--shard", value, "grayscale")
    assert done.exit_code == 2
    assert done.stderr == (
        f"Error: --shard must be K/N, two whole numbers with 1 <= K <= N (such as 2/8), "
        f"not {value!r}\n"
    )
    assert not (tmp_path / "out").exists()


# --- shards make the files of one run ----------------------------------------------------------


def shards_of(photos: Path, count: int) -> dict[int, set[str]]:
    """The relative names of the inputs in each shard."""
    names = [path.relative_to(photos).as_posix() for path in photos.rglob("*.jpg")]
    return {k: {n for n in names if shard_of(n, count) == k} for k in range(1, count + 1)}


def test_shards_one_after_another_write_the_files_of_one_run(
    cli: Cli, photos: Path, reference: dict[str, bytes], tmp_path: Path
):
    out = tmp_path / "out"
    shards = shards_of(photos, 3)
    assert all(shards.values())  # each shard has inputs: the test means something
    for k in (1, 2, 3):
        done = cli(*command(photos, out, "--shard", f"{k}/3"))
        assert done.exit_code == 0, done.stderr
        assert (
            summary(done.stderr) == f"imgprep: {2 * len(shards[k])} written, 0 up to date, 0 failed"
        )
        assert (out / f".imgprep-manifest.{k}-of-3.jsonl").is_file()
    assert images(out) == reference
    assert not (out / MANIFEST_NAME).exists()  # only the parts so far
    again = cli(*command(photos, out))
    assert summary(again.stderr) == f"imgprep: 0 written, {2 * INPUTS} up to date, 0 failed"
    assert images(out) == reference


@pytest.mark.parametrize("on_collision", ["skip", "suffix"])
def test_shards_fail_or_rename_clashing_inputs_as_the_whole_run_does(
    cli: Cli, photos: Path, tmp_path: Path, on_collision: str
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for number, name in enumerate(["x.jpg", "y.jpg", "z.jpg"]):
        shutil.copyfile(photos / "a" / f"img_{2 * number + 1:02d}.jpg", inputs / name)
    Image.open(photos / "b" / "img_00.jpg").save(inputs / "x.png")  # x.png and x.jpg clash
    given = ["-i", os.fspath(inputs), "--format", "png", "--on-collision", on_collision, *STEPS]
    whole = cli("-o", tmp_path / "whole", *given)
    assert whole.exit_code == (1 if on_collision == "skip" else 0), whole.stderr
    failed: list[str] = []
    for k in (1, 2):
        done = cli("-o", tmp_path / "sharded", "--shard", f"{k}/2", *given)
        failed += [
            line.replace(os.fspath(tmp_path / "sharded"), os.fspath(tmp_path / "whole"))
            for line in done.stderr.splitlines()
            if line.startswith("Error:")
        ]
    assert images(tmp_path / "sharded") == images(tmp_path / "whole")
    assert sorted(failed) == sorted(
        line for line in whole.stderr.splitlines() if line.startswith("Error:")
    )


def test_shards_as_three_processes_at_once_write_the_files_of_one_run(
    cli: Cli, photos: Path, reference: dict[str, bytes], tmp_path: Path
):
    out = tmp_path / "out"
    running = [process(photos, out, "--shard", f"{k}/3") for k in (1, 2, 3)]
    results = [finish(one) for one in running]
    assert [code for code, _ in results] == [0, 0, 0], results
    shards = shards_of(photos, 3)
    assert [summary(stderr) for _, stderr in results] == [
        f"imgprep: {2 * len(shards[k])} written, 0 up to date, 0 failed" for k in (1, 2, 3)
    ]
    assert images(out) == reference
    done = cli(*command(photos, out, "--no-wait"))  # nothing runs: no wait
    assert summary(done.stderr) == f"imgprep: 0 written, {2 * INPUTS} up to date, 0 failed"
    assert not done.stderr.startswith("imgprep: waiting")


def test_an_unsharded_run_with_work_folds_the_parts_into_the_manifest(
    cli: Cli, photos: Path, reference: dict[str, bytes], tmp_path: Path
):
    out = tmp_path / "out"
    for k in (1, 2):
        assert cli(*command(photos, out, "--shard", f"{k}/2")).exit_code == 0
    edited = sorted(photos.rglob("*.jpg"))[0]
    stored = edited.read_bytes()
    try:
        Image.open(SAMPLES / "hopper.jpg").convert("RGB").crop((0, 0, 64, 64)).save(edited)
        done = cli(*command(photos, out))
    finally:
        edited.write_bytes(stored)
    assert summary(done.stderr) == f"imgprep: 2 written, {2 * INPUTS - 2} up to date, 0 failed"
    assert sorted(p.name for p in out.glob(".imgprep-manifest*")) == [MANIFEST_NAME]
    rows = manifest_rows(out)
    assert len({row[0] for row in rows}) == 2 * INPUTS  # every output, from the parts too
    done = cli(*command(photos, out))
    assert summary(done.stderr) == "imgprep: 2 written, 34 up to date, 0 failed"  # edited back
    assert images(out) == reference


def test_a_collision_across_shards_is_refused_by_every_shard(cli: Cli, tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    # x.jpg and x.png both become x.png; pick a stem whose two names fall in two shards
    stem = next(f"x{n}" for n in range(100) if shard_of(f"x{n}.jpg", 2) != shard_of(f"x{n}.png", 2))
    Image.open(SAMPLES / "hopper.jpg").save(photos / f"{stem}.jpg")
    Image.open(SAMPLES / "hopper.jpg").save(photos / f"{stem}.png")
    for k in (1, 2):
        done = cli(
            "-i",
            photos,
            "-o",
            tmp_path / "out",
            "--format",
            "png",
            "--shard",
            f"{k}/2",
            "grayscale",
        )
        assert done.exit_code == 1
        assert "would both be written to" in done.stderr
        assert not (tmp_path / "out").exists()


def test_an_empty_shard_says_so(cli: Cli, tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    name = next(f"p{n}.jpg" for n in range(100) if shard_of(f"p{n}.jpg", 2) == 1)
    Image.open(SAMPLES / "hopper.jpg").save(photos / name)
    done = cli("-i", photos, "-o", tmp_path / "out", "--shard", "2/2", "grayscale")
    assert (done.exit_code, done.stderr) == (0, "imgprep: no input images in shard 2/2\n")


# --- two runs on one folder ----------------------------------------------------------------------


def test_two_unsharded_runs_at_once_end_with_a_valid_manifest_and_whole_outputs(
    photos: Path, reference: dict[str, bytes], tmp_path: Path
):
    out = tmp_path / "out"
    results = [finish(one) for one in [process(photos, out), process(photos, out)]]
    assert [code for code, _ in results] == [0, 0], results
    summaries = sorted(summary(stderr) for _, stderr in results)
    assert summaries == [
        "imgprep: 0 written, 36 up to date, 0 failed",  # the second judged after the first
        "imgprep: 36 written, 0 up to date, 0 failed",
    ]
    assert images(out) == reference
    rows = manifest_rows(out)
    assert sorted(row[0] for row in rows) == sorted(reference)  # one line per output


class Holder:
    """Holds lock files of ``folder`` as another run would."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.descriptors = folder, list[int]()

    def __call__(self, name: str, mode: int) -> None:
        self.folder.mkdir(exist_ok=True)
        fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, mode)
        self.descriptors.append(fd)

    def release(self) -> None:
        while self.descriptors:
            os.close(self.descriptors.pop())


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Holder]:
    holder = Holder(tmp_path / "out")
    yield holder
    holder.release()


PART_1 = ".imgprep-manifest.1-of-2.jsonl.lock"


@pytest.mark.parametrize(
    ("lock", "mode", "shard", "busy"),
    [
        (LOCK_NAME, fcntl.LOCK_EX, None, True),  # another unsharded run
        (LOCK_NAME, fcntl.LOCK_EX, "1/2", True),
        (LOCK_NAME, fcntl.LOCK_SH, None, True),  # a shard runs
        (LOCK_NAME, fcntl.LOCK_SH, "2/2", False),  # another shard runs beside it
        (PART_1, fcntl.LOCK_EX, "1/2", True),  # the same shard runs
        (PART_1, fcntl.LOCK_EX, "2/2", False),
    ],
)
def test_no_wait_refuses_with_exit_75_while_another_run_writes(
    cli: Cli, photos: Path, tmp_path: Path, held, lock, mode, shard, busy
):
    if lock == PART_1:
        held(LOCK_NAME, fcntl.LOCK_SH)
    held(lock, mode)
    extra = ("--shard", shard) if shard else ()
    done = cli(*command(photos, tmp_path / "out", "--no-wait", *extra))
    if not busy:
        assert done.exit_code == 0, done.stderr
        return
    assert (done.exit_code, done.stderr) == (
        75,
        f"Error: another imgprep run is writing to {tmp_path / 'out'} (it holds "
        f"{lock}); not waiting (--no-wait)\n",
    )
    assert images(tmp_path / "out") == {}


def test_a_second_run_waits_for_the_first_and_says_so_once(
    photos: Path, reference: dict[str, bytes], tmp_path: Path, held
):
    held(LOCK_NAME, fcntl.LOCK_EX)
    running = process(photos, tmp_path / "out")
    first = running.stderr.readline() if running.stderr else ""
    assert (
        first
        == f"imgprep: waiting for another imgprep run writing to {tmp_path / 'out'} to finish\n"
    )
    assert images(tmp_path / "out") == {}  # nothing written while it waits
    assert running.poll() is None
    held.release()
    code, rest = finish(running)
    assert code == 0, rest
    assert summary(rest) == "imgprep: 36 written, 0 up to date, 0 failed"
    assert "waiting" not in rest
    assert images(tmp_path / "out") == reference


def test_a_run_with_nothing_to_write_never_waits(cli: Cli, photos: Path, tmp_path: Path, held):
    assert cli(*command(photos, tmp_path / "out")).exit_code == 0
    held(LOCK_NAME, fcntl.LOCK_EX)
    done = cli(*command(photos, tmp_path / "out", "--no-wait"))
    assert (done.exit_code, summary(done.stderr)) == (
        0,
        "imgprep: 0 written, 36 up to date, 0 failed",
    )


def test_a_fold_repeated_after_a_kill_and_a_torn_part_lose_nothing(
    cli: Cli, photos: Path, reference: dict[str, bytes], tmp_path: Path
):
    out = tmp_path / "out"
    for k in (1, 2):
        assert cli(*command(photos, out, "--shard", f"{k}/2")).exit_code == 0
    part = out / ".imgprep-manifest.1-of-2.jsonl"
    # a fold killed after appending the parts, before deleting them; then a shard killed
    # in the middle of a line
    (out / MANIFEST_NAME).write_bytes(part.read_bytes())
    with open(part, "ab") as stream:
        stream.write(b'["a/img_99.jpg","a/img_99.jpg",12')
    done = cli(*command(photos, out, "--force"))  # something to write: the fold runs
    assert summary(done.stderr) == f"imgprep: {2 * INPUTS} written, 0 up to date, 0 failed"
    assert not part.exists() and not (out / ".imgprep-manifest.parts").exists()
    assert sorted({row[0] for row in manifest_rows(out)}) == sorted(reference)
    done = cli(*command(photos, out))
    assert summary(done.stderr) == f"imgprep: 0 written, {2 * INPUTS} up to date, 0 failed"
    assert images(out) == reference


# How the last writer ended, as the lock file says: after a first run of the whole job
LAST_WRITER: dict[str, Callable[[Cli, Path, Path], None]] = {
    "ended cleanly": lambda cli, photos, out: None,
    "was killed": lambda cli, photos, out: (out / LOCK_NAME).write_bytes(WRITING),
    "was a shard": lambda cli, photos, out: cli(*command(photos, out, "--shard", "1/2", "-f")),
    "was an older imgprep": lambda cli, photos, out: (out / LOCK_NAME).write_bytes(b""),
}


@pytest.mark.parametrize(
    ("last_writer", "swept"),
    [
        ("ended cleanly", False),
        ("was killed", True),
        ("was a shard", True),
        ("was an older imgprep", True),
    ],
)
def test_a_run_walks_the_tree_for_temporary_files_only_when_a_writer_may_have_been_killed(
    cli: Cli, photos: Path, tmp_path: Path, last_writer: str, swept: bool
):
    out = tmp_path / "out"
    assert cli(*command(photos, out)).exit_code == 0
    assert (out / LOCK_NAME).read_bytes() == CLEAN
    LAST_WRITER[last_writer](cli, photos, out)
    leftover = out / "a" / f".img_01.jpg.0badc0de{TEMP_SUFFIX}"
    leftover.write_bytes(b"half an image")
    done = cli(*command(photos, out, "--force"))
    assert summary(done.stderr) == f"imgprep: {2 * INPUTS} written, 0 up to date, 0 failed"
    assert leftover.exists() is not swept
    assert (out / LOCK_NAME).read_bytes() == CLEAN


def test_a_run_stopped_early_leaves_the_next_one_to_sweep(cli: Cli, photos: Path, tmp_path: Path):
    """--fail-fast stops waiting for work in flight (a Dask task may still be writing)."""
    inputs = tmp_path / "in"
    shutil.copytree(photos / "a", inputs)
    (inputs / "img_00_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    done = cli("-i", inputs, "-o", tmp_path / "out", "-j", "1", "--fail-fast", *STEPS)
    assert done.exit_code == 1, done.stderr
    assert (tmp_path / "out" / LOCK_NAME).read_bytes() == WRITING


def test_a_shard_never_says_the_folder_is_clean(cli: Cli, photos: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert cli(*command(photos, out, "--shard", "1/2")).exit_code == 0
    assert (out / LOCK_NAME).read_bytes() == WRITING  # the other shard may still be writing


def test_a_lock_file_another_user_made_still_locks():
    import shutil
    import tempfile

    from conftest import as_nobody
    from imgprep._lock import FolderLock

    folder = Path(tempfile.mkdtemp(prefix="imgprep-lock-"))
    try:
        folder.chmod(0o777)  # nobody may write outputs here, but not root's lock file
        (folder / LOCK_NAME).touch(mode=0o644)
        os.chmod(folder / LOCK_NAME, 0o644)

        def check() -> dict[str, object]:
            lock = FolderLock(folder, wait=False)
            lock.acquire()
            held, unfinished = lock.held, lock.unfinished
            lock.release(clean=True)
            return {"held": held, "unfinished": unfinished}

        # it cannot say how the last writer ended: a run sweeps, as after a kill
        assert as_nobody(check) == {"held": True, "unfinished": True}
        assert (folder / LOCK_NAME).read_bytes() == b""
    finally:
        shutil.rmtree(folder)
