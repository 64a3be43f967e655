"""Spending a fixed budget during a trial: FLOPs counted from the real work, the step count set to match.

FLOPs are counted by torch's `FlopCounterMode` from the real forward and backward work of each
training step, so a trick that runs two passes per step (SAM) pays twice and one that makes steps
cheaper (layer freezing, selective backprop) gets more of them. Counting every step would slow
training down, so a step is measured once per *cost signature* -- which parameters require grad,
plus the ``cost_key(state)`` of every algorithm whose step cost varies -- and reused after that.

Nothing a trick spends in training escapes the count:

- work outside the steps (at INIT and AFTER_LOAD, in the trainer's construction; at FIT_START, at
  EPOCH_END, between steps, after the last one) is counted by a counter that is open whenever no
  step is, from just before the `Trainer` is built to FIT_END, and charged to the budget like a
  step's (``flops_outside_steps``); for ordinary tricks it is zero;
- a step whose cost changed although its signature did not (a trick doing extra passes without a
  ``cost_key``) is caught in two ways, and the runner refuses such a run (``audit_mismatches``):
  every step counts the calls of the model's forward (a hook on the root module: a counter
  increment per forward, next to a step's thousands of dispatched ops) and compares the count with
  that of its signature's measured step, which catches extra passes through the model on any step,
  however rare; and one random step in every `AUDIT_WINDOW` is measured again with the FLOP counter
  (which slows a step about threefold) and compared with the cached cost, which catches work that
  bypasses the model's forward. ``audit=True`` measures every step instead; the contract tests run
  every trick that way. The sampled audit alone missed a trick doing one extra pass every 7th step
  in 3 of 4 runs of 250 steps (1 - (1 - 1/700)^250 = 30% chance of catching it); the forward count
  catches it at its first such step.

What torch counts differs between torches in one place trickstack's CPU workloads reach: torch 2.7.0's
`FlopCounterMode` has no formula for the CPU kernel of flash attention
(``aten._scaled_dot_product_flash_attention_for_cpu`` and its backward, which
``F.scaled_dot_product_attention`` runs on the CPU) and counts it as nothing; later torches count its matrix
products. Every counter here leaves it out where torch has a formula for it (`UNCOUNTED_OPS`; nothing changes
under torch 2.7.0), so a budget in FLOPs buys the same steps under any torch as when the shipped evidence was
recorded under 2.7.0. The price: attention's own products on the CPU (QK^T and the product with V, about a
tenth of a baseline shakespeare-char step) are not charged, as they were not then. (Formulas torch 2.15.0 adds
for other operators -- ``_slow_conv2d_forward``, cuDNN's convolution, flex attention -- are not reached here:
a convolution is counted as ``aten.convolution``, the same under both.)

A budget in seconds is spent the same way, with time in place of FLOPs: each step's wall time from
fetching its batch to BATCH_END, plus the wall time between steps while training runs (FIT_START, epoch
ends, a trick's work between steps), but not evaluation, imports or building the model and the trainer
(`SECONDS_INCLUDE`): a trick's work at INIT is charged in FLOPs, not in seconds, as the trainer's own
construction cannot be told apart from it by a clock. The clock is the device's (`trickstack.trial.clocks`):
on CUDA, whose kernels run after Python has queued them, each reading waits for a CUDA event.

The step count is not fixed in advance: after each step's backward pass the callback sets
``state.max_duration`` to the number of steps the remaining budget buys at the last measured cost,
so the learning-rate schedule and every trick's own ``dur`` schedule end where the budget ends.
The cost used is the mean of the last `COST_WINDOW` steps, so costs that alternate (SAM every
other step, selective backprop's interrupts) are projected right.
"""

from __future__ import annotations

import math
import operator
import random
from collections import deque
from contextlib import contextmanager
from typing import Any, Hashable, Iterator, Optional

import torch
from composer.core import Callback, State, Time
from composer.loggers import Logger
from torch.utils.flop_counter import FlopCounterMode

from trickstack.core.budget import Budget
from trickstack.trial.clocks import Clock, WallClock

COST_WINDOW = 16  # steps averaged to project the cost of the steps still to come
# One step in every AUDIT_WINDOW (chosen at random within each window) is measured again although
# its cost is cached: a measured step takes ~3 plain steps of time, so this costs ~2% of a run.
AUDIT_WINDOW = 100
_REQUIRES_GRAD = operator.attrgetter("requires_grad")
SECONDS_INCLUDE = ("every training step's wall time, from fetching its batch to the end of the optimizer step and of "
                   "every trick's work in it, including trickstack's FLOP count of a step whose cost signature is new "
                   f"and of one audited step in {AUDIT_WINDOW}; and the wall time between steps while training runs "
                   "(the start of training, epoch ends, a trick's work between steps). Not imports, building the model, "
                   "the data or the trainer (a trick's work at INIT is charged in FLOPs only), nor evaluation. On a GPU "
                   "the clock is the device's own, read at each of these boundaries after the work queued before it has "
                   "run (CUDA events), so a step is charged the time it ran, not the time it took to queue")


# Operators torch 2.7.0's FlopCounterMode counts as nothing and later torches count (module doc): left out of
# every counter here, so FLOP budgets, step counts and records are the same under any torch.
UNCOUNTED_OPS = ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward")


def as_on_torch_2_7(counter: FlopCounterMode) -> FlopCounterMode:
    """``counter`` without formulas for `UNCOUNTED_OPS`, as torch 2.7.0 has none (there it is unchanged)."""
    for name in UNCOUNTED_OPS:
        counter.flop_registry.pop(getattr(torch.ops.aten, name), None)
    return counter


def flop_counter() -> FlopCounterMode:
    """torch's `FlopCounterMode` (with per-module counts), counting what it counts under torch 2.7.0."""
    return as_on_torch_2_7(FlopCounterMode(display=False))


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` as counted by `flop_counter`."""
    with flop_counter() as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops()


class _GlobalOnly:
    """In place of `FlopCounterMode`'s ModuleTracker in a counter whose total alone is read: the tracker puts
    every FLOP under "Global" (and under the modules running, which the total does not read); this puts it under
    "Global" only, and registers no module hooks on entering (half the cost of opening a counter every step)."""

    parents = frozenset({"Global"})

    def __enter__(self) -> "_GlobalOnly":
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def total_flop_counter() -> FlopCounterMode:
    """A `flop_counter` for ``get_total_flops()`` only: the same total, without per-module counts."""
    counter = flop_counter()
    counter.mod_tracker = _GlobalOnly()  # type: ignore[assignment]
    return counter


def step_signature(state: State, params: Optional[list] = None, keyed: Optional[list] = None) -> Hashable:
    """What decides a training step's cost: trainable parameters and algorithms' cost keys.

    ``params`` and ``keyed`` (the model's parameters, the algorithms with a ``cost_key``) may be
    passed in when known, to save walking the module tree on every step.
    """
    params = list(state.model.parameters()) if params is None else params
    keyed = [a for a in state.algorithms if callable(getattr(a, "cost_key", None))] if keyed is None else keyed
    # the flags through an attrgetter, mapped: ~0.06 us a tensor, against the C descriptor's method-wrapper ~0.075 us
    # and a generator's ~0.4 us (at 1,000 tensors this read is most of what a step costs more than at 10)
    return tuple(map(_REQUIRES_GRAD, params)), tuple((type(a).__name__, a.cost_key(state)) for a in keyed) if keyed else ()


class BudgetController(Callback):
    """Spends ``budget`` exactly: measures each step's cost and sets ``max_duration`` to match.

    Also ends a trial whose loss is NaN or infinite (``diverged``, ``diverged_step``).
    """

    def __init__(self, budget: Budget, first_step_estimate: float, audit: bool = False, seed: int = 0,
                 clock: Optional[Clock] = None):
        self.budget = budget
        # Read only for a budget in seconds (on CUDA a reading waits for the GPU: `trickstack.trial.clocks`).
        self.clock = clock or WallClock()
        self._timed = budget.unit == "seconds"
        self.first_step_estimate = first_step_estimate  # cost units; only used before step 0 ends
        self.audit = audit
        self.spent = 0.0  # in budget units
        self.flops = 0  # always counted, whatever the unit
        self.flops_outside_steps = 0  # part of `flops` spent between steps (epoch ends, ...)
        self.audited_steps = 0  # steps measured again although their cost was cached
        self.steps = 0
        self.samples = 0
        self.recent_costs: deque[float] = deque(maxlen=COST_WINDOW)
        self.cache: dict[Hashable, int] = {}
        self.forward_cache: dict[Hashable, int] = {}  # the model's forward calls in the measured step of each signature
        self.forward_calls = 0  # in the current step
        self._forward_hook: Any = None
        self.measured_steps = 0
        self.audit_mismatches: list[dict[str, Any]] = []
        self.diverged = False
        self.diverged_step: Optional[int] = None
        self.step_loss: Optional[float] = None  # the current step's loss, read once here (the curve reuses it)
        self._counter: Optional[FlopCounterMode] = None
        self._signature: Hashable = None
        self._step_start = 0.0
        self._params: list = []  # set at FIT_START
        self._keyed: list = []
        self._gap = total_flop_counter()  # open whenever no step is: one object, re-entered
        self._gap_open = False
        self._gap_start = 0.0
        self._audit_rng = random.Random(seed)  # its own stream: training's random state is untouched
        self._next_audit = self._audit_rng.randrange(AUDIT_WINDOW)  # index of the step to audit next

    def initial_steps(self) -> int:
        return max(1, round(self.budget.value / self.first_step_estimate))

    # -- events -------------------------------------------------------------------------------
    def fit_start(self, state: State, logger: Logger) -> None:
        # Surgery happens at INIT, so from here on the parameters and algorithms are fixed objects.
        self._params = list(state.model.parameters())
        self._keyed = [a for a in state.algorithms if callable(getattr(a, "cost_key", None))]
        if self._forward_hook is None:
            self._forward_hook = state.model.register_forward_pre_hook(self._count_forward)
        self.open_gap()  # the runner opened it before `fit` already; this is for other callers

    def before_dataloader(self, state: State, logger: Logger) -> None:
        length = state.dataloader_len
        if length is not None and int(state.timestamp.batch_in_epoch) >= int(length):
            return  # the loader is dry: the epoch ends here, and its end is counted as a gap
        self._close_gap()
        self._step_start = self._now()
        self.forward_calls = 0
        self._signature = step_signature(state, self._params, self._keyed)
        cached = self._signature in self.cache
        if self.steps == self._next_audit:  # this window's sampled step
            self._next_audit = (self.steps // AUDIT_WINDOW + 1) * AUDIT_WINDOW + self._audit_rng.randrange(AUDIT_WINDOW)
            audit = cached
        else:
            audit = cached and self.audit
        if audit or not cached:
            self.audited_steps += audit
            self._counter = total_flop_counter()
            self._counter.__enter__()

    def after_loss(self, state: State, logger: Logger) -> None:
        loss = state.loss
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self.step_loss = loss.item()  # the common case, and the cheapest check
            finite = math.isfinite(self.step_loss)
        else:
            losses = list(loss.values()) if isinstance(loss, dict) else [loss] if isinstance(loss, torch.Tensor) else list(loss)
            finite = all(bool(torch.isfinite(part).all()) for part in losses)
            # the total as Composer trains on it: the "total" entry, else the sum of the parts' means
            total = loss["total"] if isinstance(loss, dict) and "total" in loss else sum(p.detach().mean() for p in losses)
            self.step_loss = float(total.detach().mean()) if finite else math.nan
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
        counted = self._counter is not None  # this step ran under torch's FLOP counter: slower than the others
        flops = self._finish_flops()
        self.flops += flops
        self.samples = int(state.timestamp.sample)
        if self.budget.unit == "flops":
            cost = float(flops)
        elif self.budget.unit == "samples":
            cost = float(int(state.timestamp.sample) - int(state.previous_timestamp.sample))
        else:
            cost = self._now() - self._step_start
        self.spent += cost
        if not (counted and self.budget.unit == "seconds"):  # a counted step's time would overstate the steps to come
            self.recent_costs.append(cost)
        self.steps += 1
        self.open_gap()

    def epoch_end(self, state: State, logger: Logger) -> None:
        self._step_to_gap()

    def fit_end(self, state: State, logger: Logger) -> None:
        self._step_to_gap()
        self._close_gap()
        self._remove_hook()

    def close(self, state: State, logger: Logger) -> None:
        self.release()

    def release(self) -> None:
        """Close every counter (training or the trainer's construction raised): none is left on torch's mode stack."""
        self._close_counter()
        self._close_gap()
        self._remove_hook()

    # -- helpers ------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now() if self._timed else 0.0  # a budget in FLOPs or samples reads no clock

    def _cost_so_far(self) -> float:
        """Cost of step 0 before it ends: forward and backward so far (FLOPs) or time so far."""
        if self.budget.unit == "flops" and self._counter is not None:
            return float(self._counter.get_total_flops())
        if self.budget.unit == "seconds":
            return self._now() - self._step_start
        return self.first_step_estimate

    def _count_forward(self, module: Any, args: Any) -> None:
        self.forward_calls += 1

    def _remove_hook(self) -> None:
        if self._forward_hook is not None:
            self._forward_hook.remove()
            self._forward_hook = None

    def _finish_flops(self) -> int:
        forward_calls_cached = self.forward_cache.get(self._signature)
        if self._counter is None:
            cached = self.cache[self._signature]
            if self.forward_calls != forward_calls_cached:
                self.audit_mismatches.append({"step": self.steps, "cached": cached, "measured": None,
                                              "forward_calls": self.forward_calls,
                                              "forward_calls_cached": forward_calls_cached})
            return cached
        measured = self._counter.get_total_flops()
        self._close_counter()
        self.measured_steps += 1
        cached = self.cache.get(self._signature)
        if cached is not None and cached != measured:
            self.audit_mismatches.append({"step": self.steps, "cached": cached, "measured": measured,
                                          "forward_calls": self.forward_calls, "forward_calls_cached": forward_calls_cached})
        self.cache[self._signature] = measured
        self.forward_cache[self._signature] = self.forward_calls
        return measured

    def _close_counter(self) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self._counter = None

    def _step_to_gap(self) -> None:
        """A step counter still open when an epoch or the fit ends (a loader of unknown length ran
        dry after BEFORE_DATALOADER): no step happened, so what it counted was spent between steps."""
        if self._counter is not None:
            self._spend_outside(self._counter.get_total_flops())
            self._close_counter()
            self.open_gap()

    def open_gap(self) -> None:
        """Start counting work outside the steps (idempotent); the runner calls it before building the `Trainer`,
        so that the tricks' work at INIT is counted."""
        if not self._gap_open:
            self._gap.__enter__()  # clears its count
            self._gap_open = True
            self._gap_start = self._now()

    @contextmanager
    def outside_budget(self) -> Iterator[None]:
        """Work between steps that is not training (a learning curve's evaluation): neither its FLOPs nor, for a
        budget in seconds, its time is charged. Called where no step is open."""
        was_open = self._gap_open
        self._close_gap()  # what the gap counted so far is charged as before
        try:
            yield
        finally:
            if was_open:
                self.open_gap()  # counts again from zero, its clock restarted

    def restart_clock(self) -> None:
        """The trainer is built: the time spent so far is not training time (`SECONDS_INCLUDE`); its FLOPs are kept."""
        self._gap_start = self._now()

    def _close_gap(self) -> None:
        if self._gap_open:
            self._gap.__exit__(None, None, None)
            self._gap_open = False
            if self.budget.unit == "seconds":  # time between steps is training time too (SECONDS_INCLUDE)
                self.spent += self._now() - self._gap_start
            self._spend_outside(self._gap.get_total_flops())

    def _spend_outside(self, flops: int) -> None:
        if flops:
            self.flops += flops
            self.flops_outside_steps += flops
            if self.budget.unit == "flops":
                self.spent += flops
