"""What the MNIST-1D reference budget buys: the baseline trained at it for several seeds.

The reference budget is the FLOPs of the paper's CNN run (6,000 steps of 100 examples, Adam at
lr 1e-2); the paper reports about 94% test accuracy for it. This prints the mean, standard
deviation and range of the eval accuracy over the seeds, and the seconds per run, measured now.

    python -m trickstack.benchmarks.mnist1d_reference [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics

from trickstack.runner import reference_budget, run_trial
from trickstack.workloads import get_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    wl = get_workload("mnist1d")
    budget = reference_budget(wl)
    records = [run_trial(wl, [], seed=seed, budget=budget) for seed in range(args.seeds)]
    accuracies = [r.metrics.eval_value for r in records]
    seconds = [r.train_seconds + r.eval_seconds for r in records]
    print(f"reference budget: {budget.value:.4g} FLOPs = {records[0].steps} steps of {wl.batch_size}")
    for r in records:
        print(f"  seed {r.seed}: accuracy {r.metrics.eval_value:.4f}, {r.train_seconds:.1f} s")
    print(f"accuracy over {len(records)} seeds: mean {statistics.mean(accuracies):.4f}, "
          f"sd {statistics.stdev(accuracies) if len(accuracies) > 1 else 0:.4f}, "
          f"range [{min(accuracies):.4f}, {max(accuracies):.4f}]; {statistics.mean(seconds):.1f} s per run")


if __name__ == "__main__":
    main()
