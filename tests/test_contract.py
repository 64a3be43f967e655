"""Every registered trick, alone, on every workload it supports, on a seconds-long budget: honours
the budget (±2%), is deterministic, and demonstrably changes what it claims to change (or declares
why it is a no-op there).

A trick is run on each workload where `trick_status` is "ok" or "no-op"; "in baseline" (the
workload's recipe already has it) and "excluded" (requirements) are refused before training, which
`test_refused_where_it_does_not_fit` checks. Settings for each trick are in ``trick_settings.py``; a
trick with no entry fails here. shakespeare-char trains on a generated text (never the real corpus).
"""

import pytest
from shakespeare_fixture import generated_corpus
from trick_settings import SETTINGS, settings_for

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.testing.contract import changed, trace_trial
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.tricks.registry import get_trick, list_tricks, trick_status
from trickstack.workloads import get_workload, list_workloads

TRICKS = list_tricks()
WORKLOADS = list_workloads(plugins=False)  # a plugin's workload is checked by its own tests
# Baseline steps of each contract run: enough for every trick's claimed change to show and for the
# budget to be met within 2% by tricks whose steps cost more (muon: 1.64 GPT steps), few enough
# that the whole table trains in a few minutes on two cores (a GPT step costs ~50 MNIST-1D steps).
CONTRACT_STEPS = {"mnist1d": 120, "digits": 120, "shakespeare-char": 30}
CASES = [(t, w) for w in WORKLOADS for t in TRICKS if trick_status(get_trick(t), get_workload(w))[0] in ("ok", "no-op")]
REFUSED = [(t, w) for w in WORKLOADS for t in TRICKS if (t, w) not in CASES]


def test_every_trick_has_a_contract_setting():
    assert sorted(set(TRICKS) - set(SETTINGS)) == [], "add these tricks to tests/trick_settings.py"
    assert sorted(set(SETTINGS) - set(TRICKS)) == [], "trick_settings.py names tricks that do not exist"


def test_every_workload_has_a_contract_budget():
    assert sorted(CONTRACT_STEPS) == WORKLOADS


def test_baseline_inclusions_name_registered_tricks():
    for w in WORKLOADS:
        unknown = sorted(set(get_workload(w).includes) - set(TRICKS))
        assert unknown == [], f"workload {w!r} says its baseline includes unknown tricks {unknown}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """shakespeare-char reads the generated text for this module; its cached splits are dropped after."""
    with generated_corpus(tmp_path_factory.mktemp("shakespeare")):
        yield


_baselines: dict[str, object] = {}


def budget_for(workload: str) -> Budget:
    return Budget("flops", CONTRACT_STEPS[workload] * baseline_step_flops(get_workload(workload)))


def baseline(workload: str):
    if workload not in _baselines:
        _baselines[workload] = trace_trial(workload, [], seed=0, budget=budget_for(workload))
    return _baselines[workload]


@pytest.mark.parametrize("name,workload", CASES, ids=[f"{t}@{w}" for t, w in CASES])
def test_trick_contract(name, workload, data):
    info = get_trick(name)
    overrides = {f"{name}.{key}": value for key, value in settings_for(name, workload).items()}
    budget = budget_for(workload)
    base = baseline(workload)
    # audit mode measures every step's FLOPs and raises if a cached step cost was wrong
    trace = trace_trial(workload, [name], seed=0, budget=budget, overrides=overrides)
    record = trace.record

    assert abs(record.flops / budget.value - 1) <= 0.02, f"{name} spent {record.flops / budget.value:.3f} of the budget"
    assert trace.steps_at_end == trace.max_duration_at_end, "the schedule must end where the budget ends"
    assert not record.diverged

    again = run_trial(workload, [name], seed=0, budget=budget, overrides=overrides)
    assert (again.metrics.eval_value, again.metrics.train_loss, again.steps) == (
        record.metrics.eval_value, record.metrics.train_loss, record.steps), f"{name} is not deterministic on {workload}"

    if workload in info.noop_on:
        assert record.metrics == base.record.metrics, f"{name} declares a no-op on {workload} but changed the result"
        return
    for aspect in info.changes:
        assert changed(aspect, trace, base), f"{name} claims to change {aspect!r}, but the probe saw no change on {workload}"


@pytest.mark.parametrize("name,workload", REFUSED, ids=[f"{t}@{w}" for t, w in REFUSED])
def test_refused_where_it_does_not_fit(name, workload):
    """Refused before training, with the reason `tricks list` shows (requirement or baseline inclusion)."""
    _, reason = trick_status(get_trick(name), get_workload(workload))
    with pytest.raises(UserError) as refused:
        run_trial(workload, [name], seed=0, budget=Budget("flops", 1.0))
    assert reason in str(refused.value)
