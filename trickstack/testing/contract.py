"""The trick contract: a trick changes what it claims to change, and nothing hides from the budget.

A plugin's tests check one of its tricks in one line, as trickstack's own contract tests do::

    from trickstack.testing.contract import check_trick
    check_trick("my_trick", workload="mnist1d", settings={"strength": 0.5})  # AssertionError if broken

or over every workload where it runs, with `contract_cases` as the parameters of a pytest test.
`check_trick` trains the baseline and the trick for a few seconds on the same seed and budget and
asserts that the trick spends the budget within ±2%, that its schedule ends where the budget ends,
that it does not diverge, that a second run gives the same result bit for bit, that it changes
nothing where it declares a no-op (``noop_on``), and that what it changes and what it declares
(``changes``) agree both ways: a change of its data, targets, loss or optimizer that the probe sees but
the trick does not declare fails (`UNDECLARED_SEEN`: other changes follow from a fixed budget), and so
does a declared change the probe never sees (a failure, not a warning: the declaration is what
studies, `tricks list` and the trick pages repeat, so one that cannot be observed is untested).
An optimizer changed outright (another class, other hyperparameters such as its betas) is seen at the
first step whatever else the trick changes; a changed update rule with the same class and settings is
seen only at a step where the trick's weights and gradients are the baseline's.

`trace_trial` runs a trial with a `Probe` that fingerprints, at every step, the inputs, targets,
loss, learning rate, module structure, gradients and weights. `changed` decides one of the
aspects in `trickstack.tricks.registry.CHANGES` by what it means:

- data: the inputs at BEFORE_FORWARD differ from the baseline's at some step;
- targets: the targets at BEFORE_LOSS differ from the baseline's at some step;
- loss: at some step the loss differs from the workload's own loss (``model.loss``) of the same
  outputs and targets: the loss function changed, not merely what was fed to it;
- model: the module structure or the requires_grad pattern differs at some step, or the weights
  differ before the first step (an initialisation changed, e.g. zero-initialised projections);
- optimizer: at some step the optimizer's class, or a hyperparameter of its param groups other than the
  learning rate (betas, eps, weight decay, momentum; a key the baseline's groups have), differs from the
  baseline's; or the weights, the gradients (after the backward pass) and the learning rate are the
  baseline's, but the weights after the optimizer step are not: the update rule changed;
- schedule: the learning rate differs at some step;
- evaluation: the weights evaluated differ from the weights of the last optimizer step, or the trick trained
  and evaluated the baseline's weights but its first eval batch gave other outputs (test-time augmentation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

import torch
from composer.core import Callback, State
from composer.loggers import Logger

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.records import RunRecord
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.tricks.registry import get_trick, list_tricks, trick_status
from trickstack.workloads import get_workload, list_workloads

# Baseline steps of a contract run: enough for every built-in trick's claimed change to show and for
# the budget to be met within 2% by tricks whose steps cost more (muon: 1.64 GPT steps), few enough
# that all of them train in a few minutes on two cores (a GPT step costs ~50 MNIST-1D steps).
CONTRACT_STEPS = {"mnist1d": 120, "digits": 120, "shakespeare-char": 30, "cifar10-tiny": 40}
DEFAULT_CONTRACT_STEPS = 120  # on a workload not listed above
BUDGET_TOLERANCE = 0.02  # a trick spends the budget within ±2%


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
    workload_loss: list[float] = field(default_factory=list)  # model.loss of the same outputs and targets
    lr: list[float] = field(default_factory=list)
    optimizer: list[list] = field(default_factory=list)  # each step's optimizers: class and group settings (`_settings`)
    structure: list[str] = field(default_factory=list)
    initial: Optional[str] = None  # weights before the first step, after the tricks' surgery at INIT
    backward: list[str] = field(default_factory=list)  # weights and gradients after the first backward pass
    stepped: list[str] = field(default_factory=list)  # weights after each optimizer step
    eval_weights: Optional[str] = None
    eval_outputs: Optional[str] = None  # the outputs of the first eval batch
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
            self.trace.optimizer.append(_settings(state.optimizers))

    def before_loss(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.targets, state):
            self.trace.targets.append(fingerprint([state.batch[1]]))
            with torch.no_grad():  # what the workload's loss makes of these outputs and targets
                self.trace.workload_loss.append(_total(state.model.loss(state.outputs, state.batch)))

    def after_loss(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.loss, state):
            self.trace.loss.append(_total(state.loss))

    def after_backward(self, state: State, logger: Logger) -> None:
        if self._first_of_step(self.trace.backward, state):
            params = list(state.model.parameters())
            self.trace.backward.append(fingerprint([*params, *(p.grad for p in params)]))

    def fit_end(self, state: State, logger: Logger) -> None:
        self.trace.max_duration_at_end = int(state.max_duration.value)
        self.trace.steps_at_end = int(state.timestamp.batch)

    def eval_before_forward(self, state: State, logger: Logger) -> None:
        if self.trace.eval_weights is None:
            self.trace.eval_weights = _weights(state)

    def eval_after_forward(self, state: State, logger: Logger) -> None:
        if self.trace.eval_outputs is None:
            self.trace.eval_outputs = fingerprint([state.outputs])


def _total(loss: Any) -> float:
    if isinstance(loss, dict):
        return float(loss["total"]) if "total" in loss else float(sum(loss.values()))
    if isinstance(loss, (tuple, list)):
        return float(sum(loss))
    return float(loss)


def trace_trial(workload: str, stack: list[str], seed: int, budget: Budget, overrides: Optional[dict[str, Any]] = None) -> Trace:
    probe = Probe()
    record = run_trial(workload, stack, seed=seed, budget=budget, overrides=overrides, callbacks=[probe], audit_flops=True)
    probe.trace.record = record
    return probe.trace


# The changes a trick is held to declaring. Not the schedule: under a fixed budget any trick that changes a step's
# cost changes how many steps the schedule spans, so the learning rate at a step differs without the trick touching
# it; nor the model or the evaluation, which built-in tricks change in passing (a test-time-augmentation wrapper).
# A trick that declares its data changes may change the targets with them (a sequence cut short).
UNDECLARED_SEEN = ("data", "targets", "loss", "optimizer")
UNSETTLED = ("params", "lr", "initial_lr")  # a group's parameters, and its learning rate (the schedule's)


def _settings(optimizers) -> list:
    """Each optimizer's class and its param groups' hyperparameters (reprs), the learning rate left out."""
    return [(f"{type(o).__module__}.{type(o).__qualname__}",
             [{k: repr(v) for k, v in g.items() if k not in UNSETTLED} for g in o.param_groups]) for o in optimizers]


def _other_optimizer(trick: list, base: list) -> bool:
    """Another optimizer class, another number of groups, or a setting of the baseline's groups changed (a key
    that only the trick's groups have, e.g. one its scheduler adds, is not a change of the optimizer)."""
    for mine, theirs in zip(trick, base):
        if len(mine) != len(theirs):
            return True
        for (kind, groups), (base_kind, base_groups) in zip(mine, theirs):
            if kind != base_kind or len(groups) != len(base_groups):
                return True
            if any(g.get(k) != v for g, bg in zip(groups, base_groups) for k, v in bg.items()):
                return True
    return False


def _first_difference(a: list, b: list) -> Optional[int]:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None


def changed(aspect: str, trick: Trace, base: Trace) -> bool:
    """Whether ``trick`` shows the change ``aspect`` relative to ``base`` (see the module doc)."""
    if aspect == "data":
        return _first_difference(trick.data, base.data) is not None
    if aspect == "targets":
        return _first_difference(trick.targets, base.targets) is not None
    if aspect == "loss":
        return any(mine != workloads for mine, workloads in zip(trick.loss, trick.workload_loss))
    if aspect == "model":
        return _first_difference(trick.structure, base.structure) is not None or trick.initial != base.initial
    if aspect == "optimizer":
        if _other_optimizer(trick.optimizer, base.optimizer):
            return True
        m = min(len(trick.backward), len(base.backward), len(trick.stepped), len(base.stepped), len(trick.lr), len(base.lr))
        return any(trick.backward[i] == base.backward[i] and trick.lr[i] == base.lr[i] and trick.stepped[i] != base.stepped[i]
                   for i in range(m))  # at the same learning rate: another one is the schedule's change
    if aspect == "schedule":
        return _first_difference(trick.lr, base.lr) is not None
    if aspect == "evaluation":  # other weights evaluated, or the same trained weights evaluated differently
        other_weights = trick.eval_weights is not None and trick.stepped and trick.eval_weights != trick.stepped[-1]
        same_training = trick.stepped == base.stepped and trick.eval_weights == base.eval_weights
        return bool(other_weights) or (same_training and trick.eval_outputs != base.eval_outputs)
    raise ValueError(f"unknown aspect {aspect!r}")


def contract_budget(workload: str, steps: Optional[int] = None) -> Budget:
    """The FLOPs of ``steps`` baseline steps (default: `CONTRACT_STEPS` of the workload)."""
    steps = steps or CONTRACT_STEPS.get(workload, DEFAULT_CONTRACT_STEPS)
    return Budget("flops", steps * baseline_step_flops(get_workload(workload)))


_BASELINES: dict[tuple[str, float, int], Trace] = {}


def baseline_trace(workload: str, budget: Budget, seed: int = 0) -> Trace:
    """The baseline's trace on ``workload`` (trained once per process and budget)."""
    key = (workload, budget.value, seed)
    if key not in _BASELINES:
        _BASELINES[key] = trace_trial(workload, [], seed=seed, budget=budget)
    return _BASELINES[key]


def check_trick(name: str, workload: str = "mnist1d", settings: Mapping[str, Any] | None = None,
                steps: Optional[int] = None, seed: int = 0) -> Trace:
    """Check trick ``name``'s contract on ``workload``; raise an AssertionError saying what it broke.

    ``settings`` sets the trick's own parameters (``{"half_life": "10ba"}``), chosen so that its
    claimed changes show within ``steps`` baseline steps. Returns the trick's `Trace`.
    """
    info = get_trick(name)
    status, reason = trick_status(info, get_workload(workload))
    assert status in ("ok", "no-op"), f"{name} cannot run on {workload}: {reason}"
    overrides = {f"{name}.{key}": value for key, value in (settings or {}).items()}
    budget = contract_budget(workload, steps)
    base = baseline_trace(workload, budget, seed)
    # audit mode measures every step's FLOPs and raises if a cached step cost was wrong
    trace = trace_trial(workload, [name], seed=seed, budget=budget, overrides=overrides)
    record = trace.record

    spent = record.flops / budget.value
    assert abs(spent - 1) <= BUDGET_TOLERANCE, (f"{name} spent {spent:.3f} of the budget on {workload} "
                                                f"(allowed: 1 ± {BUDGET_TOLERANCE})")
    assert trace.steps_at_end == trace.max_duration_at_end, (
        f"{name} on {workload}: the schedule must end where the budget ends (trained {trace.steps_at_end} steps, "
        f"max_duration {trace.max_duration_at_end}); do not set max_duration in a trick")
    assert not record.diverged, f"{name} diverged on {workload} at step {record.diverged_step}"

    again = run_trial(workload, [name], seed=seed, budget=budget, overrides=overrides)
    assert (again.metrics.eval_value, again.metrics.train_loss, again.steps) == (
        record.metrics.eval_value, record.metrics.train_loss, record.steps), (
        f"{name} is not deterministic on {workload}: seed its own randomness from the run's seed (trick_generator)")

    if workload in info.noop_on:
        assert record.metrics == base.record.metrics, f"{name} declares a no-op on {workload} but changed the result"
        return trace
    undeclared = [aspect for aspect in UNDECLARED_SEEN if aspect not in info.changes and changed(aspect, trace, base)
                  and not (aspect == "targets" and "data" in info.changes)]
    assert not undeclared, (
        f"{name} changes {', '.join(map(repr, undeclared))} on {workload}, which it does not declare (it declares "
        f"{', '.join(info.changes) or 'nothing'}); add it to changes (what each means: trickstack.testing.contract)")
    for aspect in info.changes:  # a claim never seen is untested metadata that studies and pages would repeat
        assert changed(aspect, trace, base), (
            f"{name} claims to change {aspect!r}, but the probe saw no such change on {workload} "
            f"(what each claim means: trickstack.testing.contract)")
    return trace


def cpu_workloads() -> list[str]:
    """The built-in workloads a CPU test suite trains: each one sized for a GPU is left out for its ``cpu_variant``."""
    return [w for w in list_workloads(plugins=False) if get_workload(w).cpu_variant is None]


def plugin_workloads() -> list[str]:
    """The workloads installed plugins registered (entry points of ``trickstack.workloads``)."""
    return sorted(set(list_workloads()) - set(list_workloads(plugins=False)))


def data_missing(workload: str) -> Optional[str]:
    """Why ``workload``'s data cannot be had here (a `UserError` loading its splits: absent and not downloadable,
    say offline), or None once they are loaded (a download included, as the check would do)."""
    try:
        get_workload(workload).splits
    except UserError as error:
        return str(error)
    return None


def contract_cases(tricks: Iterable[str] | None = None, workloads: Iterable[str] | None = None,
                   check_data: bool = True) -> list:
    """pytest parameters ``(name, workload)``, one per trick and workload where it runs ("ok" or "no-op");
    ``workloads`` defaults to the built-in ones that train on a CPU (`cpu_workloads`) and those of installed
    plugins (`plugin_workloads`). With ``check_data``, each workload's data is loaded first, and the cases of one
    whose data is absent (and cannot be downloaded) are marked to skip, saying why; a suite that provides its
    own data (a fixture) passes ``check_data=False``::

        @pytest.mark.parametrize("name,workload", contract_cases(["my_trick"]))
        def test_contract(name, workload):
            check_trick(name, workload, settings=MY_SETTINGS[name])
    """
    import pytest  # deferred: only tests call this, and trickstack does not depend on pytest

    names = list_tricks() if tricks is None else list(tricks)
    chosen = [*cpu_workloads(), *plugin_workloads()] if workloads is None else list(workloads)
    cases = [(t, w) for w in chosen for t in names if trick_status(get_trick(t), get_workload(w))[0] in ("ok", "no-op")]
    missing = {w: data_missing(w) for w in {w for _, w in cases}} if check_data else {}
    return [pytest.param(t, w, id=f"{t}@{w}", marks=[pytest.mark.skip(reason=f"{w}: data absent: {missing[w]}")]
                         if missing.get(w) else []) for t, w in cases]
