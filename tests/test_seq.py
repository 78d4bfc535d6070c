"""imgprep.seq: laziness, indexing, each operation, the cache, the prefetch pool and errors.

Each weakness of SeqTools 1.4.1 named in the issue has a test here (search for "SeqTools").
No assertion depends on timing: concurrency is shown with barriers and counters, and waits
for threads to end use a generous deadline that only matters when the code is broken.
"""

from __future__ import annotations

import _thread
import doctest
import gc
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgprep.errors import EvaluationError
from imgprep.seq import add_cache, collate, concatenate, prefetch, smap, unbatch
from imgprep.seq._futures import POLL_SECONDS, wait_for
from imgprep.seq._prefetch import usable_cpus

DEADLINE_SECONDS = 10.0  # only reached when a test is failing
LIBRARY_DOC = Path(__file__).resolve().parent.parent / "docs" / "library.md"


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("imgprep-prefetch-")]


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def no_prefetch_threads_left() -> bool:
    return wait_until(lambda: not prefetch_threads())


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    yield
    gc.collect()
    assert no_prefetch_threads_left(), f"threads left behind: {prefetch_threads()}"


class CallLog:
    """A function that records its arguments, for counting computations."""

    def __init__(self, function: Callable[..., Any] = lambda x: x) -> None:
        self.function = function
        self.calls: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls.append(args[0] if len(args) == 1 else args)
        return self.function(*args)


# --- standard library only --------------------------------------------------------------------


def test_import_seq_loads_neither_pillow_nor_typer_nor_tqdm() -> None:
    code = (
        "import sys, imgprep.seq\n"
        "heavy = sorted(m for m in ('PIL', 'typer', 'tqdm') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# --- laziness ---------------------------------------------------------------------------------


def test_chain_of_five_smaps_is_lazy_and_computes_one_item_per_stage() -> None:
    logs = [CallLog(partial(lambda k, x: x + k, k)) for k in range(5)]
    sequence: Sequence[int] = range(1000)
    for log in logs:
        sequence = smap(log, sequence)
    assert [log.calls for log in logs] == [[]] * 5
    assert len(sequence) == 1000
    assert [log.calls for log in logs] == [[]] * 5

    assert sequence[7] == 7 + 0 + 1 + 2 + 3 + 4
    # stage k receives item 7 after the k earlier stages added 0..k-1
    assert [log.calls for log in logs] == [[7], [7], [8], [10], [13]]


def test_slices_compute_nothing_until_indexed() -> None:
    log = CallLog(lambda x: x * 10)
    view = smap(log, range(100))[10:50][::5][1:]
    assert log.calls == []
    assert list(view) == [150, 200, 250, 300, 350, 400, 450]
    assert log.calls == [15, 20, 25, 30, 35, 40, 45]


def test_items_are_recomputed_each_time_without_a_cache() -> None:
    log = CallLog()
    sequence = smap(log, range(3))
    assert (sequence[1], sequence[1]) == (1, 1)
    assert log.calls == [1, 1]


# --- indexing, handled once for every kind of sequence ----------------------------------------


def every_kind_of_sequence(items: list[int]) -> dict[str, Sequence[int]]:
    half = len(items) // 2
    return {
        "smap": smap(int, items),
        "concatenate": concatenate([items[:half], items[half:]]),
        "collate+unbatch": unbatch(collate([items[0::2], items[1::2]]), 2),
        "add_cache": add_cache(items, 3),
        "prefetch": prefetch(items, max_buffered=2, nworkers=2),
        "slice": smap(int, [-1, *items, -1])[1:-1],
    }


@pytest.mark.parametrize("kind", sorted(every_kind_of_sequence([0, 1])))
def test_indexing_is_the_same_for_every_kind(kind: str) -> None:
    items = [10, 11, 12, 13, 14, 15]
    sequence = every_kind_of_sequence(items)[kind]
    assert len(sequence) == 6
    assert [sequence[i] for i in range(-6, 6)] == items[-6:] + items
    assert list(sequence) == items
    assert list(sequence[1:5:2]) == [11, 13]
    assert list(sequence[::-1]) == items[::-1]
    assert list(sequence[-2:]) == [14, 15]
    assert list(sequence[10:]) == []
    assert list(reversed(sequence)) == items[::-1]
    assert 13 in sequence
    assert sequence.index(13) == 3

    with pytest.raises(IndexError, match=r"index 6 is out of range for a sequence of length 6"):
        sequence[6]
    with pytest.raises(IndexError, match=r"index -7 is out of range for a sequence of length 6"):
        sequence[-7]
    with pytest.raises(TypeError, match=r"must be an integer or a slice, not str"):
        sequence["1"]
    with pytest.raises(TypeError, match=r"must be an integer or a slice, not float"):
        sequence[1.0]
    # bool is an int, but an index given as True is always a mistake
    with pytest.raises(TypeError, match=r"not bool"):
        sequence[True]


def test_objects_with_index_are_accepted_as_indexes() -> None:
    class Position:
        def __index__(self) -> int:
            return -1

    assert smap(str, range(4))[Position()] == "3"


def test_view_of_view_composes_and_stays_lazy() -> None:
    sequence = smap(int, range(20))
    view = sequence[2:18][::3][1:-1]
    assert list(view) == list(range(20))[2:18][::3][1:-1]
    assert repr(view).startswith("<[5:17:3] of smap(int): 4 items, built at ")


def test_empty_sequences() -> None:
    assert list(smap(int, [])) == []
    assert list(concatenate([])) == []
    assert list(unbatch([], 3)) == []
    with pytest.raises(IndexError, match="length 0"):
        smap(int, [])[0]


# --- smap, concatenate, collate, unbatch ------------------------------------------------------


def test_smap_zips_several_sequences_of_equal_length() -> None:
    assert list(smap(lambda a, b, c: a + b + c, [1, 2], [10, 20], [100, 200])) == [111, 222]


def test_smap_refuses_sequences_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"same length, not lengths \[2, 3\]"):
        smap(lambda a, b: a, [1, 2], [1, 2, 3])


def test_smap_needs_a_callable_and_a_sequence() -> None:
    with pytest.raises(TypeError, match="callable, not 3"):
        smap(3, [1])
    with pytest.raises(ValueError, match="at least one sequence"):
        smap(str)


def test_concatenate_keeps_order_and_skips_empty_parts() -> None:
    parts = [[], ["a", "b"], [], ["c"], ["d", "e", "f"], []]
    sequence = concatenate(parts)
    assert list(sequence) == list("abcdef")
    assert [sequence[i] for i in (0, 2, 3, 5, -1, -6)] == list("acdffa")


def test_collate_gives_tuples_and_needs_equal_lengths() -> None:
    assert list(collate([[1, 2, 3], "abc"])) == [(1, "a"), (2, "b"), (3, "c")]
    with pytest.raises(ValueError, match=r"collate needs sequences of the same length"):
        collate([[1, 2], [1]])
    with pytest.raises(ValueError, match="at least one sequence"):
        collate([])


def test_collate_then_unbatch_interleaves() -> None:
    originals = ["a0", "a1", "a2"]
    variants = smap(str.upper, originals)
    assert list(unbatch(collate([originals, variants]), 2)) == ["a0", "A0", "a1", "A1", "a2", "A2"]


def test_unbatch_with_a_short_last_batch() -> None:
    batches = [[0, 1, 2], [3, 4, 5], [6]]
    sequence = unbatch(batches, 3, last_batch_size=1)
    assert len(sequence) == 7
    assert list(sequence) == list(range(7))
    assert sequence[-1] == 6


@pytest.mark.parametrize("batches", [[], [[0, 1, 2]], [[0, 1, 2], [3, 4, 5], [6, 7, 8]]])
def test_unbatch_last_batch_size_0_means_a_full_last_batch(batches: list[list[int]]) -> None:
    # SeqTools documents last_batch_size=0 as its default: no short last batch.
    flat = [item for batch in batches for item in batch]
    for full in (None, 3):
        assert list(unbatch(batches, 3, full)) == flat
    sequence = unbatch(batches, 3, last_batch_size=0)
    assert len(sequence) == len(flat)
    assert list(sequence) == flat
    assert [sequence[i] for i in range(-len(flat), len(flat))] == flat + flat
    assert repr(sequence).startswith(f"<unbatch(batch_size=3): {len(flat)} items")


def test_unbatch_last_batch_size_0_still_checks_the_last_batch() -> None:
    sequence = unbatch([[0, 1, 2], [3, 4]], 3, 0)
    assert len(sequence) == 6
    with pytest.raises(EvaluationError, match="batch 1 must have 3 items, not 2"):
        list(sequence)


def test_unbatch_random_access_computes_each_batch_once() -> None:
    # SeqTools 1.4.1 recomputes the whole batch for every item read.
    log = CallLog(lambda b: tuple(range(b * 4, b * 4 + 4)))
    sequence = unbatch(smap(log, range(10)), 4)
    order = list(range(40))
    random.Random(4).shuffle(order)
    assert [sequence[i] for i in order] == order
    assert sorted(log.calls) == list(range(10))


def test_unbatch_computes_a_batch_once_when_threads_read_its_items_together() -> None:
    log = CallLog(lambda b: tuple(range(b * 8, b * 8 + 8)))
    sequence = unbatch(smap(log, range(3)), 8)
    start = threading.Barrier(8, timeout=DEADLINE_SECONDS)
    results: dict[int, list[int]] = {}

    def read(offset: int) -> None:
        start.wait()
        results[offset] = [sequence[b * 8 + offset] for b in range(3)]

    threads = [threading.Thread(target=read, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert results == {offset: [offset, 8 + offset, 16 + offset] for offset in range(8)}
    assert sorted(log.calls) == [0, 1, 2]


def test_unbatch_checks_its_arguments_and_batch_lengths() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, not 0"):
        unbatch([[1]], 0)
    with pytest.raises(ValueError, match="last_batch_size must be at most batch_size=2, not 3"):
        unbatch([[1, 2]], 2, last_batch_size=3)
    with pytest.raises(ValueError, match="last_batch_size must be at least 0, not -1"):
        unbatch([[1, 2]], 2, last_batch_size=-1)
    with pytest.raises(TypeError, match=r"last_batch_size must be an integer, not 1\.5"):
        unbatch([[1, 2]], 2, last_batch_size=1.5)
    sequence = unbatch([[0, 1, 2], [3, 4]], 3)
    with pytest.raises(EvaluationError, match="batch 1 must have 3 items, not 2") as caught:
        list(sequence)
    assert caught.value.index == 3


# --- add_cache --------------------------------------------------------------------------------


def test_add_cache_evicts_the_least_recently_used_item() -> None:
    # SeqTools 1.4.1 evicts the oldest insertion (FIFO), even if it was just used.
    log = CallLog()
    cached = add_cache(smap(log, range(10)), cache_size=2)
    for index in (0, 1, 0, 2):  # reading 0 again makes 1 the least recently used
        cached[index]
    assert log.calls == [0, 1, 2]
    cached[0]
    assert log.calls == [0, 1, 2]  # 0 kept
    cached[1]
    assert log.calls == [0, 1, 2, 1]  # 1 evicted
    assert cached.cache_info() == (2, 4, 2, 2)


def test_add_cache_hit_and_miss_counts_under_8_threads() -> None:
    log = CallLog(lambda x: x * x)
    cached = add_cache(smap(log, range(50)), cache_size=50)
    start = threading.Barrier(8, timeout=DEADLINE_SECONDS)
    wrong: list[int] = []

    def read(seed: int) -> None:
        indexes = list(range(50)) * 2
        random.Random(seed).shuffle(indexes)
        start.wait()
        wrong.extend(i for i in indexes if cached[i] != i * i)

    threads = [threading.Thread(target=read, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    info = cached.cache_info()
    assert wrong == []
    assert sorted(log.calls) == list(range(50))  # each item computed once
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (8 * 100 - 50, 50, 50, 50)


def test_add_cache_computes_once_when_threads_ask_for_the_same_item_at_once() -> None:
    release = threading.Event()
    log = CallLog(lambda x: release.wait(DEADLINE_SECONDS) and x)
    cached = add_cache(smap(log, range(3)), cache_size=1)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cached[2])) for _ in range(8)]
    for thread in threads:
        thread.start()
    # Every thread has asked (7 joined the one computation in flight) before it may finish.
    assert wait_until(lambda: cached.cache_info().hits == 7)
    assert log.calls == [2]
    release.set()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert results == [2] * 8
    assert log.calls == [2]


def test_add_cache_computes_different_items_in_parallel() -> None:
    # SeqTools 1.4.1 holds one lock while computing: the second item would wait for the first
    # and the barrier (which needs both computations running at once) would break.
    both_running = threading.Barrier(2, timeout=DEADLINE_SECONDS)
    cached = add_cache(smap(lambda x: (both_running.wait(), x)[1], range(2)), cache_size=2)
    results: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, cached[i])) for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert results == {0: 0, 1: 1}


def test_add_cache_does_not_cache_failures() -> None:
    attempts: list[int] = []

    def fragile(x: int) -> int:
        attempts.append(x)
        raise OSError(f"disk error on {x}")

    cached = add_cache(smap(fragile, range(3)), cache_size=3)
    for _ in range(2):
        with pytest.raises(EvaluationError, match="disk error on 1"):
            cached[1]
    assert attempts == [1, 1]
    assert cached.cache_info().currsize == 0


def test_add_cache_wraps_failures_of_a_plain_source() -> None:
    class Broken(list[int]):
        def __getitem__(self, index: Any) -> Any:
            raise KeyError(index)

    cached = add_cache(Broken([1, 2]), cache_size=1)
    with pytest.raises(EvaluationError, match=r"item 1 of add_cache\(cache_size=1\)") as caught:
        cached[1]
    assert isinstance(caught.value.__cause__, KeyError)


@pytest.mark.parametrize(("size", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_add_cache_checks_its_size(size: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"cache_size must be .*, not {size}"):
        add_cache([1], size)


# --- prefetch ---------------------------------------------------------------------------------


def test_prefetch_yields_in_order_although_items_finish_out_of_order() -> None:
    delays = [random.Random(i).choice([0, 0.002, 0.01]) for i in range(60)]
    items = smap(lambda i: time.sleep(delays[i]) or i, range(60))
    with prefetch(items, max_buffered=6, nworkers=4) as results:
        assert list(results) == list(range(60))
    assert prefetch_threads() == []  # exhausting the iteration joined the workers


def test_prefetch_runs_items_in_parallel() -> None:
    both_running = threading.Barrier(2, timeout=DEADLINE_SECONDS)
    items = smap(lambda i: (both_running.wait(), i)[1], range(4))
    assert list(prefetch(items, max_buffered=2, nworkers=2)) == [0, 1, 2, 3]


def test_prefetch_never_computes_past_the_end() -> None:
    # SeqTools 1.4.1 computes indexes past the end of the sequence.
    log = CallLog()
    assert list(prefetch(smap(log, range(5)), max_buffered=10, nworkers=3)) == list(range(5))
    assert sorted(log.calls) == list(range(5))


def test_prefetch_keeps_at_most_max_buffered_items_ahead() -> None:
    max_buffered = 3
    consumed = 0
    most_ahead = 0
    lock = threading.Lock()

    def stage(i: int) -> int:
        nonlocal most_ahead
        with lock:  # item i starts: items consumed..i are in flight or waiting to be consumed
            most_ahead = max(most_ahead, i + 1 - consumed)
        time.sleep(0.001)
        return i

    for item in prefetch(smap(stage, range(40)), max_buffered=max_buffered, nworkers=4):
        with lock:
            consumed = item + 1
    assert 1 <= most_ahead <= max_buffered


def test_prefetch_random_access_and_slices_work_during_iteration() -> None:
    # SeqTools 1.4.1 deadlocks on index -1 and raises on slices.
    results = prefetch(smap(lambda x: x * 2, range(10)), max_buffered=3, nworkers=2)
    with results:
        iterator = iter(results)
        assert next(iterator) == 0
        assert results[-1] == 18
        assert results[3] == 6
        assert list(results[2:5]) == [4, 6, 8]
        assert list(results[::-4]) == [18, 10, 2]
        assert list(iterator) == [x * 2 for x in range(1, 10)]


def test_prefetch_of_an_empty_sequence_starts_no_thread() -> None:
    # SeqTools 1.4.1 raises on an empty sequence.
    before = threading.active_count()
    assert list(prefetch([], max_buffered=4, nworkers=2)) == []
    assert threading.active_count() == before


def test_prefetch_with_no_workers_computes_inline() -> None:
    log = CallLog(lambda x: threading.current_thread().name)
    assert list(prefetch(smap(log, range(3)), max_buffered=2, nworkers=0)) == ["MainThread"] * 3
    assert log.calls == [0, 1, 2]


def test_prefetch_starts_threads_on_first_iteration_only() -> None:
    results = prefetch(smap(int, range(5)), max_buffered=2, nworkers=2)
    iterator = iter(results)
    assert prefetch_threads() == []
    assert next(iterator) == 0
    assert 1 <= len(prefetch_threads()) <= 2
    results.close()
    assert prefetch_threads() == []


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"max_buffered": 0, "nworkers": 1}, ValueError, "max_buffered must be at least 1, not 0"),
        ({"method": "process"}, ValueError, "method must be 'thread' .*, not 'process'"),
        ({"method": "threads"}, ValueError, "method must be 'thread' .*, not 'threads'"),
        ({"nworkers": "2"}, TypeError, "nworkers must be an integer, not '2'"),
        ({"nworkers": True}, TypeError, "nworkers must be an integer, not True"),
        ({"max_buffered": 2, "nworkers": 1.0}, TypeError, "nworkers must be an integer, not 1.0"),
        ({"max_buffered": True, "nworkers": 1}, TypeError, "must be an integer, not True"),
    ],
)
def test_prefetch_checks_its_arguments(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        prefetch([1], **arguments)


def run_with_worker_threads(nworkers: int, expected: int) -> tuple[list[int], set[str]]:
    """Iterate ``prefetch(items, nworkers)`` over ``2 * expected`` items that can only be
    computed ``expected`` at once: (the items, the names of the threads that computed them).
    With fewer than ``expected`` workers the barrier breaks and the iteration fails."""
    all_running = threading.Barrier(expected, timeout=DEADLINE_SECONDS)
    names: set[str] = set()

    def stage(i: int) -> int:
        names.add(threading.current_thread().name)
        all_running.wait()
        return i

    with prefetch(smap(stage, range(2 * expected)), nworkers) as results:
        return list(results), names


@pytest.mark.parametrize("nworkers", [2, 3])
def test_prefetch_takes_nworkers_second_as_seqtools_does(nworkers: int) -> None:
    # `prefetch(seq, 4)` is 4 workers in SeqTools 1.4; it used to mean max_buffered=4 here.
    assert prefetch([1], nworkers).nworkers == nworkers
    assert prefetch([1], nworkers).max_buffered == 10
    items, names = run_with_worker_threads(nworkers, nworkers)
    assert items == list(range(2 * nworkers))
    assert len(names) == nworkers
    assert all(name.startswith("imgprep-prefetch-") for name in names)


def test_prefetch_takes_all_seqtools_parameters_positionally_and_by_keyword() -> None:
    positional = prefetch(range(5), 3, "thread", 4)
    keywords = prefetch(range(5), max_buffered=4, method="thread", nworkers=3)
    for results in (positional, keywords):
        assert (results.nworkers, results.max_buffered) == (3, 4)
        assert list(results) == list(range(5))
    assert repr(positional).startswith("<prefetch(nworkers=3, max_buffered=4): 5 items, built at ")


def test_prefetch_refuses_a_process_pool_saying_threads_only() -> None:
    for call in (
        lambda: prefetch([1], 2, "process"),
        lambda: prefetch([1], nworkers=2, method="process", max_buffered=4),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == (
            "method must be 'thread' (imgprep.seq prefetches in threads only), not 'process'"
        )
    # Old imgprep order `prefetch(seq, max_buffered, nworkers)` fails loudly, not silently.
    with pytest.raises(ValueError, match=r"method must be 'thread' .*, not 0$"):
        prefetch([1], 2, 0)


def test_prefetch_defaults_to_no_worker_thread_like_seqtools() -> None:
    log = CallLog(lambda x: threading.current_thread().name)
    results = prefetch(smap(log, range(3)))
    assert (results.nworkers, results.max_buffered) == (0, 10)
    assert list(results) == ["MainThread"] * 3
    assert log.calls == [0, 1, 2]


def fake_cpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make this process look as if it could run on ``count`` CPUs."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: count)


@pytest.mark.parametrize(("cpus", "nworkers", "expected"), [(4, -1, 3), (8, -1, 7), (8, -3, 5)])
def test_negative_nworkers_leaves_that_many_cpus_spare(
    monkeypatch: pytest.MonkeyPatch, cpus: int, nworkers: int, expected: int
) -> None:
    # SeqTools documents negative nworkers as the number of CPU cores to spare.
    fake_cpus(monkeypatch, cpus)
    assert usable_cpus() == cpus
    assert prefetch([1], nworkers).nworkers == expected
    items, names = run_with_worker_threads(nworkers, expected)
    assert items == list(range(2 * expected))
    assert len(names) == expected


@pytest.mark.parametrize(("cpus", "nworkers"), [(1, -1), (2, -2), (4, -100)])
def test_negative_nworkers_sparing_every_cpu_still_gets_one_worker(
    monkeypatch: pytest.MonkeyPatch, cpus: int, nworkers: int
) -> None:
    # Code written with nworkers=-1 must not fail, nor hang with 0 threads, on a 1-CPU box.
    fake_cpus(monkeypatch, cpus)
    assert prefetch([1], nworkers).nworkers == 1
    items, names = run_with_worker_threads(nworkers, 1)
    assert items == [0, 1]
    assert len(names) == 1
    assert names != {"MainThread"}


def test_usable_cpus_without_an_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "cannot be determined"
    assert usable_cpus() == 1
    assert prefetch([1], -1).nworkers == 1


def test_early_break_leaves_no_worker_thread() -> None:
    log = CallLog(lambda x: time.sleep(0.001) or x)
    for item in prefetch(smap(log, range(1000)), max_buffered=4, nworkers=2):
        if item == 3:
            break
    assert no_prefetch_threads_left(), threading.enumerate()
    assert max(log.calls) < 3 + 4 + 1  # queued work was cancelled, not computed


def test_closing_the_iterator_or_the_sequence_joins_the_workers() -> None:
    results = prefetch(smap(int, range(100)), max_buffered=4, nworkers=2)
    iterator = iter(results)
    next(iterator)
    iterator.close()
    assert prefetch_threads() == []
    with pytest.raises(StopIteration):
        next(iterator)

    with results:  # the pattern the command line uses
        for item in results:
            if item == 5:
                break
    assert prefetch_threads() == []  # joined by close(), though the loop's iterator is gone
    results.close()  # idempotent
    assert list(results) == list(range(100))  # and the sequence can be iterated again


def test_close_waits_a_bounded_time_for_in_flight_items() -> None:
    release = threading.Event()
    outcome: list[bool] = []
    log = CallLog()

    def stage(i: int) -> int:
        log(i)
        outcome.append(release.wait(DEADLINE_SECONDS))
        return i

    results = prefetch(smap(stage, range(3)), max_buffered=2, nworkers=1)
    iterator = iter(results)
    received: list[int] = []
    consumer = threading.Thread(target=lambda: received.extend(iterator))
    consumer.start()
    assert wait_until(lambda: log.calls == [0])  # item 0 is in flight
    results.close(timeout=0.05)
    assert outcome == []  # close() returned while the item was still running
    release.set()
    consumer.join(DEADLINE_SECONDS)
    assert no_prefetch_threads_left()
    assert outcome == [True]  # the item finished normally in the background
    assert received == [0]  # the consumer got the in-flight item, then the iteration ended
    assert log.calls == [0]  # item 1 was queued and cancelled


def test_a_stuck_item_does_not_block_interpreter_exit() -> None:
    # SeqTools 1.4.1 (like ThreadPoolExecutor) joins its workers at exit without a timeout.
    script = """
import threading, time
from imgprep.seq import prefetch, smap
never = threading.Event()
results = prefetch(smap(lambda i: never.wait(), range(3)), max_buffered=2, nworkers=2)
iterator = iter(results)
threading.Thread(target=lambda: next(iterator), daemon=True).start()
while not any(t.name.startswith("imgprep-prefetch") for t in threading.enumerate()):
    time.sleep(0.01)
results.close(timeout=0.1)
print("leaving with a worker stuck on item 0")
"""
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "leaving with a worker stuck on item 0\n"


def test_prefetch_reports_the_failing_item_without_hanging_or_leaving_threads() -> None:
    def stage(i: int) -> int:
        if i == 13:
            raise ValueError(f"cannot decode item {i}")
        return i

    seen: list[int] = []
    iterator = iter(prefetch(smap(stage, range(100)), max_buffered=5, nworkers=3))
    with pytest.raises(EvaluationError) as caught:
        for item in iterator:
            seen.append(item)
    assert seen == list(range(13))
    assert caught.value.index == 13
    assert isinstance(caught.value.__cause__, ValueError)
    assert "computing item 13 of smap(" in str(caught.value)
    assert "ValueError: cannot decode item 13" in str(caught.value)
    assert prefetch_threads() == []  # joined before the error was raised
    with pytest.raises(StopIteration):
        next(iterator)


@pytest.mark.parametrize("outcome", ["value", "TimeoutError"])
def test_wait_for_outlasts_its_polls_and_passes_on_the_item_s_own_timeout_error(
    outcome: str,
) -> None:
    # wait_for polls with timed waits; a TimeoutError stored in the future is the item's
    # failure, to raise, not the end of one poll, to wait on forever.
    future: Future[int] = Future()
    if outcome == "value":
        finish = partial(future.set_result, 7)
    else:
        finish = partial(future.set_exception, TimeoutError("the item's own"))
    timer = threading.Timer(2.5 * POLL_SECONDS, finish)
    timer.start()
    try:
        if outcome == "value":
            assert wait_for(future) == 7
        else:
            with pytest.raises(TimeoutError, match="the item's own"):
                wait_for(future)
    finally:
        timer.join()


def test_ctrl_c_while_waiting_stops_promptly_and_cancels_queued_work() -> None:
    release = threading.Event()
    outcome: list[bool] = []
    log = CallLog()

    def stage(i: int) -> int:
        log(i)
        if i == 5:
            _thread.interrupt_main()  # as if the user pressed Ctrl-C now
            outcome.append(release.wait(DEADLINE_SECONDS))  # a slow item still in flight
        return i

    with pytest.raises(KeyboardInterrupt):
        for _ in prefetch(smap(stage, range(100)), max_buffered=4, nworkers=2):
            pass
    assert not release.is_set()  # the consumer did not wait for the in-flight item
    release.set()
    assert no_prefetch_threads_left()
    assert outcome == [True]
    assert max(log.calls) < 5 + 4  # nothing queued after the interrupt was computed


# --- errors -----------------------------------------------------------------------------------


def explode(x: int) -> int:
    if x == 3:
        raise ZeroDivisionError("the third item is bad")
    return x


def test_error_names_index_operation_and_where_the_sequence_was_built() -> None:
    line = sys._getframe().f_lineno + 1
    sequence = smap(explode, range(5))
    with pytest.raises(EvaluationError) as caught:
        sequence[3]
    error = caught.value
    assert error.index == 3
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert str(error) == (
        f"computing item 3 of smap(explode) (built at {__file__}:{line}) failed: "
        "ZeroDivisionError: the third item is bad"
    )


def test_innermost_error_passes_through_outer_stages() -> None:
    inner = smap(explode, range(5))
    inline = prefetch(add_cache(inner, 2), nworkers=0, max_buffered=2)
    outer = smap(str, concatenate([[7, 8], inline]))
    with pytest.raises(EvaluationError, match=r"item 3 of smap\(explode\)") as caught:
        outer[5]  # item 3 of the inner sequence
    assert caught.value.index == 3
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    with pytest.raises(EvaluationError, match=r"item 3 of smap\(explode\)"):
        list(outer)


def test_failures_of_plain_sources_are_wrapped_by_the_stage_reading_them() -> None:
    class Broken(list[int]):
        def __getitem__(self, index: Any) -> Any:
            raise OSError("unreadable")

    sequence = concatenate([[1, 2], Broken([3])])
    with pytest.raises(EvaluationError, match=r"item 2 of concatenate\(2 sequences\)") as caught:
        sequence[2]
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_are_never_wrapped(signal: type[BaseException]) -> None:
    def stage(x: int) -> int:
        raise signal()

    with pytest.raises(signal):
        smap(stage, range(2))[0]
    with pytest.raises(signal):
        list(prefetch(smap(stage, range(2)), max_buffered=2, nworkers=1))


# --- every sequence behaves like the equivalent list ------------------------------------------

operations = st.sampled_from(["smap", "concatenate", "interleave", "batches", "slice", "cache"])


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[Sequence[int], list[int]]:
    model = draw(st.lists(st.integers(-50, 50), max_size=10))
    sequence: Sequence[int] = smap(int, model)
    for operation in draw(st.lists(operations, max_size=4)):
        if operation == "smap":
            offset = draw(st.integers(-5, 5))
            sequence = smap(partial(int.__add__, offset), sequence)
            model = [x + offset for x in model]
        elif operation == "concatenate":
            extra = draw(st.lists(st.integers(), max_size=3))
            sequence = concatenate([sequence, extra, sequence])
            model = model + extra + model
        elif operation == "interleave":
            sequence = unbatch(collate([sequence, smap(int.__neg__, sequence)]), 2)
            model = [y for x in model for y in (x, -x)]
        elif operation == "batches" and model:
            size = draw(st.integers(1, 4))
            starts = range(0, len(model), size)
            batches = smap(lambda s, seq=sequence, n=size: seq[s : s + n], starts)
            last = len(model) - starts[-1]
            sequence = unbatch(batches, size, last_batch_size=last)
        elif operation == "slice":
            cut = draw(st.slices(len(model)))
            sequence = sequence[cut]
            model = model[cut]
        elif operation == "cache":
            sequence = add_cache(sequence, draw(st.integers(1, 4)))
    if draw(st.booleans()):
        nworkers, max_buffered = draw(st.integers(-1, 2)), draw(st.integers(1, 4))
        sequence = prefetch(sequence, nworkers, max_buffered=max_buffered)
    return sequence, model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(), st.data())
def test_every_sequence_behaves_like_the_equivalent_list(
    pipeline: tuple[Sequence[int], list[int]], data: st.DataObject
) -> None:
    sequence, model = pipeline
    assert len(sequence) == len(model)
    assert list(sequence) == model
    for index in range(-len(model) - 2, len(model) + 2):
        if -len(model) <= index < len(model):
            assert sequence[index] == model[index]
        else:
            with pytest.raises(IndexError):
                sequence[index]
    cut = data.draw(st.slices(len(model) + 2))
    assert list(sequence[cut]) == model[cut]
    assert list(sequence[cut][::-1]) == model[cut][::-1]


# --- the examples of docs/library.md ----------------------------------------------------------


def test_library_doc_examples_print_what_they_claim() -> None:
    text = LIBRARY_DOC.read_text(encoding="utf-8")
    seq_part = text.split("\n## imgprep.ops", 1)[0]
    # Fence lines would read as expected output of the example above them.
    seq_part = "\n".join("" if line.startswith("```") else line for line in seq_part.split("\n"))
    test = doctest.DocTestParser().get_doctest(seq_part, {}, "library.md", str(LIBRARY_DOC), 0)
    assert len(test.examples) >= 30
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
