"""The trick contract: a trick changes what it claims to change, and nothing hides from the budget.

`trace_trial` runs a trial with a `Probe` that fingerprints, at every step, the inputs, targets,
loss, learning rate, module structure and weights. `changed` compares a trick's trace with the
baseline's (same seed, same budget) for one of the aspects in `trickstack.tricks.registry.CHANGES`:

- data: the inputs at BEFORE_FORWARD differ at some step;
- targets: the targets at BEFORE_LOSS differ at some step;
- loss: at some step the loss differs although inputs and targets are the same;
- model: the module structure or the requires_grad pattern differs at some step, or the weights
  differ before the first step (an initialisation changed, e.g. zero-initialised projections);
- optimizer: at some step inputs, targets and loss are the same but the weights after the
  optimizer step differ;
- schedule: the learning rate differs at some step;
- evaluation: the weights evaluated differ from the weights of the last optimizer step.

Third-party tricks can run the same checks in their own tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from composer.core import Callback, State
from composer.loggers import Logger

from trickstack.core.budget import Budget
from trickstack.core.records import RunRecord
from trickstack.trial.runner import run_trial


def fingerprint(tensors) -> str:
    digest = hashlib.sha1()
    for t in tensors:
        if isinstance(t, torch.Tensor):
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        else:
            digest.update(repr(t).encode())
    return digest.hexdigest()


def _weights(state: State) -> str:
    return fingerprint(p for p in state.model.parameters())


@dataclass
class Trace:
    data: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)
    initial: Optional[str] = None  # weights before the first step, after the tricks' surgery at INIT
    stepped: list[str] = field(default_factory=list)  # weights after each optimizer step
    eval_weights: Optional[str] = None
    max_duration_at_end: Optional[int] = None
    steps_at_end: Optional[int] = None
    record: Optional[RunRecord] = None


class Probe(Callback):
    """Records one fingerprint of each aspect per training step (the first pass of a step only)."""

    def __init__(self) -> None:
        self.trace = Trace()
        self._step = -1

    def _first_of_step(self, series: list, state: State) -> bool:
        return len(series) == int(state.timestamp.batch)

    def fit_start(self, state: State, logger: Logger) -> None:
        for optimizer in state.optimizers:
            optimizer.register_step_post_hook(lambda *args, **kwargs: self._after_step(state))

    def _after_step(self, state: State) -> None:
        if self._first_of_step(self.trace.stepped, state):
            self.trace.stepped.append(_weights(state))

    def batch_start(self, state: State, logger: Logger) -> None:
        if self.trace.initial is None:
            self.trace.initial = _weights(state)
        structure = [(n, tuple(p.shape), p.requires_grad) for n, p in state.model.named_parameters()]
        modules = [type(m).__name__ for m in state.model.modules()]
        self.trace.structure.append(fingerprint([structure, modules]))

    def before_forward(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.data, state):
            self.trace.data.append(fingerprint([state.batch[0]]))
            self.trace.lr.append(state.optimizers[0].param_groups[0]["lr"])

    def before_loss(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.targets, state):
            self.trace.targets.append(fingerprint([state.batch[1]]))

    def after_loss(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.loss, state):
            self.trace.loss.append(float(state.loss))

    def fit_end(self, state: State, logger: Logger) -> None:
        self.trace.max_duration_at_end = int(state.max_duration.value)
        self.trace.steps_at_end = int(state.timestamp.batch)

    def eval_before_forward(self, state: State, logger: Logger) -> None:
        if self.trace.eval_weights is None:
            self.trace.eval_weights = _weights(state)


def trace_trial(workload: str, stack: list[str], seed: int, budget: Budget, overrides: Optional[dict[str, Any]] = None) -> Trace:
    probe = Probe()
    record = run_trial(workload, stack, seed=seed, budget=budget, overrides=overrides, callbacks=[probe], audit_flops=True)
    probe.trace.record = record
    return probe.trace


def _first_difference(a: list, b: list) -> Optional[int]:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None


def changed(aspect: str, trick: Trace, base: Trace) -> bool:
    """Whether ``trick`` shows the change ``aspect`` relative to ``base`` (see the module doc)."""
    n = min(len(trick.loss), len(base.loss))
    same_inputs = [trick.data[i] == base.data[i] and trick.targets[i] == base.targets[i] for i in range(n)]
    if aspect == "data":
        return _first_difference(trick.data, base.data) is not None
    if aspect == "targets":
        return _first_difference(trick.targets, base.targets) is not None
    if aspect == "loss":
        return any(same_inputs[i] and trick.loss[i] != base.loss[i] for i in range(n))
    if aspect == "model":
        return _first_difference(trick.structure, base.structure) is not None or trick.initial != base.initial
    if aspect == "optimizer":
        m = min(n, len(trick.stepped), len(base.stepped))
        same_start = [i == 0 or trick.stepped[i - 1] == base.stepped[i - 1] for i in range(m)]
        return any(
            same_start[i] and same_inputs[i] and trick.loss[i] == base.loss[i] and trick.stepped[i] != base.stepped[i]
            for i in range(m)
        )
    if aspect == "schedule":
        return _first_difference(trick.lr, base.lr) is not None
    if aspect == "evaluation":
        return trick.eval_weights is not None and trick.stepped and trick.eval_weights != trick.stepped[-1]
    raise ValueError(f"unknown aspect {aspect!r}")
