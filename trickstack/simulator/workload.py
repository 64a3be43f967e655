"""A workload with a known truth: runs simulated in microseconds, for testing the statistics and planning studies.

The ``synthetic`` workload trains nothing. A study on it has a ``[synthetic]`` table (see
`trickstack.simulator.truth.SyntheticSection`) that says what every run scores::

    score = baseline + sum(effects of the tricks on) + sum(interactions of the pairs on)
            + seed_noise * z_seed + run_noise * z_run

``z_seed`` is a standard normal drawn from a generator seeded by the run's seed alone (and the
table's ``noise_seed``), so it is the same in every arm of a seed: paired noise, as a real seed's
initialisation and data order are. ``z_run`` comes from a generator seeded by (seed, sorted stack):
each run's own noise. A trick listed in ``diverge`` makes a run diverge with that probability (drawn
from a third generator of (seed, sorted stack)); a diverged run has no score. Everything is
deterministic: the same (truth, stack, seed) gives the same record values, as a real trial does.
Another ``noise_seed`` is an independent replicate of the whole study.

`simulate_run` returns a full `RunRecord`; the workload declares it as its ``simulate`` function, so
the ablation worker calls it instead of `run_trial` and the whole pipeline (spec, designs, engine,
storage, export, analysis) runs in seconds. `trickstack.ablations.plan` simulates whole studies with it
(``trickstack plan SPEC.toml``).

>>> from trickstack.simulator.truth import SyntheticSection
>>> truth = SyntheticSection(baseline=0.5, effects={"ema": 0.01}, seed_noise=0.02)
>>> a = simulate_run(truth, "synthetic", [], seed=3)
>>> b = simulate_run(truth, "synthetic", ["ema"], seed=3)
>>> round(b.metrics.eval_value - a.metrics.eval_value, 12)  # no run noise: the seed noise cancels
0.01
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any, Iterator, Mapping, Optional, Union

import numpy as np

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.core.params import Param
from trickstack.core.records import (
    BudgetRecord,
    Curve,
    CurvePoint,
    Metrics,
    RunRecord,
    TrickRecord,
    now,
    provenance,
)
from trickstack.simulator.truth import SyntheticSection
from trickstack.trial.runner import resolve_stack, split_overrides
from trickstack.tricks.registry import all_tricks
from trickstack.workloads import Workload, get_workload, register_workload

NAME = "synthetic"
DEFAULT_BUDGET = Budget("flops", 1e9)  # notional: nothing is spent, the record only says what was granted
# keep the generators apart
_SEED_STREAM, _RUN_STREAM, _DIVERGE_STREAM, _CURVE_STREAM = 0x5EED, 0x2A4, 0xD1E, 0xC0C
CURVE_POINTS = 64


class AllCapabilities(Sequence):
    """Every capability that any registered trick requires, read from the registry when asked, so a
    trick registered later (a plugin, a test) is never refused for want of one."""

    def _names(self) -> tuple[str, ...]:
        return tuple(sorted({need for info in all_tricks() for need in info.requires}))

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __repr__(self) -> str:
        return "AllCapabilities()"


def _no_training(*_: Any, **__: Any) -> Any:
    raise UserError(f"workload {NAME!r} trains nothing: its runs are simulated from the truth in a study's synthetic table "
                    "(trickstack.simulator.workload.simulate_run, used by `trickstack ablate` and `trickstack plan`)")



def _truth(truth: Any):
    return truth if isinstance(truth, SyntheticSection) else SyntheticSection.model_validate(truth)


def expected_score(truth: Any, stack: Sequence[str]) -> float:
    """The noise-free score of a stack: baseline + effects + interactions of the tricks on.

    >>> expected_score({"baseline": 1.0, "effects": {"ema": 0.5}, "interactions": {"ema:mixup": -0.25}},
    ...                ["mixup", "ema"])
    1.25
    """
    truth, on = _truth(truth), set(stack)
    return (truth.baseline + sum(g for t, g in truth.effects.items() if t in on)
            + sum(g for (a, b), g in truth.pairs().items() if a in on and b in on))


def _stack_key(stack: Sequence[str]) -> int:
    """A stable integer for the sorted stack (Python's ``hash`` of a str changes between processes)."""
    return int.from_bytes(hashlib.sha256("+".join(sorted(stack)).encode()).digest()[:16], "big")


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng([e % 2**64 for e in entropy])


def simulate_run(truth: Any, workload: Union[str, Workload] = NAME, stack: Sequence[str] = (), seed: int = 0,
                 budget: Optional[Budget] = None, overrides: Mapping[str, Any] | None = None) -> RunRecord:
    """Simulate one run of ``stack`` with ``seed`` from ``truth`` (a `SyntheticSection` or its dict) and
    return its record, complete and valid against the run-record schema.

    The stack is checked as `run_trial` checks it (unknown tricks, conflicts, parameters), and
    ``overrides`` (``"ema.half_life"``, ``"lr"``) are validated and recorded, but change nothing.

    Record conventions: a simulated run is one notional step that spends exactly its budget
    (``steps=1``); the quantity of the budget's unit equals the budget (``flops`` for a FLOP budget,
    ``samples`` for a sample budget, ``train_seconds`` for a time budget) and the other two are 0;
    ``flops_measured_steps=0`` (nothing was counted), ``eval_seconds=0`` and ``train_loss`` is null.
    A diverged run has ``eval_value`` null, ``diverged`` true and ``diverged_step=0`` (its only step,
    counted from 0 as in the runner). ``created`` and ``provenance`` are real. The run takes the truth's
``run_seconds`` of wall time (0 by default), recorded nowhere. With the truth's ``curves``, the record has a
    simulated learning curve (`_curve`, from a generator of its own: the scores are the same with or without it).
    """
    truth = _truth(truth)
    wl = get_workload(workload) if isinstance(workload, str) else workload
    if wl.simulate is None:
        raise UserError(f"workload {wl.name!r} trains for real: simulate runs of the {NAME!r} workload only")
    tricks = resolve_stack(wl, stack, overrides)
    nuisance = wl.resolve_nuisance(split_overrides(overrides)[1])
    budget = budget or DEFAULT_BUDGET
    names = sorted(t.info.name for t in tricks)
    key = _stack_key(names)
    z_seed = _rng(_SEED_STREAM, truth.noise_seed, seed).standard_normal()  # the same in every arm
    z_run = _rng(_RUN_STREAM, truth.noise_seed, seed, key).standard_normal()
    draws = _rng(_DIVERGE_STREAM, truth.noise_seed, seed, key).random(len(names))
    diverged = any(u < truth.diverge.get(t, 0.0) for t, u in zip(names, draws))
    value = None if diverged else float(expected_score(truth, names) + truth.seed_noise * z_seed + truth.run_noise * z_run)
    curve = _curve(truth, budget, value, _rng(_CURVE_STREAM, truth.noise_seed, seed, key)) if truth.curves else None
    time.sleep(truth.run_seconds)  # a rehearsal's notional training time; 0 by default
    return RunRecord(
        workload=wl.name,
        tricks=[TrickRecord(name=t.info.name, params=t.params) for t in tricks],
        nuisance=nuisance,
        seed=seed,
        budget=BudgetRecord(unit=budget.unit, value=budget.value),
        flops=budget.value if budget.unit == "flops" else 0.0,
        flops_measured_steps=0,
        steps=1,
        samples=int(budget.value) if budget.unit == "samples" else 0,
        train_seconds=budget.value if budget.unit == "seconds" else 0.0,
        eval_seconds=0.0,
        metrics=Metrics(eval_metric=wl.metric, eval_value=value, direction=wl.direction, train_loss=None),
        diverged=diverged,
        diverged_step=0 if diverged else None,
        created=now(),
        provenance=provenance(),
        curve=curve,
    )


def _curve(truth: SyntheticSection, budget: Budget, value: Optional[float], rng: np.random.Generator) -> Curve:
    """A simulated learning curve: the loss falls from 2 to ``1 - value`` as (1 - fraction)^2, with the run's noise;
    a diverged run's curve stops at half the budget, its last loss not finite. Units spent as the record's."""
    end = 1.0 - (value if value is not None else 0.0)
    points = []
    for k in range(1, CURVE_POINTS + 1):
        f = k / CURVE_POINTS
        if value is None and f > 0.5:
            break
        loss = end + (2.0 - end) * (1 - f) ** 2 + truth.run_noise * rng.standard_normal()
        points.append(CurvePoint(fraction=f, steps=int(f == 1.0),
                                 flops=f * budget.value if budget.unit == "flops" else 0.0,
                                 samples=int(f * budget.value) if budget.unit == "samples" else 0,
                                 seconds=f * budget.value if budget.unit == "seconds" else 0.0,
                                 train_loss=None if value is None and f == 0.5 else float(loss)))
    return Curve(smoothing="simulated (trickstack.simulator.workload)", points=points)


SYNTHETIC = register_workload(Workload(
    name=NAME,
    domain="simulation",
    summary=("no training: each run's score is simulated from the truth in the study's synthetic table (effects, "
             "interactions, paired noise)"),
    provides=AllCapabilities(),  # type: ignore[arg-type]
    metric="score",
    metric_key="score",
    direction="maximize",
    batch_size=1,
    eval_batch_size=1,
    reference_steps=1,
    reference_note="no reference: a simulated run is one notional step that spends exactly its budget",
    nuisance=(  # accepted (so a real study's overrides and [tune] carry over) but they change nothing
        Param("lr", 1e-2, low=1e-5, high=1.0, log=True, help="accepted and recorded; no effect on a simulated run"),
        Param("weight_decay", 0.0, low=0.0, high=1.0, help="accepted and recorded; no effect on a simulated run"),
    ),
    build_model=_no_training,
    load_splits=_no_training,
    make_optimizer=_no_training,
    make_schedule=_no_training,
    simulate=simulate_run,
))
