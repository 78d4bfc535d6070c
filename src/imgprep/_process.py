"""One input's work, wherever it runs: decode once, make every variant that is not current,
write each atomically, record its manifest line.

``process_input(chain, item, sink)`` is the one function the thread pool (``_execute``) and
the Dask executor (``_dask_executor``) call per input. ``item`` (``InputWork``) is the input
as text and verdicts, picklable, so a Dask task carries it; ``sink`` takes the manifest lines
(the run's ``Manifest``, or a task's list that the client appends). The input is decoded only
if an output needs it, and an input whose mtime alone changed is hashed once for all its
outputs. Failures are data: each output gets an ``OutputRecord`` with a status and a reason;
only bugs raise.

Before decoding, the worker reserves what the input will hold at most (``_budget``, from the
header's size after shrink-on-load) and gives it back when the input's outputs are done, so
``--max-memory`` bounds a run whatever ``-j``. Random steps draw from ``_draws``: the input's
own generator for the steps before ``augment``, each variant's for those after.

``Work`` is what the workers of one run share (the chain, the plan, the verdicts, the
manifest); it makes each input's ``InputWork`` from the plan. Only a run with work imports
this module, and with it Pillow and the codecs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from imgprep import files
from imgprep._budget import MemoryBudget, peak_bytes
from imgprep._draws import INPUT_STAGE, Draws, merged, variant_stage
from imgprep._plan import Plan, split_at_augment
from imgprep._records import Details, OutputRecord, Status
from imgprep._run_options import RunOptions
from imgprep._shrink import apply_steps, decode_hint
from imgprep._uptodate import UpToDate, input_name
from imgprep.config import default_max_memory
from imgprep.errors import ImgprepError, InputError
from imgprep.manifest import CHECK, CURRENT, Entry, Manifest, read_input
from imgprep.steps import Variant

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Chain",
    "InputWork",
    "OutputWork",
    "Sink",
    "Work",
    "entry_for",
    "failure_reason",
    "process_input",
]


@dataclass(frozen=True, slots=True)
class OutputWork:
    """One output of an input, as the per-input code needs it: its manifest key, recipe,
    format, path (text) and the verdict planning gave it (``CURRENT``, ``CHECK``, ``STALE``)."""

    key: str
    recipe: str
    pil_format: str
    path: str
    verdict: int


@dataclass(frozen=True, slots=True)
class InputWork:
    """One input with work left: its path (text), its manifest name (relative to its root,
    POSIX), the problem planning found (unreadable, or left out by ``--on-collision skip``),
    its outputs, one per variant, and its size in bytes when the walk knew it (for a report).
    Picklable: this is what a Dask task carries."""

    path: str
    name: str
    problem: str | None
    outputs: tuple[OutputWork, ...]
    size: int | None = None


class Chain:
    """What every input of a run shares in one process: the options, the steps split at
    augment, the decode hint, the memory budget, and whether records carry ``Details``."""

    def __init__(
        self, options: RunOptions, details: bool = False, budget: MemoryBudget | None = None
    ) -> None:
        """``budget``: one shared with other chains of this process (default: its own)."""
        self.options, self.details = options, details
        self.prefix, self.variants, self.after_augment = split_at_augment(options.steps)
        self.hint = decode_hint(options.steps)
        self.budget = budget or MemoryBudget(options.max_memory or default_max_memory())


class Sink(Protocol):
    """Where the per-input code records manifest lines (a ``Manifest``, or a Dask task's list,
    which the client appends), and confirms an input whose mtime alone changed."""

    def record(self, entry: Entry) -> None: ...

    def confirm(self, output: str, input_name: str, read: tuple[str, tuple[int, int]]) -> bool: ...


@dataclass(frozen=True)
class _Decoded:
    image: Image
    icc_profile: bytes | None
    identity: tuple[int, int]
    digest: str
    full_size: tuple[int, int] | None  # set while `image` is a reduced decode (shrink-on-load)
    drawn: dict[str, object] | None = None  # what random steps before augment drew
    metadata: files.Metadata | None = None  # EXIF and XMP, with --keep-metadata
    warnings: tuple[str, ...] = ()
    facts: Details | None = None  # for a report: the input's sizes, orientation, decode scale


@dataclass(frozen=True)
class _Failed:
    reason: str


class _Held:
    """The bytes of the budget one input holds (none until its header is read)."""

    amount = 0


def process_input(chain: Chain, item: InputWork, sink: Sink) -> tuple[OutputRecord, ...]:
    """Every output of one input, in variant order: up to date, written or failed. The input
    is decoded once, and only if an output needs it; a ``CHECK`` input is hashed once."""
    decoded: _Decoded | _Failed | None = None
    read: tuple[str, tuple[int, int]] | bool | None = False  # False: not hashed yet
    held = _Held()
    records = []
    try:
        for variant, output in zip(chain.variants, item.outputs, strict=True):
            started = time.perf_counter()
            current = output.verdict == CURRENT
            if output.verdict == CHECK:
                read = read_input(item.path) if read is False else read
                current = isinstance(read, tuple) and sink.confirm(output.key, item.name, read)
            if current:
                record = OutputRecord(
                    item.path, output.path, Status.UP_TO_DATE, variant=variant.suffix
                )
            else:
                decoded = _decode(chain, item, held) if decoded is None else decoded
                record = _produce(chain, sink, item, variant, output, decoded)
            if chain.details:
                record = _detailed(record, item, decoded, time.perf_counter() - started)
            records.append(record)
    finally:
        chain.budget.release(held.amount)  # the decode is dropped with this frame
    return tuple(records)


def _decode(chain: Chain, item: InputWork, held: _Held) -> _Decoded | _Failed:
    """Load the input and apply the steps before augment, once its memory is reserved."""
    if item.problem is not None:
        return _Failed(item.problem)
    options = chain.options

    def reserve(size: tuple[int, int], mode: str, file_bytes: int) -> None:
        needed = peak_bytes(size, mode, file_bytes, options.steps)
        chain.budget.reserve(needed)  # waits its turn; raises for an input above the ceiling
        held.amount = needed

    try:
        loaded = files.load_image(
            item.path,
            max_pixels=options.max_pixels,
            hint=chain.hint,
            allow_truncated=options.allow_truncated,
            keep_metadata=options.keep_metadata,
            on_size=reserve,
        )
        draws = Draws(options.seed, item.name, INPUT_STAGE)
        image, full = apply_steps(chain.prefix, loaded.image, _reduced_from(loaded), draws)
    except Exception as error:  # this image's failure, whatever raised it
        return _Failed(failure_reason(error))
    return _Decoded(
        image,
        loaded.icc_profile,
        loaded.identity,
        loaded.digest,
        full,
        drawn=draws.drawn or None,
        metadata=loaded.metadata,
        warnings=loaded.warnings,
        facts=_input_facts(loaded) if chain.details else None,
    )


def _reduced_from(loaded: files.LoadedImage) -> tuple[int, int] | None:
    """The upright full size of a reduced decode; None when the decoder did not reduce."""
    if loaded.decoded_size == loaded.source_size:
        return None
    width, height = loaded.source_size
    if loaded.image.size != loaded.decoded_size:  # EXIF orientation turned it a quarter
        width, height = height, width
    return width, height


def _input_facts(loaded: files.LoadedImage) -> Details:
    """What a report says about a decoded input."""
    stored, decoded = loaded.source_size, loaded.decoded_size
    return Details(
        input_bytes=loaded.identity[0],
        input_size=stored,
        orientation=loaded.orientation,
        decode_scale=decoded[0] / stored[0] if stored[0] else 1.0,
    )


def _detailed(
    record: OutputRecord, item: InputWork, decoded: _Decoded | _Failed | None, seconds: float
) -> OutputRecord:
    """``record`` with its ``Details``: an output up to date only gives its file's bytes and
    its input's (nothing was decoded), the others the decode's facts and the time."""
    if record.status is Status.UP_TO_DATE:
        return record.with_details(Details.up_to_date(record.output_text or "", item.size))
    source = decoded.facts if isinstance(decoded, _Decoded) else None
    size = None if source is not None else item.size
    joined = Details.joined(source, record.details, input_bytes=size, seconds=seconds)
    return record.with_details(joined)


def _produce(
    chain: Chain,
    sink: Sink,
    item: InputWork,
    variant: Variant,
    output: OutputWork,
    source: _Decoded | _Failed,
) -> OutputRecord:
    """One output that is not up to date: transform its input's decode and write it."""
    suffix, options = variant.suffix, chain.options
    if isinstance(source, _Failed):
        return OutputRecord(item.path, None, Status.FAILED, source.reason, suffix)
    warned = source.warnings
    try:
        image, full = source.image, source.full_size
        if variant.op is not None:
            image = variant.op(image)
            if full is not None and variant.effects.swaps_axes:
                full = (full[1], full[0])
        draws = Draws(options.seed, item.name, variant_stage(suffix))
        image, _ = apply_steps(chain.after_augment, image, full, draws)
        written = files.save_image(
            image,
            output.path,
            format=output.pil_format,
            quality=options.quality,
            png_compress_level=options.png_compress_level,
            optimize=options.optimize,
            icc_profile=source.icc_profile,
            embed_icc=options.keep_icc,
            metadata=source.metadata,
            depth=options.depth,
            fsync=options.fsync,
            lossless=options.lossless,
        )
        identity, digest = source.identity, source.digest
        sink.record(entry_for(output.key, output.recipe, item.name, identity, digest, written))
    except Exception as error:  # this output's failure, whatever raised it
        reason = failure_reason(error)
        return OutputRecord(item.path, None, Status.FAILED, reason, suffix, warned)
    made = Details(output_bytes=written[0], output_size=image.size) if chain.details else None
    drawn = merged(source.drawn, draws.drawn)
    return OutputRecord(
        item.path, output.path, Status.WRITTEN, None, suffix, warned, drawn=drawn, details=made
    )


def failure_reason(error: Exception) -> str:
    """The one-line reason an input or output failed, for its record."""
    if isinstance(error, InputError):
        return error.reason  # the record names the input already
    if isinstance(error, ImgprepError):
        return str(error)
    return f"{type(error).__name__}: {error}"  # an op that cannot handle this image


def entry_for(
    key: str,
    recipe: str,
    input_name: str,
    input_identity: tuple[int, int],
    input_digest: str,
    written: tuple[int, int],
) -> Entry:
    """The manifest line for output ``key`` made by ``recipe`` from that input, written with
    (size, mtime) ``written``."""
    return Entry(
        output=key,
        input=input_name,
        input_size=input_identity[0],
        input_mtime_ns=input_identity[1],
        input_sha256=input_digest,
        recipe=recipe,
        output_size=written[0],
        output_mtime_ns=written[1],
    )


class Work:
    """What the workers share for one run: the chain, the plan, the verdicts, the manifest.
    The pool sees only the inputs with work left (``fresh.stale_inputs``): its positions
    index that array. ``process`` runs in worker threads."""

    def __init__(
        self,
        options: RunOptions,
        plan: Plan,
        manifest: Manifest,
        fresh: UpToDate,
        details: bool = False,
    ) -> None:
        self.options, self.plan, self.manifest, self.fresh = options, plan, manifest, fresh
        self.chain = Chain(options, details)
        self.stale = fresh.stale_inputs
        self.finished: dict[int, tuple[OutputRecord, ...]] = {}  # done, not yet consumed

    def item(self, position: int, output: str | None = None) -> InputWork:
        """The input at ``position`` as ``process_input`` takes it; ``output``: the output
        folder to name its outputs in (default: the run's, as given)."""
        index = self.stale[position]
        inputs, verdict = self.plan.inputs, self.fresh.verdict
        folder = os.fspath(self.options.output) if output is None else output
        outputs = tuple(
            OutputWork(job.key, job.recipe, job.pil_format, job.path(folder), verdict(index, v))
            for v, job in enumerate(self.plan.jobs(index))
        )
        name = input_name(inputs.relative_text(index))
        size = inputs.size_or_stat(index) if self.chain.details else None
        return InputWork(inputs.path_text(index), name, self.plan.problem(index), outputs, size)

    def process(self, position: int) -> tuple[OutputRecord, ...]:
        group = process_input(self.chain, self.item(position), self.manifest)
        self.finished[position] = group
        return group
