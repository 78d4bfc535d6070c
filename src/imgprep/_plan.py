"""Planning a run: which inputs, which outputs, where, and is anything in the way.

``gather_inputs`` finds the inputs (paths only, nothing opened) minus outputs that would feed
back into the run. ``Plan`` makes each output's ``Job`` (input, variant, manifest key, recipe
fingerprint, format) on demand from two indices, so a plan of a million outputs holds nothing
per output; ``Plan.check`` still walks all of them before anything is written, refusing
collisions, names that leave the output folder and outputs that would overwrite an input.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from imgprep import _discover, _fs, files
from imgprep._discover import InputList
from imgprep._fs import StrPath
from imgprep._run_options import RunOptions
from imgprep._version import __version__
from imgprep.config import canonical_format
from imgprep.errors import OutputCollisionError, OutputError
from imgprep.files import InputFile
from imgprep.manifest import Manifest
from imgprep.steps import Step, Variant

__all__ = ["Job", "Plan", "gather_inputs", "plan_outputs", "split_at_augment"]


@dataclass(frozen=True, slots=True)
class Job:
    """One output to produce: which input, which variant, where, and its recipe fingerprint."""

    index: int  # the input's index
    variant: Variant
    key: str  # path relative to the output folder, POSIX (the manifest key); the path is
    # made from it when needed, so a plan of a million outputs holds no Path objects
    recipe: str
    pil_format: str

    def path(self, output: StrPath) -> str:
        """The output's path below ``output``, as text (``str(output / key)``)."""
        folder = os.fspath(output)
        return self.key if folder == os.curdir else os.path.join(folder, self.key)


def split_at_augment(steps: Sequence[Step]) -> tuple[list[Step], tuple[Variant, ...], list[Step]]:
    for position, step in enumerate(steps):
        if step.variants:
            return list(steps[:position]), step.variants, list(steps[position + 1 :])
    return list(steps), (Variant("", None),), []


class Plan:
    """Every output of a run, made on demand from (input index, variant index).

    Nothing is kept per output, so a plan of a million outputs costs almost nothing; ``check``
    still goes through all of them before anything is written.
    """

    def __init__(self, options: RunOptions, inputs: Sequence[InputFile]) -> None:
        self.options = options
        self.inputs = inputs if isinstance(inputs, InputList) else InputList(inputs)
        prefix, self.variants, suffix = split_at_augment(options.steps)
        self._common = [
            __version__,
            [step.recipe() for step in prefix],
            [step.recipe() for step in suffix],
            options.quality,
            options.png_compress_level,
            options.optimize,
            options.keep_icc,
            options.allow_truncated,
        ]
        self._recipes: dict[tuple[str, str, str], str] = {}
        self._formats: dict[str, tuple[str, str]] = {}  # input suffix -> (format, extension)
        self._key_folders: dict[str, str] = {}  # relative folder -> its key prefix ("a/b/")

    def __len__(self) -> int:
        return len(self.inputs) * len(self.variants)

    def job(self, index: int, variant_index: int) -> Job:
        """Output ``variant_index`` of input ``index``."""
        # Text, not PurePath: this runs for every output (planning, then again in the worker).
        variant = self.variants[variant_index]
        folder, _, base = self.inputs.relative_text(index).rpartition(os.sep)
        pil_format, ext = self._format(index)
        stem = _stem_and_suffix(base)[0]
        name = self.options.name.format(stem=stem, suffix=variant.suffix, ext=ext)
        if _plain_name(name):
            key = self._key_folder(folder, name, index) + name
        else:  # --name gave folders, or an odd name: pathlib decides, as for any path
            relative = PurePath(folder, name)
            _refuse_escaping_name(relative, self.inputs.path_text(index))
            key = PurePosixPath(*relative.parts).as_posix()
        recipe_key = (variant.suffix, pil_format, ext)
        recipe = self._recipes.get(recipe_key)
        if recipe is None:
            recipe = self._recipes[recipe_key] = _fingerprint([*self._common, *recipe_key])
        return Job(index, variant, key, recipe, pil_format)

    def _format(self, index: int) -> tuple[str, str]:
        """(Pillow format, extension) of input ``index``'s outputs."""
        requested = canonical_format(self.options.format)
        if requested != "same":
            return files.OUTPUT_FORMATS[requested]
        # With --format same the extension decides until the file is opened; an input whose
        # content disagrees with its extension is still written in the format its name promises.
        suffix = _stem_and_suffix(os.path.basename(self.inputs.path_text(index)))[1]
        known = self._formats.get(suffix)
        if known is None:
            known = self._formats[suffix] = files.output_format(
                files.format_of_suffix(suffix), suffix
            )
        return known

    def _key_folder(self, folder: str, name: str, index: int) -> str:
        """The manifest key's folder part for a relative ``folder``: "" or "a/b/"."""
        prefix = self._key_folders.get(folder)
        if prefix is None:
            relative = PurePath(folder)
            _refuse_escaping_name(relative / name, self.inputs.path_text(index))
            prefix = "" if not relative.parts else relative.as_posix() + "/"
            self._key_folders[folder] = prefix
        return prefix

    def jobs(self, index: int) -> list[Job]:
        return [self.job(index, v) for v in range(len(self.variants))]

    def check(self) -> None:
        """Raise before anything is written if two outputs would collide, one would leave the
        output folder, or one would overwrite an input without --in-place."""
        # This walks every output of a possibly huge run, so it keeps only hashes of real paths
        # (~100 bytes an output, dropped when done); a repeated hash is confirmed on the real
        # paths themselves in a second pass, which a run without a problem never makes.
        output_root = os.path.realpath(self.options.output)
        input_hashes = {  # only an input inside the output folder can be overwritten
            hash(real)
            for real, index in self._real_inputs()
            if self.inputs.problem(index) is None and _fs.is_inside(real, output_root)
        }
        output_hashes: set[int] = set()
        suspects: set[int] = set()
        for real, _ in self._real_outputs():
            code = hash(real)
            if code in output_hashes or code in input_hashes:
                suspects.add(code)
            output_hashes.add(code)
        if suspects:
            self._confirm(suspects)

    def _real_inputs(self) -> Iterator[tuple[str, int]]:
        real_path = _RealPaths()
        for index in range(len(self.inputs)):
            yield real_path(self.inputs.path_text(index)), index

    def _real_outputs(self) -> Iterator[tuple[str, Job]]:
        """Every output's real path (its folder resolved, its name joined: a symlink at the
        output's own place is replaced by the rename, never followed); raises for an output
        leaving the output folder."""
        options = self.options
        output_root = os.path.realpath(options.output)
        real_folders: dict[str, str] = {}
        for index in range(len(self.inputs)):
            folder = os.path.dirname(self.inputs.relative_text(index))
            if folder not in real_folders:
                real_folder = os.path.realpath(os.path.join(options.output, folder))
                if real_folder != output_root and not _fs.is_inside(real_folder, output_root):
                    raise OutputError(  # e.g. a symlinked sub-folder of -o leading elsewhere
                        f"{options.output / folder} would leave the output folder "
                        f"{options.output} (it resolves to {real_folder})"
                    )
                real_folders[folder] = real_folder
            skip = len(folder) + 1 if folder else 0  # the key's folder part
            for variant_index in range(len(self.variants)):
                job = self.job(index, variant_index)
                # --name may give the name folders of its own
                real = os.path.normpath(os.path.join(real_folders[folder], job.key[skip:]))
                if not _fs.is_inside(real, output_root):
                    raise OutputError(
                        f"output name {job.key} for {self.inputs.path_text(index)} would leave"
                        " the output folder"
                    )
                yield real, job

    def _confirm(self, suspects: set[int]) -> None:
        """The second pass: compare the real paths whose hashes repeated."""
        options = self.options
        inputs = {
            real: self.inputs.path_text(index)
            for real, index in self._real_inputs()
            if self.inputs.problem(index) is None and hash(real) in suspects
        }
        claimed: dict[str, str] = {}
        for real, job in self._real_outputs():
            if hash(real) not in suspects:
                continue
            path = job.path(options.output)
            source_path = self.inputs.path_text(job.index)
            earlier = claimed.setdefault(real, source_path)
            if earlier != source_path:
                raise OutputCollisionError(
                    f"{earlier} and {source_path} would both be written to {path}; "
                    "rename one or use --name"
                )
            source = inputs.get(real)
            if source is not None and not options.in_place:
                raise OutputError(
                    f"{path} would overwrite the input {source}; "
                    "pass --in-place to allow it or choose another --output"
                )


def plan_outputs(options: RunOptions, inputs: Sequence[InputFile]) -> Plan:
    """The plan of a run, checked (see ``Plan.check``)."""
    plan = Plan(options, inputs)
    plan.check()
    return plan


def _stem_and_suffix(name: str) -> tuple[str, str]:
    """``PurePath(name).stem`` and ``.suffix`` for a file name (no separator)."""
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def _plain_name(name: str) -> bool:
    """Whether ``name`` is one path component that pathlib keeps as it is."""
    return (
        bool(name)
        and name not in (os.curdir, os.pardir)
        and os.sep not in name
        and (os.altsep is None or os.altsep not in name)
    )


def _refuse_escaping_name(relative: PurePath, input_path: str) -> None:
    if relative.is_absolute() or ".." in relative.parts:
        raise OutputError(f"output name {relative} for {input_path} would leave the output folder")


def _fingerprint(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def gather_inputs(options: RunOptions, manifest: Manifest | None = None) -> InputList:
    """The inputs of a run, minus outputs that would feed back into it.

    Left out: files inside the output folder when it sits inside an input folder, and files the
    manifest records as outputs of other inputs (``-o`` equal to ``-i`` must not turn last
    run's ``a_mirror.png`` into this run's input).
    """
    output = os.path.realpath(options.output)
    real_path = _RealPaths()
    roots: dict[Path, str] = {}
    kept = InputList()
    found = _discover.iter_inputs(
        options.inputs, recursive=options.recursive, listed=options.input_paths, base=options.base
    )
    for file in found:
        real = real_path(file.path)
        root_path = file.path.parents[len(file.relative.parts) - 1]
        if root_path not in roots:
            roots[root_path] = os.path.realpath(root_path)
        root = roots[root_path]
        if output != root and _fs.is_inside(output, root) and _fs.is_inside(real, output):
            continue  # the output folder sits inside the folder this input was found in
        if manifest is not None and _fs.is_inside(real, output):
            entry = manifest.get(Path(os.path.relpath(real, output)).as_posix())
            if entry is not None and os.path.realpath(entry.input) != real:
                continue
        kept.append(file)
    return kept


class _RealPaths:
    """``os.path.realpath`` for many files in few folders: each folder is resolved once, and a
    file's own name only when it is a symbolic link (one lstat instead of one per component)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: Path | str) -> str:
        folder, name = os.path.split(os.fspath(path))
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder or os.curdir)
        if name in ("", os.curdir, os.pardir):
            return os.path.realpath(path)
        joined = os.path.join(real_folder, name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined
