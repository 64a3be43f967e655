"""How local worker processes start: forked from a server that has imported the worker module once.

A spawned worker starts from a bare interpreter and imports Composer, torch and Optuna itself (seconds
each time, every phase of a study). Here workers fork from a fork server that imported the worker module
(`WORKER_PRELOAD`) once, so each starts in well under a second. A server, not `fork` of the coordinator:
once torch's OpenMP thread pool has run in the coordinator (a one-worker study in the same process), a
forked child that uses more than one thread hangs, and a progress bar's refresh thread may hold a lock
at the fork. This module imports no Composer, so a command can start the server (`start_worker_server`)
before its own heavy imports and the two import side by side.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver

WORKER_PRELOAD = ["trickstack.ablations.worker"]


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context local workers start in."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # e.g. Windows: every worker imports by itself
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def start_worker_server() -> None:
    """Start the fork server now (it imports in the background); a no-op where there is none or it runs."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
