"""The public API (``imgprep.__all__``) and the module layering the architecture promises."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import imgprep
from imgprep import config

SRC = Path(imgprep.__file__).parent

PUBLIC = {
    "__version__",
    "smap", "concatenate", "collate", "unbatch", "add_cache", "prefetch",
    "Step", "STEPS", "parse_steps", "RunOptions", "Report", "OutputRecord", "run",
    "ImgprepError", "UsageError", "InputError", "ImageTooLargeError", "OutputError",
    "OutputCollisionError", "EvaluationError",
    "seq", "ops", "files", "steps", "pipeline", "errors", "config",
}  # fmt: skip


def test_all_is_the_public_api_and_every_name_resolves():
    assert set(imgprep.__all__) == PUBLIC
    for name in imgprep.__all__:
        assert getattr(imgprep, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        imgprep.nope  # noqa: B018


def test_seq_exports_exactly_the_six_operations():
    assert sorted(imgprep.seq.__all__) == sorted(
        ["smap", "concatenate", "collate", "unbatch", "add_cache", "prefetch"]
    )


def imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name.split(".")[0] for name in out}


def test_import_imgprep_and_seq_stay_free_of_heavy_modules():
    for code in ("import imgprep", "import imgprep.seq"):
        assert not imported_after(code) & {"PIL", "typer", "tqdm", "rich"}, code


def test_cli_start_up_imports_no_pillow_or_tqdm():
    # `imgprep --version` only needs Typer; Pillow and tqdm load when a run starts.
    assert not imported_after("import imgprep.cli") & {"PIL", "tqdm"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_cli_imports_typer_and_tqdm():
    for path in SRC.rglob("*.py"):
        heavy = {n.split(".")[0] for n in imports_of(path)} & {"typer", "tqdm", "click"}
        assert not heavy or path.name == "cli.py", (path, heavy)


def test_seq_uses_the_standard_library_only():
    allowed_project = {"imgprep.errors", "imgprep.seq"}
    for path in (SRC / "seq").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "imgprep":
                assert any(name.startswith(a) for a in allowed_project), (path, name)
            else:
                assert top in sys.stdlib_module_names, (path, name)


# Lower layers never import higher ones: errors/config < seq < ops < files < steps < manifest
# < pipeline < cli.
LAYERS = ["errors", "config", "seq", "ops", "files", "steps", "manifest", "pipeline", "cli"]


@pytest.mark.parametrize("module", LAYERS)
def test_imports_point_one_way(module):
    path = SRC / f"{module}.py" if (SRC / f"{module}.py").exists() else SRC / module
    files = [path] if path.is_file() else list(path.glob("*.py"))
    higher = set(LAYERS[LAYERS.index(module) + 1 :])
    for source in files:
        for name in imports_of(source):
            parts = name.split(".")
            if parts[0] == "imgprep" and len(parts) > 1:
                assert parts[1] not in higher, (source.name, name)


def test_max_pixels_default_is_pillows():
    assert config.MAX_PIXELS == Image.MAX_IMAGE_PIXELS
