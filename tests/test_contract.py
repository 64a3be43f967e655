"""Every registered trick, alone, on a seconds-long budget: honours the budget (±2%), is
deterministic, and demonstrably changes what it claims to change (or declares why it is a no-op).

Settings for each trick are in ``trick_settings.py``; a trick with no entry fails here.
"""

import pytest

from trick_settings import SETTINGS
from trickstack.registry import get_trick, list_tricks
from trickstack.runner import run_trial
from trickstack.testing.contract import changed, trace_trial

TRICKS = list_tricks()


def test_every_trick_has_a_contract_setting():
    assert sorted(set(TRICKS) - set(SETTINGS)) == [], "add these tricks to tests/trick_settings.py"
    assert sorted(set(SETTINGS) - set(TRICKS)) == [], "trick_settings.py names tricks that do not exist"


@pytest.fixture(scope="module")
def baseline(small_budget):
    return trace_trial("mnist1d", [], seed=0, budget=small_budget)


@pytest.mark.parametrize("name", TRICKS)
def test_trick_contract(name, baseline, small_budget):
    if name not in SETTINGS:
        pytest.fail(f"{name} has no contract setting in tests/trick_settings.py")
    info = get_trick(name)
    overrides = {f"{name}.{key}": value for key, value in SETTINGS[name].items()}
    # audit mode measures every step's FLOPs and raises if a cached step cost was wrong
    trace = trace_trial("mnist1d", [name], seed=0, budget=small_budget, overrides=overrides)
    record = trace.record

    assert abs(record.flops / small_budget.value - 1) <= 0.02, f"{name} spent {record.flops / small_budget.value:.3f} of the budget"
    assert trace.steps_at_end == trace.max_duration_at_end, "the schedule must end where the budget ends"
    assert not record.diverged

    again = run_trial("mnist1d", [name], seed=0, budget=small_budget, overrides=overrides)
    assert (again.metrics.eval_value, again.metrics.train_loss, again.steps) == (
        record.metrics.eval_value, record.metrics.train_loss, record.steps), f"{name} is not deterministic"

    if "mnist1d" in info.noop_on:
        assert record.metrics == baseline.record.metrics, f"{name} declares a no-op but changed the result"
        return
    for aspect in info.changes:
        assert changed(aspect, trace, baseline), f"{name} claims to change {aspect!r}, but the probe saw no change"
