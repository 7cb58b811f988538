"""Where the points of a sweep run: this process, a pool of local processes, or a Ray cluster.

:func:`run_points` hands each task to ``fn(task, report, threads)`` and returns the results
in task order. ``report(stage)`` is how a running point says that one of its stages is done;
``on_stage(i, stage)`` and ``on_done(i, result)`` receive those events in the calling process,
for a progress display. Local workers are fresh (``spawn``) processes with ``threads`` torch
threads each. Ray (``pip install 'amlab[ray]'``) runs one task per point with ``num_cpus = threads``
on the cluster at ``address`` (a local instance with ``workers`` CPUs when None); stage events
are not forwarded from Ray workers, only completions.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Literal

from amlab._validation import check_positive_int

__all__ = ["BACKENDS", "Backend", "import_ray", "run_points"]

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")

PointFn = Callable[[Any, Callable[[str], None], "int | None"], Any]
StageHook = Callable[[int, str], None]
DoneHook = Callable[[int, Any], None]


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that names the command installing it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ImportError(
            "the ray backend needs the optional 'ray' package: pip install 'amlab[ray]'"
        ) from None


class _QueueReport:
    """A picklable ``report(stage)`` that forwards ``(index, stage)`` through a queue."""

    def __init__(self, channel: Any, index: int) -> None:
        self.channel, self.index = channel, index

    def __call__(self, stage: str) -> None:
        self.channel.put((self.index, stage))


def _drain(channel: Any, on_stage: StageHook | None) -> None:
    while True:
        try:
            index, stage = channel.get_nowait()
        except queue.Empty:
            return
        if on_stage is not None:
            on_stage(index, stage)


def _run_inline(
    fn: PointFn, tasks: Sequence[Any], on_stage: StageHook | None, on_done: DoneHook | None
) -> list[Any]:
    results = []
    for i, task in enumerate(tasks):
        result = fn(task, (lambda stage, i=i: on_stage(i, stage)) if on_stage else lambda s: None, None)
        if on_done is not None:
            on_done(i, result)
        results.append(result)
    return results


def _run_pool(
    fn: PointFn, tasks: Sequence[Any], workers: int, threads: int,
    on_stage: StageHook | None, on_done: DoneHook | None,
) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(tasks)
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        channel = manager.Queue()
        futures: dict[Future, int] = {
            pool.submit(fn, task, _QueueReport(channel, i), threads): i for i, task in enumerate(tasks)
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            _drain(channel, on_stage)
            for future in done:
                i = futures[future]
                results[i] = future.result()  # re-raises a worker's error here
                if on_done is not None:
                    on_done(i, results[i])
        _drain(channel, on_stage)
    return results


def _run_ray(
    fn: PointFn, tasks: Sequence[Any], workers: int, threads: int, address: str | None,
    on_done: DoneHook | None,
) -> list[Any]:
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options["num_cpus"] = workers * threads
        ray.init(address=address, **options)
    try:
        remote = ray.remote(num_cpus=threads)(fn)
        refs = {remote.remote(task, None, threads): i for i, task in enumerate(tasks)}
        results: list[Any] = [None] * len(tasks)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = refs[ref]
                results[i] = ray.get(ref)
                if on_done is not None:
                    on_done(i, results[i])
        return results
    finally:
        if started:
            ray.shutdown()


def run_points(
    fn: PointFn,
    tasks: Sequence[Any],
    *,
    backend: Backend = "local",
    workers: int = 1,
    threads: int = 1,
    address: str | None = None,
    on_stage: StageHook | None = None,
    on_done: DoneHook | None = None,
) -> list[Any]:
    """Run ``fn(task, report, threads)`` for every task; results in task order.

    Args:
        fn: a module-level function (it is pickled for other processes).
        tasks: picklable task descriptions.
        backend: ``"local"`` (this process when ``workers == 1``, else a process pool) or
            ``"ray"``.
        workers: parallel points (local processes, or the CPUs of a local Ray instance).
        threads: torch threads per point in a worker process.
        address: a Ray cluster's address (``"auto"``, ``"ray://host:10001"``); only with Ray.
        on_stage, on_done: progress hooks, called in this process.
    """
    workers = check_positive_int("workers", workers)
    threads = check_positive_int("threads", threads)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise ValueError("an address names a Ray cluster: use it with the ray backend")
    if backend == "ray":
        return _run_ray(fn, tasks, workers, threads, address, on_done)
    if workers == 1 or len(tasks) <= 1:
        return _run_inline(fn, tasks, on_stage, on_done)
    return _run_pool(fn, tasks, min(workers, len(tasks)), threads, on_stage, on_done)
