"""Planning a run: which inputs, which outputs, where, and is anything in the way.

``gather_inputs`` finds the inputs (paths only, nothing opened) minus outputs that would feed
back into the run. ``Plan`` makes each output's ``Job`` (input, variant, manifest key, recipe
fingerprint, format) on demand from two indices, so a plan of a million outputs holds nothing
per output; ``Plan.check`` still walks all of them before anything is written, refusing names
that leave the output folder and outputs that would overwrite an input, and finding
collisions, which ``--on-collision`` refuses, skips or suffixes (``_clash``).
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from imgprep import _discover, _formats, _fs
from imgprep._clash import Clashes, collision_advice
from imgprep._discover import InputFile, InputList, split_name
from imgprep._draws import DRAWS_VERSION
from imgprep._fs import StrPath
from imgprep._hashindex import HashIndex, repeats
from imgprep._run_options import RunOptions
from imgprep._version import __version__
from imgprep.config import canonical_format
from imgprep.errors import OutputCollisionError, OutputError
from imgprep.manifest import MANIFEST_NAME, Manifest
from imgprep.steps import Step, Variant

__all__ = [
    "PROGRESS_EVERY",
    "Job",
    "Plan",
    "gather_inputs",
    "output_path",
    "plan_outputs",
    "split_at_augment",
]

PROGRESS_EVERY = 1024  # files between two calls of a planning progress callback


@dataclass(slots=True)
class Job:
    """One output to produce: which input, which variant, where, and its recipe fingerprint.

    Not frozen, but never changed: planning makes one per output, twice, and a frozen
    dataclass is made 3x slower."""

    index: int  # the input's index
    variant: Variant
    key: str  # path relative to the output folder, POSIX (the manifest key); the path is
    # made from it when needed, so a plan of a million outputs holds no Path objects
    recipe: str
    pil_format: str

    def path(self, output: StrPath) -> str:
        """The output's path below ``output``, as text (``str(output / key)``)."""
        return output_path(output, self.key)


def output_path(output: StrPath, key: str) -> str:
    """The path of the output with manifest key ``key`` below ``output``, as text
    (``str(output / key)``)."""
    folder = os.fspath(output)
    if folder == os.curdir:
        return key
    return folder + key if folder.endswith(os.sep) else folder + os.sep + key


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
        self._common: list[Any] = [
            __version__,
            [step.recipe() for step in prefix],
            [step.recipe() for step in suffix],
            options.quality,
            options.png_compress_level,
            options.optimize,
            options.keep_icc,
            options.allow_truncated,
        ]
        # Only what a chain without random steps or --lossless never had: its recipe, and so
        # every manifest written before, stays as it was.
        if any(step.draw is not None for step in options.steps):
            # the draws are a function of these, the input's name and bytes (both in the
            # manifest's line) and the variant: a new seed redraws, so it rebuilds
            self._common.append(["draws", DRAWS_VERSION, options.seed])
        if options.lossless:
            self._common.append("lossless")
        # Only when asked for, so that the recipes of runs without them stay what they were
        if options.keep_metadata:
            self._common.append("keep_metadata")
        if options.depth != "keep":
            self._common.append(f"depth {options.depth}")
        self._recipes: dict[tuple[str, str], list[str]] = {}  # (format, ext) -> per variant
        self._formats: dict[str, tuple[str, str]] = {}  # input suffix -> (format, extension)
        self._key_folders: dict[str, str] = {}  # relative folder -> its key prefix ("a/b/")
        self._requested = canonical_format(options.format)
        self._default_name = options.name == "{stem}{suffix}.{ext}"  # formatted faster
        self.clashes = Clashes(len(self.inputs))  # empty until a collision is found

    def __len__(self) -> int:
        return len(self.inputs) * len(self.variants)

    def job(self, index: int, variant_index: int) -> Job:
        """Output ``variant_index`` of input ``index``."""
        return self.jobs(index)[variant_index]

    def jobs(self, index: int) -> list[Job]:
        """Every output of input ``index``, one per variant."""
        # Text, not PurePath: this runs for every output (planning twice, then in the worker).
        folder, _, base = self.inputs.relative_text(index).rpartition(os.sep)
        stem, dotted = split_name(base)
        if self.clashes and self.clashes.is_suffixed(index):
            stem = base  # --on-collision suffix: a.dds -> a.dds.png
        pil_format, ext = self._format(index)
        recipes = self._recipes.get((pil_format, ext)) or self._new_recipes(pil_format, ext)
        prefix = self._key_folders.get(folder)
        jobs = []
        for variant, recipe in zip(self.variants, recipes, strict=True):
            if self._default_name:
                name = f"{stem}{variant.suffix}.{ext}"
            else:
                name = self.options.name.format(
                    stem=stem, suffix=variant.suffix, ext=ext, inext=dotted[1:], name=base
                )
            if prefix is not None and os.sep not in name and name not in _ODD_NAMES:
                key = prefix + name  # the usual case: a plain name in a folder seen before
            else:
                key = self._key(folder, name, index)
            jobs.append(Job(index, variant, key, recipe, pil_format))
        return jobs

    def _key(self, folder: str, name: str, index: int) -> str:
        if _plain_name(name):
            return self._key_folder(folder, name, index) + name
        # --name gave folders, or an odd name: pathlib decides, as for any path
        relative = PurePath(folder, name)
        _refuse_escaping_name(relative, self.inputs.path_text(index))
        return PurePosixPath(*relative.parts).as_posix()

    def _new_recipes(self, pil_format: str, ext: str) -> list[str]:
        """The recipe fingerprint of each variant's outputs in this format."""
        recipes = [
            _fingerprint([*self._common, variant.suffix, pil_format, ext])
            for variant in self.variants
        ]
        self._recipes[pil_format, ext] = recipes
        return recipes

    def _format(self, index: int) -> tuple[str, str]:
        """(Pillow format, extension) of input ``index``'s outputs."""
        if self._requested != "same":
            return _formats.OUTPUT_FORMATS[self._requested]
        # With --format same the extension decides until the file is opened; an input whose
        # content disagrees with its extension is still written in the format its name promises.
        suffix = split_name(os.path.basename(self.inputs.path_text(index)))[1]
        known = self._formats.get(suffix)
        if known is None:
            known = self._formats[suffix] = _formats.output_format(
                _formats.format_of_suffix(suffix), suffix
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

    def check(self, each_input: Callable[[int, list[Job]], None] | None = None) -> None:
        """Raise before anything is written if one output would leave the output folder, or
        overwrite an input without --in-place, or two would collide (--on-collision fail;
        ``skip`` fails the inputs of a collision, see ``problem``, and ``suffix`` renames
        them, see ``_clash``). ``each_input`` sees every input's jobs on the way (what else
        needs them need not make them again); they may change after (``clashes.touched``)."""
        self._check_once(each_input)
        if self.options.on_collision == "suffix":
            while self.clashes.suffix_clashing():  # the suffixed names may clash anew
                self.clashes.forget_clashes()
                self._check_once()

    def _check_once(self, each_input: Callable[[int, list[Job]], None] | None = None) -> None:
        # This walks every output of a possibly huge run, so it keeps only hashes of real paths
        # in arrays (~16 bytes an output, dropped when done); a repeated hash is confirmed on
        # the real paths themselves in a second pass, which a run without a problem never makes.
        output_root = os.path.realpath(self.options.output)
        inside = array(  # only an input inside the output folder can be overwritten
            "q",
            (
                hash(real)
                for real, index in self._real_inputs(output_root)
                if self.inputs.problem(index) is None and _fs.is_inside(real, output_root)
            ),
        )
        outputs = array("q", (hash(real) for real, _ in self._real_outputs(each_input)))
        suspects = set(repeats(outputs))
        if inside:
            overwritten = HashIndex(inside).find
            suspects.update(code for code in outputs if overwritten(code) >= 0)
        if suspects:
            self._confirm(suspects)

    def _real_inputs(self, inside: str | None = None) -> Iterator[tuple[str, int]]:
        """The real path of every input; ``inside``: only of those that may be inside this
        real folder (a file that is not a link is where its folder is)."""
        real_path = _RealPaths()
        inputs = self.inputs
        for index in range(len(inputs)):
            path, plain = inputs.path_text(index), inputs.identity(index) is not None
            if inside is None or not plain or real_path.folder_may_be_inside(path, inside):
                yield real_path(path, plain), index

    def _real_outputs(
        self, each_input: Callable[[int, list[Job]], None] | None = None
    ) -> Iterator[tuple[str, Job]]:
        """Every output's real path (its folder resolved, its name joined: a symlink at the
        output's own place is replaced by the rename, never followed); raises for an output
        leaving the output folder."""
        options = self.options
        output_root = os.path.realpath(options.output)
        real_folders: dict[str, str] = {}
        for index in range(len(self.inputs)):
            folder = self.inputs.relative_text(index).rpartition(os.sep)[0]
            real_folder = real_folders.get(folder)
            if real_folder is None:
                real_folder = os.path.realpath(os.path.join(options.output, folder))
                if real_folder != output_root and not _fs.is_inside(real_folder, output_root):
                    raise OutputError(  # e.g. a symlinked sub-folder of -o leading elsewhere
                        f"{options.output / folder} would leave the output folder "
                        f"{options.output} (it resolves to {real_folder})"
                    )
                real_folder = real_folders[folder] = os.path.join(real_folder, "")  # "/" ends it
            skip = len(folder) + 1 if folder else 0  # the key's folder part
            jobs = self.jobs(index)
            if each_input is not None:
                each_input(index, jobs)
            for job in jobs:
                name = job.key[skip:]
                if "/" not in name:  # a plain name in a folder inside the output folder
                    yield real_folder + name, job
                    continue
                # --name gave the name folders of its own
                real = os.path.normpath(real_folder + name)
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
        claimed: dict[str, int] = {}
        for real, job in self._real_outputs():
            if hash(real) not in suspects:
                continue
            path = job.path(options.output)
            source_path = self.inputs.path_text(job.index)
            earlier = claimed.setdefault(real, job.index)
            if earlier != job.index:
                if options.on_collision != "fail":
                    self.clashes.record(earlier, job.index)
                    continue
                earlier_path = self.inputs.path_text(earlier)
                advice = collision_advice(options.name, earlier_path, source_path)
                raise OutputCollisionError(
                    f"{earlier_path} and {source_path} would both be written to {path}: "
                    f"{advice}; or --on-collision skip (leave out the inputs that clash) or "
                    "suffix (add each one's extension to its name)"
                )
            source = inputs.get(real)
            if source is not None and not options.in_place:
                raise OutputError(
                    f"{path} would overwrite the input {source}; "
                    "pass --in-place to allow it or choose another --output"
                )

    def problem(self, index: int) -> str | None:
        """Why input ``index`` is not done: its own problem, or a collision it is left out
        for (--on-collision skip, or suffix that could not part it)."""
        problem = self.inputs.problem(index)
        if problem is not None or not self.clashes:
            return problem
        other = self.clashes.other(index)
        if other is None:
            return None
        output = self.options.output
        mine = [job.path(output) for job in self.jobs(index)]
        path = next((p for job in self.jobs(other) if (p := job.path(output)) in mine), mine[0])
        other_path = self.inputs.path_text(other)
        again = ", even with the input extensions added" if self.clashes.is_suffixed(index) else ""
        advice = collision_advice(self.options.name, self.inputs.path_text(index), other_path)
        return f"not written: {other_path} has the same output {path}{again}; {advice}"


def plan_outputs(options: RunOptions, inputs: Sequence[InputFile]) -> Plan:
    """The plan of a run, checked (see ``Plan.check``)."""
    plan = Plan(options, inputs)
    plan.check()
    return plan


_ODD_NAMES = ("", os.curdir, os.pardir)


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


def gather_inputs(
    options: RunOptions,
    manifest: Manifest | None = None,
    on_found: Callable[[int], None] | None = None,
) -> InputList:
    """The inputs of a run, minus outputs that would feed back into it.

    Left out: sub-folders holding a manifest (an earlier run's output folder inside an input
    folder: ``-r -i data -o data/prepared2`` after a run into ``data/prepared``); files inside
    the output folder when it sits inside an input folder; and files the manifest records as
    outputs of other inputs (``-o`` equal to ``-i`` must not turn last run's ``a_mirror.png``
    into this run's input). ``on_found(n)``: ``n`` files found so far, every
    ``PROGRESS_EVERY``.
    """
    output = os.path.realpath(options.output)
    real_path = _RealPaths()
    roots: dict[str, str] = {}
    kept = InputList()
    found = _discover.iter_found(
        options.inputs,
        recursive=options.recursive,
        listed=options.input_paths,
        base=options.base,
        skip_marked=MANIFEST_NAME,
    )
    for count, file in enumerate(found, 1):
        if on_found is not None and count % PROGRESS_EVERY == 0:
            on_found(count)
        plain = file.stat is not None  # not a link: its real path is its folder's, and its name
        if not plain or real_path.folder_may_be_inside(file.path, output):
            real = real_path(file.path, plain)
            if _fs.is_inside(real, output) and _feeds_back(file, real, output, roots, manifest):
                continue
        kept.append(file)
    return kept


def _feeds_back(
    file: _discover.Found, real: str, output: str, roots: dict[str, str], manifest: Manifest | None
) -> bool:
    """Whether ``file``, found inside the output folder, is an output of this or an earlier
    run: the output folder is inside the folder it was found in, or the manifest has it as
    the output of another input (an input replaced by its own output in place is its own)."""
    root_path = file.path
    for _ in range(file.relative.count(os.sep) + 1):  # the folder the file was found in
        root_path = os.path.dirname(root_path)
    root = roots.get(root_path)
    if root is None:
        root = roots[root_path] = os.path.realpath(root_path or os.curdir)
    if output != root and _fs.is_inside(output, root):
        return True
    if manifest is None:
        return False
    key = PurePath(os.path.relpath(real, output)).as_posix()
    entry = manifest.get(key)
    return entry is not None and entry.input != key


class _RealPaths:
    """``os.path.realpath`` for many files in few folders: each folder is resolved once, and a
    file's own name only when it is a symbolic link (one lstat instead of one per component)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._inside: dict[str, bool] = {}  # folder -> its real path is or is inside that one

    def folder_may_be_inside(self, path: str, root: str) -> bool:
        """Whether ``path``'s folder is ``root`` (a real path) or below it (the same ``root``
        at every call)."""
        folder = path.rpartition(os.sep)[0] or (os.sep if path.startswith(os.sep) else "")
        inside = self._inside.get(folder)
        if inside is None:
            real = self.folder(folder)
            inside = self._inside[folder] = real == root or _fs.is_inside(real, root)
        return inside

    def folder(self, folder: str) -> str:
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder or os.curdir)
        return real

    def __call__(self, path: Path | str, plain: bool = False) -> str:
        """``path``'s real path; ``plain``: it is known not to be a symbolic link itself."""
        folder, name = os.path.split(os.fspath(path))
        real_folder = self.folder(folder)
        if name in ("", os.curdir, os.pardir):
            return os.path.realpath(path)
        joined = real_folder + name if real_folder.endswith(os.sep) else real_folder + os.sep + name
        return os.path.realpath(joined) if not plain and os.path.islink(joined) else joined
