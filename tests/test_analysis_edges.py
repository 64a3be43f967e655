"""The statistics at their edges, checked by simulation from a known truth (`synthetic_table`): diverged
runs, few seeds, heavy tails. Every simulation has a fixed RNG seed; each bound states its binomial slack."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trickstack.reports.report import StudyInfo, report_from_table, to_dict
from trickstack.stats.analysis import shapley_exact, shapley_sampled, synthetic_table

EFFECTS = {"ema": -0.005, "mixup": 0.01, "swa": 0.004}  # mixed signs
INTERACTIONS = {("ema", "mixup"): -0.004}
TRICKS = sorted(EFFECTS)
SEED_SD, RUN_SD = 0.05, 0.003  # seed noise far above run noise: a seed left out of one arm only shows at once
REPLICATES = 250


def true_shapley(t: str) -> float:
    def v(on):
        return sum(EFFECTS[k] for k in on) + sum(g for pair, g in INTERACTIONS.items() if set(pair) <= set(on))
    return float(np.mean([v(o[: o.index(t) + 1]) - v(o[: o.index(t)]) for o in permutations(TRICKS)]))


@pytest.mark.parametrize("sampled", [False, True], ids=["exact", "sampled"])
@pytest.mark.parametrize("p_diverge", [0.0, 0.02, 0.1])
def test_shapley_intervals_cover_with_divergence(p_diverge, sampled):
    """A trick that diverges with probability p (mixup) must not let the seed noise of the seeds it lost into
    the estimate: before the fix, exact coverage fell to ~0.82 at p=0.02 and ~0.60 at p=0.1."""
    truth = np.array([true_shapley(t) for t in TRICKS])
    rng = np.random.default_rng(15)
    hits = []
    for r in range(REPLICATES):
        table = synthetic_table(EFFECTS, INTERACTIONS, seeds=10, seed_sd=SEED_SD, noise=RUN_SD, seed=r,
                                diverge={"mixup": p_diverge})
        if sampled:
            orders = [tuple(rng.permutation(TRICKS)) for _ in range(4)]
            values = shapley_sampled(table, orders, "maximize").values
        else:
            values = shapley_exact(table, TRICKS, "maximize").values
        assert list(values.trick) == TRICKS
        hits.append((values.ci_low.to_numpy() <= truth) & (truth <= values.ci_high.to_numpy()))  # NaN: a miss
    rate = np.mean(hits, axis=0)
    print(f"p_diverge {p_diverge}, {'sampled' if sampled else 'exact'}: coverage {rate.round(3).tolist()}")
    # 750 intervals (3 tricks x 250): at a true 0.95 the pooled rate has sd 0.008, so 0.93 is 2.5 sd below;
    # per trick (sd 0.014) 0.91 is 2.9 sd below.
    assert rate.mean() >= 0.93 and rate.min() >= 0.91, rate


def test_shapley_uses_the_same_seeds_in_every_arm_and_the_report_names_them():
    """The issue's reproduction: one diverged baseline run used to move ema's Shapley value to -0.0035
    (truth -0.005) while the effects section, which blocks by seed, gave -0.005."""
    table = synthetic_table(EFFECTS, seeds=10, seed_sd=SEED_SD, noise=0.0, seed=7)
    hit = table.index[(table.arm == "baseline") & (table.seed == 4)]
    table.loc[hit, ["value", "diverged"]] = [np.nan, True]
    sv = shapley_exact(table, TRICKS, "maximize")
    assert sv.seeds == (0, 1, 2, 3, 5, 6, 7, 8, 9) and sv.dropped == {4: ["baseline"]}
    assert sv.values.set_index("trick").shapley.to_dict() == pytest.approx(EFFECTS, abs=1e-12)  # no run noise
    assert sv.total_gain == pytest.approx(sum(EFFECTS.values()), abs=1e-12)
    section = to_dict(report_from_table(table, StudyInfo("div", "factorial", TRICKS)))["sections"]["shapley"]
    assert section["values"]["seeds_used"] == "0, 1, 2, 3, 5, 6, 7, 8, 9"
    assert any("seed 4 (no finished run in baseline)" in n for n in section["notes"])
