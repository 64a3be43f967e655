"""How long one training run of a study will take, measured, for the plan `ablate` prints (and ``--dry-run``)."""

from __future__ import annotations

import time
from typing import Optional

import torch

from trickstack.ablations.processes import worker_threads
from trickstack.ablations.spec import StudySpec
from trickstack.core.budget import Budget
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload

CALIBRATION_STEPS = 30  # baseline steps timed to estimate a run
# A study bigger than either limit is queued only when asked for explicitly: at these sizes a typo in
# seeds or tricks (1000 seeds, 8 tricks in a factorial: 256,000 runs) costs months, not minutes.
MAX_RUNS = 10_000  # training runs of the whole plan
MAX_SECONDS = 30 * 24 * 3600  # estimated wall time with the workers given: 30 days


def seconds_per_run(spec: StudySpec, workers: int = 1, device: str = "cpu", deterministic: bool = True) -> float:
    """Time a short baseline run as one of ``workers`` local workers will train it (on ``device``; on CPU
    with the torch threads each worker gets) and scale it to the study's budget (tricks may change the cost)."""
    wl = get_workload(spec.study.workload)
    budget = spec.study.budget.as_budget()
    if spec.synthetic is not None:
        return 0.0  # simulated: nothing trains
    if budget.unit == "seconds":
        return budget.value
    step = baseline_step_flops(wl)  # also loads the data, which a worker does once, not per run
    calibration = Budget("flops", CALIBRATION_STEPS * step)
    threads = torch.get_num_threads()
    if workers > 1 and device == "cpu":
        torch.set_num_threads(worker_threads(workers))
    try:
        run_trial(wl, [], seed=0, budget=calibration, device=device, deterministic=deterministic,
                  precision=spec.study.precision, compile=spec.study.compile)  # warm-up
        start = time.perf_counter()
        record = run_trial(wl, [], seed=0, budget=calibration, device=device, deterministic=deterministic,
                           precision=spec.study.precision, compile=spec.study.compile)
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    per_step = record.train_seconds / record.steps
    steps = budget.value / step if budget.unit == "flops" else budget.value / wl.batch_size
    return wall - record.train_seconds + per_step * steps


def oversized(runs: int, seconds: float) -> Optional[str]:
    """Why a plan of ``runs`` runs taking about ``seconds`` (with its workers) is too big, or None.

    >>> oversized(256 * 1000, 650 * 86400)
    '256000 training runs (more than 10000) and about 650 days (more than 30)'
    """
    over = []
    if runs > MAX_RUNS:
        over.append(f"{runs} training runs (more than {MAX_RUNS})")
    if seconds > MAX_SECONDS:
        over.append(f"about {seconds / 86400:.0f} days (more than {MAX_SECONDS // 86400})")
    return " and ".join(over) or None
