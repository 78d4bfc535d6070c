"""Presets: named chains in the config file, run with --preset and listed by `imgprep presets`.

Every test writes its own config file and points IMGPREP_CONFIG at it: never the real home.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imgprep.config import load_presets, load_user_defaults
from imgprep.errors import UsageError

CONFIG = """\
workers = 2
format = "webp"

[presets.thumbs]
steps = "resize 64x48 --mode cover"
format = "png"

[presets.grey]
steps = ["grayscale", "autocontrast", "--cutoff", "2"]
keep-icc = false
seed = 3

[presets.settings-only]
quality = 60
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    return path


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_preset_runs_its_chain_with_its_settings(cli, config, samples, tmp_path):
    out = tmp_path / "out"
    result = cli("--preset", "thumbs", "-i", samples, "-o", out)
    assert result.exit_code == 0, result
    names = outputs(out)
    assert names == sorted(f"{p.stem}.png" for p in samples.iterdir())  # format = "png"
    for name in names:
        with Image.open(out / name) as image:
            assert (image.format, image.size) == ("PNG", (64, 48))


def test_steps_given_after_the_preset_are_appended(cli, config, samples, tmp_path):
    out = tmp_path / "out"
    result = cli("--preset", "thumbs", "-i", samples / "rocket.jpg", "-o", out, "grayscale")
    assert result.exit_code == 0, result
    with Image.open(out / "rocket.png") as image:
        assert (image.size, image.mode) == ((64, 48), "L")


def test_command_line_wins_over_preset_which_wins_over_config(cli, config, samples, tmp_path):
    rocket = samples / "rocket.jpg"
    assert cli("--preset", "thumbs", "-i", rocket, "-o", tmp_path / "a").exit_code == 0
    assert outputs(tmp_path / "a") == ["rocket.png"]  # the preset's format over the file's
    given = cli("--preset", "thumbs", "--format", "jpeg", "-i", rocket, "-o", tmp_path / "b")
    assert given.exit_code == 0
    assert outputs(tmp_path / "b") == ["rocket.jpg"]  # the command line's over the preset's
    assert cli("--preset", "grey", "-i", rocket, "-o", tmp_path / "c").exit_code == 0
    assert outputs(tmp_path / "c") == ["rocket.webp"]  # no format in the preset: the file's


def test_a_preset_sets_settings_a_list_of_words_and_flags(config):
    _, presets = load_presets()
    assert list(presets) == ["thumbs", "grey", "settings-only"]
    grey = presets["grey"]
    assert grey.words == ("grayscale", "autocontrast", "--cutoff", "2")
    assert grey.settings == {"keep_icc": False, "seed": 3}
    assert presets["settings-only"].words == ()
    assert load_user_defaults()["workers"] == 2  # the presets table is not a top-level key


def test_presets_lists_each_with_its_chain(cli, config):
    result = cli("presets")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"Presets in {config}:"
    assert lines[1].split() == ["thumbs", "--format", "png", "resize", "64x48", "--mode", "cover"]
    assert lines[2].split() == [
        "grey",
        "--strip-icc",
        "--seed",
        "3",
        "grayscale",
        "autocontrast",
        "--cutoff",
        "2",
    ]
    assert lines[3].split() == ["settings-only", "--quality", "60"]
    assert "presets" in cli("presets", "--help").stdout


def test_presets_without_any(cli, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("workers = 1\n")
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    result = cli("presets")
    assert (result.exit_code, result.stdout) == (
        0,
        f"No presets in {path} (see imgprep presets --help).\n",
    )


@pytest.mark.parametrize(
    ("preset", "problem"),
    [
        (
            '[presets.bad]\nsteps = "resise 64"',
            "preset 'bad': unknown step 'resise'; did you mean resize?",
        ),
        (
            '[presets.bad]\nsteps = "resize 64 --mode squash"',
            "preset 'bad': resize --mode: must be one of",
        ),
        (
            "[presets.bad]\nsteps = 64",
            "preset 'bad': steps must be text or a list of words, not 64",
        ),
        ('[presets.bad]\nsteps = "resize \'64"', "preset 'bad': steps cannot be split into words"),
        ("[presets.bad]\nwrkers = 2", "preset 'bad': unknown key 'wrkers' (known: "),
        ('[presets.bad]\nquality = "high"', "preset 'bad': quality must be int, not 'high'"),
        (
            "[presets.bad]\nquality = 101",
            "preset 'bad': quality must be a whole number from 1 to 100",
        ),
        ("[presets.bad]\nformat = 'gif'", "preset 'bad': --format must be one of"),
        ("presets = 3", "presets must be tables: [presets.NAME]"),
        ("[presets]\nbad = 3", "preset 'bad' must be a table, [presets.bad], not 3"),
    ],
)
def test_a_broken_preset_is_a_usage_error_naming_file_preset_and_problem(
    cli, samples, tmp_path, monkeypatch, preset, problem
):
    path = tmp_path / "config.toml"
    path.write_text(preset + "\n")
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    out = tmp_path / "out"
    result = cli("--preset", "bad", "-i", samples, "-o", out)
    assert result.exit_code == 2, result
    assert (
        result.stderr == f"Error: config file {path}: {problem}" + result.stderr.split(problem)[1]
    )
    assert result.stderr.count("\n") == 1
    assert not out.exists()
    listed = cli("presets")
    assert listed.exit_code == 2
    assert f"Error: config file {path}: {problem}" in listed.stderr


def test_a_missing_preset_names_the_file_and_the_nearest_one(cli, config, samples, tmp_path):
    result = cli("--preset", "thumb", "-i", samples, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert (
        result.stderr == f"Error: no preset 'thumb' in config file {config}; did you mean thumbs?\n"
    )
    other = cli("--preset", "zzz", "-i", samples, "-o", tmp_path / "out")
    assert other.stderr.endswith("its presets are thumbs, grey, settings-only\n")
    assert not (tmp_path / "out").exists()


def test_a_preset_asked_for_without_a_config_file(cli, samples, tmp_path, monkeypatch):
    monkeypatch.delenv("IMGPREP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = cli("--preset", "thumbs", "-i", samples, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "no preset 'thumbs': config file " in result.stderr
    assert result.stderr.endswith("config.toml does not exist\n")


def test_broken_presets_are_listed_apart_from_good_ones(cli, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('[presets.good]\nsteps = "flip"\n[presets.bad]\nsteps = "flop"\n')
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    result = cli("presets")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[1].split() == ["good", "flip"]
    assert "bad" not in result.stdout
    assert result.stderr.startswith(f"Error: config file {path}: preset 'bad': unknown step 'flop'")


def test_an_unused_broken_preset_does_not_stop_a_run(cli, samples, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('[presets.bad]\nsteps = "flop"\n')
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    result = cli("-i", samples / "rocket.jpg", "-o", tmp_path / "out", "flip")
    assert result.exit_code == 0, result


def test_load_presets_checks_types_like_the_top_of_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[presets.x]\noptimize = 1\n")
    with pytest.raises(UsageError, match=r"preset 'x': optimize must be bool, not 1"):
        load_presets(path)


def test_a_preset_may_write_lossless_webp(cli, samples, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('[presets.exact]\nsteps = "resize 32"\nformat = "webp"\nlossless = true\n')
    monkeypatch.setenv("IMGPREP_CONFIG", str(path))
    result = cli("--preset", "exact", "-i", samples / "coffee.png", "-o", tmp_path / "out")
    assert result.exit_code == 0, result
    with Image.open(samples / "coffee.png") as source:
        expected = source.convert("RGB").resize((32, 21), Image.Resampling.BICUBIC)
    with Image.open(tmp_path / "out" / "coffee.webp") as written:
        assert written.tobytes() == expected.tobytes()
    listed = cli("presets").stdout.splitlines()[1].split()
    assert listed == ["exact", "--format", "webp", "--lossless", "resize", "32x32"]


def test_a_preset_may_keep_metadata_and_set_the_depth(cli, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[presets.archive]\nsteps = "resize 32"\nformat = "png"\nkeep_metadata = true\n'
        'depth = "16"\n'
    )
    monkeypatch.setenv("IMGPREP_CONFIG", str(config))
    folder = tmp_path / "in"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    Image.new("L", (64, 64), 128).save(folder / "grey.jpg", exif=exif.tobytes())
    out = tmp_path / "out"
    result = cli("--preset", "archive", "-i", folder, "-o", out)
    assert result.exit_code == 0, result
    with Image.open(out / "grey.png") as image:
        assert image.mode == "I;16"  # depth = "16"
        assert image.getexif().get(0x010F) == "Canon"  # keep_metadata = true
    # the command line still wins, and a bad depth is refused like one typed
    result = cli("--preset", "archive", "--strip-metadata", "-i", folder, "-o", out)
    assert result.exit_code == 0, result
    with Image.open(out / "grey.png") as image:
        assert 0x010F not in image.getexif()
    config.write_text('[presets.archive]\ndepth = "12"\n')
    result = cli("--preset", "archive", "-i", folder, "-o", out)
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --depth must be one of 8, 16, keep, not '12'\n",
    )
