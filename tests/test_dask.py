"""--executor dask: the same outputs, records, lines and exit codes as the thread pool, on a
LocalCluster of two worker processes, also when a worker dies mid-batch (docs/scale.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import SAMPLES, CliResult
from imgprep.manifest import MANIFEST_NAME
from imgprep.pipeline import OutputRecord, RunOptions, run
from imgprep.steps import parse_steps

distributed = pytest.importorskip(
    "distributed", reason="Dask is not installed (pip install 'imgprep[dask]')"
)

Cli = Callable[..., CliResult]
STEPS = "resize 48x48 --mode cover grayscale augment --mirror"
INPUTS = 12


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 small JPEGs cut from the sample photos in two folders, and one broken file."""
    folder = tmp_path_factory.mktemp("dask") / "photos"
    sources = [Image.open(path).convert("RGB") for path in sorted(SAMPLES.glob("*.*g"))]
    for number in range(INPUTS):
        target = folder / ("a" if number % 2 else "b") / f"img_{number:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        box = (number * 9, number * 4, number * 9 + 100, number * 4 + 80)
        sources[number % len(sources)].crop(box).save(target, quality=80)
    (folder / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A LocalCluster of two single-thread worker processes: its scheduler's address."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local.scheduler_address


def options(photos: Path, out: Path, **extra: object) -> RunOptions:
    return RunOptions(
        output=out, steps=parse_steps(STEPS), inputs=[str(photos)], recursive=True, **extra
    )


def images(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def rows(folder: Path) -> list[list[object]]:
    lines = (folder / MANIFEST_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines[1:]]


def records_of(run_options: RunOptions) -> tuple[list[tuple[object, ...]], int]:
    """Every record of a run, its output relative to the output folder; and the failures."""
    seen: list[OutputRecord] = []
    report = run(run_options, on_record=seen.append)
    out = run_options.output
    relative = [
        (r.input, r.output and r.output.relative_to(out), r.status, r.reason, r.variant)
        for r in seen
    ]
    return relative, report.failed


def test_a_cluster_gives_the_thread_pools_outputs_records_and_lines(
    photos: Path, cluster: str, tmp_path: Path
):
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    expected = records_of(options(photos, threads))
    got = records_of(options(photos, dask, executor="dask", scheduler=cluster, batch=3))
    assert got == expected
    assert expected[1] == 1  # the broken file is a failed record, not a failed task
    assert len(images(dask)) == 2 * INPUTS and images(dask) == images(threads)
    lines = [sorted(row[:7] for row in rows(folder)) for folder in (threads, dask)]
    assert lines[1] == lines[0]  # the same lines (but the outputs' mtimes), one per output
    again = records_of(options(photos, dask, executor="dask", scheduler=cluster))
    assert [record[2].value for record in again[0]].count("up to date") == 2 * INPUTS


def test_the_command_line_prints_the_same_errors_and_exits_the_same(
    cli: Cli, photos: Path, cluster: str, tmp_path: Path
):
    def line(out: Path, *extra: str) -> CliResult:
        return cli("-r", "-i", photos, "-o", out, *extra, *STEPS.split())

    threads = line(tmp_path / "threads")
    dask = line(tmp_path / "dask", "--executor", "dask", "--scheduler", cluster)
    assert (dask.exit_code, threads.exit_code) == (1, 1)
    assert dask.stderr.splitlines()[:-1] == threads.stderr.splitlines()[:-1]
    assert dask.stderr.splitlines()[0].startswith(f"Error: {photos / 'a' / 'broken.jpg'}: ")
    summary = dask.stderr.splitlines()[-1]
    assert summary.startswith(f"imgprep: {2 * INPUTS} written, 0 up to date, 1 failed in ")


def test_a_worker_killed_mid_batch_is_retried_and_the_run_is_exact(
    cli: Cli, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from imgprep._dask_executor import KILL_HOOK

    killed = tmp_path / "killed"
    monkeypatch.setenv(KILL_HOOK, str(killed))  # inherited by the cluster's worker processes
    good = tmp_path / "good"
    for path in photos.rglob("img_*.jpg"):
        target = good / path.relative_to(photos)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out, reference = tmp_path / "out", tmp_path / "reference"
    done = cli(
        *("-r", "-i", good, "-o", out, "--executor", "dask", "--scheduler", "local"),
        *("-j", "2", "--batch", "2", *STEPS.split()),
    )
    assert killed.exists()  # a worker did die after one input of its second batch
    assert done.exit_code == 0, done.stderr
    assert done.stderr.startswith(f"imgprep: {2 * INPUTS} written, 0 up to date, 0 failed in ")
    assert cli("-r", "-i", good, "-o", reference, *STEPS.split()).exit_code == 0
    assert images(out) == images(reference)
    assert sorted(row[0] for row in rows(out)) == sorted(images(reference))  # once each
    assert not [p for p in out.rglob("*") if p.name.endswith(".imgprep-tmp")]


def test_dask_settings_without_dask_are_usage_errors(cli: Cli, tmp_path: Path):
    def refused(*words: str) -> str:
        done = cli("-i", SAMPLES, "-o", tmp_path / "out", *words, "grayscale")
        assert done.exit_code == 2 and not (tmp_path / "out").exists()
        return done.stderr

    assert refused("--scheduler", "local") == "Error: --scheduler goes with --executor dask\n"
    assert refused("--batch", "4") == "Error: --batch goes with --executor dask\n"
    assert refused("--executor", "dask") == (
        "Error: --executor dask needs --scheduler ADDRESS (tcp://HOST:8786, or 'local' for a "
        "cluster of this machine's cores)\n"
    )


def test_without_dask_installed_the_executor_names_the_extra(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    done = cli("-i", SAMPLES, "-o", tmp_path / "out", "--executor", "dask", "--scheduler", "local")
    assert (done.exit_code, done.stderr) == (
        2,
        "Error: --executor dask needs Dask: pip install 'imgprep[dask]'\n",
    )


def test_a_run_on_threads_never_imports_dask(tmp_path: Path):
    code = (
        "import sys\n"
        "from imgprep.cli import run_command_line\n"
        f"code = run_command_line(['-q', '-i', {str(SAMPLES)!r}, '-o', {str(tmp_path)!r}, "
        "'grayscale'])\n"
        "print(code, sorted(name for name in ('dask', 'distributed') if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "0 []\n"


def test_an_unreachable_scheduler_is_one_error_line(cli: Cli, tmp_path: Path):
    done = cli(
        "-i", SAMPLES, "-o", tmp_path / "out", "--executor", "dask",
        "--scheduler", "tcp://127.0.0.1:9", "grayscale",
    )  # fmt: skip
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ")
    assert os.listdir(tmp_path / "out") == [".imgprep-lock"]  # nothing written


def test_sigterm_ends_a_dask_run_with_every_written_output_on_record(cluster: str, tmp_path: Path):
    import shutil
    import signal
    import time

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for number in range(48):
        shutil.copyfile(SAMPLES / "hopper.jpg", inputs / f"img_{number:02d}.jpg")
    slow = ["resize", "1024", "--filter", "lanczos", "equalize"]
    words = ["-i", inputs, "-o", out, "--executor", "dask", "--scheduler", cluster, "--batch", "1"]
    argv = [sys.executable, "-m", "imgprep", *map(str, words), *slow]
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as process:
        deadline = time.monotonic() + 60
        while not (out / MANIFEST_NAME).exists() or len(rows(out)) < 2:  # two outputs done
            assert process.poll() is None and time.monotonic() < deadline, "no outputs appeared"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    on_disk = sorted(images(out))
    assert 2 <= len(on_disk) < 48  # the signal landed mid-run
    assert sorted(row[0] for row in rows(out)) == on_disk  # the tasks in flight were taken in
    assert stderr.startswith(f"imgprep: {len(on_disk)} written, 0 up to date, 0 failed, ")
    assert not [p for p in out.rglob("*") if p.name.endswith(".imgprep-tmp")]


def test_shards_on_a_cluster_write_the_files_of_one_run(photos: Path, cluster: str, tmp_path: Path):
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    run(options(photos, threads))
    for k in (1, 2):
        run(options(photos, dask, executor="dask", scheduler=cluster, shard=(k, 2)))
    assert images(dask) == images(threads)
    again = run(options(photos, dask))
    assert (again.written, again.up_to_date) == (0, 2 * INPUTS)


def test_random_draws_and_details_come_back_from_the_cluster(photos, cluster, tmp_path):
    """Records made on a worker carry what a local run's carry: the random draws, the decode's
    facts for a report; and the files are the local run's, byte for byte."""
    chain = parse_steps("augment --copies 1 random-crop 32 jitter --brightness 0.3")
    seen: dict[str, list[OutputRecord]] = {"threads": [], "dask": []}
    for executor, extra in (("threads", {}), ("dask", {"scheduler": cluster})):
        out = tmp_path / executor
        run_options = RunOptions(
            output=out, steps=chain, inputs=[str(photos)], recursive=True, seed=7,
            executor=executor, **extra,
        )  # fmt: skip
        run(run_options, on_record=seen[executor].append, details=True)
    assert images(tmp_path / "dask") == images(tmp_path / "threads")

    def facts(record: OutputRecord) -> tuple[object, ...]:
        details = record.details
        assert details is not None
        return (
            record.input, record.variant, record.status, record.drawn, record.reason,
            details.input_size, details.output_size, details.decode_scale, details.output_bytes,
        )  # fmt: skip

    local = [facts(record) for record in seen["threads"]]
    assert [facts(record) for record in seen["dask"]] == local
    assert sum(record.drawn is not None for record in seen["dask"]) == 2 * INPUTS  # 1 fails


def test_a_dask_run_leaves_descriptor_2_to_the_workers(photos, cluster, cli, tmp_path, monkeypatch):
    """The CLI relays C libraries' stderr through a pipe for a threads run only: Dask's worker
    processes would inherit the pipe's write end and keep the relay waiting after the run."""
    import imgprep._chatter

    relayed: list[str] = []
    real = imgprep._chatter.c_stderr_as_lines

    def counting(emit: Callable[[str], None]):  # type: ignore[no-untyped-def]
        relayed.append("entered")
        return real(emit)

    monkeypatch.setattr(imgprep._chatter, "c_stderr_as_lines", counting)
    words = ["-r", "-i", photos, "--limit", "2", *STEPS.split()]
    dask = cli("-o", tmp_path / "dask", "--executor", "dask", "--scheduler", cluster, *words)
    assert dask.exit_code == 1, dask.stderr  # the first two inputs hold the broken one
    assert relayed == []
    threads = cli("-o", tmp_path / "threads", *words)
    assert (threads.exit_code, relayed) == (1, ["entered"])
    assert threads.stderr.splitlines()[0] == dask.stderr.splitlines()[0]  # its Error: line


def test_the_tasks_of_one_worker_process_share_its_memory_ceiling(tmp_path: Path):
    """A worker runs tasks in several threads: --max-memory bounds the process, not a task."""
    import dataclasses
    import threading

    from imgprep._dask_executor import _Spec

    options = RunOptions(output=tmp_path, steps=parse_steps(["grayscale"]), max_memory=1000)
    first, second = _Spec.of(options).chain(), _Spec.of(options).chain()  # two tasks
    first.budget.reserve(600)
    reserved = threading.Event()

    def second_task() -> None:
        second.budget.reserve(600)
        reserved.set()

    waiting = threading.Thread(target=second_task)
    waiting.start()
    assert not reserved.wait(0.3)  # 600 + 600 would pass the ceiling: the second task waits
    first.budget.release(600)
    assert reserved.wait(5)
    second.budget.release(600)
    waiting.join()
    wider = dataclasses.replace(options, max_memory=2000)
    assert _Spec.of(wider).chain().budget is not first.budget  # another run's ceiling
