"""``--executor dask``: the run's inputs with work left as tasks on a Dask cluster.

The client (this process) plans, judges and locks as for any run; then the inputs with work
left go to the cluster in batches, one task a batch, each task running ``process_input`` (the
thread pool's per-input code: decode once, every variant, atomic writes) on a worker. A task
returns what happened to each output and the manifest lines it made; the client appends the
lines and counts the records, in plan order, as the thread pool's consumer does. So the
report, the ``Error:`` lines and the manifest are those of a local run, and a batch that
Dask runs again (its worker died: ``retries`` and the scheduler's own rescheduling) is
counted and recorded once, from the run that returned. A bad input is a failed record
inside a task that succeeds, never a failed task.

Batches start small and then hold about a second of work (measured by the tasks), unless
``--batch`` fixes their size; twice as many tasks as the cluster has threads are in flight,
so the client's memory stays flat, and a run stopped early (Ctrl-C, ``--fail-fast``) waits a
few seconds for them and records them. Paths travel absolute: workers
may run anywhere on the shared file system, in another folder. Dask is imported only here,
and only when a run asks for it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from imgprep import _fs, files
from imgprep._budget import MemoryBudget
from imgprep._damage import pixel_limit
from imgprep._plan import output_path
from imgprep._process import Chain, InputWork, Work, process_input
from imgprep._records import Details, OutputRecord, Status
from imgprep._run_options import RunOptions
from imgprep.config import default_max_memory, default_workers
from imgprep.errors import UsageError
from imgprep.manifest import CHECK, Entry, confirmed
from imgprep.steps import make_step

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = ["KILL_HOOK", "dask_runner", "run_batch"]

#: Test hook: a file path. The first worker process to start its second task creates that file
#: and kills itself after the task's first input, the way a lost machine dies mid-batch.
KILL_HOOK = "IMGPREP_TEST_KILL_WORKER"

_TARGET_SECONDS = 1.0  # of work per task
_FIRST_BATCH = 2  # inputs in the first tasks, before any task has been timed
_MAX_BATCH = 1000
_RETRIES = 2  # task reruns after an exception a worker raised (a lost worker is rescheduled)
_GRACE_SECONDS = 5.0  # for the running tasks to finish once the run stops early

# Per output of an input, what a task sends back instead of records (whose paths are the
# worker's absolute ones): status, reason, the decode's warnings, the random draws, details
_Outcome = tuple[
    tuple[str, str | None, tuple[str, ...], dict[str, object] | None, Details | None], ...
]
_Batch = tuple[range, list[InputWork], "Future[Any]"]  # positions, the items sent, the task


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What every task of a run carries: the options without steps or inputs, and the steps as
    (name, values) to build again on the worker (a built step holds functions)."""

    options: RunOptions
    steps: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    details: bool = False  # records carry Details (a report, -v)

    @classmethod
    def of(cls, options: RunOptions, details: bool = False) -> _Spec:
        bare = dataclasses.replace(
            options, steps=(), inputs=(), input_paths=(), output=options.output.absolute()
        )
        steps = tuple((step.name, step.options) for step in options.steps)
        return cls(bare, steps, details)

    def chain(self) -> Chain:
        """The task's chain, with the memory budget of this worker process."""
        steps = [make_step(name, **dict(values)) for name, values in self.steps]
        options = dataclasses.replace(self.options, steps=steps)
        return Chain(options, self.details, _process_budget(options.max_memory))


# A worker process runs several tasks at once (a thread each): --max-memory bounds the
# process, as it bounds a local run, so its tasks reserve from one budget per ceiling.
_budgets: dict[int | None, MemoryBudget] = {}
_budgets_lock = threading.Lock()


def _process_budget(ceiling: int | None) -> MemoryBudget:
    """This process's budget for ``ceiling`` (None: the default, a quarter of this
    machine's RAM, at most 2 GiB)."""
    with _budgets_lock:
        budget = _budgets.get(ceiling)
        if budget is None:
            budget = _budgets[ceiling] = MemoryBudget(ceiling or default_max_memory())
        return budget


class _Lines:
    """A task's ``Sink``: the lines go back to the client. ``recorded``: the client's manifest
    line of every ``CHECK`` output, to confirm an input whose mtime alone changed."""

    def __init__(self, recorded: dict[str, Entry]) -> None:
        self.recorded = recorded
        self.entries: list[Entry] = []

    def record(self, entry: Entry) -> None:
        self.entries.append(entry)

    def confirm(self, output: str, input_name: str, read: tuple[str, tuple[int, int]]) -> bool:
        entry = confirmed(self.recorded.get(output), input_name, read)
        if entry is not None:
            self.record(entry)
        return entry is not None


_tasks_run = 0  # by this worker process (for the test hook)


def run_batch(
    spec: _Spec, items: Sequence[InputWork], recorded: dict[str, Entry]
) -> tuple[list[_Outcome], list[Entry], float]:
    """A task, on a worker: every input of the batch; returns each one's outcomes, the
    manifest lines and the seconds it took."""
    global _tasks_run
    started = time.perf_counter()
    chain, sink = spec.chain(), _Lines(recorded)
    dies = _tasks_run > 0 and _claims_kill_hook()
    _tasks_run += 1
    outcomes = []
    with pixel_limit(spec.options.max_pixels):  # Pillow's checks in the steps follow it too
        for item in items:
            records = process_input(chain, item, sink)
            outcomes.append(tuple(_outcome(record) for record in records))
            if dies:
                os.kill(os.getpid(), signal.SIGKILL)
    return outcomes, sink.entries, time.perf_counter() - started


def _outcome(record: OutputRecord) -> tuple[Any, ...]:
    return record.status.value, record.reason, record.warnings, record.drawn, record.details


def _claims_kill_hook() -> bool:
    hook = os.environ.get(KILL_HOOK)
    if not hook:
        return False
    try:
        os.close(os.open(hook, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


@contextlib.contextmanager
def dask_runner(work: Work) -> Iterator[Iterable[tuple[OutputRecord, ...]]]:
    """``_execute.Runner`` on the cluster of ``--scheduler``: the groups of records in order."""
    options = work.options
    with _quiet_logs(), _connect(options) as client:
        batches = _Batches(client, work)
        try:
            yield batches.results()
        finally:
            batches.stop()
    if options.shard is None:  # a lost worker's temporary files (a shard may not: another
        files.remove_stale_temp_files(options.output)  # shard's are in flight)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Dask's and Tornado's log lines off stderr for the run: imgprep says what went wrong in
    its own lines (a Ctrl-C in the middle of one of Dask's calls makes Tornado log an error)."""
    names = [
        name
        for name in list(logging.root.manager.loggerDict)  # Dask's config sets a few levels
        if name.split(".")[0] in ("distributed", "tornado")
    ]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _connect(options: RunOptions) -> Iterator[Client]:
    from distributed import Client

    if options.scheduler == "local":
        workers = options.workers or default_workers()
        with _local_cluster(workers) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(options.scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(
            f"cannot reach the Dask scheduler at {options.scheduler}: {error}"
        ) from None
    with client:
        yield client


@contextlib.contextmanager
def _local_cluster(workers: int) -> Iterator[LocalCluster]:
    """A cluster of ``workers`` single-thread processes on this machine, for one run."""
    import multiprocessing

    import dask
    from distributed import LocalCluster

    # The workers fork from a server that has imported Dask and imgprep once, instead of each
    # starting a Python that imports them (0.5 s less per run here); they get this process's
    # environment, as spawned ones would (the server's is that of its own start).
    multiprocessing.set_forkserver_preload(["distributed", __name__])
    # No statistical profiler in the workers: it samples every 10 ms, for no one to read.
    # And glibc's own malloc trimming: Dask's MALLOC_TRIM_THRESHOLD_ (for long-lived workers)
    # sends every decoded image through mmap and munmap, ~10% slower here.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    settings = {
        "distributed.worker.multiprocessing-method": "forkserver",
        "distributed.worker.profile.enabled": False,
        "distributed.nanny.pre-spawn-environ": environ,
    }
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=dict(os.environ),
        ) as cluster,
    ):
        yield cluster


class _Batches:
    """The client's side: submits batches ahead, hands back each input's records in order."""

    def __init__(self, client: Client, work: Work) -> None:
        self.client, self.work = client, work
        self.spec = _Spec.of(work.options, work.chain.details)
        self.output = os.path.abspath(work.options.output)
        self.size = work.options.batch or _FIRST_BATCH
        threads = sum(client.nthreads().values()) or 1
        self.window, self.threads = max(4, 2 * threads), threads
        # each batch in flight: its positions, the items it carries, its future
        self.pending: collections.deque[_Batch] = collections.deque()
        self.next = 0  # the next position to submit

    def results(self) -> Iterator[tuple[OutputRecord, ...]]:
        """Each input's records, in plan order. The window counts the batches not finished:
        those finished after a slower one wait here, and the workers go on meanwhile."""
        from distributed import wait

        count = len(self.work.stale)
        while self.next < count or self.pending:
            running = [future for _, _, future in self.pending if not future.done()]
            while self.next < count and len(running) < self.window:
                running.append(self._submit(count))
            positions, items, future = self.pending[0]  # still pending while it is awaited
            if not future.done():
                wait(running, return_when="FIRST_COMPLETED")
                continue
            result = future.result()  # raises only for a bug in imgprep (after retries)
            self.pending.popleft()
            self._take(positions, items, result)
            for position in positions:
                yield self.work.finished[position]

    def _submit(self, count: int) -> Future[Any]:
        # the rest spread over twice the workers: the last tasks shrink, and end together
        fair = -(-(count - self.next) // (2 * self.threads))
        positions = range(self.next, min(count, self.next + max(1, min(self.size, fair))))
        self.next = positions.stop
        cwd = os.getcwd()
        items = [
            dataclasses.replace(item, path=_fs.absolute_text(item.path, cwd))
            for item in map(self._item, positions)
        ]
        manifest = self.work.manifest
        recorded = {
            output.key: entry
            for item in items
            for output in item.outputs
            if output.verdict == CHECK and (entry := manifest.get(output.key)) is not None
        }
        future = self.client.submit(
            run_batch, self.spec, items, recorded, pure=False, retries=_RETRIES
        )
        self.pending.append((positions, items, future))
        return future

    def _item(self, position: int) -> InputWork:
        """The input at ``position`` with its outputs named in the absolute output folder."""
        return self.work.item(position, self.output)

    def _take(
        self,
        positions: range,
        items: list[InputWork],
        result: tuple[list[_Outcome], list[Entry], float],
    ) -> None:
        """Record a batch's lines and keep its records (with the client's paths)."""
        outcomes, entries, seconds = result
        for entry in entries:
            self.work.manifest.record(entry)
        for position, item, outcome in zip(positions, items, outcomes, strict=True):
            self.work.finished[position] = self._records(position, item, outcome)
        if self.work.options.batch is None and seconds > 0:
            per_input = seconds / len(positions)
            self.size = max(1, min(_MAX_BATCH, round(_TARGET_SECONDS / per_input)))

    def _records(
        self, position: int, item: InputWork, outcome: _Outcome
    ) -> tuple[OutputRecord, ...]:
        """The records of the input at ``position`` (``item``: what its task carried), with
        the paths as the client was given them, not the absolute ones the workers used."""
        work = self.work
        path, output = work.plan.inputs.path_text(work.stale[position]), work.options.output
        variants = work.chain.variants
        return tuple(
            OutputRecord(
                path,
                None if Status(status) is Status.FAILED else output_path(output, made.key),
                Status(status),
                reason,
                variant.suffix,
                warnings,
                drawn=drawn,
                details=details,
            )
            for (status, reason, warnings, drawn, details), made, variant in zip(
                outcome, item.outputs, variants, strict=True
            )
        )

    def stop(self) -> None:
        """After Ctrl-C or --fail-fast: let the batches in flight finish (a few seconds at
        most: a cancelled task that runs already would write its files all the same, and they
        would be missing from the manifest), keep their records and lines, cancel the rest."""
        from distributed import wait

        pending, self.pending = list(self.pending), collections.deque()
        with contextlib.suppress(TimeoutError):
            wait([future for _, _, future in pending], timeout=_GRACE_SECONDS)
        for positions, items, future in pending:
            if future.status == "finished":
                self._take(positions, items, future.result())
            else:
                future.cancel()
