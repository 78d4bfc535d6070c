"""Install what the benchmark compares against, and report the versions.

- ImageMagick, the libvips tools and GNU time from apt, when missing and running as root
  (otherwise the rows that need them are skipped, with a note). ImageMagick is called as
  /usr/bin/convert.
- A separate virtualenv ``bench/.work/venv`` with the same Pillow as imgprep's, SeqTools and
  pyvips (pyvips uses the OS libvips through cffi's ABI mode; no compiler needed). Nothing is
  ever installed into the project's ``.venv``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import PIL

from measure import GNU_TIME

CONVERT = Path("/usr/bin/convert")
VIPSTHUMBNAIL = Path("/usr/bin/vipsthumbnail")
# GNU time measures every command's peak RSS (see measure.py)
APT_PACKAGES = {CONVERT: "imagemagick", VIPSTHUMBNAIL: "libvips-tools", GNU_TIME: "time"}
BENCH_PACKAGES = ["seqtools", "pyvips"]


@dataclass
class Anchors:
    imagemagick: bool
    vips_cli: bool
    bench_python: Path | None  # the bench virtualenv's interpreter, if it works
    notes: list[str] = field(default_factory=list)


def _quiet(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _ensure_apt_tools(notes: list[str]) -> None:
    missing = [package for tool, package in APT_PACKAGES.items() if not tool.exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        notes.append(f"not root or no apt-get: cannot install {', '.join(missing)}")
        return
    print(f"installing {', '.join(missing)} with apt-get ...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, env=environment, check=False)
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
            notes.append(f"`{' '.join(argv)}` failed: {tail[0]}")
            return


def _ensure_bench_venv(venv: Path, notes: list[str]) -> Path | None:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import seqtools, pyvips, PIL; print(PIL.__version__)"]
    if python.exists() and _quiet(probe).stdout.strip() == PIL.__version__:
        return python
    print(f"creating the bench virtualenv {venv} ...", flush=True)
    created = _quiet([sys.executable, "-m", "venv", "--clear", str(venv)])
    if created.returncode != 0:
        notes.append(f"cannot create {venv}: {created.stderr.strip()[-200:]}")
        return None
    # The same Pillow as imgprep's, so the SeqTools row differs from imgprep by the pipeline only.
    pins = [f"pillow=={PIL.__version__}", *BENCH_PACKAGES]
    installed = _quiet([str(python), "-m", "pip", "install", "--quiet", *pins])
    if installed.returncode != 0 or _quiet(probe).returncode != 0:
        notes.append(
            f"pip install {' '.join(pins)} into {venv} failed: SeqTools/pyvips rows skipped"
        )
        return None
    return python


def prepare_anchors(venv: Path) -> Anchors:
    notes: list[str] = []
    _ensure_apt_tools(notes)
    anchors = Anchors(
        imagemagick=CONVERT.exists(),
        vips_cli=VIPSTHUMBNAIL.exists() and shutil.which("vips") is not None,
        bench_python=_ensure_bench_venv(venv, notes),
        notes=notes,
    )
    if not anchors.imagemagick:
        notes.append("ImageMagick missing: its rows are skipped")
    if not anchors.vips_cli:
        notes.append("libvips tools missing: the vips CLI row is skipped")
    return anchors


def _first_line(argv: list[str]) -> str:
    try:
        result = _quiet(argv)
    except OSError:
        return "not installed"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if lines and result.returncode == 0 else "not installed"


def versions(anchors: Anchors, imgprep: Path) -> dict[str, str]:
    found = {
        "Python": sys.version.split()[0],
        "Pillow": PIL.__version__,
        "imgprep": _first_line([str(imgprep), "--version"]),
        "ImageMagick": _first_line([str(CONVERT), "-version"]).removeprefix("Version: "),
        "libvips": _first_line(["vips", "--version"]),
    }
    if anchors.bench_python is not None:
        for package in ("seqtools", "pyvips"):
            code = f"from importlib.metadata import version; print(version({package!r}))"
            found[package] = _first_line([str(anchors.bench_python), "-c", code])
    return found
