"""imgprep is safe for unattended runs: the real CLI over bad and hard inputs, kills and signals,
re-runs, clobbering, limits, and full or read-only output folders.

Every test runs the real command line (in-process through Typer's runner, or as a process where
signals, memory limits or another user are involved) and checks what a cron job would see: the
exit code, the ``Error: <input>: <reason>`` lines, the summary, and the files left on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from conftest import NOBODY, SAMPLE_NAMES, SEED_STEPS, CliResult, as_nobody
from corpus import (
    CMYK_QUADRANT_COLOURS,
    EXPECTED_REASONS,
    ORIENTED_UPRIGHT_SIZE,
    make_bad_inputs,
    make_hard_inputs,
    oriented_upright,
    running_as_root,
    sample,
)
from imgprep import config, files
from imgprep._lock import CLEAN, LOCK_NAME, WRITING
from imgprep.manifest import MANIFEST_NAME

Cli = Callable[..., CliResult]
SEED = SEED_STEPS.split()
# slow enough per image (~0.1-0.2 s) that a signal lands mid-run: upscale 8x, then equalize
SLOW_STEPS = ["resize", "1024", "--filter", "lanczos", "equalize"]
SLOW_COPIES = 24
SUMMARY = re.compile(
    r"^imgprep: (?P<written>\d+) written, (?P<current>\d+) up to date, (?P<failed>\d+) failed"
    r"(?:, (?P<left>\d+) not done)? in \d+\.\ds$",
    re.MULTILINE,
)


# ----------------------------------------------------------------------------------- helpers


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def summary(stderr: str) -> dict[str, int]:
    """The counts of the run's summary line (exactly one must be there)."""
    found = list(SUMMARY.finditer(stderr))
    assert len(found) == 1, stderr
    return {key: int(value or 0) for key, value in found[0].groupdict().items()}


def outputs(folder: Path) -> list[str]:
    """The images in an output folder (relative POSIX paths): no manifest, no temporary files."""
    if not folder.exists():
        return []
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{files.TEMP_SUFFIX}")) if folder.exists() else []


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime_ns of every output: an output rewritten, even identically, changes both."""
    return {
        name: ((folder / name).stat().st_ino, (folder / name).stat().st_mtime_ns)
        for name in outputs(folder)
    }


def rewritten(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    return {name for name, identity in after.items() if before.get(name) != identity}


def fingerprints(folder: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, mode and mtime_ns of every regular file below ``folder`` (links not followed)."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        info = path.stat()
        result[path.relative_to(folder).as_posix()] = (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            info.st_mode,
            info.st_mtime_ns,
        )
    return result


def manifest_lines(folder: Path) -> list[list[object]]:
    """The manifest's rows (its first line is the header naming the columns; a torn line is
    skipped), each ``[output, input, input_size, input_mtime_ns, input_sha256, recipe, ...]``."""
    text = (folder / MANIFEST_NAME).read_text(encoding="utf-8")
    header = json.loads(text.partition("\n")[0])
    assert header["imgprep_manifest"] == 2 and header["fields"][:2] == ["output", "input"]
    rows = []
    for line in text.splitlines()[1:]:
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


def manifest_outputs(folder: Path) -> list[str]:
    """The outputs the manifest records, one per complete line."""
    return [str(row[0]) for row in manifest_lines(folder)]


def mean_abs_diff(first: Image.Image, second: Image.Image) -> float:
    assert first.size == second.size and first.mode == second.mode
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / len(first.getbands())


def fully_decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError):
        return False
    return True


# ----------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_each_fail_alone_and_the_rest_is_done(cli: Cli, tmp_path: Path) -> None:
    bad = make_bad_inputs(tmp_path / "in")
    shutil.copy2(sample("hopper.jpg"), tmp_path / "in" / "good.jpg")
    before = fingerprints(tmp_path / "in")
    out = tmp_path / "out"
    result = cli("-i", tmp_path / "in", "-o", out, "--format", "png", *SEED)

    assert result.exit_code == 1
    failing = {
        key: reason
        for key, reason in EXPECTED_REASONS.items()
        # not recursing, the loop's folder is no input; root reads the mode-000 file
        if reason is not None and key not in ("symlink_loop", "unreadable")
    }
    lines = error_lines(result.stderr)
    assert len(lines) == len(failing), result.stderr  # one per input, although augment makes two
    for key, reason in failing.items():
        prefix = f"Error: {bad[key]}: "
        mine = [line for line in lines if line.startswith(prefix)]
        assert len(mine) == 1 and reason in mine[0], (key, lines)
    assert outputs(out) == sorted(
        f"{stem}{suffix}.png"
        for stem in ("animated", "good", "multipage", "unreadable")
        for suffix in ("", "_mirror")
    )
    assert all(fully_decodes(out / name) for name in outputs(out))
    assert summary(result.stderr) == {"written": 8, "current": 0, "failed": 9, "left": 0}
    assert fingerprints(tmp_path / "in") == before  # no input modified, not even its mtime


@pytest.mark.parametrize(
    "key", [key for key, reason in EXPECTED_REASONS.items() if reason and key != "unreadable"]
)
def test_each_bad_input_gives_one_line_no_output_and_exit_1(
    cli: Cli, tmp_path: Path, key: str
) -> None:
    folder = tmp_path / "in"
    bad = make_bad_inputs(folder)
    for other, path in bad.items():  # keep only this bad input, next to one good photo
        if other == key:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    shutil.copy2(sample("hopper.jpg"), folder / "good.jpg")
    out = tmp_path / "out"
    recursive = ["-r"] if key == "symlink_loop" else []
    result = cli("-i", folder, "-o", out, *recursive, *SEED)

    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert line.startswith(f"Error: {bad[key]}")  # the loop is named by its link inside
    assert str(EXPECTED_REASONS[key]) in line
    assert outputs(out) == ["good.jpg", "good_mirror.jpg"]
    assert summary(result.stderr) == {"written": 2, "current": 0, "failed": 1, "left": 0}


def test_directory_named_like_an_image_is_walked_with_recursive(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "in" / "x.jpg").mkdir(parents=True)
    shutil.copy2(sample("hopper.jpg"), tmp_path / "in" / "x.jpg" / "inside.jpg")
    result = cli("-r", "-i", tmp_path / "in", "-o", tmp_path / "out", "grayscale")
    assert (result.exit_code, error_lines(result.stderr)) == (0, [])
    assert outputs(tmp_path / "out") == ["x.jpg/inside.jpg"]


def test_decompression_bomb_is_refused_from_its_header_in_little_memory(tmp_path: Path) -> None:
    bad = make_bad_inputs(tmp_path / "bad")
    shutil.copy2(sample("hopper.jpg"), tmp_path / "good.jpg")
    out = tmp_path / "out"
    # 60000x60000 grey is 3.6 GB decoded: under a 1 GiB address-space cap, any attempt to
    # allocate it fails (MemoryError), so a clean refusal proves nothing was decoded.
    cap = 1 << 30

    def limit_memory() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    result = subprocess.run(
        [
            *(sys.executable, "-m", "imgprep", "-i", bad["bomb_png"], "-i", tmp_path / "good.jpg"),
            *("-o", out, "-j", "2", "grayscale"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
    )
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"Error: {bad['bomb_png']}: image is 60000x60000 = 3,600,000,000 pixels, more than the"
        f" --max-pixels limit of {config.MAX_PIXELS:,}"
    ]
    assert outputs(out) == ["good.jpg"]


def test_max_pixels_default_is_pillows_and_the_limit_is_inclusive(cli: Cli, tmp_path: Path) -> None:
    assert config.MAX_PIXELS == Image.MAX_IMAGE_PIXELS
    photo = sample("hopper.jpg")  # 128x128 = 16384 pixels
    refused = cli("--max-pixels", "16383", "-i", photo, "-o", tmp_path / "a", "grayscale")
    assert refused.exit_code == 1
    assert error_lines(refused.stderr) == [
        f"Error: {photo}: image is 128x128 = 16,384 pixels, more than the --max-pixels limit"
        " of 16,383"
    ]
    assert outputs(tmp_path / "a") == []
    allowed = cli("--max-pixels", "16384", "-i", photo, "-o", tmp_path / "b", "grayscale")
    assert allowed.exit_code == 0 and outputs(tmp_path / "b") == ["hopper.jpg"]


def test_truncated_jpeg_is_an_error_unless_allowed(cli: Cli, tmp_path: Path) -> None:
    bad = make_bad_inputs(tmp_path / "bad")
    truncated, corrupt = bad["truncated_jpeg"], bad["corrupt_scan_jpeg"]
    default = cli("-i", truncated, "-o", tmp_path / "a", "--format", "png")
    assert default.exit_code == 1
    assert error_lines(default.stderr) == [f"Error: {truncated}: truncated image data"]
    assert outputs(tmp_path / "a") == []

    allowed = cli("--allow-truncated", "-i", truncated, "-i", corrupt, "-o", tmp_path / "b")
    assert allowed.exit_code == 1  # corruption is not excused, only a missing end
    [line] = error_lines(allowed.stderr)
    assert line.startswith(f"Error: {corrupt}: corrupt JPEG data")
    assert outputs(tmp_path / "b") == ["truncated.jpg"]
    with (
        Image.open(tmp_path / "b" / "truncated.jpg") as image,
        Image.open(sample("rocket.jpg")) as full,
    ):
        assert image.size == full.size == (640, 427)
        top = (0, 0, 640, 100)  # the first 60% of the file holds at least the top rows
        assert mean_abs_diff(image.convert("RGB").crop(top), full.convert("RGB").crop(top)) < 4


def test_animated_gif_and_multipage_tiff_give_their_first_frame(cli: Cli, tmp_path: Path) -> None:
    bad = make_bad_inputs(tmp_path / "bad")
    gif, tiff = bad["animated_gif"], bad["multipage_tiff"]
    result = cli("-i", gif, "-i", tiff, "-o", tmp_path / "png", "--format", "png")
    assert (result.exit_code, error_lines(result.stderr)) == (0, [])
    for source in (gif, tiff):
        with (
            Image.open(source) as original,
            Image.open(tmp_path / "png" / f"{source.stem}.png") as out,
        ):
            original.seek(0)
            first = original.convert("RGB")
            assert out.convert("RGB").tobytes() == first.tobytes()
    same = cli("-i", gif, "-i", tiff, "-o", tmp_path / "same")
    assert same.exit_code == 0
    for name in ("animated.gif", "multipage.tif"):
        with Image.open(tmp_path / "same" / name) as out:
            assert getattr(out, "n_frames", 1) == 1


# ----------------------------------------------------------------------------------- hard inputs


@pytest.fixture(scope="module")
def hard_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path, str]:
    """The hard inputs, converted to PNG by one run of the CLI (module-wide: it is read only)."""
    from typer.testing import CliRunner

    from imgprep.cli import app

    folder = tmp_path_factory.mktemp("hard")
    hard = make_hard_inputs(folder / "in")
    out = folder / "out"
    result = CliRunner().invoke(app, ["-i", str(folder / "in"), "-o", str(out), "--format", "png"])
    return hard, out, f"{result.exit_code}\n{result.stderr}"


def test_every_hard_input_is_written(hard_run: tuple[dict[str, Path], Path, str]) -> None:
    hard, out, result = hard_run
    assert result.startswith("0\n") and "Error" not in result, result
    assert outputs(out) == sorted(f"{path.stem}.png" for path in hard.values())
    assert all(fully_decodes(out / name) for name in outputs(out))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(
    hard_run: tuple[dict[str, Path], Path, str], orientation: int
) -> None:
    _, out, _ = hard_run
    with Image.open(out / f"orientation_{orientation}.png") as image:
        assert image.size == ORIENTED_UPRIGHT_SIZE
        assert image.getexif().get(0x0112) is None  # no tag left to turn it a second time
        upright = oriented_upright()
        assert mean_abs_diff(image.convert("RGB"), upright) < 3
        # and not merely similar: the mirrored picture is far off
        mirrored = upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        assert mean_abs_diff(image.convert("RGB"), mirrored) > 10


def test_hard_modes_come_out_right(hard_run: tuple[dict[str, Path], Path, str]) -> None:
    hard, out, _ = hard_run
    with Image.open(out / "cmyk.png") as cmyk:
        assert cmyk.mode == "RGB"
        for index, colour in enumerate(CMYK_QUADRANT_COLOURS):
            pixel = cmyk.getpixel((32 * (index % 2) + 16, 32 * (index // 2) + 16))
            assert isinstance(pixel, tuple)
            assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 6
    with Image.open(out / "grey16.png") as wide, Image.open(hard["png16"]) as original:
        assert wide.mode == "I;16"
        assert wide.tobytes() == original.convert("I;16").tobytes()
    with (
        Image.open(out / "palette_transparent.png") as alpha,
        Image.open(hard["palette_transparent_png"]) as palette,
    ):
        assert alpha.mode == "RGBA"
        transparent = [index == 0 for index in palette.tobytes()]
        assert any(transparent)
        assert [value == 0 for value in alpha.getchannel("A").tobytes()] == transparent
    for key, name, mode in (("la_png", "grey_alpha", "LA"), ("rgba_png", "colour_alpha", "RGBA")):
        with Image.open(out / f"{name}.png") as image, Image.open(hard[key]) as original:
            assert image.mode == mode and image.tobytes() == original.tobytes()
    with Image.open(out / "one_by_one.png") as tiny:
        assert tiny.size == (1, 1) and tiny.convert("RGB").getpixel((0, 0)) == (12, 34, 56)
    with Image.open(out / "one_by_5000.png") as tall:
        assert tall.size == (1, 5000)


@pytest.mark.parametrize("output_format", ["same", "png", "jpeg", "webp", "tiff"])
def test_icc_profile_is_kept_by_formats_that_carry_one(
    cli: Cli, tmp_path: Path, output_format: str
) -> None:
    rocket = sample("rocket.jpg")
    result = cli("-i", rocket, "-o", tmp_path, "--format", output_format, "resize", "320")
    assert result.exit_code == 0, result.stderr
    [name] = outputs(tmp_path)
    with Image.open(rocket) as original, Image.open(tmp_path / name) as out:
        assert out.info.get("icc_profile") == original.info["icc_profile"]


def test_icc_profile_is_converted_to_srgb_for_a_format_without_one(
    cli: Cli, tmp_path: Path
) -> None:
    # A JPEG named .bmp: with --format same the name decides the output format, BMP, which
    # has no place for the Adobe RGB profile, so the pixels must be converted to sRGB.
    (tmp_path / "in").mkdir()
    shutil.copyfile(sample("rocket.jpg"), tmp_path / "in" / "rocket.bmp")
    result = cli("-i", tmp_path / "in" / "rocket.bmp", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    with Image.open(sample("rocket.jpg")) as original:
        original.load()
        profile = ImageCms.ImageCmsProfile(io.BytesIO(original.info["icc_profile"]))
        srgb = ImageCms.profileToProfile(original, profile, ImageCms.createProfile("sRGB"))
        assert srgb is not None
        with Image.open(tmp_path / "out" / "rocket.bmp") as out:
            assert out.format == "BMP" and "icc_profile" not in out.info
            assert mean_abs_diff(out.convert("RGB"), srgb) < 1
            assert mean_abs_diff(out.convert("RGB"), original.convert("RGB")) > 2


def test_awkward_names_keep_their_names(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hard = make_hard_inputs(tmp_path / "in")
    names = ["name with spaces.jpg", "ünïcødé.png", "-leading-dash.png", "UPPER.JPG"]
    monkeypatch.chdir(tmp_path / "in")
    # relative names as a shell passes them: "-leading-dash.png" must not be taken for an option
    args = [arg for name in names for arg in ("-i", name)]
    result = cli(*args, "-o", tmp_path / "out", "grayscale")
    assert (result.exit_code, error_lines(result.stderr)) == (0, [])
    # the extension keeps the format and is written lower-case
    assert outputs(tmp_path / "out") == sorted(
        ["name with spaces.jpg", "ünïcødé.png", "-leading-dash.png", "UPPER.jpg"]
    )
    for name in names:
        assert hard[name].exists()


# ----------------------------------------------------------------------------------- kills, signals


def slow_inputs(folder: Path) -> Path:
    folder.mkdir()
    for index in range(SLOW_COPIES):
        shutil.copyfile(sample("hopper.jpg"), folder / f"img_{index:02d}.jpg")
    return folder


def start_slow_run(inputs: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imgprep", "-i", inputs, "-o", out, "-j", "2", *SLOW_STEPS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_outputs(process: subprocess.Popen[str], out: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(outputs(out)) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no outputs appeared"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes every output of the slow run must have (all inputs are the same photo)."""
    folder = tmp_path_factory.mktemp("reference")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "imgprep",
            "-q",
            "-i",
            sample("hopper.jpg"),
            "-o",
            folder,
            *SLOW_STEPS,
        ],
        check=True,
        timeout=60,
    )
    return (folder / "hopper.jpg").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_interrupted_run_leaves_only_complete_outputs_and_a_rerun_finishes_the_rest(
    cli: Cli, tmp_path: Path, slow_reference: bytes, signum: int, exit_code: int
) -> None:
    inputs = slow_inputs(tmp_path / "in")
    out = tmp_path / "out"
    process = start_slow_run(inputs, out)
    try:
        wait_for_outputs(process, out, 3)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=5)  # stops within a second or two
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == exit_code, stderr
    assert (out / LOCK_NAME).read_bytes() == WRITING  # the next run looks for temporary files

    done = snapshot(out)
    assert 3 <= len(done) < SLOW_COPIES  # the signal landed mid-run
    for name in done:  # never a readable-but-truncated image: each is the complete file
        assert (out / name).read_bytes() == slow_reference, name
    recorded = set(manifest_outputs(out))
    if signum == signal.SIGKILL:
        # kill -9 may leave temporary files, and may land between an output's rename and its
        # manifest line (at most one output per worker): such an output is redone
        assert len(set(done) - recorded) <= 2
    else:
        counts = summary(stderr)
        assert counts["left"] > 0 and counts["failed"] == 0
        assert counts["written"] + counts["left"] == SLOW_COPIES
        assert temp_files(out) == []
        assert set(done) <= recorded  # every finished output is on record

    rerun = cli("-i", inputs, "-o", out, "-j", "2", *SLOW_STEPS)
    assert rerun.exit_code == 0, rerun.stderr
    assert temp_files(out) == []
    assert (out / LOCK_NAME).read_bytes() == CLEAN
    after = snapshot(out)
    assert sorted(after) == [f"img_{index:02d}.jpg" for index in range(SLOW_COPIES)]
    kept = {name for name in done if name in recorded}
    assert rewritten(done, after) & kept == set()  # existing outputs keep inode and mtime
    assert summary(rerun.stderr) == {
        "written": SLOW_COPIES - len(kept),
        "current": len(kept),
        "failed": 0,
        "left": 0,
    }
    for name in after:
        assert (out / name).read_bytes() == slow_reference, name
    assert sorted(manifest_outputs(out)) == sorted(after)  # compacted: one line per output


def test_sigterm_before_the_first_image_still_exits_143(tmp_path: Path) -> None:
    # A FIFO in place of the manifest holds the run in its planning phase (reading the
    # manifest, as a slow walk of a huge tree would): a signal there must give the same exit
    # code as during the images.
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / MANIFEST_NAME)
    process = subprocess.Popen(
        [sys.executable, "-m", "imgprep", "-i", sample("hopper.jpg"), "-o", out, "grayscale"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        # wait until it blocks opening the FIFO (the kernel's wait for a writer)
        while Path(f"/proc/{process.pid}/wchan").read_text() != "wait_for_partner":
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, stderr
    assert outputs(out) == []


def test_stale_temporary_files_are_removed_and_never_read(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [
        out / f".hopper.jpg.0badc0de{files.TEMP_SUFFIX}",
        out / "sub" / f".x.png.1{files.TEMP_SUFFIX}",
    ]
    for path in stale:
        path.write_bytes(sample("hopper.jpg").read_bytes()[:500])  # a half-written image
    (tmp_path / "in").mkdir()
    shutil.copy2(sample("hopper.jpg"), tmp_path / "in" / "hopper.jpg")
    shutil.copy2(stale[0], tmp_path / "in" / stale[0].name)  # leftovers in an input folder too
    result = cli("-i", tmp_path / "in", "-o", out, "grayscale")
    assert (result.exit_code, error_lines(result.stderr)) == (0, [])
    assert temp_files(out) == []
    assert outputs(out) == ["hopper.jpg"]
    assert (tmp_path / "in" / stale[0].name).exists()  # inputs are never touched


# ----------------------------------------------------------------------------------- re-runs


@pytest.fixture
def seeded(cli: Cli, samples: Path, tmp_path: Path) -> Callable[..., CliResult]:
    """A first run of the seed chain over the sample photos, then a runner for re-runs."""
    out = tmp_path / "out"

    def run(*extra: str, steps: str = SEED_STEPS, args: tuple[str, ...] = ()) -> CliResult:
        return cli("-i", samples, "-o", out, "--format", "png", *args, *extra, *steps.split())

    first = run()
    assert first.exit_code == 0 and summary(first.stderr)["written"] == 2 * len(SAMPLE_NAMES)
    return run


def test_second_run_writes_nothing(seeded: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = snapshot(out)
    result = seeded()
    assert result.exit_code == 0
    assert summary(result.stderr) == {"written": 0, "current": 12, "failed": 0, "left": 0}
    assert snapshot(out) == before


def test_touch_rewrites_nothing_but_an_edit_rewrites_exactly_its_outputs(
    seeded: Callable[..., CliResult], samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = snapshot(out)
    # touch: the mtime changes, the content does not (the sha256 proves it)
    later = time.time_ns() + 5_000_000_000
    os.utime(samples / "coffee.png", ns=(later, later))
    result = seeded()
    assert summary(result.stderr)["written"] == 0 and snapshot(out) == before
    # an unrelated file appearing or being touched in the input folder changes nothing
    (samples / "notes.txt").write_text("shot list\n", encoding="utf-8")
    os.utime(samples / "notes.txt", ns=(later, later))
    assert summary(seeded().stderr)["written"] == 0 and snapshot(out) == before

    # an edit: new pixels
    with Image.open(samples / "coffee.png") as image:
        image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(samples / "coffee.png")
    result = seeded()
    assert summary(result.stderr) == {"written": 2, "current": 10, "failed": 0, "left": 0}
    assert rewritten(before, snapshot(out)) == {"coffee.png", "coffee_mirror.png"}


def test_same_size_edit_with_a_new_mtime_is_caught_by_the_hash(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(sample("hopper.jpg")) as image:
        image.save(folder / "a.bmp")  # BMP: the file size does not depend on the pixels
        image.save(folder / "b.bmp")
    out = tmp_path / "out"
    assert cli("-i", folder, "-o", out, "--format", "png", "grayscale").exit_code == 0
    before = snapshot(out)
    size = (folder / "a.bmp").stat().st_size
    with Image.open(folder / "a.bmp") as image:
        image.point(lambda value: 255 - value).save(folder / "a.bmp")
    assert (folder / "a.bmp").stat().st_size == size
    result = cli("-i", folder, "-o", out, "--format", "png", "grayscale")
    assert summary(result.stderr)["written"] == 1
    assert rewritten(before, snapshot(out)) == {"a.png"}


@pytest.mark.parametrize(
    ("extra", "steps"),
    [
        ((), SEED_STEPS.replace("--cutoff 3", "--cutoff 4")),  # a step option
        ((), SEED_STEPS.replace("grayscale ", "")),  # a step removed
        (("--png-compress-level", "9"), SEED_STEPS),  # an encoder setting
        (("--strip-icc",), SEED_STEPS),
        (("--force",), SEED_STEPS),
    ],
    ids=["cutoff", "step-removed", "compress-level", "strip-icc", "force"],
)
def test_a_changed_recipe_or_force_rewrites_all(
    seeded: Callable[..., CliResult], tmp_path: Path, extra: tuple[str, ...], steps: str
) -> None:
    out = tmp_path / "out"
    before = snapshot(out)
    result = seeded(*extra, steps=steps)
    assert result.exit_code == 0
    assert summary(result.stderr) == {"written": 12, "current": 0, "failed": 0, "left": 0}
    assert rewritten(before, snapshot(out)) == set(before)
    assert sorted(manifest_outputs(out)) == sorted(before)  # compacted: one line per output


def test_another_format_or_quality_is_another_output(cli: Cli, tmp_path: Path) -> None:
    photo = sample("rocket.jpg")
    out = tmp_path / "out"
    assert cli("-i", photo, "-o", out, "--quality", "90", "grayscale").exit_code == 0
    before = snapshot(out)
    again = cli("-i", photo, "-o", out, "--quality", "60", "grayscale")
    assert summary(again.stderr)["written"] == 1 and rewritten(before, snapshot(out)) == {
        "rocket.jpg"
    }
    as_png = cli("-i", photo, "-o", out, "--format", "png", "grayscale")
    assert summary(as_png.stderr)["written"] == 1
    assert outputs(out) == ["rocket.jpg", "rocket.png"]


def test_a_new_imgprep_version_rewrites_all(
    seeded: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imgprep._plan

    monkeypatch.setattr(imgprep._plan, "__version__", "999.0")  # the recipe includes it
    assert summary(seeded().stderr)["written"] == 12


def test_deleted_or_edited_outputs_are_redone(
    seeded: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "hopper.png").unlink()
    (out / "camera_mirror.png").write_bytes(b"edited by hand")
    before = snapshot(out)
    result = seeded()
    assert summary(result.stderr) == {"written": 2, "current": 10, "failed": 0, "left": 0}
    assert rewritten(before, snapshot(out)) == {"hopper.png", "camera_mirror.png"}
    assert fully_decodes(out / "camera_mirror.png")


def test_torn_last_manifest_line_redoes_only_that_output(
    seeded: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    manifest = out / MANIFEST_NAME
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    torn_output = json.loads(lines[-1])[0]
    manifest.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    before = snapshot(out)
    result = seeded()
    assert summary(result.stderr) == {"written": 1, "current": 11, "failed": 0, "left": 0}
    assert rewritten(before, snapshot(out)) == {torn_output}
    assert sorted(manifest_outputs(out)) == sorted(before)  # and the torn line is gone
    assert all(line.endswith("\n") for line in manifest.read_text().splitlines(keepends=True))


def test_moving_the_input_tree_or_reading_it_through_a_link_rewrites_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    tree = tmp_path / "data" / "valA"
    (tree / "sub").mkdir(parents=True)
    for name in SAMPLE_NAMES:
        shutil.copy2(sample(name), tree / "sub" / name)
    out = tmp_path / "out"

    def rerun(source: Path) -> dict[str, int]:
        return summary(cli("-r", "-i", source, "-o", out, "--format", "png", *SEED).stderr)

    assert rerun(tree)["written"] == 12
    before = snapshot(out)
    moved = tree.rename(tmp_path / "data" / "valB")  # mv data/valA data/valB
    nothing = {"written": 0, "current": 12, "failed": 0, "left": 0}
    assert rerun(moved) == nothing
    (tmp_path / "mount").symlink_to(moved, target_is_directory=True)  # another path to it
    assert rerun(tmp_path / "mount") == nothing
    assert snapshot(out) == before
    # a file moved to another name within the tree is another input, even when its outputs
    # keep their names (hopper.jpg and hopper.jpeg both make hopper.png)
    (moved / "sub" / "hopper.jpg").rename(moved / "sub" / "hopper.jpeg")
    assert rerun(moved) == {"written": 2, "current": 10, "failed": 0, "left": 0}
    assert rewritten(before, snapshot(out)) == {"sub/hopper.png", "sub/hopper_mirror.png"}


def test_a_touched_input_is_hashed_once_then_never_again(
    seeded: Callable[..., CliResult], samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    file_digest = hashlib.file_digest

    def counting(stream: Any, digest: Any, /, **options: Any) -> Any:
        hashed.append(stream.name)
        return file_digest(stream, digest, **options)

    monkeypatch.setattr(hashlib, "file_digest", counting)
    later = time.time_ns() + 5_000_000_000
    os.utime(samples / "coffee.png", ns=(later, later))
    assert summary(seeded().stderr)["written"] == 0
    assert hashed == [str(samples / "coffee.png")]  # once for both of its outputs
    hashed.clear()
    assert summary(seeded().stderr)["written"] == 0
    assert hashed == []  # its new mtime was recorded


def test_a_long_planning_shows_its_progress(
    cli: Cli, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgprep import _plan
    from imgprep import cli as cli_module

    monkeypatch.setattr(_plan, "PROGRESS_EVERY", 2)
    out = tmp_path / "out"
    quick = cli("--progress", "-i", samples, "-o", out, *SEED)
    assert quick.exit_code == 0 and "finding inputs" not in quick.stderr  # under a second
    monkeypatch.setattr(cli_module, "PLANNING_BAR_AFTER", 0.0)  # as if planning were slow
    slow = cli("--progress", "-i", samples, "-o", out, *SEED)
    assert slow.exit_code == 0 and summary(slow.stderr)["current"] == 12
    assert "finding inputs" in slow.stderr and "checking outputs" in slow.stderr


# ----------------------------------------------------------------------------------- never clobber


def test_output_folder_equal_to_input_needs_in_place(cli: Cli, samples: Path) -> None:
    before = fingerprints(samples)
    refused = cli("-i", samples, "-o", samples, "grayscale")
    assert refused.exit_code == 1
    [line] = error_lines(refused.stderr)
    assert "would overwrite the input" in line and "--in-place" in line
    assert fingerprints(samples) == before and not (samples / MANIFEST_NAME).exists()

    done = cli("--in-place", "-i", samples, "-o", samples, "grayscale")
    assert done.exit_code == 0 and summary(done.stderr)["written"] == len(SAMPLE_NAMES)
    with Image.open(samples / "coffee.png") as image:
        assert image.mode == "L"
    after = snapshot(samples)
    again = cli("--in-place", "-i", samples, "-o", samples, "grayscale")  # its own outputs
    assert summary(again.stderr) == {"written": 0, "current": 6, "failed": 0, "left": 0}
    assert snapshot(samples) == after


@pytest.mark.parametrize(
    ("names", "options"),
    [
        (("a.jpg", "a.png"), ("--format", "png", "grayscale")),
        (("a.jpg", "a.JPG"), ("grayscale",)),
        (("a.jpg", "a_mirror.jpg"), ("augment", "--mirror")),  # a variant's name is taken
    ],
    ids=["jpg-and-png", "extension-case", "variant-name"],
)
def test_two_inputs_for_one_output_are_refused_before_writing(
    cli: Cli, tmp_path: Path, names: tuple[str, str], options: tuple[str, ...]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy2(sample("coffee.png"), folder / "0first.png")  # would be written first
    for name in names:
        with Image.open(sample("hopper.jpg")) as image:
            image.save(folder / name, format="PNG" if name.endswith("png") else "JPEG")
    out = tmp_path / "out"
    result = cli("-i", folder, "-o", out, *options)
    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert str(folder / names[0]) in line and str(folder / names[1]) in line
    assert not out.exists()  # nothing written, not even the folder


@pytest.mark.parametrize("template", ["../{stem}{suffix}.{ext}", "/tmp/{stem}{suffix}.{ext}"])
def test_output_names_cannot_leave_the_output_folder(
    cli: Cli, tmp_path: Path, template: str
) -> None:
    out = tmp_path / "deep" / "out"
    result = cli("-i", sample("hopper.jpg"), "-o", out, "--name", template, "grayscale")
    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert "would leave the output folder" in line
    assert not out.exists() and not (tmp_path / "deep" / "hopper.jpg").exists()


def test_a_symlink_inside_the_output_folder_cannot_lead_outputs_out(
    cli: Cli, tmp_path: Path
) -> None:
    # -r mirrors in/sub into out/sub; out/sub is a link to a folder outside -o
    (tmp_path / "in" / "sub").mkdir(parents=True)
    shutil.copy2(sample("hopper.jpg"), tmp_path / "in" / "sub" / "x.jpg")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = cli("-r", "-i", tmp_path / "in", "-o", tmp_path / "out", "grayscale")
    assert list((tmp_path / "elsewhere").iterdir()) == []  # nothing written outside -o
    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert "would leave the output folder" in line


def test_output_folder_inside_the_input_folder_is_not_read_back(cli: Cli, samples: Path) -> None:
    out = samples / "prepared"
    first = cli("-i", samples, "-o", out, *SEED)
    assert first.exit_code == 0 and summary(first.stderr)["written"] == 12
    before = snapshot(out)
    for args in ((), ("-r",)):
        again = cli(*args, "-i", samples, "-o", out, *SEED)
        assert summary(again.stderr) == {"written": 0, "current": 12, "failed": 0, "left": 0}
    assert snapshot(out) == before


def test_an_earlier_output_folder_inside_the_input_folder_is_never_read_back(
    cli: Cli, samples: Path, tmp_path: Path
) -> None:
    first = cli("-r", "-i", samples, "-o", samples / "prepared", *SEED)
    assert summary(first.stderr)["written"] == 12
    second = cli("-r", "-i", samples, "-o", samples / "prepared2", *SEED)
    assert summary(second.stderr) == {"written": 12, "current": 0, "failed": 0, "left": 0}
    # no thumbnails of thumbnails: prepared/ was not read as input
    assert outputs(samples / "prepared2") == outputs(samples / "prepared")
    # named itself, it is a folder of inputs like any other (a second chain over thumbnails)
    third = cli("-i", samples / "prepared", "-o", tmp_path / "smaller", "resize", "64")
    assert summary(third.stderr)["written"] == 12


def test_a_file_reached_through_two_paths_gets_the_outputs_of_each(
    cli: Cli, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    shutil.copy2(sample("hopper.jpg"), data / "a" / "x.jpg")
    os.link(data / "a" / "x.jpg", data / "b" / "x.jpg")  # as `cp -al` makes them
    (data / "c").symlink_to(data / "a", target_is_directory=True)
    out = tmp_path / "out"
    result = cli("-r", "-i", data, "-o", out, "grayscale")
    assert result.exit_code == 0 and error_lines(result.stderr) == []
    assert summary(result.stderr)["written"] == 3
    assert outputs(out) == ["a/x.jpg", "b/x.jpg", "c/x.jpg"]
    # the same file under the same name is one input: a folder given twice is walked once
    again = cli("-r", "-i", data, "-i", data, "-o", out, "grayscale")
    assert summary(again.stderr) == {"written": 0, "current": 3, "failed": 0, "left": 0}


@pytest.mark.parametrize("named", ["folder", "file"])
def test_inputs_below_the_output_folder_are_still_inputs(
    cli: Cli, tmp_path: Path, named: str
) -> None:
    # photos/raw -> photos: the outputs land beside raw/, never inside it; nothing to skip
    raw = tmp_path / "photos" / "raw"
    raw.mkdir(parents=True)
    shutil.copy2(sample("hopper.jpg"), raw / "hopper.jpg")
    source = raw if named == "folder" else raw / "hopper.jpg"
    result = cli("-i", source, "-o", tmp_path / "photos", "grayscale")
    assert result.exit_code == 0
    assert "no input images found" not in result.stderr
    assert outputs(tmp_path / "photos") == ["hopper.jpg", "raw/hopper.jpg"]


# ----------------------------------------------------------------------------------- permissions


@pytest.fixture
def world_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder under /tmp that user nobody can reach (pytest's tmp_path is root-only).

    The config file is pointed there too: nobody cannot look into root's home for one.
    """
    folder = Path(tempfile.mkdtemp(prefix="imgprep-reliability-"))
    folder.chmod(0o755)
    (folder / "config.toml").write_text("")  # empty: defaults; nobody may read it
    (folder / "config.toml").chmod(0o644)
    monkeypatch.setenv("IMGPREP_CONFIG", os.fspath(folder / "config.toml"))
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(folder)


def cli_as(user_is_nobody: bool, cli: Cli, *args: str | os.PathLike[str]) -> dict[str, object]:
    def check() -> dict[str, object]:
        result = cli(*args)
        return {"exit_code": result.exit_code, "stderr": result.stderr}

    if user_is_nobody:
        cli("--version")  # import everything the run needs while still root
        with tempfile.TemporaryDirectory() as scratch:
            cli("-i", sample("hopper.jpg"), "-o", scratch, "grayscale")
        return as_nobody(check)
    return check()


def test_unreadable_input_is_permission_denied(cli: Cli, world_tmp: Path) -> None:
    bad = make_bad_inputs(world_tmp / "bad")
    folder = world_tmp / "in"
    folder.mkdir(mode=0o755)
    shutil.copy2(bad["unreadable"], folder / "unreadable.jpg")
    (folder / "unreadable.jpg").chmod(0)
    shutil.copy2(sample("hopper.jpg"), folder / "good.jpg")
    (folder / "good.jpg").chmod(0o644)
    out = world_tmp / "out"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    result = cli_as(running_as_root(), cli, "-i", folder, "-o", out, "grayscale")
    assert result["exit_code"] == 1
    stderr = str(result["stderr"])
    assert error_lines(stderr) == [
        f"Error: {folder / 'unreadable.jpg'}: {EXPECTED_REASONS['unreadable']}"
    ]
    assert outputs(out) == ["good.jpg"]


def test_output_folder_without_write_permission(cli: Cli, world_tmp: Path) -> None:
    # the input goes where nobody can read it: the checkout may sit in a folder only root
    # may enter (a mktemp -d clone is mode 0700)
    photo = world_tmp / "hopper.jpg"
    shutil.copy2(sample("hopper.jpg"), photo)
    photo.chmod(0o644)
    out = world_tmp / "out"
    out.mkdir()
    out.chmod(0o555)  # owned by root: nobody may not write here
    result = cli_as(running_as_root(), cli, "-i", photo, "-o", out, "grayscale")
    stderr = str(result["stderr"])
    # refused once, before the run: not one "permission denied" per input
    assert result["exit_code"] == 2, stderr
    assert stderr == f"Error: cannot write to output folder {out}: permission denied\n"
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------------- full or read-only disk


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted on ``folder`` (root in this sandbox may mount one)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", os.fspath(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", os.fspath(folder)], check=True)


def test_full_disk_fails_each_output_cleanly(cli: Cli, samples: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "size=200k") as disk:
        out = disk / "out"
        result = cli("-i", samples, "-o", out, "--format", "png", "-j", "1")  # one write at a time
        assert result.exit_code == 1
        assert "Traceback" not in result.stderr
        written = outputs(out)
        assert 0 < len(written) < len(SAMPLE_NAMES)  # 200 KiB holds some photos, not all
        lines = error_lines(result.stderr)
        assert len(lines) == len(SAMPLE_NAMES) - len(written)
        assert all(line.endswith(": no space left on device") for line in lines), lines
        assert all(fully_decodes(out / name) for name in written)
        assert temp_files(out) == []
        assert summary(result.stderr)["written"] == len(written)


def test_disk_full_when_recording_the_manifest_is_a_clean_error(cli: Cli, tmp_path: Path) -> None:
    photo = sample("hopper.jpg")
    reference = tmp_path / "reference"
    assert cli("-i", photo, "-o", reference, "--format", "png", "grayscale").exit_code == 0
    pages = -(-(reference / "hopper.png").stat().st_size // 4096)
    with tmpfs(tmp_path / "disk", "size=200k") as disk:
        out = disk / "out"
        out.mkdir()
        # a manifest filling its page exactly: the next line needs a new page, and the disk
        # keeps just enough pages for the image itself
        (out / MANIFEST_NAME).write_text("x" * 4095 + "\n", encoding="utf-8")
        free = os.statvfs(disk).f_bavail
        (disk / "filler").write_bytes(bytes(4096 * (free - pages)))
        result = cli("-i", photo, "-o", out, "--format", "png", "grayscale")
        assert result.exit_code == 1
        assert "Traceback" not in result.stderr
        [line] = error_lines(result.stderr)
        assert line.endswith("no space left on device")
        assert all(fully_decodes(out / name) for name in outputs(out))
        assert temp_files(out) == []


def test_read_only_output_folder(cli: Cli, samples: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=64k") as read_only:
        result = cli("-i", samples, "-o", read_only, "grayscale")
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: cannot write to output folder {read_only}: read-only file system\n"
        )
        missing = cli("-i", samples, "-o", read_only / "new", "grayscale")
        assert missing.exit_code == 2
        assert missing.stderr == (
            f"Error: cannot create output folder {read_only / 'new'}: read-only file system\n"
        )


# ----------------------------------------------------------------------------------- exit codes


def test_usage_error_exits_2_and_writes_nothing(cli: Cli, samples: Path, tmp_path: Path) -> None:
    result = cli("-i", samples, "-o", tmp_path / "out", "resize", "0x5")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert "0x5" in line
    assert not (tmp_path / "out").exists()
