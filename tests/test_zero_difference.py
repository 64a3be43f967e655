"""Paired differences with no variance (bit-identical runs, or one gain on every seed) have one defined p,
`trickstack.stats.rules.one_sided_p`, which derive and the leaderboard both use: a carried-forward recipe whose
candidate trained the same values as the reference is published, not refused; and a candidate that trained the
reference's own stack (written differently) is never the one tested against it."""

from __future__ import annotations

import uuid

import pytest

import trickstack.derive.derive as derive_module
from trickstack.ablations.storage import drop_memory
from trickstack.derive.config import Config
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.leaderboard import board as lb
from trickstack.stats import analysis, rules

SILENT = {"baseline": 0.5, "seed_noise": 0.02, "run_noise": 0.0}  # no trick does anything; a stack's runs repeat


@pytest.fixture
def storage():
    url = f"memory://{uuid.uuid4().hex}"
    yield url
    drop_memory(url)


@pytest.mark.parametrize("gains, p", [([0.0] * 5, 1.0), ([0.02] * 5, 1 / 32), ([0.02] * 7, 1 / 128),
                                      ([-0.02] * 5, 1.0), ([0.1 + 1e-17 * i for i in range(5)], 1 / 32)])
def test_differences_without_variance_have_the_exact_sign_flip_p(gains, p):
    assert rules.one_sided_p(gains) == p


def test_the_leaderboards_paired_test_gives_the_rules_p_for_identical_arms():
    table = analysis.synthetic_table({"ema": 0.0}, noise=0.0)
    table.loc[table.arm == "ema", "value"] = table.loc[table.arm == "baseline", "value"].to_numpy()
    d = analysis.paired_differences(table, "baseline", "maximize")
    assert d.mean_gain.iloc[0] == 0 and d.p_value.iloc[0] == 1.0  # NaN before: the board refused such a year
    assert not rules.passes({"n_pairs": 5, "p": rules.one_sided_p([0.02] * 5)})  # 1/32: 5 seeds cannot pass


def test_a_candidate_that_trained_the_references_values_is_published(tmp_path, storage):
    d = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("ema", "label_smoothing")), truth=SILENT,
               recipes=tmp_path, storage=storage)
    assert not d.accepted and d.p_value == 1.0 and d.gain == 0
    board = lb.build(tmp_path).boards["synthetic"]
    assert list(board.table.status) == ["baseline", "carried forward"]
    tested = board.negative[board.negative.p_value == 1.0]
    assert len(tested) >= 1 and (tested.gain == 0).all()


def test_a_candidate_that_ran_the_reference_stack_is_not_tested_against_it(tmp_path, storage, monkeypatch):
    """The previous recipe's configuration written with a default value the search's own copy of it leaves out: one
    stack, two configurations. Before the fix the search's copy, tied best, was tested against the recipe (p = 1),
    and the evidence, holding one stack once, had no candidate giving the recipe's claims: the board refused it."""
    truth = {**SILENT, "effects": {"ema": 0.05, "label_smoothing": -0.1}}
    first = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("ema",)), truth={**SILENT, "effects": {"ema": 0.05}},
                   recipes=tmp_path,
                   storage=storage)
    assert first.accepted and first.recipe.stack == ["ema"]
    written = derive_module.inputs.config_of

    def with_default(recipe, wl) -> Config:
        c = written(recipe, wl)
        return Config(c.arm, {**c.params, "ema.half_life": "100ba"})  # ema's default, not searched
    monkeypatch.setattr(derive_module.inputs, "config_of", with_default)
    d = derive("synthetic", 2018, DeriveOptions(trials=4, tricks=("ema", "label_smoothing")), truth=truth, recipes=tmp_path,
               storage=storage)
    assert not d.accepted and d.candidate != "ema"
    board = lb.build(tmp_path).boards["synthetic"]
    assert list(board.table.status) == ["baseline", "new best", "carried forward"]


def test_a_candidate_that_changed_only_the_learning_rate_is_a_negative_result(tmp_path, storage):
    """Every trick hurts, so the best candidate is the baseline's stack at another learning rate: its runs are the
    test the carried-forward recipe claims, published as a negative result (before, a candidate with the previous
    recipe's tricks was taken for the previous recipe and left out, and the board refused the year)."""
    truth = {**SILENT, "run_noise": 0.002, "effects": {"ema": -0.1, "label_smoothing": -0.1}}
    d = derive("synthetic", 2016, DeriveOptions(trials=4, tricks=("ema", "label_smoothing")), truth=truth,
               recipes=tmp_path, storage=storage)
    assert not d.accepted and d.candidate.startswith("no trick, lr=")
    negative = lb.build(tmp_path).boards["synthetic"].negative
    row = negative[negative.tried.str.startswith("lr=")].iloc[0]
    assert row.p_value == pytest.approx(d.p_value) and row.gain == pytest.approx(d.gain)
