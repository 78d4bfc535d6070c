"""What C libraries write to stderr comes out as imgprep's own whole lines."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from conftest import SAMPLES, CliResult
from imgprep._chatter import c_stderr_as_lines, labelled

Cli = Callable[..., CliResult]

FAX_COMPLAINT = "Fax3SetupState: Bits/sample must be 1 for Group 3/4 encoding/decoding."


def fax_that_libtiff_refuses(path: Path) -> Path:
    """A CCITT G4 TIFF whose BitsPerSample says 8: libtiff prints its complaint from C."""
    Image.new("1", (64, 48), 1).save(path, compression="group4")
    data = bytearray(path.read_bytes())
    order = "<" if data[:2] == b"II" else ">"
    (directory,) = struct.unpack_from(order + "I", data, 4)
    (entries,) = struct.unpack_from(order + "H", data, directory)
    for number in range(entries):
        entry = directory + 2 + 12 * number
        if struct.unpack_from(order + "H", data, entry)[0] == 258:  # BitsPerSample
            struct.pack_into(order + "H", data, entry + 8, 8)
    path.write_bytes(bytes(data))
    return path


def test_pieces_written_to_descriptor_2_come_out_as_whole_lines(
    capfd: pytest.CaptureFixture[str],
) -> None:
    lines: list[str] = []

    def write_in_pieces(name: str) -> None:
        for _ in range(50):
            os.write(2, f"{name}Module: ".encode())  # as libtiff does: module, text, end
            os.write(2, b"something is odd")
            os.write(2, b".\n")

    with c_stderr_as_lines(lines.append):
        threads = [threading.Thread(target=write_in_pieces, args=("A",))]
        threads[0].start()
        threads[0].join()
        os.write(2, b"last words without a newline")
    assert lines == ["AModule: something is odd."] * 50 + ["last words without a newline"]
    os.write(2, b"after\n")  # descriptor 2 is itself again
    assert capfd.readouterr().err == "after\n"


def test_lines_are_labelled_by_their_source() -> None:
    assert labelled(FAX_COMPLAINT) == f"Warning: libtiff: {FAX_COMPLAINT}"
    assert labelled("Corrupt JPEG data: 3 extraneous bytes") == (
        "Warning: a C library: Corrupt JPEG data: 3 extraneous bytes"
    )


@pytest.mark.parametrize("workers", ["1", "4"])
def test_a_noisy_run_prints_only_imgprep_s_own_lines(tmp_path: Path, workers: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for number in range(6):
        fax_that_libtiff_refuses(inputs / f"fax{number}.tif")
        Image.open(SAMPLES / "hopper.jpg").save(inputs / f"good{number}.png")
    done = subprocess.run(
        [sys.executable, "-m", "imgprep", "-i", inputs, "-o", tmp_path / "out", "-j", workers,
         "--format", "png", "grayscale"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    own = re.compile(r"(Error|Warning): |imgprep: ")
    assert [line for line in lines if not own.match(line)] == []
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == [
        f"Error: {inputs / f'fax{number}.tif'}: corrupt TIFF data (damaged compressed data)"
        for number in range(6)
    ]
    assert lines[-1].startswith("imgprep: 6 written, 0 up to date, 6 failed")
    complaints = [line for line in lines if line.startswith("Warning: ")]
    if workers == "1":  # one event, one line
        assert complaints == [f"Warning: libtiff: {FAX_COMPLAINT}"] * 6
    else:  # two workers' libtiff may write at the same instant: its own pieces may mix
        assert f"Warning: libtiff: {FAX_COMPLAINT}" in complaints


def test_quiet_keeps_the_chatter_off_stderr(cli: Cli, tmp_path: Path) -> None:
    path = fax_that_libtiff_refuses(tmp_path / "fax.tif")
    loud = cli("-i", path, "-o", tmp_path / "a", "grayscale")
    assert loud.stderr.splitlines()[0] == f"Warning: libtiff: {FAX_COMPLAINT}"
    quiet = cli("-q", "-i", path, "-o", tmp_path / "b", "grayscale")
    assert quiet.stderr == f"Error: {path}: corrupt TIFF data (damaged compressed data)\n"
