"""Checks for workload authors: a workload keeps the contract of `trickstack.workloads.Workload`.

One call from a plugin's tests runs them all at a tiny budget (a few baseline steps, seconds)::

    from trickstack.testing.workload import check_workload

    def test_my_workload_keeps_the_contract():
        check_workload("my_package.workloads:make_workload")  # or a registered name, or a Workload

Each check is also a function of its own, returning a list of problems (empty: it passes):

- `check_deterministic`: the same seed gives the same metric, loss and FLOPs, bit for bit, in this process and
  in a fresh one (which loads the workload and its data anew: a split cached in this process cannot hide data
  that differs between processes);
- `check_budget`: the FLOPs spent are within ±2% of the budget (`BUDGET_TOLERANCE`);
- `check_metric`: the direction is declared, ``metric_key`` is one of the model's eval metrics, the
  final metric is finite;
- `check_disjoint_splits`: no eval example is also a train example (same input and same target);
- `check_tricks_run`: for each capability the workload provides, a registered trick that requires it runs.

`check_workload` raises `WorkloadCheckError` listing every problem found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Optional, Sequence, Union

import torch

from trickstack.core.budget import Budget
from trickstack.core.records import RunRecord
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.tricks.registry import all_tricks, trick_status
from trickstack.workloads import Workload, get_workload, reference_of

BUDGET_TOLERANCE = 0.02  # |spent / budget - 1| allowed: the controller spends a FLOP budget to within a step
CHECK_STEPS = 8  # baseline steps of the tiny budget the checks train for
CHECKS = ("deterministic", "budget", "metric", "splits", "tricks")


class WorkloadCheckError(AssertionError):
    """A workload breaks its contract; the message lists each problem on its own line."""


def tiny_budget(workload: Workload, steps: int = CHECK_STEPS) -> Budget:
    """The FLOPs of ``steps`` baseline steps of ``workload``."""
    return Budget("flops", float(steps * baseline_step_flops(workload)))


def _outcome(record: RunRecord) -> tuple[Any, ...]:
    return record.metrics.eval_value, record.metrics.train_loss, record.flops, record.steps


def _run_elsewhere(workload: Union[str, Workload], seed: int, budget: Budget, device: str,
                   threads: int) -> tuple[Any, ...]:
    """In a fresh process: the workload loaded anew (by name or reference, or a fresh copy), one run's outcome,
    with this process's torch threads (another count sums floats in another order: not the workload's fault)."""
    torch.set_num_threads(threads)
    wl = get_workload(workload) if isinstance(workload, str) else workload
    return _outcome(run_trial(wl, [], seed=seed, budget=budget, device=device))


def _portable(workload: Workload) -> Union[str, Workload, None]:
    """What a fresh process can load the workload from: its name or reference, else a copy without its cached
    splits if it pickles; None if neither."""
    reference = reference_of(workload)
    if reference is not None:
        return reference
    fresh = dataclasses.replace(workload)  # a new object: its splits are loaded again, not carried along
    try:
        pickle.dumps(fresh)
    except Exception:  # closures and lambdas do not pickle
        return None
    return fresh


def check_deterministic(workload: Workload, budget: Budget, seed: int = 0, device: str = "cpu") -> list[str]:
    """Two runs with one seed, one here and one in a fresh process (spawned: nothing cached here is shared):
    the same eval metric, train loss, FLOPs and steps, bit for bit."""
    portable = _portable(workload)
    if portable is None:
        return [f"{workload.name}: cannot be loaded in a second process to compare two runs with seed {seed} (it is "
                f"neither registered nor made by a package.module:factory, and does not pickle); check it by name "
                f"or by reference"]
    a = _outcome(run_trial(workload, [], seed=seed, budget=budget, device=device))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        b = fresh.submit(_run_elsewhere, portable, seed, budget, device, torch.get_num_threads()).result()
    problems = []
    for what, x, y in zip(("eval metric", "train loss", "FLOPs", "steps"), a, b):
        if x != y and not (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)):
            problems.append(f"{workload.name}: two runs with seed {seed}, in two processes, differ in {what} "
                            f"({x!r} vs {y!r})")
    return problems


def check_budget(workload: Workload, record: RunRecord, tolerance: float = BUDGET_TOLERANCE) -> list[str]:
    """The run spent its FLOP budget to within ``tolerance`` (a fraction)."""
    if record.budget.unit != "flops":
        return [f"{workload.name}: the budget check needs a FLOP budget, got {record.budget.unit}"]
    error = record.flops / record.budget.value - 1
    if abs(error) > tolerance:
        return [f"{workload.name}: spent {record.flops:.4g} FLOPs of a {record.budget.value:.4g} budget "
                f"({error:+.2%}, more than ±{tolerance:.0%})"]
    return []


def check_metric(workload: Workload, record: RunRecord) -> list[str]:
    """A declared direction, ``metric_key`` among the model's eval metrics, a finite final metric."""
    problems = []
    if workload.direction not in ("maximize", "minimize"):
        problems.append(f"{workload.name}: direction must be 'maximize' or 'minimize', got {workload.direction!r}")
    keys = sorted(workload.build_model().get_metrics(is_train=False))
    if workload.metric_key not in keys:
        problems.append(f"{workload.name}: metric_key {workload.metric_key!r} is not among the model's eval metrics "
                        f"({', '.join(keys) or 'none'})")
    value = record.metrics.eval_value
    if record.diverged or value is None or not math.isfinite(value):
        problems.append(f"{workload.name}: the baseline's final {workload.metric} is not finite ({value!r}; "
                        f"diverged={record.diverged})")
    return problems


def _row_digests(x: torch.Tensor, y: torch.Tensor) -> list[bytes]:
    return [hashlib.sha1(xi.contiguous().numpy().tobytes() + yi.contiguous().numpy().tobytes()).digest()
            for xi, yi in zip(x, y)]


def check_disjoint_splits(workload: Workload) -> list[str]:
    """No eval example (input and target) also appears in the train split."""
    s = workload.splits
    problems = []
    for name in ("train_x", "train_y", "eval_x", "eval_y"):
        if not isinstance(getattr(s, name), torch.Tensor):
            problems.append(f"{workload.name}: splits.{name} is not a tensor")
    if problems:
        return problems
    if len(s.eval_x) == 0 or len(s.train_x) == 0:
        return [f"{workload.name}: an empty split (train {len(s.train_x)}, eval {len(s.eval_x)} examples)"]
    train = set(_row_digests(s.train_x, s.train_y))
    shared = sum(d in train for d in _row_digests(s.eval_x, s.eval_y))
    if shared:
        return [f"{workload.name}: {shared} of {len(s.eval_x)} eval examples are also in the train split"]
    return []


def tricks_to_run(workload: Workload) -> dict[str, str]:
    """For each capability ``workload`` provides: the first registered trick (by name) that requires it and is
    allowed there (a capability no trick requires is left out)."""
    chosen: dict[str, str] = {}
    for info in all_tricks():
        if trick_status(info, workload)[0] not in ("ok", "no-op"):
            continue
        for capability in info.requires:
            chosen.setdefault(capability, info.name)
    return {c: chosen[c] for c in workload.provides if c in chosen}


def check_tricks_run(workload: Workload, budget: Budget, device: str = "cpu") -> list[str]:
    """Each trick of `tricks_to_run` trains on the workload and is recorded."""
    problems = []
    for capability, trick in tricks_to_run(workload).items():
        try:
            record = run_trial(workload, [trick], seed=0, budget=budget, device=device)
        except Exception as error:  # the point of the check: report it, with the trick's name
            problems.append(f"{workload.name}: trick {trick!r} (requires {capability!r}) fails: "
                            f"{type(error).__name__}: {error}")
            continue
        if [t.name for t in record.tricks] != [trick]:
            problems.append(f"{workload.name}: trick {trick!r} is missing from its run's record")
    return problems


def check_workload(workload: Union[str, Workload], steps: int = CHECK_STEPS, *, device: str = "cpu",
                   skip: Sequence[str] = ()) -> None:
    """Run every check at a budget of ``steps`` baseline steps; raise `WorkloadCheckError` listing the problems.

    ``workload``: a `Workload`, a registered name or ``"package.module:factory"``. ``skip`` names checks to
    leave out (``"tricks"``, say, for a quick test); each one skipped is a claim left unchecked.
    """
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) to skip {unknown}; the checks are {', '.join(CHECKS)}")
    wl = get_workload(workload) if isinstance(workload, str) else workload
    budget = tiny_budget(wl, steps)
    problems: list[str] = []
    record: Optional[RunRecord] = None
    if "deterministic" not in skip:
        problems += check_deterministic(wl, budget, device=device)
    if "budget" not in skip or "metric" not in skip:
        record = run_trial(wl, [], seed=1, budget=budget, device=device)
    if "budget" not in skip:
        problems += check_budget(wl, record)
    if "metric" not in skip:
        problems += check_metric(wl, record)
    if "splits" not in skip:
        problems += check_disjoint_splits(wl)
    if "tricks" not in skip:
        problems += check_tricks_run(wl, budget, device=device)
    if problems:
        raise WorkloadCheckError("\n".join(problems))
