"""Runner and budget accounting on MNIST-1D with budgets of about half a second."""

import math

import pytest
import torch
from composer.core import Callback

from trickstack.core.budget import Budget
from trickstack.core.errors import UserError
from trickstack.testing.contract import trace_trial
from trickstack.trial.runner import reference_budget, run_trial


def test_same_seed_gives_a_bit_identical_metric(small_budget):
    a = run_trial("mnist1d", ["label_smoothing"], seed=3, budget=small_budget)
    b = run_trial("mnist1d", ["label_smoothing"], seed=3, budget=small_budget)
    assert a.metrics.eval_value == b.metrics.eval_value  # exact, not approximate
    assert a.metrics.train_loss == b.metrics.train_loss
    c = run_trial("mnist1d", ["label_smoothing"], seed=4, budget=small_budget)
    assert c.metrics.train_loss != a.metrics.train_loss


def test_seed_fixes_initialisation_and_data_order_across_arms(small_budget):
    base = trace_trial("mnist1d", [], seed=1, budget=small_budget)
    smoothed = trace_trial("mnist1d", ["label_smoothing"], seed=1, budget=small_budget)
    other = trace_trial("mnist1d", [], seed=2, budget=small_budget)
    assert smoothed.data == base.data  # same batches in both arms
    assert smoothed.stepped[0] != base.stepped[0] and other.data[0] != base.data[0]


@pytest.mark.parametrize("unit,value", [("flops", None), ("samples", 9_000)])
def test_budget_is_spent_within_two_percent_and_the_schedule_ends_there(unit, value, small_budget):
    budget = small_budget if value is None else Budget(unit, value)
    trace = trace_trial("mnist1d", [], seed=0, budget=budget)
    record = trace.record
    spent = record.flops if unit == "flops" else record.samples
    assert abs(spent / budget.value - 1) <= 0.02
    assert trace.steps_at_end == trace.max_duration_at_end == record.steps  # max_duration = budget's end
    assert record.flops_measured_steps == record.steps  # audit mode measured every step


def test_seconds_budget_trains_until_the_time_is_spent():
    record = run_trial("mnist1d", [], seed=0, budget=Budget("seconds", 1.0))
    assert record.budget.unit == "seconds" and record.steps >= 2
    # The steps' wall time adds up to the budget (within the last step); the machine's load sets how many fit.
    assert record.train_seconds >= 0.9
    assert record.flops > 0  # FLOPs are counted whatever the unit


def test_flops_are_counted_from_the_real_passes(step_flops, small_budget):
    record = run_trial("mnist1d", [], seed=0, budget=small_budget)
    assert record.flops == record.steps * step_flops  # every step of the baseline costs the same
    # measured once and reused for the same signature, but for the sampled audit's steps
    assert record.flops_measured_steps == 1 + record.flops_check.audited_steps


def test_reference_budget_is_reference_steps_of_the_baseline(workload, step_flops):
    assert reference_budget(workload) == Budget("flops", workload.reference_steps * step_flops)


class PoisonWeights(Callback):
    """Sets a weight to NaN at the start of one step, so that step's loss is NaN."""

    def __init__(self, step: int):
        self.step = step

    def batch_start(self, state, logger):
        if int(state.timestamp.batch) == self.step:
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))


def test_divergence_is_recorded_not_raised(small_budget):
    record = run_trial("mnist1d", [], seed=0, budget=small_budget, callbacks=[PoisonWeights(7)])
    assert record.diverged and record.diverged_step == 7
    assert record.steps == 8 and record.metrics.eval_value is None
    assert math.isnan(record.metrics.train_loss)


@pytest.mark.parametrize("kwargs,message", [
    ({"stack": ["nope"]}, "unknown trick 'nope'"),
    ({"budget": Budget("flops", 1e3)}, "smaller than one mnist1d step"),
    ({"budget": Budget("samples", 10)}, "smaller than one mnist1d step"),
    ({"overrides": {"lr": 5.0}}, r"mnist1d.lr = 5.0 is outside its allowed range"),
    ({"overrides": {"momentum": 0.9}}, "no nuisance hyperparameter 'momentum'"),
    ({"overrides": {"ema.half_life": "5ba"}}, "trick 'ema', which is not in the stack"),
])
def test_bad_input_is_a_user_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        run_trial("mnist1d", **{"seed": 0, **kwargs})


def test_bad_budget_values():
    with pytest.raises(UserError, match="positive, finite number"):
        Budget("flops", -1)
    with pytest.raises(UserError, match="unit must be one of"):
        Budget("tokens", 5)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="cannot read 'lots'"):
        Budget.parse("lots")


def test_progress_bar_follows_the_budget(small_budget):
    import io

    from rich.console import Console

    from trickstack.trial.progress import BudgetProgress

    screen = io.StringIO()
    bar = BudgetProgress("mnist1d baseline", console=Console(file=screen, force_terminal=True, width=100))
    run_trial("mnist1d", [], seed=0, budget=small_budget, callbacks=[bar])
    assert bar.completed == pytest.approx(1.0, abs=0.02)
    assert "mnist1d baseline" in screen.getvalue()


def test_the_order_tricks_are_listed_in_does_not_matter(small_budget):
    a = run_trial("mnist1d", ["mixup", "label_smoothing"], seed=0, budget=small_budget)
    b = run_trial("mnist1d", ["label_smoothing", "mixup"], seed=0, budget=small_budget)
    assert [t.name for t in a.tricks] == ["label_smoothing", "mixup"]
    assert (a.metrics, a.tricks) == (b.metrics, b.tricks)
