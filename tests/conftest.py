"""Shared fixtures: the real sample photos, and runners for the CLI in-process and as a process."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgprep.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
# The tutorial's chain, as the README and `make demo` run it.
SEED_STEPS = "resize 200x200 --mode cover grayscale autocontrast --cutoff 3 augment --mirror"
NOBODY = 65534  # uid and gid of "nobody", for real permission errors while tests run as root


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of sample_images/ (photos only), safe to touch and modify."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in SAMPLE_NAMES:
        shutil.copy2(SAMPLES / name, folder / name)
    return folder


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"CliResult({self.exit_code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run the CLI in-process with Typer's runner: ``cli("-i", x, "-o", y, "grayscale")``."""

    def invoke(*args: str | os.PathLike[str], input: bytes | str | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(app, [os.fspath(a) for a in args], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def cli_process() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m imgprep`` as a real process (stdin/stderr are pipes, not a terminal)."""

    def run(
        *args: str | os.PathLike[str], input: str | bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        text = not isinstance(input, bytes)
        result = subprocess.run(
            [sys.executable, "-m", "imgprep", *map(os.fspath, args)],
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
        )
        if not text:
            return subprocess.CompletedProcess(
                result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
            )
        return result

    return run


def as_nobody(check: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``check`` in a forked child that dropped root for user/group 65534 ("nobody").

    Root ignores permission bits, so a real "permission denied" needs another user. A fork, not
    a new interpreter: the virtualenv's Python may live where nobody cannot read.
    """
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(writer, json.dumps(check()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    # A fork copies only this thread; if another thread held a lock the child needs, the child
    # would wait forever. Guard against that hang (it is not a timing assertion).
    ready, _, _ = select.select([reader], [], [], 120)
    if not ready:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(reader)
        pytest.fail("the forked permission check hung (a lock held by another thread)")
    with os.fdopen(reader, "rb") as stream:
        output = stream.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result = json.loads(output)
    assert isinstance(result, dict)
    return result
