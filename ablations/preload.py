"""Imported by the workers' fork server (`trickstack.ablations.processes`): loads the workloads named in
its environment, so workers forked from it find their data in memory (each still measures the
baseline step's FLOPs itself, once per process).

Nothing here may stop the server: a workload that fails to load is skipped (the worker that needs it
loads it again and reports the error the usual way). Loading runs torch on one thread and trains nothing:
a fork of a process whose OpenMP thread pool has run hangs (see `trickstack.ablations.processes`).
"""

from __future__ import annotations

import os

import torch

from trickstack.ablations.processes import PRELOAD_WORKLOADS
from trickstack.workloads import get_workload


def preload(names: str) -> list[str]:
    """Load each comma-separated workload's data; return the names loaded."""
    loaded = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in filter(None, (n.strip() for n in names.split(","))):
            try:
                wl = get_workload(name)
                if wl.simulate is None:
                    wl.splits  # noqa: B018 -- loads the data into the workload's cache
                loaded.append(name)
            except Exception:  # noqa: BLE001 -- see the module docstring
                pass
    finally:
        torch.set_num_threads(threads)
    return loaded


preload(os.environ.get(PRELOAD_WORKLOADS, ""))
