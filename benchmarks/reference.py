"""What a workload's reference budget buys: its baseline trained at that budget for several seeds.

Prints each seed's final eval metric and time, then the mean, standard deviation and range of the
metric and the seconds per run, all measured now. Workload READMEs and notes point here instead of
quoting numbers.

    python -m trickstack.benchmarks.reference --workload digits [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Optional, Sequence

from trickstack.runner import reference_budget, run_trial
from trickstack.workloads import get_workload, list_workloads


def run(workload: str, seeds: int) -> None:
    wl = get_workload(workload)
    budget = reference_budget(wl)
    records = []
    for seed in range(seeds):
        r = run_trial(wl, [], seed=seed, budget=budget)
        records.append(r)
        value = "diverged" if r.diverged else f"{r.metrics.eval_value:.4f}"
        print(f"  seed {r.seed}: {wl.metric} {value} after {r.steps} steps, "
              f"{r.train_seconds:.1f} s train + {r.eval_seconds:.1f} s eval", flush=True)
    values = [r.metrics.eval_value for r in records if not r.diverged]
    seconds = [r.train_seconds + r.eval_seconds for r in records]
    print(f"{wl.name} reference budget: {budget.value:.4g} FLOPs = {records[0].steps} baseline steps of {wl.batch_size}")
    if values:
        print(f"{wl.metric} over {len(values)} seeds ({len(records) - len(values)} diverged): mean {statistics.mean(values):.4f}, "
              f"sd {statistics.stdev(values) if len(values) > 1 else 0:.4f}, range [{min(values):.4f}, {max(values):.4f}]; "
              f"{statistics.mean(seconds):.1f} s per run")


def main(argv: Optional[Sequence[str]] = None, workload: Optional[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if workload is None:
        parser.add_argument("--workload", default="mnist1d", choices=list_workloads())
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    run(workload or args.workload, args.seeds)


if __name__ == "__main__":
    main()
