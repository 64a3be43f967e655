"""What the shakespeare-char reference budget buys: the baseline trained at it for several seeds.

The reference budget is the FLOPs of nanoGPT's CPU run of ``shakespeare_char`` (2,000 steps of
12 windows of 64 characters, AdamW at lr 1e-3 with warm-up and cosine decay to 1e-4); nanoGPT
reports a validation loss of about 1.88 for it. This prints each seed's validation loss (nats per
character, the whole validation split), their mean and standard deviation, and the seconds per run,
measured now on the real corpus (``$TRICKSTACK_DATA_DIR`` or ``../shared/data``, see the workload).

    python benchmarks/shakespeare_baseline.py [--seeds 5]
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
    wl = get_workload("shakespeare-char")
    budget = reference_budget(wl)
    records = []
    for seed in range(args.seeds):
        r = run_trial(wl, [], seed=seed, budget=budget)
        records.append(r)
        print(f"  seed {r.seed}: val_loss {r.metrics.eval_value:.4f} after {r.steps} steps, "
              f"{r.train_seconds:.1f} s train + {r.eval_seconds:.1f} s eval", flush=True)
    losses = [r.metrics.eval_value for r in records]
    seconds = [r.train_seconds + r.eval_seconds for r in records]
    print(f"reference budget: {budget.value:.4g} FLOPs = {records[0].steps} steps of {wl.batch_size} x 64 characters")
    print(f"val_loss over {len(records)} seeds: mean {statistics.mean(losses):.4f}, "
          f"sd {statistics.stdev(losses) if len(losses) > 1 else 0:.4f}, "
          f"range [{min(losses):.4f}, {max(losses):.4f}]; {statistics.mean(seconds):.1f} s per run")


if __name__ == "__main__":
    main()
