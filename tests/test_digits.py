"""The digits workload: its fixed split, and short trainings on it (a few seconds in all)."""

import pytest
import torch

from trickstack.core.budget import Budget
from trickstack.trial.runner import baseline_step_flops, run_trial
from trickstack.workloads import get_workload


@pytest.fixture(scope="module")
def digits():
    return get_workload("digits")


@pytest.fixture(scope="module")
def tiny_budget(digits) -> Budget:
    """About 30 baseline steps: a fraction of a second of training."""
    return Budget("flops", 30 * baseline_step_flops(digits))


def test_split_sizes_shapes_and_scale(digits):
    s = digits.splits
    assert s.train_x.shape == (1437, 1, 8, 8) and s.eval_x.shape == (360, 1, 8, 8)
    assert s.train_y.shape == (1437,) and s.eval_y.shape == (360,)
    assert s.train_x.dtype == torch.float32 and s.train_y.dtype == torch.long
    for x in (s.train_x, s.eval_x):
        assert x.min() == 0.0 and x.max() == 1.0  # 0..16 scaled by 16


def test_split_is_stratified(digits):
    s = digits.splits
    train = torch.bincount(s.train_y, minlength=10).double() / len(s.train_y)
    held = torch.bincount(s.eval_y, minlength=10).double() / len(s.eval_y)
    assert set(s.train_y.tolist()) == set(s.eval_y.tolist()) == set(range(10))
    assert (train - held).abs().max() < 0.01  # each class ~10% of both splits


def test_contract_fields(digits):
    assert digits.metric == "accuracy" and digits.direction == "maximize"
    assert {"classification", "images2d", "conv"} <= set(digits.provides)
    assert {p.name for p in digits.nuisance} == {"lr", "weight_decay"}
    model = digits.build_model()
    assert model((digits.splits.train_x[:7], None)).shape == (7, 10)
    assert model.get_metrics(is_train=True) == {}  # no per-step train metrics: they cost time


def test_tiny_run_is_reproducible_and_spends_its_budget(digits, tiny_budget):
    first = run_trial("digits", [], seed=0, budget=tiny_budget)
    again = run_trial("digits", [], seed=0, budget=tiny_budget)
    assert 0.0 <= first.metrics.eval_value <= 1.0
    assert first.metrics.eval_value == again.metrics.eval_value  # bit-identical, not merely close
    assert first.metrics.train_loss == again.metrics.train_loss
    assert first.steps == again.steps
    assert abs(first.flops - tiny_budget.value) <= 0.02 * tiny_budget.value


@pytest.mark.parametrize("trick", ["label_smoothing", "mixup"])
def test_classification_tricks_run(digits, tiny_budget, trick):
    record = run_trial("digits", [trick], seed=0, budget=tiny_budget)
    assert not record.diverged and 0.0 <= record.metrics.eval_value <= 1.0
    assert abs(record.flops - tiny_budget.value) <= 0.02 * tiny_budget.value
