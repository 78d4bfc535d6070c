"""--report (JSON Lines), -v, and stderr as imgprep's own (Warning: lines)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import SEED_STEPS
from corpus import broken_exif, malformed_mpo, sample
from imgprep import files
from imgprep._records import Details, OutputRecord, Status
from imgprep._runlog import record_object
from imgprep._version import __version__
from imgprep.pipeline import RunOptions, run
from imgprep.steps import parse_steps

SEED = SEED_STEPS.split()
OUTPUT_FIELDS = {
    "status",
    "input",
    "output",
    "variant",
    "error",
    "input_size",
    "output_size",
    "input_bytes",
    "output_bytes",
    "orientation",
    "decode_scale",
    "seconds",
    "warnings",
}
STDERR_PREFIXES = ("Error: ", "Warning: ", "imgprep: ")


def read_report(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line parses


def noisy_inputs(folder: Path) -> Path:
    """Inputs whose decode warns (a broken EXIF block, a malformed MPO index) and one that
    fails, next to a plain photo."""
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(folder / "exif.jpg", exif=broken_exif(6))
    (folder / "mpo.jpg").write_bytes(malformed_mpo())
    (folder / "broken.jpg").write_bytes(sample("rocket.jpg").read_bytes()[:300])
    shutil.copyfile(sample("hopper.jpg"), folder / "hopper.jpg")
    return folder


def test_every_report_line_parses_one_per_output_and_a_failed_input_names_its_error(
    cli, samples, tmp_path
):
    (samples / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    report = tmp_path / "run.jsonl"
    result = cli("-i", samples, "-o", tmp_path / "out", "--report", report, *SEED)
    assert result.exit_code == 1
    lines = read_report(report)
    outputs, summary = lines[:-1], lines[-1]
    assert len(outputs) == 14  # 7 inputs, 2 outputs each
    for line in outputs:
        assert set(line) == OUTPUT_FIELDS
    failed = [line for line in outputs if line["status"] == "failed"]
    assert [line["input"] for line in failed] == [str(samples / "broken.jpg")] * 2
    assert all(line["error"] and line["error"] in result.stderr for line in failed)
    assert all(line["output"] is None for line in failed)
    rocket = next(line for line in outputs if (line["output"] or "").endswith("rocket_mirror.jpg"))
    assert rocket["status"] == "written" and rocket["variant"] == "_mirror"
    assert rocket["input_size"] == [640, 427] and rocket["output_size"] == [200, 200]
    assert rocket["input_bytes"] == (samples / "rocket.jpg").stat().st_size
    assert rocket["output_bytes"] == Path(rocket["output"]).stat().st_size
    assert rocket["decode_scale"] == 0.5 and rocket["orientation"] == 1  # 640 -> 320 covers 200
    assert rocket["seconds"] >= 0 and rocket["warnings"] == []
    assert summary["status"] == "summary"
    assert (summary["planned"], summary["written"], summary["failed"]) == (14, 12, 2)
    assert (summary["failed_inputs"], summary["exit_code"], summary["version"]) == (
        1,
        1,
        __version__,
    )
    assert summary["seed"] == 0 and summary["command"][:3] == ["imgprep", "-i", str(samples)]


def test_up_to_date_lines_give_what_is_known_without_decoding(cli, samples, tmp_path, monkeypatch):
    out, report = tmp_path / "out", tmp_path / "again.jsonl"
    assert cli("-i", samples, "-o", out, *SEED).exit_code == 0

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("an up-to-date output was decoded")

    monkeypatch.setattr(files, "load_image", no_decode)
    result = cli("-i", samples, "-o", out, "--report", report, *SEED)
    assert result.exit_code == 0, result.stderr
    outputs = read_report(report)[:-1]
    assert len(outputs) == 12 and {line["status"] for line in outputs} == {"up-to-date"}
    for line in outputs:
        assert line["input_bytes"] == Path(line["input"]).stat().st_size
        assert line["output_bytes"] == Path(line["output"]).stat().st_size
        unknown = ("input_size", "output_size", "orientation", "decode_scale", "seconds")
        assert [line[key] for key in unknown] == [None] * 5


def test_report_to_stdout_leaves_stdout_pure_json(cli, samples, tmp_path):
    result = cli("-q", "-i", samples, "-o", tmp_path / "out", "--report", "-", "grayscale")
    assert result.exit_code == 0 and result.stderr == ""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 7 and lines[-1]["written"] == 6


def test_a_dry_run_report_has_a_line_per_planned_output(cli, samples, tmp_path):
    result = cli("-n", "-i", samples, "-o", tmp_path / "out", "--report", "-", "grayscale")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines[:-1]] == ["would-write"] * 6
    assert lines[-1]["dry_run"]["WOULD-WRITE"] == 6 and lines[-1]["written"] == 0
    assert not (tmp_path / "out").exists()


def test_a_run_refused_before_it_starts_reports_why(cli, samples, tmp_path):
    (samples / "rocket.png").write_bytes((samples / "camera.png").read_bytes())
    report = tmp_path / "r.jsonl"
    result = cli(
        "-i", samples, "-o", tmp_path / "out", "--format", "png", "--report", report, "grayscale"
    )
    assert result.exit_code == 1
    (summary,) = read_report(report)
    assert summary["exit_code"] == 1 and "would both be written" in summary["error"]


def test_an_unwritable_report_is_a_usage_error_before_anything_is_read(cli, samples, tmp_path):
    result = cli(
        "-i", samples, "-o", tmp_path / "out", "--report", tmp_path / "no" / "r.jsonl", "grayscale"
    )
    assert result.exit_code == 2
    assert "cannot write the report" in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_kill_9_mid_run_leaves_every_written_report_line_parseable(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(40):
        shutil.copyfile(sample("hopper.jpg"), inputs / f"img_{index:02d}.jpg")
    report = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgprep",
            "-i",
            inputs,
            "-o",
            tmp_path / "out",
            "-j",
            "1",
            "--report",
            report,
            "resize",
            "1024",
            "--filter",
            "lanczos",
            "equalize",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not report.exists() or report.read_text().count("\n") < 3:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no report lines appeared"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = report.read_text()
    assert text.endswith("\n")  # each line is written whole
    lines = [json.loads(line) for line in text.splitlines()]
    assert 3 <= len(lines) < 40 and all(line["status"] == "written" for line in lines)


def test_verbose_prints_one_line_per_output(cli, samples, tmp_path):
    out = tmp_path / "out"
    first = cli("-v", "-i", samples, "-o", out, *SEED)
    lines = first.stderr.splitlines()
    assert len([line for line in lines if line.startswith("WRITTEN ")]) == 12
    rocket = next(line for line in lines if line.startswith(f"WRITTEN {samples / 'rocket.jpg'}"))
    assert "640x427 -> 200x200" in rocket and "decoded at 1/2" in rocket
    again = cli("--verbose", "-i", samples, "-o", out, *SEED)
    assert len([line for line in again.stderr.splitlines() if line.startswith("UP-TO-DATE ")]) == 12
    assert cli("-v", "-q", "-i", samples, "-o", out, *SEED).exit_code == 2


def test_stderr_of_a_noisy_run_is_imgprep_own_lines(cli, tmp_path):
    folder = noisy_inputs(tmp_path / "noisy")
    report = tmp_path / "r.jsonl"
    result = cli("-i", folder, "-o", tmp_path / "out", "--report", report, "grayscale")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(STDERR_PREFIXES) for line in lines), lines
    assert f"Warning: {folder / 'exif.jpg'}: broken EXIF data dropped" in lines
    assert any(line.startswith(f"Warning: {folder / 'mpo.jpg'}: ") for line in lines)
    assert sum(line.startswith("Error: ") for line in lines) == 1
    by_input = {Path(line["input"]).name: line for line in read_report(report)[:-1]}
    assert by_input["exif.jpg"]["warnings"] == ["broken EXIF data dropped"]
    assert by_input["exif.jpg"]["orientation"] == 6 and by_input["exif.jpg"]["output_size"] == [
        48,
        64,
    ]
    assert by_input["mpo.jpg"]["warnings"] and by_input["hopper.jpg"]["warnings"] == []
    quiet = cli("-q", "-f", "-i", folder, "-o", tmp_path / "out", "grayscale")
    assert [line for line in quiet.stderr.splitlines() if not line.startswith("Error: ")] == []


def test_a_warning_is_said_once_per_input_whatever_its_outputs(cli, tmp_path):
    folder = noisy_inputs(tmp_path / "noisy")
    result = cli("-i", folder, "-o", tmp_path / "out", "grayscale", "augment", "--mirror", "--flip")
    warned = [line for line in result.stderr.splitlines() if "exif.jpg" in line]
    assert warned == [f"Warning: {folder / 'exif.jpg'}: broken EXIF data dropped"]


def test_records_carry_details_only_when_asked(samples, tmp_path):
    options = RunOptions(
        output=tmp_path / "out", steps=parse_steps("grayscale"), inputs=[str(samples)]
    )
    plain: list[OutputRecord] = []
    run(options, on_record=plain.append)
    assert len(plain) == 6 and all(record.details is None for record in plain)
    detailed: list[OutputRecord] = []
    run(
        options,
        on_record=detailed.append,
        details=True,
    )
    assert all(isinstance(record.details, Details) for record in detailed)


def test_a_record_with_drawn_parameters_reports_them():
    drawn: dict[str, object] = {"angle": 12.5}
    record = OutputRecord("in/a.jpg", "out/a.png", Status.WRITTEN, drawn=drawn)
    assert record.drawn == drawn and record_object(record)["drawn"] == {"angle": 12.5}
    assert "drawn" not in record_object(OutputRecord("in/a.jpg", "out/a.png", Status.WRITTEN))


def test_warnings_and_errors_are_never_glued_to_the_progress_bar(cli, tmp_path):
    folder = noisy_inputs(tmp_path / "noisy")
    result = cli("--progress", "-v", "-i", folder, "-o", tmp_path / "out", "grayscale")
    said = []
    for line in result.stderr.split("\n")[:-1]:
        last = line.split("\r")[-1]  # what is left on the terminal line after the bar's redraws
        if re.fullmatch(r"\s*\d+%\|.*\]\s*", last):
            continue  # the bar itself, and nothing after it
        said.append(last)
    prefixes = (*STDERR_PREFIXES, "WRITTEN ", "FAILED ")
    assert said and all(line.startswith(prefixes) for line in said), said
    assert sum(line.startswith("Warning: ") for line in said) == 2
    assert sum(line.startswith("WRITTEN ") for line in said) == 3


@pytest.mark.parametrize("listing", [("--report", "-"), ("--dry-run",)])
def test_a_reader_that_stops_early_does_not_stop_the_run(tmp_path, samples, listing):
    """`imgprep ... --report - | head -1`: the run goes on and exits 0 (a dry run's listing
    just stops, as `ls | head` does); the report says once that the rest is lost."""
    out = tmp_path / "out"
    words = [sys.executable, "-m", "imgprep", "-i", samples, "-o", out, *listing, *SEED]
    process = subprocess.Popen(words, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader goes away after one line, as head -1 does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert first.startswith(b"{" if listing[0] == "--report" else b"WOULD-WRITE ")
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    if listing[0] == "--report":
        assert len([p for p in out.iterdir() if p.name[0] != "."]) == 12  # every output
        lost = [line for line in stderr.splitlines() if line.startswith("Warning: --report -")]
        assert len(lost) <= 1  # the pipe may close only after the last line
    else:
        assert not out.exists()
