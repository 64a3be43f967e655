"""Group-sequential confirmation (`trickstack.stats.sequential`), checked by simulation: null years must be
accepted at most alpha of the time, and a real gain more often than with today's fixed 5 seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trickstack.core.errors import UserError
from trickstack.stats.analysis import synthetic_table
from trickstack.stats.sequential import (
    SPENDING,
    SequentialPlan,
    operating_characteristics,
    run_plan,
)

ALPHA = 0.01  # the leaderboard's rule
GAIN = math.sqrt(2)  # paired-difference sds (1.41): the example, which 5 fixed seeds accept 42.5% of the time


def _bound(trials: int, rate: float) -> int:
    """The most acceptances a rule honest at ``rate`` gives in ``trials``, but for a 1% chance."""
    return int(stats.binom.ppf(0.99, trials, rate))


def _fixed_power(seeds: int, gain: float = GAIN, alpha: float = ALPHA) -> float:
    """Exact power of the fixed one-sided paired t-test (noncentral t)."""
    return float(stats.nct.sf(stats.t.isf(alpha, seeds - 1), seeds - 1, gain * math.sqrt(seeds)))


@pytest.mark.parametrize("spending", SPENDING)
def test_null_years_through_the_synthetic_workload_are_accepted_at_most_alpha(spending):
    """400 null years: a candidate no better than the previous recipe, its paired seeds drawn by
    `synthetic_table`, confirmed look by look with `decide`."""
    plan, years, accepted, seeds = SequentialPlan(alpha=ALPHA, spending=spending), 400, 0, []
    for year in range(years):
        table = synthetic_table({"candidate": 0.0}, seeds=plan.looks[-1], seed=year)
        wide = table.pivot(index="seed", columns="arm", values="value")
        d = (wide["candidate"] - wide["baseline"]).to_numpy()
        for n in plan.looks:
            decision = plan.decide(d[:n])
            if decision.action != "continue":
                break
            assert decision.next_seeds == plan.looks[plan.looks.index(n) + 1]
        accepted += decision.action == "accept"
        seeds.append(decision.n_pairs)
    print(f"{spending}: {accepted}/{years} null years accepted, {np.mean(seeds):.2f} seeds on average")
    assert accepted <= _bound(years, ALPHA)  # 9 of 400; an honest rule expects 4


@pytest.mark.parametrize("spending", SPENDING)
def test_false_acceptance_is_at_most_alpha_to_monte_carlo_precision(spending):
    plan = SequentialPlan(alpha=ALPHA, spending=spending)
    null = operating_characteristics(plan, 0.0, candidates=200_000, seed=7)
    print(f"{spending}: nominal levels {[round(p, 5) for p in plan.nominal]}; null accepted {null.accepted:.4f} "
          f"with {null.expected_seeds:.2f} seeds on average")
    assert null.accepted <= ALPHA + 2 * math.sqrt(ALPHA / 200_000)  # 2 Monte-Carlo sds (0.00022 each)


def test_more_power_than_fixed_five_seeds_and_than_fixed_seeds_at_the_same_expected_compute():
    plan = SequentialPlan(alpha=ALPHA, spending="pocock")
    alt = operating_characteristics(plan, GAIN, candidates=50_000, seed=8)
    same = math.ceil(alt.expected_seeds)
    print(f"gain {GAIN} sd: sequential {plan.looks} accepts {alt.accepted:.3f} using {alt.expected_seeds:.2f} seeds "
          f"on average (by look: {[round(a, 3) for a in alt.at_look]}); fixed 5 seeds {_fixed_power(5):.3f}, "
          f"fixed {same} seeds {_fixed_power(same):.3f}")
    assert _fixed_power(5) == pytest.approx(0.425, abs=0.002)  # the exact figure
    assert alt.accepted > _fixed_power(5) + 0.3
    assert alt.accepted > _fixed_power(same)  # more power than a fixed design that spends at least as much


def test_the_vectorized_simulation_is_decide_row_by_row():
    plan = SequentialPlan(alpha=ALPHA, looks=(5, 7, 10), spending="obrien-fleming", futility=0.0)
    x = np.random.default_rng(3).normal(0.8, 1.0, (300, 10))
    accepted, seeds = run_plan(plan, x)
    for row, look, used in zip(x, accepted, seeds):
        for n in plan.looks:
            decision = plan.decide(row[:n])
            if decision.action != "continue":
                break
        assert (decision.look if decision.action == "accept" else 0, decision.n_pairs) == (look, used)


def test_bad_plans_and_seed_counts_are_refused():
    with pytest.raises(UserError, match="increasing"):
        SequentialPlan(looks=(8, 5))
    with pytest.raises(UserError, match="spending"):
        SequentialPlan(spending="haybittle")
    with pytest.raises(UserError, match="6 paired seeds is not a look"):
        SequentialPlan().decide(np.ones(6))
    assert SequentialPlan().decide(np.zeros(5)).action == "stop"  # no gain at all: t = 0 < futility
