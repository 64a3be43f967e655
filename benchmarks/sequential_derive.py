"""`recipe derive`'s sequential confirmation, simulated through derive's own code on the synthetic workload.

Two ways, both the real code path:

1. **The confirmation** (`trickstack.derive.search.confirmation`, the function `derive` calls) fed with
   runs of the synthetic workload (`trickstack.simulator.workload.simulate_run`): a candidate stack
   against the baseline, each simulated year an independent replicate of the noise (``noise_seed``). The
   same years are confirmed sequentially (the default plan of `DeriveOptions`), on a fixed 5 seeds
   (today's rule), and on a fixed number of seeds equal to the sequential design's average, rounded up
   (the same expected compute, or more). Null years (the candidate does nothing) give the false-acceptance
   rate with its 95% Clopper-Pearson interval; years where it gains ``GAIN`` paired-difference sds give
   the power.
2. **Whole derivations** (`trickstack.derive.derive.derive`: search, confirmation, attribution, writing)
   of first-year recipes: null years (how many were accepted, and how long one takes) and years with the
   gain planted, derived sequentially and on fixed 5 seeds. A simulated run's learning rate changes nothing
   and its noise depends on its stack alone, so a candidate that differs from the baseline only in its
   learning rate runs exactly the baseline's numbers (no gain on any seed, never accepted): such years are
   counted apart, and null years are derived until ``--derive-years`` of them have a candidate with a trick.

Every figure is printed as measured in the run; nothing is typed.

    python -m trickstack.benchmarks.sequential_derive [--null-years 2000] [--years 2000] [--derive-years 300]
        [--power-derive-years 300]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestPower

from trickstack.ablations.storage import drop_memory
from trickstack.derive.config import Config
from trickstack.derive.derive import DeriveOptions, derive
from trickstack.derive.search import confirm, confirmation
from trickstack.simulator.workload import simulate_run
from trickstack.stats.sequential import SequentialPlan
from trickstack.workloads import get_workload

GAIN = math.sqrt(2)  # paired-difference sds: the example, 1.41 (`fixed_power(5)` prints its exact power)
RUN_NOISE = 0.002  # each run's own noise; the paired difference of two runs has sd sqrt(2) * RUN_NOISE
TRICK = "label_smoothing"  # the candidate: one trick, its effect the truth's


def truth(effect_sds: float, year: int) -> dict:
    """A synthetic truth where ``TRICK`` gains ``effect_sds`` paired-difference sds; ``year`` seeds the noise."""
    return {"baseline": 0.5, "seed_noise": 0.02, "run_noise": RUN_NOISE, "noise_seed": year,
            "effects": {TRICK: effect_sds * math.sqrt(2) * RUN_NOISE}}


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    seeds: int


def confirm_year(plan: Optional[SequentialPlan], seeds: int, effect_sds: float, year: int) -> Outcome:
    """One year through derive's confirmation: the candidate's and the baseline's simulated runs on the seeds
    each look asks for, tested by derive's `confirm`."""
    wl, t = get_workload("synthetic"), truth(effect_sds, year)
    candidate, reference = Config(frozenset({TRICK})), Config(frozenset())
    cache: dict[tuple, object] = {}

    def runs(stack: tuple, used: list[int]) -> list:
        return [cache.setdefault((stack, s), simulate_run(t, wl, list(stack), seed=s)) for s in used]

    def evaluate(used: list[int]) -> dict[str, float]:
        return confirm(runs((TRICK,), used), runs((), used), wl, candidate, reference)

    c = confirmation(evaluate, plan, seeds)
    return Outcome(c.accepted, len(c.seeds))


@dataclass(frozen=True)
class Rate:
    hits: int
    trials: int
    mean_seeds: float

    @property
    def rate(self) -> float:
        return self.hits / self.trials

    def interval(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval of the rate."""
        ci = stats.binomtest(self.hits, self.trials).proportion_ci(0.95, method="exact")
        return float(ci.low), float(ci.high)

    def line(self, what: str) -> str:
        low, high = self.interval()
        return (f"{what}: {self.hits}/{self.trials} = {self.rate:.4f} (95% CI {low:.4f} to {high:.4f}), "
                f"{self.mean_seeds:.2f} seeds on average")


def rate(plan: Optional[SequentialPlan], seeds: int, effect_sds: float, years: Sequence[int]) -> Rate:
    outcomes = [confirm_year(plan, seeds, effect_sds, y) for y in years]
    return Rate(sum(o.accepted for o in outcomes), len(outcomes), float(np.mean([o.seeds for o in outcomes])))


def fixed_power(seeds: int, gain: float = GAIN, alpha: float = 0.01) -> float:
    """Exact power of the fixed one-sided paired t-test (noncentral t), for comparison."""
    return float(TTestPower().power(effect_size=gain, nobs=seeds, alpha=alpha, alternative="larger"))


def derive_year(effect_sds: float, year: int, options: DeriveOptions) -> tuple[bool, int, bool]:
    """One whole derivation of a first-year recipe on the synthetic workload (in a throwaway folder and
    study): accepted, the evaluation seeds used, and whether the candidate had a trick on."""
    url = f"memory://{uuid.uuid4().hex}"
    try:
        with tempfile.TemporaryDirectory() as root:
            d = derive("synthetic", 2016, options, truth=truth(effect_sds, year), recipes=root, storage=url)
            return d.accepted, len(d.seeds), not d.candidate.startswith("no trick")
    finally:
        drop_memory(url)


def derive_rate(effect_sds: float, wanted: int, options: DeriveOptions, tries: int = 4) -> tuple[Rate, int]:
    """Whole derivations of years 0, 1, ... until ``wanted`` had a candidate with a trick (at most
    ``tries * wanted`` years): their rate, and how many years had a candidate without one."""
    kept, without = [], 0
    for year in range(tries * wanted):
        accepted, seeds, trick = derive_year(effect_sds, year, options)
        if trick:
            kept.append((accepted, seeds))
        else:
            without += 1
        if len(kept) == wanted:
            break
    return Rate(sum(a for a, _ in kept), len(kept), float(np.mean([n for _, n in kept]))), without


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=2000, help="simulated years with the gain through the confirmation, "
                                                                "per design")
    parser.add_argument("--null-years", type=int, default=2000, help="simulated null years through the confirmation")
    parser.add_argument("--derive-years", type=int, default=300, help="whole null derivations with a trick candidate")
    parser.add_argument("--power-derive-years", type=int, default=300, help="whole derivations with the gain, per design")
    args = parser.parse_args(argv)
    options = DeriveOptions(trials=4, tricks=(TRICK,))
    plan = options.plan()
    print(f"plan: looks {list(plan.looks)}, {plan.spending} spending, alpha {plan.alpha}, futility t < {plan.futility}; "
          f"nominal levels {[round(p, 5) for p in plan.nominal]}")

    print(f"\n1. derive's confirmation on simulated runs: {args.null_years} null years, {args.years} years with the gain")
    if args.null_years:
        start = time.perf_counter()
        null = rate(plan, 0, 0.0, range(args.null_years))
        print(f"   ({(time.perf_counter() - start) / args.null_years * 1000:.1f} ms per sequential null year)")
        print("   " + null.line("null years accepted, sequential"))
        print("   " + rate(None, 5, 0.0, range(args.null_years)).line("null years accepted, fixed 5 seeds"))
    years = range(args.years)
    if not args.years:
        return
    seq = rate(plan, 0, GAIN, years)
    same = math.ceil(seq.mean_seeds)
    print("   " + seq.line(f"gain {GAIN} sd accepted, sequential"))
    print("   " + rate(None, 5, GAIN, years).line(f"gain {GAIN} sd accepted, fixed 5 seeds")
          + f"; exact power {fixed_power(5):.4f}")
    print("   " + rate(None, same, GAIN, years).line(f"gain {GAIN} sd accepted, fixed {same} seeds (>= the sequential "
                                                     "average)") + f"; exact power {fixed_power(same):.4f}")

    print(f"\n2. whole derivations (search, confirmation, attribution, writing) of a first-year recipe, trials 4, "
          f"candidates {TRICK}")
    if args.derive_years:
        start = time.perf_counter()
        whole, without = derive_rate(0.0, args.derive_years, options)
        took = (time.perf_counter() - start) / (whole.trials + without)
        print(f"   ({took:.2f} s per derivation; {without} more null years had a candidate without a trick, "
              "identical to the baseline on every seed, none accepted)")
        print("   " + whole.line("null years accepted, sequential (candidate with a trick)"))
    if args.power_derive_years:
        fixed = DeriveOptions(trials=4, tricks=(TRICK,), confirm="fixed", seeds=5)
        for what, chosen in (("sequential", options), ("fixed 5 seeds", fixed)):
            won, without = derive_rate(GAIN, args.power_derive_years, chosen)
            print("   " + won.line(f"gain {GAIN} sd accepted, {what} (candidate with the trick)")
                  + f"; {without} years' candidate had no trick")


if __name__ == "__main__":
    main()
