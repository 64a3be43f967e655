"""Seeds a comparison needs, read from a study's own estimates, and how far those can be trusted.

Plugging a study's observed gain and sd into a power formula treats them as the truth. From 5 seeds they
are rough: a simulated trick worth 1.41 paired-difference sds got a seeds-for-80%-power figure below the
seeds it really needs in about half of the studies. `cautious_effect` takes instead a lower confidence
bound on the standardized gain, so the seeds computed from it fall short only as often as that bound is
allowed to be wrong (1 - confidence).

`achieved` gives a recipe's confirmation the same treatment: the chance that it would accept, and the
seeds a fixed test would need for 80% power, at the observed effect and at its cautious bound -- estimates
from the study itself, which a gain that passed a test overstates.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from scipy import optimize, stats
from statsmodels.stats.power import TTestPower

from trickstack.core.errors import UserError
from trickstack.stats import rules
from trickstack.stats.sequential import operating_characteristics

T_CAP = 200.0  # |t statistic| beyond which the bound is computed at the cap (a smaller, cautious value)
CAUTION = 0.8  # confidence of the lower bound: the cautious figure falls short at most 20% of the time
POWER = 0.8  # power for "seeds needed": the usual 80%
SIMULATED = 20_000  # simulated candidates for a sequential plan's power: Monte-Carlo sd at most 0.0035


def cautious_effect(mean_gain: float, sd_diff: float, n_pairs: int, confidence: float = CAUTION) -> float:
    """Lower one-sided ``confidence`` bound on the standardized gain mean/sd of paired differences, by
    inverting the noncentral t distribution of the paired t statistic; NaN below 2 pairs or sd 0.

    >>> round(cautious_effect(1.41, 1.0, 5), 2), round(cautious_effect(1.41, 1.0, 50), 2)
    (0.77, 1.23)
    """
    if n_pairs < 2 or not sd_diff > 0 or not math.isfinite(mean_gain):
        return math.nan
    t, df = mean_gain / sd_diff * math.sqrt(n_pairs), n_pairs - 1
    t = min(max(t, -T_CAP), T_CAP)  # scipy's nct is NaN far out; a bound at the cap already needs the fewest seeds

    def gap(nc: float) -> float:  # falls as nc grows; scipy gives NaN where the cdf is 1 to rounding (nc << t)
        cdf = stats.nct.cdf(t, df, nc)
        return (cdf if math.isfinite(cdf) else float(nc < t)) - confidence

    spread = math.sqrt(1 + t * t / (2 * df))  # about the sd of the t statistic when nc is near t
    low, high = t - 6 * spread - 1, t + 1  # cdf(t) is ~1 at the low end, below 0.8 at the high one
    return float(optimize.brentq(gap, low, high, xtol=1e-10)) / math.sqrt(n_pairs)


def seeds_for_power(mean_gain: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> int | float:
    """Paired seeds a one-sided paired t-test at ``alpha`` needs to detect ``mean_gain`` with ``power``,
    given the sd of the per-seed differences; ``inf`` for a gain that is not positive. (Leaderboard
    entries need alpha=0.01 and at least 5 seeds.)

    >>> seeds_for_power(0.01, 0.01), seeds_for_power(0.01, 0.01, alpha=0.01), seeds_for_power(-0.01, 0.01)
    (8, 13, inf)
    >>> seeds_for_power(0.5, 0.01)  # a huge effect: the fewest seeds a paired test can use
    2
    """
    if not sd_diff > 0:
        raise UserError(f"sd_diff must be positive, got {sd_diff}")
    if not mean_gain > 0:  # no number of seeds shows a gain that is not there
        return math.inf
    effect = mean_gain / sd_diff
    if TTestPower().power(effect_size=effect, nobs=2, alpha=alpha, alternative="larger") >= power:
        return 2  # the solver fails (NaN) for effects this large; two pairs already suffice
    n = TTestPower().solve_power(effect_size=effect, alpha=alpha, power=power, alternative="larger")
    return max(2, math.ceil(n))


def seeds_needed(gain: float, sd: float, alpha: float, power: float = POWER) -> float:
    """`seeds_for_power`, NaN where statsmodels' solver finds no root (or the inputs give no answer).

    >>> seeds_needed(1.41, 1.0, 0.01), seeds_needed(1.0, 0.0, 0.01)
    (8, nan)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning: the NaN below says it
        try:
            return seeds_for_power(gain, sd, alpha, power)
        except (ValueError, UserError):  # math.ceil(nan); an sd that is not positive
            return math.nan


def leaderboard_seeds(gain: float, sd: float, n_pairs: int, fewest: int = rules.LEADERBOARD_MIN_SEEDS) -> tuple[float, float]:
    """Seeds a fixed one-sided paired t-test at the leaderboard's alpha needs for `POWER`, at the observed effect
    ``gain / sd`` and at its `CAUTION` lower bound from ``n_pairs`` pairs: never below ``fewest`` (the rule's
    minimum), NaN where there is no answer (not ``fewest``).

    >>> leaderboard_seeds(1.41, 1.0, 5), leaderboard_seeds(1.0, 0.0, 5)
    ((8, 20), (nan, nan))
    """
    plain = seeds_needed(gain, sd, rules.LEADERBOARD_ALPHA)
    cautious = seeds_needed(cautious_effect(gain, sd, n_pairs), 1.0, rules.LEADERBOARD_ALPHA) if sd > 0 else math.nan
    return tuple(n if math.isnan(n) else max(fewest, n) for n in (plain, cautious))  # type: ignore[return-value]


@dataclass(frozen=True)
class Achieved:
    """A recipe's confirmation, its power estimated from its own evidence (at the observed effect, and at the
    `CAUTION` lower bound on it): the chance it accepts, and the seeds a fixed leaderboard test needs for
    `POWER`."""

    effect: float  # observed mean gain / sd of the paired differences
    cautious: float  # lower CAUTION confidence bound on the effect
    power: float  # chance the confirmation (its plan, or its fixed seeds) accepts at the observed effect
    power_cautious: float
    seeds_80: float  # seeds a fixed one-sided paired t-test at the leaderboard's alpha needs for 80% power
    seeds_80_cautious: float


def achieved(gain: float, sd: float, n_pairs: int, confirmation: Optional[Mapping[str, Any]] = None) -> Achieved:
    """The power of a confirmation of ``n_pairs`` paired seeds (fixed; or the sequential plan that
    ``confirmation``, a ``provenance.confirmation``, records) for its own observed ``gain`` and ``sd``.

    >>> a = achieved(1.41, 1.0, 5)
    >>> round(a.power, 3), a.seeds_80, round(a.cautious, 2), a.seeds_80_cautious
    (0.423, 8, 0.77, 20)
    >>> achieved(1.41, 1.0, 4).power  # fewer pairs than the rule's minimum (runs diverged): it cannot accept
    0.0
    """
    if n_pairs < 2 or not sd > 0 or not math.isfinite(gain):
        return Achieved(*[math.nan] * 6)
    effect, cautious = gain / sd, cautious_effect(gain, sd, n_pairs)
    plan = rules.sequential_plan(confirmation) if confirmation else None

    def power(e: float) -> float:
        if plan is not None:
            return operating_characteristics(plan, e, candidates=SIMULATED, seed=0).accepted
        if n_pairs < rules.LEADERBOARD_MIN_SEEDS:  # too few pairs (runs diverged): the rule cannot accept
            return 0.0
        return float(TTestPower().power(effect_size=e, nobs=n_pairs, alpha=rules.LEADERBOARD_ALPHA, alternative="larger"))

    return Achieved(effect, cautious, power(effect), power(cautious), *leaderboard_seeds(gain, sd, n_pairs))
