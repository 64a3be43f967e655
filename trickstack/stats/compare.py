"""Two stacks compared on their runs: the paired gain that the leaderboard and `recipe derive` decide by.

The decision itself (how many pairs, which p) is `trickstack.stats.rules.passes`.
"""

from __future__ import annotations

from typing import Sequence

from trickstack.core.records import RunRecord
from trickstack.stats import analysis
from trickstack.stats.table import runs_table


def compare(runs: Sequence[RunRecord], reference: Sequence[RunRecord], direction: str) -> dict[str, float]:
    """Paired gain of ``runs`` over ``reference`` (signed: + is better), 95% t interval, one-sided p, and the sd
    of the paired differences."""
    d = analysis.paired_differences(runs_table({"arm": runs, "reference": reference}), "reference", direction).iloc[0]
    return {"n_pairs": int(d.n_pairs), "gain": d.mean_gain, "low": d.ci_low, "high": d.ci_high, "p": d.p_value,
            "sd": d.sd_diff}

