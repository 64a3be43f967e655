"""A workload for the storage-outage tests (``outage_workloads:gated``): the synthetic workload, whose first
run waits at a gate, so that a test can stop the storage server while a trial is in progress.

With ``TRICKSTACK_TEST_GATE=FOLDER``, the first run in any process creates ``FOLDER/started`` and waits
until ``FOLDER/go`` exists; every other run (and every run without the variable) is simulated at once.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from trickstack.simulator.workload import simulate_run
from trickstack.workloads import get_workload

GATE_ENV = "TRICKSTACK_TEST_GATE"
GATE_SECONDS = 120  # the longest a run waits for its gate: a test that never opens it fails, not hangs


def _gated_run(truth, workload, stack=(), seed=0, budget=None, overrides=None):
    gate = os.environ.get(GATE_ENV)
    if gate:
        try:
            (Path(gate) / "started").touch(exist_ok=False)  # exclusive: only the first run waits
        except FileExistsError:
            pass
        else:
            deadline = time.monotonic() + GATE_SECONDS
            while not (Path(gate) / "go").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gate {gate} was never opened")
                time.sleep(0.05)
    return simulate_run(truth, workload, stack, seed=seed, budget=budget, overrides=overrides)


def gated():
    return dataclasses.replace(get_workload("synthetic"), name="gated_synthetic", simulate=_gated_run)
