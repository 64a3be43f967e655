"""The winner's curse of `recipe derive`'s quoted gain, and its correction, measured through derive's own code.

Each simulated year runs derive's confirmation (`trickstack.derive.search.confirmation` with derive's `confirm`,
under derive's default sequential plan) on runs of the synthetic workload whose paired differences are normal
with a true gain of ``effect`` paired-difference sds, and quotes its gain as derive writes it into a recipe
(`trickstack.derive.writing.quoted`: the raw mean paired difference and its t interval, and the gain corrected
for the acceptance, `trickstack.stats.selection`). Among the accepted years it prints, for the raw and the
corrected gain, the median and mean over the truth and the share of 95% intervals that cover the truth; for
null years, the acceptance rate and the corrected gain (in paired sds; the truth is 0). Every figure is
measured in the run; nothing is typed.

    python -m trickstack.benchmarks.winners_curse [--years 3000] [--null-years 3000]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from trickstack.benchmarks.sequential_derive import RUN_NOISE, TRICK, truth
from trickstack.derive.config import Config
from trickstack.derive.derive import DeriveOptions
from trickstack.derive.search import ESTIMATE_SEEDS, confirm, confirmation, estimation
from trickstack.derive.writing import quoted
from trickstack.simulator.workload import simulate_run
from trickstack.workloads import get_workload

EFFECTS = (0.5, 1.0, 1.5)  # true gains in paired-difference sds (issue 23)
SD = math.sqrt(2) * RUN_NOISE  # the paired difference's sd in the synthetic truth: two runs' own noise
COLUMNS = ("truth (sd)", "years", "accepted", "raw median/truth", "raw mean/truth", "raw coverage",
           "corrected median/truth", "corrected mean/truth", "corrected coverage")


@dataclass(frozen=True)
class Quote:
    gain: float
    ci: tuple[float, float]
    gain_corrected: float
    ci_corrected: tuple[float, float]


def year(effect: float, seed: int, estimate_seeds: int = ESTIMATE_SEEDS) -> Optional[Quote]:
    """One simulated year through derive's confirmation and estimation: what derive quotes when it accepts,
    else None."""
    wl, t = get_workload("synthetic"), truth(effect, seed)
    candidate, reference = Config(frozenset({TRICK})), Config(frozenset())

    def evaluate(used: list[int]) -> dict[str, float]:
        return confirm([simulate_run(t, wl, [TRICK], seed=s) for s in used],
                       [simulate_run(t, wl, [], seed=s) for s in used], wl, candidate, reference)

    options = DeriveOptions(estimate_seeds=estimate_seeds)
    c = confirmation(evaluate, options.plan(), options.seeds)
    if not c.accepted:
        return None
    _, fresh = estimation(evaluate, c, options.plan(), options.seeds, 0, options.estimate_seeds)
    q = quoted(c.test, c.accepted, c.record, fresh)
    return Quote(q["gain"], tuple(q["ci"]), q["gain_corrected"], tuple(q["ci_corrected"]))


def row(effect: float, years: int, first: int = 0, estimate_seeds: int = ESTIMATE_SEEDS) -> dict[str, float]:
    """The table's row for ``years`` simulated years at a true gain of ``effect`` sds (years ``first``...)."""
    quotes = [q for q in (year(effect, first + y, estimate_seeds) for y in range(years)) if q is not None]
    true = effect * SD
    out = {"truth (sd)": effect, "years": years, "accepted": len(quotes) / years}
    for what, gain, ci in (("raw", "gain", "ci"), ("corrected", "gain_corrected", "ci_corrected")):
        g = np.array([getattr(q, gain) for q in quotes]) / SD
        lo, hi = (np.array([getattr(q, ci)[i] for q in quotes]) for i in (0, 1))
        scale = effect if effect else 1.0  # null years: in sds (the truth is 0)
        out[f"{what} median/truth"] = float(np.median(g)) / scale if len(g) else math.nan
        out[f"{what} mean/truth"] = float(np.mean(g)) / scale if len(g) else math.nan
        out[f"{what} coverage"] = float(np.mean((lo <= true) & (true <= hi))) if len(g) else math.nan
    return out


def table(years: int, null_years: int, estimate_seeds: int = ESTIMATE_SEEDS) -> list[dict[str, float]]:
    rows = [row(0.0, null_years, estimate_seeds=estimate_seeds)] if null_years else []
    return rows + [row(effect, years, 100_000 * (i + 1), estimate_seeds) for i, effect in enumerate(EFFECTS)]


def render(rows: list[dict[str, float]]) -> str:
    lines = [" | ".join(COLUMNS), " | ".join("---" for _ in COLUMNS)]
    for r in rows:
        lines.append(" | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=3000, help="simulated years at each true gain")
    parser.add_argument("--null-years", type=int, default=3000, help="simulated null years (true gain 0)")
    parser.add_argument("--estimate-seeds", type=int, default=ESTIMATE_SEEDS,
                        help="derive's estimation seeds after an acceptance (0: the confirmation's seeds alone)")
    args = parser.parse_args(argv)
    plan = DeriveOptions().plan()
    print(f"derive's plan: looks {list(plan.looks)}, {plan.spending} spending, alpha {plan.alpha}; normal paired "
          f"differences, sd {SD:.6g}; {args.estimate_seeds} estimation seeds after an acceptance; {args.years} years per "
          f"gain, {args.null_years} null years. Ratios are to the true "
          "gain (null row: in paired sds); coverage: share of accepted years whose 95% interval holds the truth.")
    print(render(table(args.years, args.null_years, args.estimate_seeds)))


if __name__ == "__main__":
    main()
