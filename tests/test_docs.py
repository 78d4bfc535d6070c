"""The docs against the code: every step and option documented, every example run.

Like sqlite-utils' documentation tests, these fail when a step or option is added without
docs, or when an example in README.md or docs/cli.md stops working as written.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, SAMPLE_NAMES, SAMPLES, SEED_STEPS
from imgprep import cli
from imgprep._global_options import GLOBAL_OPTIONS
from imgprep.steps import STEPS

README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
ARCHITECTURE = DOCS / "architecture.md"
SOURCE = ROOT / "src" / "imgprep"
GRAMMAR = "imgprep [GLOBAL OPTIONS] STEP [STEP OPTIONS] [STEP [STEP OPTIONS]]..."
SEED_COMMAND = f"imgprep -i photos/ -o prepared/ {SEED_STEPS}"


# --- reading markdown ---------------------------------------------------------------------------


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def section(text: str, heading: re.Pattern[str]) -> str:
    """The text under the first heading matching ``heading``, up to the next heading of the same
    or a higher level."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        found = re.match(r"(#+) ", line)
        if found and heading.search(line):
            level = len(found.group(1))
            body = []
            for following in lines[start + 1 :]:
                other = re.match(r"(#+) ", following)
                if other and len(other.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body)
    raise AssertionError(f"no heading matching {heading.pattern!r}")


def mentions(text: str, flag: str) -> bool:
    """Whether ``flag`` occurs as a whole word: ``-r`` is not found inside ``--rotate``."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def step_section(name: str) -> str:
    return section(CLI_DOC.read_text(), re.compile(rf"^### `{name}\b"))


def global_options_section() -> str:
    return section(CLI_DOC.read_text(), re.compile(r"^## Global options$"))


# --- the step table and its docs ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(STEPS))
def test_every_step_has_help(name):
    definition = STEPS[name]
    assert definition.name == name
    assert definition.summary.strip() and "\n" not in definition.summary
    assert definition.description.strip()
    assert definition.example.startswith("imgprep ") and f" {name}" in definition.example
    for param in definition.params:
        assert param.help.strip(), f"{name}: {param.name} has no help"


@pytest.mark.parametrize("name", list(STEPS))
def test_every_step_and_option_is_documented_in_its_section(name):
    text = step_section(name)
    definition = STEPS[name]
    for param in definition.params:
        if param.positional:
            assert param.metavar in text, f"{name}: {param.metavar} not documented"
        else:
            assert mentions(text, param.flag), f"{name}: {param.flag} not documented"
        for choice in param.choices:
            assert choice in text, f"{name} {param.flag}: choice {choice!r} not documented"
    # the step table's own example, shown in `imgprep STEP --help`, is run with the others below
    assert definition.example in text


def test_no_undocumented_step_and_no_stale_one():
    steps_text = section(CLI_DOC.read_text(), re.compile(r"^## Steps$"))
    headings = re.findall(r"^### `([\w-]+)", steps_text, flags=re.MULTILINE)
    assert headings == list(STEPS)


def global_option_flags() -> list[str]:
    return [spelling for option in GLOBAL_OPTIONS for spelling in option.spellings]


@pytest.mark.parametrize("flag", global_option_flags())
def test_every_global_option_is_documented(flag):
    assert mentions(global_options_section(), flag)


def test_every_documented_global_option_exists():
    headings = re.findall(r"^### (.+)$", global_options_section(), flags=re.MULTILINE)
    documented = {
        flag for heading in headings for flag in re.findall(r"(?<![\w-])-[\w-]+", heading)
    }
    assert documented == set(global_option_flags())


def test_in_page_links_of_cli_doc_point_at_headings():
    text = CLI_DOC.read_text()
    slugs = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        slugs.add(slug)
    anchors = re.findall(r"\]\(#([^)]+)\)", text)
    assert anchors
    for anchor in anchors:
        assert anchor in slugs, anchor


# --- README ---------------------------------------------------------------------------------------


def test_readme_opens_with_the_name_and_the_two_set_up_commands():
    text = README.read_text()
    assert text.splitlines()[0] == "# imgprep"
    _, first_block = code_blocks(text)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("## Quick start") < text.index(first_block)


def test_make_targets_named_in_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README.read_text(), flags=re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), target
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_grammar_line_is_verbatim_in_readme_cli_doc_and_help(cli):
    assert GRAMMAR in README.read_text()
    assert GRAMMAR in CLI_DOC.read_text()
    assert f"Usage: {GRAMMAR}" in cli("--help").stdout


def test_readme_example_command_is_the_tutorial_chain():
    assert SEED_COMMAND in README.read_text()
    assert SEED_COMMAND in CLI_DOC.read_text()


def test_readme_links_every_doc_and_each_link_exists():
    text = README.read_text()
    linked = re.findall(r"\]\((docs/[^)#]+\.md)(?:#[^)]*)?\)", text)
    expected = {
        "docs/cli.md",
        "docs/library.md",
        "docs/tutorial.md",
        "docs/reliability.md",
        "docs/benchmarks.md",
        "docs/architecture.md",
        "docs/scale.md",
    }
    assert set(linked) == expected
    missing = sorted(link for link in linked if not (ROOT / link).is_file())
    assert not missing, f"README links to missing files: {missing}"


def test_readme_lists_every_step_and_exit_code():
    text = README.read_text()
    steps_table = section(text, re.compile(r"^### Steps$"))
    listed = re.findall(r"^\| `([\w-]+)", steps_table, flags=re.MULTILINE)
    assert listed == list(STEPS)
    codes_table = section(text, re.compile(r"^### Exit codes$"))
    codes = [int(code) for code in re.findall(r"^\| (\d+) \|", codes_table, flags=re.MULTILINE)]
    assert codes == [
        cli.EXIT_OK,
        cli.EXIT_FAILED,
        cli.EXIT_USAGE,
        cli.EXIT_BUSY,
        cli.EXIT_SIGINT,
        cli.EXIT_SIGTERM,
    ]
    assert re.search(r"^Headline: .*docs/benchmarks.md", text, flags=re.MULTILINE)


def test_readme_python_example_runs_and_prints_what_it_says(tmp_path, monkeypatch):
    blocks = [body for language, body in code_blocks(README.read_text()) if language == "python"]
    assert len(blocks) == 1
    source = blocks[0]
    expected = [
        line.split("#", 1)[1].strip()
        for line in source.splitlines()
        if line.lstrip().startswith("print(") and "#" in line
    ]
    shutil.copytree(SAMPLES, tmp_path / "sample_images")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "README.md", "exec"), {"__name__": "readme_example"})
    assert printed.getvalue().splitlines() == expected
    outputs = sorted(p.name for p in (tmp_path / "prepared").iterdir() if p.name[0] != ".")
    assert outputs == sorted(
        f"{Path(n).stem}{suffix}.png" for n in SAMPLE_NAMES for suffix in ("", "_mirror")
    )
    for name in outputs:
        with Image.open(tmp_path / "prepared" / name) as image:
            assert (image.format, image.size, image.mode) == ("PNG", (200, 200), "L")


# --- every shell example of docs/cli.md runs ------------------------------------------------------


def shell_examples(doc: Path = CLI_DOC) -> list[str]:
    """Each ``imgprep`` or ``find ... | imgprep`` command of the ``sh`` blocks of ``doc``
    (backslash continuations joined; crontab lines and ``make`` targets are not commands)."""
    commands = []
    for language, body in code_blocks(doc.read_text()):
        if language != "sh":
            continue
        for command in body.replace("\\\n", " ").splitlines():
            if command.startswith(("imgprep ", "find ")):
                commands.append(command.strip())
    return commands


def expected_exit(command: str) -> int:
    found = re.search(r"#\s*exit (\d+)\s*$", command)
    return int(found.group(1)) if found else 0


@pytest.fixture
def photos_folder(tmp_path, monkeypatch):
    """A working folder with ``photos/``: the sample photos and ``photos/2024/chelsea.png``;
    ``IMGPREP_CONFIG`` names a config file holding the Presets section's ``toml`` example."""
    photos = tmp_path / "photos"
    (photos / "2024").mkdir(parents=True)
    for name in SAMPLE_NAMES:
        shutil.copy2(SAMPLES / name, photos / name)
    shutil.copy2(SAMPLES / "chelsea.png", photos / "2024" / "chelsea.png")
    config = tmp_path / "config.toml"
    presets = section(CLI_DOC.read_text(), re.compile(r"^## Presets$"))
    config.write_text(next(body for language, body in code_blocks(presets) if language == "toml"))
    monkeypatch.setenv("IMGPREP_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_doc_has_shell_examples_for_pipes_and_plain_commands():
    examples = shell_examples()
    assert len(examples) > 30
    assert any("| imgprep" in command for command in examples)
    assert SEED_COMMAND in examples
    assert len(shell_examples(README)) >= 4


@pytest.mark.parametrize("command", shell_examples() + shell_examples(README))
def test_cli_doc_example_runs(command, photos_folder, cli):
    if "|" in command:
        # a real shell pipeline (find -print0 | imgprep -i - ...), with the venv's imgprep
        bin_folder = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == expected_exit(command), done.stderr
        assert "Error" not in done.stderr
        return
    words = shlex.split(command, comments=True)
    assert words[0] == "imgprep"
    result = cli(*words[1:])
    assert result.exit_code == expected_exit(command), result
    if result.exit_code == 0 and "-o" in words:
        output = photos_folder / words[words.index("-o") + 1]
        if words[1] == "inspect":  # -o names the sheet itself
            assert output.is_file(), command
            return
        if "-n" in words or "--dry-run" in words:  # a dry run creates nothing
            assert not output.exists(), command
            return
        assert any(p.is_file() and p.name[0] != "." for p in output.rglob("*")), command


def test_seed_example_does_what_the_cli_doc_says(photos_folder, cli):
    words = shlex.split(SEED_COMMAND)[1:]
    first = cli(*words)
    assert first.exit_code == 0
    assert first.stderr.startswith("imgprep: 12 written, 0 up to date, 0 failed in ")
    prepared = photos_folder / "prepared"
    assert (prepared / "astronaut.png").is_file() and (prepared / "astronaut_mirror.png").is_file()
    with Image.open(prepared / "rocket_mirror.jpg") as image:
        assert (image.size, image.mode) == ((200, 200), "L")
    again = cli(*words)
    assert again.stderr.startswith("imgprep: 0 written, 12 up to date, 0 failed in ")


def test_in_place_example_is_refused_without_the_flag(photos_folder, cli):
    before = {p.name: p.read_bytes() for p in (photos_folder / "photos").glob("*.*")}
    result = cli("-i", "photos/", "-o", "photos/", "resize", "1024", "--only-shrink")
    assert result.exit_code == 1
    assert "would overwrite the input" in result.stderr and "--in-place" in result.stderr
    assert {p.name: p.read_bytes() for p in (photos_folder / "photos").glob("*.*")} == before


def test_makefile_recipe_rebuilds_only_when_sources_change(photos_folder):
    blocks = [body for language, body in code_blocks(CLI_DOC.read_text()) if language == "make"]
    assert len(blocks) == 1
    (photos_folder / "Makefile").write_text(blocks[0])
    imgprep = f"{sys.executable} -m imgprep"

    def make() -> str:
        done = subprocess.run(
            ["make", f"IMGPREP={imgprep}", "prepared"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "imgprep" in make()
    prepared = photos_folder / "prepared"
    assert (prepared / "rocket.png").is_file() and (prepared / "2024" / "chelsea.png").is_file()
    rocket_written = (prepared / "rocket.png").stat().st_mtime_ns
    assert "imgprep" not in make()  # nothing changed: make does not even start imgprep
    shutil.copy2(SAMPLES / "coffee.png", photos_folder / "photos" / "new.png")
    os.utime(photos_folder / "photos" / "new.png")
    assert "imgprep" in make()
    assert (prepared / "new.png").is_file()
    assert (prepared / "rocket.png").stat().st_mtime_ns == rocket_written  # the manifest kept it
    # a camera's upper-case extensions are sources too: make notices them, not only imgprep
    for sample, name in (("rocket.jpg", "IMG_0001.JPG"), ("coffee.png", "SCAN.PNG")):
        shutil.copy2(SAMPLES / sample, photos_folder / "photos" / "2024" / name)
        os.utime(photos_folder / "photos" / "2024" / name)
        assert "imgprep" in make(), name
        assert (prepared / "2024" / f"{Path(name).stem}.png").is_file(), name
    assert "imgprep" not in make()


# --- the crontab line: the same in README.md and docs/cli.md, and it works as cron runs it -------

CRON_PATH = "/usr/bin:/bin"  # the PATH cron gives a job (Debian's cron, cronie, macOS)
CRONTAB_ENTRY = re.compile(r"^(?:[\d*/,-]+ +){5}(\S.*)$")


def crontab_commands(doc: Path) -> list[str]:
    """The command (after the five time fields) of each crontab entry in the code blocks of
    ``doc``."""
    return [
        found.group(1)
        for _, body in code_blocks(doc.read_text())
        for line in body.splitlines()
        if (found := CRONTAB_ENTRY.match(line))
    ]


def cron_script(command: str) -> str:
    """The path by which a crontab command starts imgprep."""
    return next(word for word in shlex.split(command) if Path(word).name == "imgprep")


def test_readme_and_cli_doc_give_the_same_crontab_line():
    readme, cli_doc = crontab_commands(README), crontab_commands(CLI_DOC)
    assert len(readme) == 1
    assert readme == cli_doc
    command = readme[0]
    assert "%" not in command  # cron would turn it into a newline
    # cron's PATH does not hold the script: the line names it by the path pipx and
    # `pip install --user` give it, as README's Install section says
    script = cron_script(command)
    assert script.startswith("/") and script.endswith("/.local/bin/imgprep"), script
    assert "~/.local/bin/imgprep" in section(README.read_text(), re.compile(r"^## Install$"))


@pytest.mark.skipif(shutil.which("flock", path=CRON_PATH) is None, reason="no flock in /usr/bin")
def test_crontab_line_runs_under_crons_path_quietly_and_one_run_at_a_time(tmp_path):
    (command,) = crontab_commands(CLI_DOC)
    script = Path(sys.executable).parent / "imgprep"  # the installed script of this environment
    assert script.is_file()
    # the same line, with this environment's script for the documented one and every other
    # absolute path (the lock, the input and output folders) moved under tmp_path
    documented = cron_script(command)
    assert documented.startswith("/"), "a bare name is not found in cron's PATH"
    runnable = command.replace(f" {documented} ", " IMGPREP_SCRIPT ", 1)
    runnable = re.sub(r"(?<= )/[\w./-]+", lambda found: f"{tmp_path}{found.group()}", runnable)
    runnable = runnable.replace("IMGPREP_SCRIPT", shlex.quote(str(script)))
    words = shlex.split(runnable)
    lock = Path(words[words.index("-E") + 2])
    photos = Path(words[words.index("-i") + 1])
    prepared = Path(words[words.index("-o") + 1])
    lock.parent.mkdir(parents=True, exist_ok=True)
    (photos / "2024").mkdir(parents=True)
    for name in SAMPLE_NAMES:
        shutil.copy2(SAMPLES / name, photos / name)
    shutil.copy2(SAMPLES / "chelsea.png", photos / "2024" / "chelsea.png")

    def cron() -> subprocess.CompletedProcess[str]:
        """Run the line as cron does: /bin/sh, cron's PATH and nothing else of this process's
        environment. Any output is what cron would mail."""
        return subprocess.run(
            ["/bin/sh", "-c", runnable],
            env={"PATH": CRON_PATH, "HOME": str(tmp_path), "SHELL": "/bin/sh"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    done = cron()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (prepared / "rocket.jpg").is_file() and (prepared / "2024" / "chelsea.png").is_file()

    shutil.copy2(SAMPLES / "rocket.jpg", photos / "new.jpg")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a previous run still going
        done = cron()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # skipped, quietly
    assert not (prepared / "new.jpg").exists()
    done = cron()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (prepared / "new.jpg").is_file()

    (photos / "broken.jpg").write_text("not a photo")
    done = cron()
    assert done.stdout.splitlines() == ["imgprep exited 1"]
    (error,) = done.stderr.splitlines()
    assert error.startswith(f"Error: {photos / 'broken.jpg'}: "), error


# --- the make targets install what README.md's Quick start says -----------------------------------


def test_make_targets_install_what_the_readme_says():
    makefile = (ROOT / "Makefile").read_text()

    def installed_by(target: str) -> list[str]:
        """The ``pip install -e`` arguments of the stamp rule ``target`` depends on."""
        found = re.search(rf"^{target}: (\S+)", makefile, flags=re.MULTILINE)
        assert found, target
        rule = re.search(
            rf"^{re.escape(found.group(1))}:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE
        )
        assert rule, found.group(1)
        return re.findall(r"-e (\S+)", rule.group(1))

    assert {target: installed_by(target) for target in ("demo", "bench", "test", "lint")} == {
        "demo": ["."],
        "bench": ["'.[dask]'"],  # the Dask executor's row
        "test": ["'.[test]'"],
        "lint": ["'.[dev]'"],
    }
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]

    def names(requirements: list[str]) -> set[str]:
        return {re.sub(r"[<>=!~;\s].*", "", requirement) for requirement in requirements}

    assert {"pytest", "hypothesis", "imgprep[dask]"} <= names(extras["test"])
    assert {"imgprep[test]", "ruff", "mypy"} <= names(extras["dev"])
    quick_start = section(README.read_text(), re.compile(r"^## Quick start$"))
    for tool in ("pytest", "hypothesis", "ruff", "mypy"):
        assert tool in quick_start, tool
    listed = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), "help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.split()[0] for line in listed.splitlines()] == [
        "help",
        "demo",
        "test",
        "lint",
        "bench",
        "clean",
    ]


# --- docs/architecture.md: the layering it states is the real one --------------------------------


def documented_layers() -> list[str]:
    line = next(line.strip() for line in ARCHITECTURE.read_text().splitlines() if " <- cli" in line)
    return [name.strip() for name in line.split("<-")]


def imgprep_imports(path: Path) -> set[str]:
    """The imgprep modules a source file imports (anywhere in it, TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "imgprep":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from imgprep import files, _fs: private modules count like public ones
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "imgprep" and len(parts) > 1:
                    found.add(parts[1])
    return found


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found - set(sys.stdlib_module_names) - {"imgprep"}


def module_files(name: str) -> list[Path]:
    package = SOURCE / name
    return sorted(package.glob("*.py")) if package.is_dir() else [SOURCE / f"{name}.py"]


def test_architecture_layers_name_every_module():
    modules = {p.stem for p in SOURCE.glob("*.py")} | {
        p.name for p in SOURCE.iterdir() if (p / "__init__.py").is_file()
    }
    assert set(documented_layers()) | {"errors", "config", "__init__", "__main__"} == modules
    text = ARCHITECTURE.read_text()
    for name in modules - {"__init__", "__main__"}:
        assert f"`{name}" in text, name


@pytest.mark.parametrize("name", documented_layers())
def test_imports_point_one_way_as_documented(name):
    layers = documented_layers()
    allowed = {*layers[: layers.index(name)], name, "errors", "config"}
    for path in module_files(name):
        assert imgprep_imports(path) <= allowed, f"{path.name} imports against the layering"


def test_bottom_modules_import_only_each_other():
    assert imgprep_imports(SOURCE / "errors.py") == set()
    assert imgprep_imports(SOURCE / "_version.py") == set()
    assert imgprep_imports(SOURCE / "config.py") <= {"errors"}


def test_seq_is_standard_library_only_and_cli_alone_imports_typer_and_tqdm():
    for path in module_files("seq"):
        assert third_party_imports(path) == set(), path.name
    for path in SOURCE.rglob("*.py"):
        if path.name != "cli.py":
            assert not third_party_imports(path) & {"typer", "tqdm", "click"}, path.name
    assert {"typer", "tqdm"} <= third_party_imports(SOURCE / "cli.py")
