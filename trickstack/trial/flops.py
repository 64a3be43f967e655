"""Spending a fixed budget during a trial: FLOPs counted from the real work, the step count set to match.

FLOPs are counted by torch's `FlopCounterMode` from the real forward and backward work of each
training step, so a trick that runs two passes per step (SAM) pays twice and one that makes steps
cheaper (layer freezing, selective backprop) gets more of them. Counting every step would slow
training down, so a step is measured once per *cost signature* -- which parameters require grad,
plus the ``cost_key(state)`` of every algorithm whose step cost varies -- and reused after that.
``audit=True`` measures every step and records any step whose cost differs from the cached one;
the contract tests run every trick that way.

The step count is not fixed in advance: after each step's backward pass the callback sets
``state.max_duration`` to the number of steps the remaining budget buys at the last measured cost,
so the learning-rate schedule and every trick's own ``dur`` schedule end where the budget ends.
The cost used is the mean of the last `COST_WINDOW` steps, so costs that alternate (SAM every
other step, selective backprop's interrupts) are projected right.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Hashable, Optional

import torch
from composer.core import Callback, State, Time
from composer.loggers import Logger
from torch.utils.flop_counter import FlopCounterMode

from trickstack.core.budget import Budget

COST_WINDOW = 16  # steps averaged to project the cost of the steps still to come


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` as counted by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops()


def step_signature(state: State, params: Optional[list] = None, keyed: Optional[list] = None) -> Hashable:
    """What decides a training step's cost: trainable parameters and algorithms' cost keys.

    ``params`` and ``keyed`` (the model's parameters, the algorithms with a ``cost_key``) may be
    passed in when known, to save walking the module tree on every step.
    """
    params = list(state.model.parameters()) if params is None else params
    keyed = [a for a in state.algorithms if callable(getattr(a, "cost_key", None))] if keyed is None else keyed
    return tuple(p.requires_grad for p in params), tuple((type(a).__name__, a.cost_key(state)) for a in keyed)


class BudgetController(Callback):
    """Spends ``budget`` exactly: measures each step's cost and sets ``max_duration`` to match.

    Also ends a trial whose loss is NaN or infinite (``diverged``, ``diverged_step``).
    """

    def __init__(self, budget: Budget, first_step_estimate: float, audit: bool = False):
        self.budget = budget
        self.first_step_estimate = first_step_estimate  # cost units; only used before step 0 ends
        self.audit = audit
        self.spent = 0.0  # in budget units
        self.flops = 0  # always counted, whatever the unit
        self.steps = 0
        self.samples = 0
        self.recent_costs: deque[float] = deque(maxlen=COST_WINDOW)
        self.cache: dict[Hashable, int] = {}
        self.measured_steps = 0
        self.audit_mismatches: list[dict[str, Any]] = []
        self.diverged = False
        self.diverged_step: Optional[int] = None
        self._counter: Optional[FlopCounterMode] = None
        self._signature: Hashable = None
        self._step_start = 0.0
        self._params: list = []  # set at FIT_START
        self._keyed: list = []

    def initial_steps(self) -> int:
        return max(1, round(self.budget.value / self.first_step_estimate))

    # -- events -------------------------------------------------------------------------------
    def fit_start(self, state: State, logger: Logger) -> None:
        # Surgery happens at INIT, so from here on the parameters and algorithms are fixed objects.
        self._params = list(state.model.parameters())
        self._keyed = [a for a in state.algorithms if callable(getattr(a, "cost_key", None))]

    def before_dataloader(self, state: State, logger: Logger) -> None:
        self._step_start = time.perf_counter()
        self._signature = step_signature(state, self._params, self._keyed)
        if self.audit or self._signature not in self.cache:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()

    def after_loss(self, state: State, logger: Logger) -> None:
        loss = state.loss
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            finite = math.isfinite(loss.item())  # the common case, and the cheapest check
        else:
            losses = loss.values() if isinstance(loss, dict) else loss
            finite = all(bool(torch.isfinite(part).all()) for part in losses)
        if not self.diverged and not finite:
            self.diverged = True
            self.diverged_step = int(state.timestamp.batch)
            state.stop_training()

    def after_train_batch(self, state: State, logger: Logger) -> None:
        if self.diverged:
            return
        step = int(state.timestamp.batch)
        cost = sum(self.recent_costs) / len(self.recent_costs) if self.recent_costs else self._cost_so_far()
        remaining = self.budget.value - self.spent
        steps = step + max(1, round(remaining / cost))
        if steps != state.max_duration.value:
            state.max_duration = Time(steps, "ba")

    def batch_end(self, state: State, logger: Logger) -> None:
        flops = self._finish_flops()
        self.flops += flops
        self.samples = int(state.timestamp.sample)
        if self.budget.unit == "flops":
            cost = float(flops)
        elif self.budget.unit == "samples":
            cost = float(int(state.timestamp.sample) - int(state.previous_timestamp.sample))
        else:
            cost = time.perf_counter() - self._step_start
        self.spent += cost
        self.recent_costs.append(cost)
        self.steps += 1

    def epoch_end(self, state: State, logger: Logger) -> None:
        self._close_counter()  # the dataloader ran dry after BEFORE_DATALOADER: no step to count

    def fit_end(self, state: State, logger: Logger) -> None:
        self._close_counter()

    # -- helpers ------------------------------------------------------------------------------
    def _cost_so_far(self) -> float:
        """Cost of step 0 before it ends: forward and backward so far (FLOPs) or time so far."""
        if self.budget.unit == "flops" and self._counter is not None:
            return float(self._counter.get_total_flops())
        if self.budget.unit == "seconds":
            return time.perf_counter() - self._step_start
        return self.first_step_estimate

    def _finish_flops(self) -> int:
        if self._counter is None:
            return self.cache[self._signature]
        measured = self._counter.get_total_flops()
        self._close_counter()
        self.measured_steps += 1
        cached = self.cache.get(self._signature)
        if cached is not None and cached != measured:
            self.audit_mismatches.append({"step": self.steps, "cached": cached, "measured": measured})
        self.cache[self._signature] = measured
        return measured

    def _close_counter(self) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self._counter = None
