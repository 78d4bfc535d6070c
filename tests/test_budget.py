"""The memory ceiling: the budget workers share, what an input is said to need, --max-memory."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from conftest import CliResult
from imgprep import config
from imgprep._budget import BudgetClosed, MemoryBudget, TooMuchMemory, peak_bytes
from imgprep.steps import parse_steps

Cli = Callable[..., CliResult]
MiB = 1 << 20


def started(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_reservation_waits_until_enough_is_released() -> None:
    budget = MemoryBudget(100)
    budget.reserve(60)
    got: list[str] = []
    waiting = started(lambda: (budget.reserve(50), got.append("50")))
    time.sleep(0.2)
    assert got == [] and budget.reserved == 60  # 60 + 50 > 100: it waits
    budget.release(60)
    waiting.join(5)
    assert got == ["50"] and budget.reserved == 50
    budget.reserve(50)  # 50 + 50 fits at once
    assert budget.reserved == 100


def test_waiting_is_first_come_first_served() -> None:
    budget = MemoryBudget(100)
    budget.reserve(90)
    order: list[int] = []
    large = started(lambda: (budget.reserve(80), order.append(80)))
    time.sleep(0.2)
    small = started(lambda: (budget.reserve(10), order.append(10)))  # would fit now
    time.sleep(0.2)
    assert order == []  # the small one does not pass the large one waiting before it
    budget.release(90)
    large.join(5)
    small.join(5)
    assert order == [80, 10] and budget.reserved == 90


def test_an_input_larger_than_the_ceiling_fails_at_once() -> None:
    budget = MemoryBudget(512 * MiB)
    budget.reserve(500 * MiB)
    with pytest.raises(TooMuchMemory) as caught:
        budget.reserve(1536 * MiB)  # never waits: it could never fit
    assert str(caught.value) == (
        "decoding it needs about 1.5 GiB, more than the --max-memory limit of 512 MiB"
    )
    assert budget.reserved == 500 * MiB


def test_closing_wakes_the_waiting_reservations() -> None:
    budget = MemoryBudget(10)
    budget.reserve(10)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            budget.reserve(5)
        except BudgetClosed as error:
            errors.append(error)

    waiting = started(wait)
    time.sleep(0.1)
    budget.close()
    waiting.join(5)
    assert len(errors) == 1 and not waiting.is_alive()


@pytest.mark.parametrize(
    ("size", "mode", "chain", "expected"),
    [
        ((1000, 500), "L", "", 500_000 * (1 + 3 * 4)),  # the decode, three working images
        ((1000, 500), "RGB", "grayscale", 500_000 * (4 + 3 * 4)),
        ((1000, 500), "I;16", "", 500_000 * (2 + 3 * 4)),
        ((1000, 500), "L", "resize 200", 500_000 * (1 + 3 * 4)),  # smaller after: the decode
        ((1000, 500), "L", "resize 4000x2000", 500_000 + 3 * 4 * 8_000_000),  # larger after
        ((1000, 500), "L", "augment --rotate 90 --mirror", 500_000 * (1 + 3 * 4)),
        ((1000, 500), "L", "rotate 30", 500_000 + 3 * 4 * 1500 * 1500),  # any angle's canvas
    ],
)
def test_what_an_input_is_said_to_need(
    size: tuple[int, int], mode: str, chain: str, expected: int
) -> None:
    steps = parse_steps(chain) if chain else []
    assert peak_bytes(size, mode, 0, steps) == expected
    assert peak_bytes(size, mode, 12345, steps) == expected + 12345  # the file's bytes too


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 * MiB), ("2G", 2 << 30), ("1.5g", 3 << 29), ("64MiB", 64 * MiB),
     ("300000000", 300_000_000), ("800k", 800 << 10)],
)  # fmt: skip
def test_sizes_are_read_as_people_write_them(text: str, size: int) -> None:
    assert config.parse_byte_size(text) == size


def test_the_default_is_a_quarter_of_the_ram_at_most_2_gib() -> None:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert config.default_max_memory() == min(ram // 4, 2 << 30)
    assert config.format_bytes(2 << 30) == "2 GiB"


@pytest.mark.parametrize("value", ["lots", "0", "12X", "-5M", "100"])
def test_a_size_that_is_no_size_is_a_usage_error(cli: Cli, tmp_path: Path, value: str) -> None:
    result = cli("--max-memory", value, "-i", tmp_path, "-o", tmp_path / "out", "grayscale")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --max-memory must be a size such as 512M or 2G (at least 1 MiB), not {value!r}\n"
    )


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares ``width`` x ``height`` RGB pixels
    (its few rows of data decode, the rest comes out black)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_inputs_that_need_more_than_the_ceiling_fail_clearly_and_small_ones_pass(
    cli: Cli, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("big1.png", "big2.png"):
        (inputs / name).write_bytes(png_declaring(3000, 3000))  # 9 Mpx: ~140 MiB needed
    Image.new("RGB", (40, 30), (200, 10, 10)).save(inputs / "small.png")
    out = tmp_path / "out"
    result = cli("-i", inputs, "-o", out, "-j", "2", "--max-memory", "64M", "grayscale")
    assert result.exit_code == 1
    *errors, summary = result.stderr.splitlines()
    assert errors == [
        f"Error: {inputs / name}: decoding it needs about 137.3 MiB, more than the --max-memory"
        " limit of 64 MiB"
        for name in ("big1.png", "big2.png")
    ]
    assert summary.startswith("imgprep: 1 written, 0 up to date, 2 failed")
    assert sorted(path.name for path in out.glob("*.png")) == ["small.png"]
    again = cli("-i", inputs, "-o", out, "-j", "2", "--max-memory", "1G", "grayscale")
    assert again.exit_code == 0 and len(list(out.glob("*.png"))) == 3


PEAK_PROGRAM = """
import resource, sys
from imgprep.cli import run_command_line
code = run_command_line(sys.argv[1:])
print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak_of_run(*words: str | Path) -> tuple[int, int]:
    """The exit code and the peak RSS (bytes) of a run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_PROGRAM, *map(str, words)],
        capture_output=True,
        text=True,
        check=False,
    )
    code, peak = done.stdout.split()
    return int(code), int(peak)


def test_the_ceiling_bounds_the_peak_whatever_the_workers(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for number in range(6):  # 16 Mpx each: 64 MiB decoded, ~260 MiB said to be needed
        (inputs / f"big{number}.png").write_bytes(png_declaring(4000, 4000))
    ceiling = 300 * MiB
    overhead = 64 * MiB
    limited = peak_of_run("-i", inputs, "-o", tmp_path / "a", "-j", "6", "--max-memory", "300M",
                          "autocontrast", "resize", "64")  # fmt: skip
    unlimited = peak_of_run("-i", inputs, "-o", tmp_path / "b", "-j", "6", "--max-memory", "4G",
                            "autocontrast", "resize", "64")  # fmt: skip
    assert limited[0] == unlimited[0] == 0
    assert limited[1] < ceiling + overhead < unlimited[1]


def test_the_config_file_may_set_the_ceiling(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big.png").write_bytes(png_declaring(3000, 3000))
    config_file = tmp_path / "config.toml"
    config_file.write_text('max_memory = "64M"\n')
    monkeypatch.setenv("IMGPREP_CONFIG", str(config_file))
    refused = cli("-i", tmp_path / "in", "-o", tmp_path / "a", "grayscale")
    assert "more than the --max-memory limit of 64 MiB" in refused.stderr
    allowed = cli("--max-memory", "1G", "-i", tmp_path / "in", "-o", tmp_path / "b", "grayscale")
    assert allowed.exit_code == 0  # the command line wins
    config_file.write_text('max_memory = "lots"\n')
    broken = cli("-i", tmp_path / "in", "-o", tmp_path / "c", "grayscale")
    assert broken.exit_code == 2
    assert "max_memory must be a size such as 2G, not 'lots'" in broken.stderr
