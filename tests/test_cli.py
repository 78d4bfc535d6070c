"""The command line end to end: grammar, every step, names, folders, stdin, exit codes, output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from conftest import SAMPLE_NAMES, SAMPLES, SEED_STEPS
from imgprep import __version__
from imgprep.steps import STEPS


def stems(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands()))


def tutorial_by_hand(path: Path) -> tuple[Image.Image, Image.Image]:
    """The tutorial's computation in plain Pillow: centre crop + resize, gray, autocontrast."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened.convert("RGB"))
    image = ImageOps.fit(image, (200, 200), method=Image.Resampling.BICUBIC)
    image = ImageOps.autocontrast(image.convert("L"), cutoff=3)
    return image, ImageOps.mirror(image)


# --- the seed job -------------------------------------------------------------------------------


def test_seed_pipeline_matches_plain_pillow(cli, samples, tmp_path):
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "--format", "png", *SEED_STEPS.split())
    assert result.exit_code == 0, result
    expected = sorted(
        f"{Path(n).stem}{suffix}.png" for n in SAMPLE_NAMES for suffix in ("", "_mirror")
    )
    assert stems(out) == expected
    for name in SAMPLE_NAMES:
        original, mirrored = tutorial_by_hand(samples / name)
        for suffix, reference in (("", original), ("_mirror", mirrored)):
            with Image.open(out / f"{Path(name).stem}{suffix}.png") as produced:
                assert produced.size == (200, 200)
                assert produced.mode == "L"
                # PNG inputs decode in full: the same up to rounding and ImageOps.fit's crop of
                # a whole number of source pixels. JPEGs decode at 1/2 scale straight to gray
                # (shrink-on-load): within the tested 2 levels.
                limit = 2.0 if name.endswith(".jpg") else 1.0
                assert mean_abs_diff(produced, reference) <= limit, name
    assert "12 written, 0 up to date, 0 failed" in result.stderr


def test_seed_pipeline_as_a_real_process(cli_process, samples, tmp_path):
    out = tmp_path / "out"
    done = cli_process("-i", samples, "-o", out, "--format", "png", *SEED_STEPS.split())
    assert done.returncode == 0, done.stderr
    assert len(stems(out)) == 2 * len(SAMPLE_NAMES)
    # stderr is a pipe: no progress bar, only the summary line.
    assert done.stderr.count("\n") == 1
    assert "\r" not in done.stderr and "img/s" not in done.stderr
    assert done.stderr.startswith("imgprep: 12 written, 0 up to date, 0 failed in ")
    assert done.stdout == ""


def test_progress_bar_when_asked(cli_process, samples, tmp_path):
    done = cli_process("-i", samples, "-o", tmp_path / "o", "--progress", "grayscale")
    assert done.returncode == 0
    assert "6/6" in done.stderr  # tqdm's counter of outputs


def test_console_script_is_installed(samples, tmp_path):
    script = Path(sys.executable).with_name("imgprep")
    assert script.exists()
    import subprocess

    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"imgprep {__version__}\n"


# --- grammar and help --------------------------------------------------------------------------


def test_help_lists_every_step_with_one_line(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "Usage: imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]..." in (
        result.stdout
    )
    for name, definition in STEPS.items():
        assert definition.summary in result.stdout, name
    assert "Exit codes: 0 all good; 1 some input failed" in result.stdout


@pytest.mark.parametrize("name", list(STEPS))
def test_each_step_has_its_own_help(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: imgprep {name}")
    for param in STEPS[name].params:
        if not param.positional:
            assert param.flag in result.stdout


def test_help_after_global_options(cli):
    result = cli("-i", "x", "-o", "y", "resize", "--help")
    assert result.exit_code == 0
    assert "--mode" in result.stdout and "cover" in result.stdout


def test_short_help_is_the_same_as_long_help(cli):
    long, short = cli("--help"), cli("-h")
    assert (short.exit_code, short.stdout) == (0, long.stdout)
    assert "-i, --input PATH" in long.stdout and "--keep-icc / --strip-icc" in long.stdout
    assert cli("resize", "-h").stdout == cli("resize", "--help").stdout


def test_bare_imgprep_prints_usage_and_steps_and_exits_2(cli):
    result = cli()
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Usage: imgprep [GLOBAL OPTIONS] STEP")
    for name in STEPS:
        assert f"  {name}" in result.stderr
    assert "imgprep --help" in result.stderr


@pytest.mark.parametrize(
    ("flag", "unneeded"), [("--version", {"PIL", "tqdm", "pydantic"}), ("-h", {"tqdm", "pydantic"})]
)
def test_help_and_version_load_nothing_they_do_not_need(flag, unneeded):
    code = (
        "import sys\n"
        "from imgprep.cli import run_command_line\n"
        f"assert run_command_line([{flag!r}]) == 0\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(unneeded)!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", flag


def test_version(cli):
    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"imgprep {__version__}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resise", "200"], "unknown step 'resise'; did you mean resize?"),
        (["resize", "200", "grayscal"], "unknown step 'grayscal' after 'resize'"),
        (["resize", "0x5"], "resize SIZE: size must be positive, not '0x5'"),
        (["resize", "-3"], "resize SIZE: "),
        (["resize", "axb"], "size must be WIDTHxHEIGHT"),
        (["resize", "20", "--mode", "squash"], "resize --mode: must be one of fit, cover"),
        (["resize", "20", "--moed", "cover"], "resize: no option --moed; did you mean --mode?"),
        (["autocontrast", "--cutoff", "60"], "cutoff must be in [0, 50), not 60"),
        (["rotate"], "rotate: missing DEGREES"),
        (["rotate", "90", "--fill", "blurple"], "rotate --fill: colour must be"),
        (["augment"], "augment needs at least one of --mirror, --flip, --rotate"),
        (["augment", "--rotate", "45"], "rotations must be 90, 180 or 270, not 45"),
        (["augment", "--mirror", "augment", "--flip"], "augment may appear once"),
        (["--workers", "0", "grayscale"], "-j/--workers must be a whole number of at least 1"),
        (["-j", "٣", "grayscale"], "-j/--workers must be a whole number of at least 1"),
        (["--quality", "101", "grayscale"], "--quality must be a whole number from 1 to 100"),
        (["--format", "bmp", "grayscale"], "--format must be one of same, png, jpeg, webp, tiff"),
        (["--fromat", "png", "grayscale"], "no global option --fromat; did you mean --format?"),
        (["-x", "grayscale"], "no global option -x"),
        (["--fsync=yes", "grayscale"], "--fsync is a flag and takes no value"),
        (["grayscale", "--quality", "80"], "--quality is a global option: global options go"),
        (["--name", "{stem}.{ext}", "augment", "--mirror"], "--name must contain {suffix}"),
        (["--name", "{nope}.{ext}", "grayscale"], "not {nope}"),
    ],
)
def test_usage_errors_exit_2_with_one_line_naming_the_token(cli, samples, tmp_path, args, message):
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, *args)
    assert result.exit_code == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert not out.exists()  # nothing written


def test_a_run_does_not_import_pydantic(samples, tmp_path):
    """Typer would import pydantic to coerce option values: ~0.1 s of every start-up."""
    code = (
        "import sys\n"
        "from imgprep.cli import main\n"
        f"sys.argv = ['imgprep', '-i', {str(samples)!r}, '-o', {str(tmp_path / 'out')!r},\n"
        "    '--format', 'png', '-j', '2', '--quality', '80', '--name', '{stem}{suffix}.{ext}',\n"
        f"    {', '.join(map(repr, SEED_STEPS.split()))}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    assert len(list((tmp_path / "out").iterdir())) >= 2 * len(SAMPLE_NAMES)


CODEC_MODULES = ("imgprep._process", "imgprep._decode", "imgprep._encode", "zlib_ng")


@pytest.mark.parametrize(
    ("extra", "codecs"),
    [((), CODEC_MODULES), ((), ()), (("--dry-run",), ())],
    ids=["first run", "no-op re-run", "dry run"],
)
def test_a_run_with_nothing_to_write_imports_no_codec(samples, tmp_path, extra, codecs):
    """A cron re-run over a done folder pays for its imports every time: it needs none of
    the decoding and encoding code."""
    out = tmp_path / "out"
    if not codecs:  # the folder is done already
        first = subprocess.run([sys.executable, "-m", "imgprep", "-i", samples, "-o", out, "-q"])
        assert first.returncode == 0
    code = (
        "import sys\n"
        "from imgprep.cli import run_command_line\n"
        f"code = run_command_line([*{list(extra)!r}, '-q', '-i', {str(samples)!r}, "
        f"'-o', {str(out)!r}])\n"
        f"print(code, [m for m in {CODEC_MODULES!r} if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"0 {list(codecs)!r}"


def test_missing_output_and_input_are_usage_errors(cli, samples):
    assert "missing option -o/--output" in cli("-i", samples, "grayscale").stderr
    result = cli("-o", "somewhere", "grayscale")
    assert result.exit_code == 2 and "no input given" in result.stderr


def test_no_steps_converts_format(cli, samples, tmp_path):
    out = tmp_path / "out"
    result = cli("-i", samples / "hopper.jpg", "-o", out, "--format", "png")
    assert result.exit_code == 0
    with Image.open(out / "hopper.png") as converted, Image.open(samples / "hopper.jpg") as source:
        assert converted.format == "PNG"
        assert (
            ImageChops.difference(converted.convert("RGB"), source.convert("RGB")).getbbox() is None
        )


# --- every step through the CLI ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "check"),
    [
        ("resize 64x48 --mode stretch", lambda im: im.size == (64, 48)),
        ("resize 100", lambda im: max(im.size) == 100 and im.size == (100, 67)),
        (
            "resize 100x100 --mode pad --pad-color red",
            lambda im: im.size == (100, 100) and im.getpixel((50, 0)) == (255, 0, 0),
        ),
        ("resize 1000 --only-shrink", lambda im: im.size == (640, 427)),
        ("resize x50 --filter nearest", lambda im: im.size == (75, 50)),
        ("grayscale", lambda im: im.mode == "L" and im.size == (640, 427)),
        (
            "autocontrast --cutoff 3",
            lambda im: im.mode == "RGB" and min(lo for lo, _ in im.getextrema()) == 0,
        ),
        ("equalize", lambda im: im.mode == "RGB" and im.size == (640, 427)),
        ("mirror", lambda im: im.size == (640, 427)),
        ("flip", lambda im: im.size == (640, 427)),
        ("rotate 90", lambda im: im.size == (427, 640)),
        ("rotate -90", lambda im: im.size == (427, 640)),
        (
            "rotate 30 --fill white",
            lambda im: im.size[0] > 640 and im.getpixel((0, 0)) == (255, 255, 255),
        ),
    ],
)
def test_every_step(cli, samples, tmp_path, steps, check):
    out = tmp_path / "out"
    result = cli("-i", samples / "rocket.jpg", "-o", out, "--format", "png", *steps.split())
    assert result.exit_code == 0, result
    with Image.open(out / "rocket.png") as produced:
        produced.load()
        assert check(produced)


def test_mirror_and_flip_move_the_right_pixels(cli, samples, tmp_path):
    out = tmp_path / "out"
    cli(
        "-i",
        samples / "coffee.png",
        "-o",
        out,
        "augment",
        "--mirror",
        "--flip",
        "--rotate",
        "90,270",
    )
    with Image.open(samples / "coffee.png") as source:
        source = source.convert("RGB")
        expectations = {
            "coffee_mirror.png": source.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            "coffee_flip.png": source.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
            "coffee_rot90.png": source.transpose(Image.Transpose.ROTATE_90),
            "coffee_rot270.png": source.transpose(Image.Transpose.ROTATE_270),
            "coffee.png": source,
        }
    assert stems(out) == sorted(expectations)
    for name, expected in expectations.items():
        with Image.open(out / name) as produced:
            assert ImageChops.difference(produced.convert("RGB"), expected).getbbox() is None, name


def test_steps_after_augment_apply_to_every_variant(cli, samples, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "-i",
        samples / "coffee.png",
        "-o",
        out,
        "augment",
        "--rotate",
        "90",
        "resize",
        "50x20",
        "--mode",
        "stretch",
    )
    assert result.exit_code == 0
    for name in ("coffee.png", "coffee_rot90.png"):
        with Image.open(out / name) as produced:
            assert produced.size == (50, 20)


def test_formats_quality_and_name_template(cli, samples, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "-i",
        samples / "coffee.png",
        "-o",
        out,
        "--format",
        "jpeg",
        "--quality",
        "40",
        "--name",
        "{stem}-small{suffix}.{ext}",
        "resize",
        "100",
    )
    assert result.exit_code == 0, result
    low = out / "coffee-small.jpg"
    with Image.open(low) as produced:
        assert produced.format == "JPEG" and produced.size == (100, 67)
    cli(
        "-i",
        samples / "coffee.png",
        "-o",
        tmp_path / "q95",
        "--format",
        "jpeg",
        "--quality",
        "95",
        "--name",
        "{stem}-small{suffix}.{ext}",
        "resize",
        "100",
    )
    assert low.stat().st_size < (tmp_path / "q95" / "coffee-small.jpg").stat().st_size
    for fmt, ext in (("webp", "webp"), ("tiff", "tif"), ("png", "png")):
        assert (
            cli(
                "-i", samples / "coffee.png", "-o", tmp_path / fmt, "--format", fmt, "grayscale"
            ).exit_code
            == 0
        )
        with Image.open(tmp_path / fmt / f"coffee.{ext}") as produced:
            assert produced.format == {"webp": "WEBP", "tiff": "TIFF", "png": "PNG"}[fmt]


def test_format_same_keeps_each_inputs_format(cli, samples, tmp_path):
    out = tmp_path / "out"
    assert cli("-i", samples, "-o", out, "resize", "50").exit_code == 0
    with Image.open(out / "rocket.jpg") as a, Image.open(out / "coffee.png") as b:
        assert (a.format, b.format) == ("JPEG", "PNG")


# --- inputs: folders, globs, stdin -------------------------------------------------------------


def test_subfolders_are_mirrored_with_recursive(cli, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "deep").mkdir(parents=True)
    shutil.copy(SAMPLES / "hopper.jpg", src / "top.jpg")
    shutil.copy(SAMPLES / "hopper.jpg", src / "a" / "one.JPG")
    shutil.copy(SAMPLES / "coffee.png", src / "a" / "deep" / "two.png")
    (src / "a" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = cli("-i", src, "-r", "-o", out, "--format", "png", "grayscale")
    assert result.exit_code == 0, result
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a/deep/two.png",
        "a/one.png",
        "top.png",
    ]
    # without -r only the top folder
    flat = tmp_path / "flat"
    assert cli("-i", src, "-o", flat, "grayscale").exit_code == 0
    assert stems(flat) == ["top.jpg"]


def test_glob_and_repeated_inputs(cli, samples, tmp_path):
    out = tmp_path / "out"
    result = cli("-i", f"{samples}/*.jpg", "-i", samples / "camera.png", "-o", out, "grayscale")
    assert result.exit_code == 0
    assert stems(out) == ["camera.png", "hopper.jpg", "rocket.jpg"]


@pytest.mark.parametrize("null", [False, True])
def test_paths_from_stdin(cli, samples, tmp_path, null):
    out = tmp_path / "out"
    names = [str(samples / "hopper.jpg"), str(samples / "coffee.png")]
    data = ("\0".join(names) + "\0") if null else ("\n".join(names) + "\n")
    args = ["-i", "-", "-o", out, *(["--null"] if null else []), "grayscale"]
    result = cli(*args, input=data.encode())
    assert result.exit_code == 0, result
    assert stems(out) == ["coffee.png", "hopper.jpg"]


def test_relative_paths_from_stdin_keep_their_folders(cli_process, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(SAMPLES / "hopper.jpg", tmp_path / "a" / "x.jpg")
    shutil.copy(SAMPLES / "coffee.png", tmp_path / "b" / "x.jpg")
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "imgprep", "-i", "-", "-o", "out", "grayscale"],
        input="a/x.jpg\nb/x.jpg\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    )
    assert written == [".imgprep-lock", ".imgprep-manifest.jsonl", "a/x.jpg", "b/x.jpg"]


# --- exit codes --------------------------------------------------------------------------------


def test_exit_1_when_one_input_fails_and_the_rest_are_done(cli, samples, tmp_path):
    (samples / "broken.jpg").write_text("this is not a JPEG")
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "--format", "png", "grayscale")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(samples / "broken.jpg") in errors[0]
    assert len(stems(out)) == len(SAMPLE_NAMES)
    assert not (out / "broken.png").exists()
    assert "6 written, 0 up to date, 1 failed" in result.stderr


def test_fail_fast_stops_at_the_first_failure(cli, samples, tmp_path):
    (samples / "aaa.jpg").write_bytes(b"")
    out = tmp_path / "out"
    result = cli("-i", samples, "-o", out, "-j", "1", "--buffer", "1", "--fail-fast", "grayscale")
    assert result.exit_code == 1
    assert "aaa.jpg: empty file" in result.stderr
    assert "not done" in result.stderr
    assert len(stems(out)) < len(SAMPLE_NAMES)


def run_on_a_terminal(*args: str | os.PathLike[str]) -> tuple[int, str]:
    """Run ``python -m imgprep`` with stdout and stderr on a pseudo-terminal of 80x24 (as in
    an interactive shell); return the exit code and everything the terminal showed."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "imgprep", *map(os.fspath, args)],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
        )
        os.close(terminal)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=60)
    finally:
        os.close(controller)
    return code, shown.decode(errors="replace")


def test_quiet_hides_the_progress_bar_on_a_terminal(samples, tmp_path):
    # a terminal shows the bar by default (tqdm's counter of outputs) ...
    code, shown = run_on_a_terminal("-i", samples, "-o", tmp_path / "o", "grayscale")
    assert code == 0
    assert "6/6" in shown and "imgprep: 6 written" in shown
    # ... and -q hides it with the summary: quiet means nothing on a good run
    code, shown = run_on_a_terminal("-q", "-f", "-i", samples, "-o", tmp_path / "o", "grayscale")
    assert (code, shown) == (0, "")
    # errors still show, one line each, with no bar around them (the terminal adds the \r)
    (samples / "broken.jpg").write_bytes(b"plain text, not a JPEG")
    code, shown = run_on_a_terminal("-q", "-f", "-i", samples, "-o", tmp_path / "o", "grayscale")
    assert code == 1
    assert (
        shown
        == f"Error: {samples / 'broken.jpg'}: not an image Pillow can read (looks like text)\r\n"
    )


def test_quiet_keeps_errors_only(cli, samples, tmp_path):
    result = cli("-i", samples, "-o", tmp_path / "o", "-q", "grayscale")
    assert (result.exit_code, result.stderr, result.stdout) == (0, "", "")


def test_empty_input_folder_is_nothing_to_do(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("-i", tmp_path / "empty", "-o", tmp_path / "o", "grayscale")
    assert result.exit_code == 0
    assert "no input images found" in result.stderr


def test_config_file_sets_defaults_and_options_win(cli, samples, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('format = "webp"\n')
    monkeypatch.setenv("IMGPREP_CONFIG", os.fspath(config))
    assert cli("-i", samples / "hopper.jpg", "-o", tmp_path / "a", "grayscale").exit_code == 0
    assert stems(tmp_path / "a") == ["hopper.webp"]
    result = cli("-i", samples / "hopper.jpg", "-o", tmp_path / "b", "--format", "png", "grayscale")
    assert result.exit_code == 0 and stems(tmp_path / "b") == ["hopper.png"]
    config.write_text("format = 'gif'\n")
    result = cli("-i", samples / "hopper.jpg", "-o", tmp_path / "c", "grayscale")
    assert result.exit_code == 2 and "--format must be one of same, png" in result.stderr
    assert f"config file {config}" in result.stderr
    config.write_text("format = 'JPG'\n")  # the aliases of --format are accepted here too
    assert cli("-i", samples / "hopper.jpg", "-o", tmp_path / "d", "grayscale").exit_code == 0
    assert stems(tmp_path / "d") == ["hopper.jpg"]
    config.write_text("workers = 'many'\n")
    result = cli("-i", samples / "hopper.jpg", "-o", tmp_path / "c", "grayscale")
    assert result.exit_code == 2 and "workers must be int, not 'many'" in result.stderr


def test_a_config_file_named_by_imgprep_config_must_exist(cli, samples, tmp_path, monkeypatch):
    missing = tmp_path / "missing.toml"
    monkeypatch.setenv("IMGPREP_CONFIG", os.fspath(missing))
    result = cli("-i", samples / "hopper.jpg", "-o", tmp_path / "out", "grayscale")
    assert result.exit_code == 2
    assert result.stderr == f"Error: config file {missing} does not exist\n"
    assert not (tmp_path / "out").exists()


def test_find_print0_listing_folders_and_files(tmp_path):
    """`find src -print0` names folders as well as files: each file once, under its path."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    shutil.copy(SAMPLES / "hopper.jpg", tmp_path / "src" / "a" / "x.jpg")
    shutil.copy(SAMPLES / "hopper.jpg", tmp_path / "src" / "top.jpg")
    import subprocess

    listing = "src\0src/a\0src/a/x.jpg\0src/top.jpg\0"
    done = subprocess.run(
        [sys.executable, "-m", "imgprep", "-i", "-", "--null", "-o", "out", "grayscale"],
        input=listing,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "2 written" in done.stderr
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")
    )
    assert written == ["src/a/x.jpg", "src/top.jpg"]


def test_icc_profile_kept_by_default_and_converted_to_srgb_by_strip_icc(cli, samples, tmp_path):
    import io

    from PIL import ImageCms

    source = samples / "rocket.jpg"  # Adobe RGB (1998)
    with Image.open(source) as image:
        profile = image.info["icc_profile"]
        pixels = image.convert("RGB")
    kept, stripped = tmp_path / "kept", tmp_path / "stripped"
    assert cli("-i", source, "-o", kept, "--format", "png").exit_code == 0
    assert cli("-i", source, "-o", stripped, "--format", "png", "--strip-icc").exit_code == 0
    with Image.open(kept / "rocket.png") as image:
        assert image.info["icc_profile"] == profile
        assert ImageChops.difference(image.convert("RGB"), pixels).getbbox() is None
    expected = ImageCms.profileToProfile(
        pixels, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    )
    with Image.open(stripped / "rocket.png") as image:
        assert "icc_profile" not in image.info
        assert ImageChops.difference(image.convert("RGB"), pixels).getbbox() is not None
        assert ImageChops.difference(image.convert("RGB"), expected).getbbox() is None


# --- edges a new user hits: refused before anything is written -----------------------------------


def test_an_output_path_that_is_a_file_is_one_line_and_exit_2(cli, samples, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x\n")
    result = cli("-i", samples, "-o", afile, "resize", "64")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: cannot create output folder {afile}: it is a file\n"
    assert afile.read_text() == "x\n"
    below = cli("-i", samples, "-o", afile / "sub", "resize", "64")
    assert below.exit_code == 2 and below.stderr.count("\n") == 1
    assert f"cannot create output folder {afile / 'sub'}" in below.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--name", "{stem}.png", "--format", "jpeg"],
            "--name '{stem}.png' names every output .png, but --format jpeg writes JPEG data: "
            "use {ext} in the name, or --format png",
        ),
        (["--name", "{stem}.jpg"], "--format same keeps each input's format"),
    ],
)
def test_a_name_whose_extension_contradicts_the_format_is_refused(
    cli, samples, tmp_path, args, message
):
    result = cli("-i", samples, "-o", tmp_path / "out", *args, "grayscale")
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()
    fine = cli("-i", samples / "hopper.jpg", "-o", tmp_path / "ok", "--name", "{stem}.jpeg",
               "--format", "jpg", "grayscale")  # fmt: skip
    assert fine.exit_code == 0 and stems(tmp_path / "ok") == ["hopper.jpeg"]


def test_an_empty_glob_is_an_empty_folder_exit_0(cli, tmp_path):
    (tmp_path / "incoming").mkdir()
    for spec in (tmp_path / "incoming", f"{tmp_path}/incoming/*.jpg"):
        result = cli("-i", spec, "-o", tmp_path / "out", "grayscale")
        assert (result.exit_code, result.stderr) == (0, "imgprep: no input images found\n")
    assert not (tmp_path / "out").exists()


def test_a_glob_matches_any_case_of_the_extension(cli, samples, tmp_path):
    shutil.copy(samples / "hopper.jpg", samples / "UPPER.JPG")
    result = cli("-i", f"{samples}/*.jpg", "-o", tmp_path / "out", "grayscale")
    assert result.exit_code == 0
    assert stems(tmp_path / "out") == ["UPPER.jpg", "hopper.jpg", "rocket.jpg"]  # suffix lowered


def test_listed_paths_go_below_the_output_relative_to_base(cli_process, tmp_path):
    photos = tmp_path / "photos"
    (photos / "2024").mkdir(parents=True)
    shutil.copy(SAMPLES / "hopper.jpg", photos / "2024" / "a.jpg")
    shutil.copy(SAMPLES / "hopper.jpg", tmp_path / "elsewhere.jpg")
    listing = f"{photos / '2024' / 'a.jpg'}\0{tmp_path / 'elsewhere.jpg'}\0"
    done = cli_process(
        "-i", "-", "--null", "--base", photos, "-o", tmp_path / "out", "grayscale", input=listing
    )
    assert done.returncode == 1
    assert stems(tmp_path / "out") == ["a.jpg"]
    assert (tmp_path / "out" / "2024" / "a.jpg").is_file()
    assert done.stderr.splitlines()[0] == (
        f"Error: {tmp_path / 'elsewhere.jpg'}: not inside --base {photos}"
    )


def _place(word: str, places: dict[str, Path]) -> str:
    for key, path in places.items():
        word = word.replace("{" + key + "}", str(path))
    return word


REFUSALS = [
    [],
    ["-h"],
    ["--version"],
    ["nonsense"],
    ["-i"],
    ["-i", "{samples}", "-o", "{out}"],
    ["-i", "{samples}", "-o", "{afile}", "grayscale"],
    ["-i", "{samples}", "-o", "{afile}/x", "grayscale"],
    ["-i", "{missing}", "-o", "{out}", "grayscale"],
    ["-i", "{samples}/*.nothing", "-o", "{out}", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "-j", "x", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "--quality", "1000", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "--format", "gif", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "--name", "{{", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "--name", "../{stem}.{ext}", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "--null", "grayscale"],
    ["-i", "{samples}", "-o", "{out}", "resize"],
    ["-i", "{samples}", "-o", "{out}", "resize", "10", "--filter"],
    ["-i", "{samples}", "-o", "{out}", "resize", "10", "--filter", "nope"],
    ["-i", "{samples}", "-o", "{out}", "rotate", "inf"],
    ["-i", "{samples}", "-o", "{out}", "rotate", "--fill", "x", "10"],
    ["-i", "{samples}", "-o", "{out}", "augment", "--rotate", ""],
    ["-i", "{samples}", "-o", "{out}", "grayscale", "--help", "--nonsense"],
    ["-i", "{samples}", "-o", "{samples}", "grayscale"],
    ["-i", "{broken}", "-o", "{out}", "grayscale"],
]


@pytest.mark.parametrize("words", REFUSALS, ids=" ".join)
def test_no_refusal_ends_in_a_traceback(cli_process, samples, tmp_path, words):
    """Every refusal is lines of `Error: ...` (and a summary), never a Python traceback."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    places = {
        "samples": samples,
        "out": tmp_path / "out",
        "afile": tmp_path / "afile",
        "missing": tmp_path / "missing",
        "broken": tmp_path / "broken.jpg",
    }
    args = [_place(word, places) for word in words]
    done = cli_process(*args)
    assert done.returncode in (0, 1, 2), done
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.splitlines()
    if done.returncode:
        assert lines and all(
            line.startswith(("Error: ", "imgprep: ", "Usage: ", "  ", "Steps:", "Try ")) or not line
            for line in lines
        ), lines
