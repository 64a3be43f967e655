"""Imported by the workers' fork server (`trickstack.ablations.processes`): loads the workloads named in
its environment, so workers forked from it find their data in memory (each still measures the
baseline step's FLOPs itself, once per process). It also does, once, what each worker's first trial
would do for itself (package metadata, git, source hashes: ~0.1 s): read what every Trainer logs of
Composer's version and commit hash (`trainer_env_dict`) and the run records' provenance (`provenance`),
and check and apply Composer's speed patches (`apply_patches`). Then it freezes the collector's view of
everything loaded (see the end: that saves each worker 0.4 s).

Nothing here may stop the server: a workload that fails to load is skipped (the worker that needs it
loads it again and reports the error the usual way). Loading runs torch on one thread and trains nothing:
a fork of a process whose OpenMP thread pool has run hangs (see `trickstack.ablations.processes`).
"""

from __future__ import annotations

import gc
import os

import torch

from trickstack.ablations.processes import PRELOAD_WORKLOADS
from trickstack.core.records import provenance
from trickstack.trial.composer_patches import apply_patches, trainer_env_dict
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
try:
    trainer_env_dict()
    provenance()
    apply_patches()
except Exception:  # noqa: BLE001 -- see the module docstring; a Trainer reads it again, the usual way
    pass
# Last: every object so far goes to the collector's permanent generation, so a worker's collections do not
# walk (and write to) them: each write would copy a page the worker shares with this server. Without this a
# worker's first trial took 0.4 s longer (mnist1d, `python -m trickstack.benchmarks.workers`).
gc.freeze()
