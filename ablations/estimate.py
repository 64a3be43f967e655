"""How long one training run of a study will take, measured, for ``ablate --dry-run``."""

from __future__ import annotations

import time

from trickstack.ablations.spec import StudySpec

from trickstack.core.budget import Budget
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload

CALIBRATION_STEPS = 30  # baseline steps timed to estimate a run


def seconds_per_run(spec: StudySpec) -> float:
    """Time a short baseline run and scale it to the study's budget (tricks may change the cost)."""
    wl = get_workload(spec.study.workload)
    budget = spec.study.budget.as_budget()
    if spec.synthetic is not None:
        return 0.0  # simulated: nothing trains
    if budget.unit == "seconds":
        return budget.value
    step = baseline_step_flops(wl)  # also loads the data, which a worker does once, not per run
    calibration = Budget("flops", CALIBRATION_STEPS * step)
    run_trial(wl, [], seed=0, budget=calibration)  # warm-up: first-call costs are not per run
    start = time.perf_counter()
    record = run_trial(wl, [], seed=0, budget=calibration)
    wall = time.perf_counter() - start
    per_step = record.train_seconds / record.steps
    steps = budget.value / step if budget.unit == "flops" else budget.value / wl.batch_size
    return wall - record.train_seconds + per_step * steps
