"""The statistics of trickstack.stats.analysis, checked on tables simulated from a known truth.

Each simulated run: value = baseline + effects of its tricks + interactions of its pairs
+ seed noise (shared by every arm of a seed, as paired seeds share init and data order) + run noise.
"""

from __future__ import annotations

import gc
from itertools import combinations, permutations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trickstack.core.errors import UserError
from trickstack.stats.analysis import (
    additivity_ratio,
    arm_summary,
    correct,
    factorial_effects,
    paired_differences,
    probability_of_improvement,
    seeds_for_power,
    shapley_exact,
    shapley_sampled,
)

TRICKS = ("a", "b", "c")
EFFECTS = {"a": 0.02, "b": 0.01, "c": 0.0}  # c does nothing
INTERACTIONS = {("a", "b"): -0.015}  # a and b overlap; a:c and b:c are null
BASE, SEED_SD, RUN_SD = 0.70, 0.02, 0.005  # accuracy; seed noise 4x the run noise
STUDIES, SEEDS = 200, 5
ALL = [frozenset(c) for r in range(4) for c in combinations(TRICKS, r)]


def mu(on: frozenset[str]) -> float:
    """The true mean of an arm."""
    return BASE + sum(EFFECTS[t] for t in on) + sum(g for pair, g in INTERACTIONS.items() if set(pair) <= on)


def true_main(t: str) -> float:
    """Average gain of switching t on, over every setting of the other tricks."""
    rest = [s for s in ALL if t not in s]
    return float(np.mean([mu(s | {t}) - mu(s) for s in rest]))


def true_interaction(a: str, b: str) -> float:
    """Half the difference between a's effect with b on and with b off, averaged over the others."""
    rest = [s for s in ALL if a not in s and b not in s]
    return float(np.mean([(mu(s | {a, b}) - mu(s | {b})) - (mu(s | {a}) - mu(s)) for s in rest]) / 2)


def true_shapley(t: str) -> float:
    """Mean marginal gain of t over all orders (the permutation definition, not the subset formula)."""
    gains = [mu(frozenset(o[: o.index(t) + 1])) - mu(frozenset(o[: o.index(t)])) for o in permutations(TRICKS)]
    return float(np.mean(gains))


def simulate(rng, arms=ALL, seeds=SEEDS, seed_sd=SEED_SD, run_sd=RUN_SD) -> pd.DataFrame:
    shared = rng.normal(0, seed_sd, seeds)
    rows = [{"phase": "eval", "arm": "+".join(sorted(on)) or "baseline", "seed": s, "metric": "accuracy",
             "value": mu(on) + shared[s] + rng.normal(0, run_sd), "diverged": False,
             **{f"on.{t}": t in on for t in TRICKS}} for on in arms for s in range(seeds)]
    tuning = {**rows[0], "phase": "tune", "seed": 99, "value": 0.0}  # tuning runs must be ignored
    return pd.DataFrame([*rows, tuning])


def covers(low, high, truth) -> np.ndarray:
    return (np.asarray(low) <= truth) & (truth <= np.asarray(high))


@pytest.fixture(scope="module")
def studies() -> dict[str, np.ndarray]:
    """Analyse STUDIES simulated factorial studies once; the tests below read the results."""
    gc.freeze()  # statsmodels' Holm runs gc.collect() on every call: make it skip the long-lived objects
    rng = np.random.default_rng(2024)
    mains = np.array([true_main(t) for t in TRICKS])
    inters = np.array([true_interaction(a, b) for a, b in combinations(TRICKS, 2)])
    shap = np.array([true_shapley(t) for t in TRICKS])
    out: dict[str, list] = {k: [] for k in ("main", "inter", "shapley", "sampled", "null_holm", "ab_p", "ab_est",
                                            "exact_sum", "adj_sum")}
    for _ in range(STUDIES):
        table = simulate(rng)
        fx = factorial_effects(table, TRICKS, "maximize", adjust="holm")
        est = fx.set_index("term")
        out["main"].append(covers(est.ci_low[list(TRICKS)], est.ci_high[list(TRICKS)], mains))
        pairs = [f"{a}:{b}" for a, b in combinations(TRICKS, 2)]
        out["inter"].append(covers(est.ci_low[pairs], est.ci_high[pairs], inters))
        out["null_holm"].append(bool((est.p_adjusted[["c", "a:c", "b:c"]] < 0.05).any()))
        out["ab_p"].append(est.p_value["a:b"])
        out["ab_est"].append(est.estimate["a:b"])
        ex = shapley_exact(table, TRICKS, "maximize")
        out["shapley"].append(covers(ex.values.ci_low, ex.values.ci_high, shap))
        out["exact_sum"].append(abs(ex.values.shapley.sum() - ex.total_gain))
        orders = [tuple(rng.permutation(TRICKS)) for _ in range(4)]
        sm = shapley_sampled(table, orders, "maximize")
        out["sampled"].append(covers(sm.values.ci_low, sm.values.ci_high, shap))
        out["adj_sum"].append(abs(sm.values.shapley.sum() - sm.total_gain))
    gc.unfreeze()
    return {k: np.array(v) for k, v in out.items()}


def test_intervals_cover_the_truth(studies):
    rates = {k: studies[k].mean(axis=0) for k in ("main", "inter", "shapley", "sampled")}
    print("coverage per term:", {k: v.round(3).tolist() for k, v in rates.items()})
    for kind, rate in rates.items():
        assert (rate >= 0.90).all(), (kind, rate)


def test_null_tricks_rarely_significant_after_holm(studies):
    rate = studies["null_holm"].mean()
    print("studies with a null term declared significant (Holm):", rate)
    assert rate <= 0.05


def test_planted_interaction_detected_with_its_sign(studies):
    detected = (studies["ab_p"] < 0.05) & (studies["ab_est"] < 0)
    print("a:b detected with the right sign:", detected.mean())
    assert detected.mean() >= 0.8
    assert np.mean(studies["ab_est"]) == pytest.approx(true_interaction("a", "b"), abs=0.001)


def test_shapley_values_add_up_to_the_full_gain(studies):
    assert studies["exact_sum"].max() < 1e-9
    assert studies["adj_sum"].max() < 1e-9


def test_exact_shapley_matches_truth_without_noise():
    table = simulate(np.random.default_rng(0), seed_sd=0.0, run_sd=0.0)
    ex = shapley_exact(table, TRICKS, "maximize")
    assert ex.values.shapley.to_numpy() == pytest.approx([true_shapley(t) for t in TRICKS], abs=1e-12)
    assert ex.total_gain == pytest.approx(mu(frozenset(TRICKS)) - mu(frozenset()), abs=1e-12)


def test_sampled_shapley_with_every_order_is_exact_and_adds_up():
    table = simulate(np.random.default_rng(1))
    exact = shapley_exact(table, TRICKS, "maximize")
    every = shapley_sampled(table, list(permutations(TRICKS)), "maximize").values
    assert every.raw.to_numpy() == pytest.approx(exact.values.shapley.to_numpy(), abs=1e-12)
    some = shapley_sampled(table, [("a", "b", "c"), ("c", "a", "b")], "maximize")
    half_widths = ((some.values.ci_high - some.values.ci_low) / 2).sum()
    assert abs(some.values.raw.sum() - some.total_gain) <= half_widths  # raw: within the CI
    assert some.values.shapley.sum() == pytest.approx(some.total_gain, abs=1e-9)  # adjusted: exactly


def test_sampled_shapley_drops_orders_with_a_missing_arm():
    table = simulate(np.random.default_rng(2))
    table = table[table.arm != "a+c"]
    sm = shapley_sampled(table, [("a", "c", "b"), ("b", "a", "c")], "maximize")
    assert sm.values.n_orders.tolist() == [1, 1, 1]
    with pytest.raises(UserError, match="no order"):
        shapley_sampled(table, [("a", "c", "b")], "maximize")


def test_paired_interval_is_narrower_than_welch_when_seed_noise_is_large():
    table = simulate(np.random.default_rng(3), arms=[frozenset(), frozenset("a")], seeds=10, seed_sd=0.05, run_sd=0.002)
    paired = paired_differences(table, "baseline", "maximize").iloc[0]
    wide = table[table.phase == "eval"].pivot(index="seed", columns="arm", values="value")
    welch = stats.ttest_ind(wide["a"], wide["baseline"], equal_var=False).confidence_interval(0.95)
    assert paired.ci_high - paired.ci_low < (welch.high - welch.low) / 5
    assert paired.ci_low <= EFFECTS["a"] <= paired.ci_high


def test_diverged_runs_are_counted_not_dropped():
    table = simulate(np.random.default_rng(4))
    hit = table.index[(table.arm == "a") & table.seed.isin([0, 3])]
    table.loc[hit, ["value", "diverged"]] = [np.nan, True]
    row = arm_summary(table, "maximize").set_index("arm").loc["a"]
    assert (row.n, row.n_diverged) == (5, 2)
    assert row["mean"] == pytest.approx(table[(table.arm == "a") & ~table.diverged].value.mean())
    diffs = paired_differences(table, "baseline", "maximize").set_index("arm").loc["a"]
    assert (diffs.n_pairs, diffs.n_unpaired) == (3, 2)


def test_interactions_from_one_at_a_time_data_raise():
    one_at_a_time = [frozenset(), *[frozenset([t]) for t in TRICKS]]
    table = simulate(np.random.default_rng(5), arms=one_at_a_time)
    with pytest.raises(UserError, match=r"interaction 'a:b' is not estimable.*interactions=False"):
        factorial_effects(table, TRICKS, "maximize")
    mains = factorial_effects(table, TRICKS, "maximize", interactions=False).set_index("term").estimate
    singles = paired_differences(table, "baseline", "maximize").set_index("arm").mean_gain
    assert mains.to_numpy() == pytest.approx(singles[list(TRICKS)].to_numpy(), abs=1e-12)


def test_aliasing_in_a_resolution_three_fraction_names_the_partner():
    half = [frozenset("c"), frozenset("a"), frozenset("b"), frozenset("abc")]  # c = a*b in ±1 codes
    with pytest.raises(UserError, match=r"'a:b' .*aliased with c"):
        factorial_effects(simulate(np.random.default_rng(6), arms=half), TRICKS, "maximize")


def test_minimized_metric_gives_the_same_gains():
    table = simulate(np.random.default_rng(7))
    loss = table.assign(value=1 - table.value, metric="error")
    up = factorial_effects(table, TRICKS, "maximize")
    down = factorial_effects(loss, TRICKS, "minimize")
    assert down.estimate.to_numpy() == pytest.approx(up.estimate.to_numpy(), abs=1e-12)
    assert arm_summary(loss, "minimize").arm[0] == arm_summary(table, "maximize").arm[0]


def test_alternative_tests_agree_on_a_clear_gain():
    # 10 seeds: with 5, the studentized bootstrap's resamples that leave out one outlying seed have a tiny sd,
    # so it may not call even a t of 7 significant (it is honest there, but has little power)
    table = simulate(np.random.default_rng(8), arms=[frozenset(), frozenset("a"), frozenset("c")], seeds=10)
    for test in ("t", "bootstrap", "permutation", "rank"):
        d = paired_differences(table, "baseline", "maximize", test=test, adjust="bh").set_index("arm")
        assert d.p_value["a"] < 0.05 and d.ci_low["a"] > 0, test
        assert d.p_adjusted["a"] >= d.p_value["a"]
    perm = paired_differences(table, "baseline", "maximize", test="permutation").set_index("arm")
    assert perm.p_value["a"] == pytest.approx(1 / 2**10)  # every seed improves: only the identity flip ties


def test_correct_keeps_nan_and_matches_known_values():
    assert correct([0.01, 0.02, 0.03], "holm") == pytest.approx([0.03, 0.04, 0.04])
    assert correct([0.01, 0.02, 0.03], "bh") == pytest.approx([0.03, 0.03, 0.03])
    assert np.isnan(correct([0.01, np.nan], "bh")[1])
    with pytest.raises(UserError, match="holm"):
        correct([0.1], "bonferroni-ish")


def test_additivity_ratio():
    table = simulate(np.random.default_rng(9), seed_sd=0.0, run_sd=0.0)
    add = additivity_ratio(table, ["a", "b"], "maximize")
    assert add.ratio == pytest.approx((0.02 + 0.01 - 0.015) / (0.02 + 0.01))
    missing = additivity_ratio(table[table.arm != "b"], ["a", "b"], "maximize")
    assert np.isnan(missing.ratio) and "b" in missing.reason


def test_probability_of_improvement_and_power():
    table = simulate(np.random.default_rng(10), arms=[frozenset(), frozenset("a"), frozenset("c")], seeds=20)
    assert probability_of_improvement(table, "a", "baseline", "maximize").probability == 1.0
    null = probability_of_improvement(table, "c", "baseline", "maximize")
    assert null.n_pairs == 20 and null.ci_low < 0.5 < null.ci_high
    assert seeds_for_power(0.01, 0.01) < seeds_for_power(0.005, 0.01) < seeds_for_power(0.005, 0.01, alpha=0.01)
    assert seeds_for_power(0.0, 0.01) == float("inf")


def test_bad_input_is_a_user_error():
    table = simulate(np.random.default_rng(11))
    with pytest.raises(UserError, match="direction"):
        arm_summary(table, "up")
    with pytest.raises(UserError, match="on.swa"):
        factorial_effects(table, ["a", "swa"], "maximize")
    with pytest.raises(UserError, match="full factorial"):
        shapley_exact(table[table.arm != "a+b"], TRICKS, "maximize")
    with pytest.raises(UserError, match="mixes metrics"):
        arm_summary(table.assign(metric=["accuracy", "loss"] * (len(table) // 2) + ["loss"] * (len(table) % 2)),
                    "maximize")
