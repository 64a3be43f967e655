"""How local worker processes start: forked from a server that has imported the worker module once.

A spawned worker starts from a bare interpreter and imports Composer, torch and Optuna itself (seconds
each time, every phase of a study). Here workers fork from a fork server that imported the worker module
(`WORKER_PRELOAD`) once, so each starts in well under a second. A server, not `fork` of the coordinator:
once torch's OpenMP thread pool has run in the coordinator (a one-worker study in the same process), a
forked child that uses more than one thread hangs, and a progress bar's refresh thread may hold a lock
at the fork. This module imports no Composer, so a command can start the server (`start_worker_server`)
before its own heavy imports and the two import side by side.

The server also loads the study's workloads (`PRELOAD_WORKLOADS`, read by `trickstack.ablations.preload`):
their data, which every worker would otherwise load again (seconds for MNIST-1D).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
from pathlib import Path
from typing import Iterable, Union

import tomllib

WORKER_PRELOAD = ["trickstack.ablations.worker", "trickstack.ablations.preload"]
PRELOAD_WORKLOADS = "TRICKSTACK_PRELOAD_WORKLOADS"  # environment of the server: comma-separated workload names


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context local workers start in."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # e.g. Windows: every worker imports by itself
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def usable_cpus() -> int:
    """CPUs this process may run on (``taskset`` and cgroup CPU sets respected, as torch's default threads do)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(workers: int) -> int:
    """Torch threads of each of ``workers`` local workers on CPU: the usable CPUs split between them."""
    return max(1, usable_cpus() // workers)


def start_worker_server(workers: int = 2, workloads: Iterable[str] = ()) -> None:
    """Start the fork server now, for ``workers`` local workers that will train ``workloads`` (it imports and
    loads them in the background). A no-op for one worker (it runs in this process), where there is no fork
    server, or where it runs already. Commands call it first thing; the engine again before starting workers."""
    if workers <= 1 or worker_context().get_start_method() != "forkserver":
        return
    before = os.environ.get(PRELOAD_WORKLOADS)
    os.environ[PRELOAD_WORKLOADS] = ",".join(workloads)  # the server starts with this process's environment
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ[PRELOAD_WORKLOADS]
        else:
            os.environ[PRELOAD_WORKLOADS] = before


def spec_workloads(spec_path: Union[str, Path]) -> list[str]:
    """The workload a study spec names, read without validating it (for `start_worker_server` before the
    command's imports); none where the file does not say plainly (the spec's own loading reports why)."""
    try:
        workload = tomllib.loads(Path(spec_path).read_text())["study"]["workload"]
    except Exception:  # noqa: BLE001 -- an unreadable spec is reported by StudySpec.load, not here
        return []
    return [workload] if isinstance(workload, str) else []
