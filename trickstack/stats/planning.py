"""Seeds a comparison needs, read from a study's own estimates, and how far those can be trusted.

Plugging a study's observed gain and sd into a power formula treats them as the truth. From 5 seeds they
are rough: a simulated trick worth 1.41 paired-difference sds got a seeds-for-80%-power figure below the
seeds it really needs in about half of the studies. `cautious_effect` takes instead a lower confidence
bound on the standardized gain, so the seeds computed from it fall short only as often as that bound is
allowed to be wrong (1 - confidence).
"""

from __future__ import annotations

import math

from scipy import optimize, stats

T_CAP = 200.0  # |t statistic| beyond which the bound is computed at the cap (a smaller, cautious value)
CAUTION = 0.8  # confidence of the lower bound: the cautious figure falls short at most 20% of the time


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
