"""Shell completion: the pure suggestions, and the entry point called the way shells call it.

Typer's completion scripts run ``imgprep`` with ``_IMGPREP_COMPLETE=complete_SHELL`` and the
words typed so far (bash: ``COMP_WORDS`` and ``COMP_CWORD``; zsh and fish:
``_TYPER_COMPLETE_ARGS``); these tests do the same with ``python -m imgprep``, and source the
real bash script in bash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgprep._completion import suggest
from imgprep._step_table import STEPS

BIN = Path(sys.executable).parent


def values(words: list[str], incomplete: str) -> list[str]:
    return [value for value, _ in suggest(words, incomplete)]


# --- what is offered ------------------------------------------------------------------------------


def test_step_names_after_the_global_options():
    assert values(["-i", "x", "-o", "y"], "res") == ["resize"]
    assert values(["-rq", "-j2", "--format=png", "-i", "x"], "gr") == ["grayscale"]
    assert values(["-i", "x"], "") == list(STEPS)
    help_of = dict(suggest(["-i", "x"], "res"))
    assert help_of["resize"] == STEPS["resize"].summary


def test_a_steps_options_after_it_and_the_next_step_after_them():
    assert values(["resize", "200"], "--mo") == ["--mode"]
    assert values(["resize", "200", "--mode", "cover"], "--") == [
        "--only-shrink",
        "--filter",
        "--pad-color",
    ]  # --mode is given already
    assert values(["resize", "200", "--mode", "cover"], "gr") == ["grayscale"]
    assert values(["rotate", "-90"], "--") == ["--fill"]  # -90 is the angle, not an option
    assert values(["resize"], "") == []  # SIZE comes first: nothing to offer


def test_values_of_choices_and_global_options_before_the_first_step():
    assert values(["resize", "200", "--mode"], "c") == ["cover"]
    assert values(["--format"], "") == ["same", "png", "jpeg", "webp", "tiff", "avif"]
    assert values(["--format", "="], "w") == ["webp"]  # bash splits --format=w at the "="
    assert values([], "--for") == ["--format", "--force"]
    assert values(["-i", "x"], "--fs") == ["--fsync"]


def test_paths_are_left_to_the_shell():
    for words in (["-i"], ["-i", "a", "-o"], ["-i", "-", "--base"], ["inspect"]):
        assert suggest(words, "") == [], words
        assert suggest(words, "pho") == [], words


def test_commands_first_and_inspect_has_its_own_options():
    assert values([], "ins") == ["inspect"]
    assert values([], "pre") == ["presets"]
    assert values(["-i", "x"], "ins") == []  # a command only as the first word
    assert values(["inspect", "a.jpg"], "--h") == ["--height", "--help"]
    assert values(["inspect", "a.jpg", "-o", "s.png"], "fl") == ["flip"]


def test_preset_names_come_from_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[presets.thumbs]\nsteps = "resize 64"\n[presets.train]\nsteps = "flip"\n')
    monkeypatch.setenv("IMGPREP_CONFIG", str(config))
    assert suggest(["--preset"], "t") == [("thumbs", "resize 64"), ("train", "flip")]
    config.write_text("presets = 3\n")
    assert suggest(["--preset"], "") == []  # a broken file: nothing, and no error while typing


# --- the entry point, called as the shells call it ------------------------------------------------


def complete(shell: str, typed: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m imgprep`` as ``shell``'s completion script runs it for the line ``typed``."""
    words = typed.split()
    if shell == "bash":
        cword = len(words) if typed.endswith(" ") else len(words) - 1
        env |= {"COMP_WORDS": typed, "COMP_CWORD": str(cword)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": typed}
    env["_IMGPREP_COMPLETE"] = f"complete_{shell}"
    return subprocess.run(
        [sys.executable, "-m", "imgprep"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bash_entry_point():
    done = complete("bash", "imgprep -i x -o y res")
    assert (done.returncode, done.stdout, done.stderr) == (0, "resize\n", "")
    assert complete("bash", "imgprep resize 200 --mo").stdout == "--mode\n"
    assert complete("bash", "imgprep -i ").stdout.strip() == ""  # bash completes file names


def test_fish_entry_point():
    get = {"_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    done = complete("fish", "imgprep -i x -o y res", **get)
    assert done.returncode == 0
    assert done.stdout == f"resize\t{STEPS['resize'].summary}\n"
    mode = complete("fish", "imgprep resize 200 --mo", **get).stdout
    assert mode.startswith("--mode\t")
    # fish first asks whether imgprep offers words here (exit 0) or files (exit 1)
    asks = {"_TYPER_COMPLETE_FISH_ACTION": "is-args"}
    assert complete("fish", "imgprep -i x -o y res", **asks).returncode == 0
    assert complete("fish", "imgprep -i ", **asks).returncode == 1


def test_zsh_entry_point():
    done = complete("zsh", "imgprep resize 200 --mo")
    assert done.stdout.startswith('_arguments \'*: :(("--mode":')
    assert complete("zsh", "imgprep -o ").stdout.strip() == "_files"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_scripts_to_install_call_imgprep_back(shell):
    done = subprocess.run(
        [sys.executable, "-m", "imgprep"],
        env={**os.environ, "_IMGPREP_COMPLETE": f"source_{shell}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"_IMGPREP_COMPLETE=complete_{shell}" in done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_with_the_sourced_script():
    """The script as ``eval "$(_IMGPREP_COMPLETE=source_bash imgprep)"`` installs it, run by
    bash the way it runs it at a TAB."""
    script = (
        'eval "$(_IMGPREP_COMPLETE=source_bash imgprep)"\n'
        "complete -p imgprep\n"
        "COMP_WORDS=(imgprep -i photos -o out res); COMP_CWORD=5\n"
        "_imgprep_completion imgprep\n"
        'printf "reply:%s\\n" "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(imgprep resize 200 --mo); COMP_CWORD=3\n"
        "_imgprep_completion imgprep\n"
        'printf "reply:%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "complete -o default -F _imgprep_completion imgprep"
    assert lines[1:] == ["reply:resize", "reply:--mode"]


# --- start-up costs -------------------------------------------------------------------------------


def imported_after(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    code = (
        "import sys\n"
        f"sys.argv = {['imgprep', *argv]!r}\n"
        "from imgprep.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stderr.splitlines()[-1].split())


def test_version_still_imports_neither_pydantic_nor_pillow():
    assert not imported_after(["--version"]) & {"pydantic", "PIL", "tqdm"}


def test_completion_does_not_import_pydantic():
    env = {"_IMGPREP_COMPLETE": "complete_bash", "COMP_WORDS": "imgprep res", "COMP_CWORD": "1"}
    assert "pydantic" not in imported_after([], env)
